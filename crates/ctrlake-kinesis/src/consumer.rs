//! The consumer loop: list the shards, read each ready one in its own task, flush and
//! checkpoint, re-list for new shards, stop on request with everything flushed.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::{Record, Shard, ShardIteratorType};
use ctrlake_ingest::writer::EncodeError;
use ctrlake_ingest::{
    DeadLetter, DecodedRecords, FlushPolicy, KinesisRecordRef, Origin, Partition, PartitionBuffer,
    WriterOptions, decode_kinesis_records, encode_files, write_files,
};
use ctrlake_lake::{Lake, LakeError};
use object_store::path::Path;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::checkpoint::{CheckpointError, ShardCheckpoint};

/// The least time between two GetRecords calls on one shard: Kinesis allows 5 a second.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a caught-up shard waits before it asks again.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Consecutive failed calls (network errors, throttling) after which the consumer gives up
/// with the last error: ~1 minute of backing off.
const MAX_CONSECUTIVE_FAILURES: u32 = 20;
/// The size a GetRecords page aims at: the number of records asked for follows the size of
/// the records read so far. Kinesis answers at most 10 MiB and reads 2 MiB/s per shard, so 4 MiB
/// pages lose no speed, and they bound what each shard holds while a page is decoded.
const PAGE_TARGET_BYTES: usize = 4 << 20;
/// Records asked for in a shard's first call, before any page showed how large they are.
const FIRST_PAGE_RECORDS: i32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("Kinesis {operation} on stream {stream}: {message}")]
    Kinesis {
        operation: &'static str,
        stream: String,
        message: String,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("a shard reader stopped unexpectedly: {0}")]
    Task(String),
}

/// Where a shard without a checkpoint starts (a shard with one resumes after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Only records put from now on.
    Latest,
    /// The first record that arrived at or after this time.
    AtTimestamp(chrono::DateTime<chrono::Utc>),
}

impl std::str::FromStr for StartPosition {
    type Err = String;

    /// `trim-horizon`, `latest` or `at-timestamp:<RFC 3339>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "trim-horizon" => Ok(Self::TrimHorizon),
            "latest" => Ok(Self::Latest),
            _ => match text.strip_prefix("at-timestamp:") {
                Some(time) => chrono::DateTime::parse_from_rfc3339(time)
                    .map(|t| Self::AtTimestamp(t.with_timezone(&chrono::Utc)))
                    .map_err(|e| format!("{time:?} is not an RFC 3339 time ({e})")),
                None => Err(format!(
                    "{text:?}: expected trim-horizon, latest or at-timestamp:2026-03-02T00:00:00Z"
                )),
            },
        }
    }
}

/// How the consumer reads and flushes.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub stream: String,
    /// Where shards without a checkpoint start.
    pub start: StartPosition,
    /// A shard's buffered records become files at the latest this long after the first of
    /// them was read.
    pub flush_interval: Duration,
    /// ... or as soon as one of its partitions buffers this many bytes (decoded, in memory).
    pub flush_bytes: usize,
    /// Bytes buffered over all shards: a shard whose page takes the total over it flushes at
    /// once, so that memory stays bounded however many shards the stream has.
    pub buffer_limit_bytes: usize,
    pub writer: WriterOptions,
    /// How often the shard list is read again to find new shards (after a split or merge).
    pub relist_interval: Duration,
    /// Stop once every shard is read up to its latest record (and flushed), instead of
    /// polling for ever.
    pub until_caught_up: bool,
    /// Records asked for per GetRecords call: 10,000 (the Kinesis maximum) by default; fewer
    /// makes smaller pages (and, with a small `flush_bytes`, smaller files).
    pub records_per_call: i32,
}

impl ConsumerOptions {
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            start: StartPosition::TrimHorizon,
            flush_interval: Duration::from_secs(10),
            flush_bytes: 48 << 20,
            buffer_limit_bytes: 64 << 20,
            writer: WriterOptions::default(),
            relist_interval: Duration::from_secs(10),
            until_caught_up: false,
            records_per_call: 10_000,
        }
    }
}

/// What one flush of one shard did: the consumer's log line.
#[derive(Debug, Clone)]
pub struct FlushReport {
    pub shard_id: String,
    pub records: u64,
    pub rows: u64,
    pub dead_letters: u64,
    pub files: u64,
    pub bytes: u64,
    pub first_sequence: String,
    pub last_sequence: String,
    /// `MillisBehindLatest` of the last GetRecords answer.
    pub millis_behind: Option<i64>,
    pub took: Duration,
}

/// Live state of one shard, for status lines and metrics.
#[derive(Debug, Clone, Default)]
pub struct ShardStatus {
    pub records: u64,
    pub bytes: u64,
    pub dead_letters: u64,
    pub flushes: u64,
    pub files: u64,
    pub millis_behind: Option<i64>,
    /// When the checkpoint last moved (epoch ms).
    pub checkpoint_ms: Option<i64>,
    pub closed: bool,
    /// Shard iterators taken again after they expired.
    pub iterators_renewed: u64,
    /// Calls that were throttled or failed on the network and were retried.
    pub retries: u64,
    /// Times the checkpointed record was found trimmed (see [`RetentionGap`]).
    pub retention_gaps: u64,
}

/// Every shard's [`ShardStatus`], shared with whoever displays it.
#[derive(Debug, Default)]
pub struct ConsumerStatus {
    shards: Mutex<BTreeMap<String, ShardStatus>>,
}

impl ConsumerStatus {
    pub fn snapshot(&self) -> BTreeMap<String, ShardStatus> {
        self.shards.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn update(&self, shard_id: &str, change: impl FnOnce(&mut ShardStatus)) {
        if let Ok(mut shards) = self.shards.lock() {
            change(shards.entry(shard_id.to_owned()).or_default());
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub records: u64,
    pub rows: u64,
    pub dead_letters: u64,
    pub files: u64,
    pub flushes: u64,
    /// Files of flushes that a previous run did not finish, removed before reading again.
    pub uncommitted_files_removed: u64,
}

type FlushCallback = dyn Fn(&FlushReport) + Send + Sync;
type GapCallback = dyn Fn(&RetentionGap) + Send + Sync;

/// Records a shard may have lost: its checkpointed record is no longer in the stream (the
/// stream's retention trimmed it while the consumer was stopped), so whatever came after it
/// and before the oldest record left may have been trimmed too, unread.
#[derive(Debug, Clone)]
pub struct RetentionGap {
    pub shard_id: String,
    /// The last record written to the lake.
    pub checkpoint_sequence: String,
    /// When that record arrived (epoch ms), if known.
    pub checkpoint_arrival_ms: Option<i64>,
    /// The oldest record the shard still holds.
    pub first_available_sequence: String,
    pub first_available_arrival_ms: Option<i64>,
}

/// Reads a stream into a lake (see the crate doc).
pub struct Consumer {
    client: Client,
    lake: Lake,
    options: ConsumerOptions,
    status: Arc<ConsumerStatus>,
    on_flush: Arc<FlushCallback>,
    on_gap: Arc<GapCallback>,
}

/// How a shard reader ended.
enum ShardOutcome {
    /// The shard is closed and read to its end.
    Closed(RunSummary),
    /// Every record is read (with `until_caught_up`).
    CaughtUp(RunSummary),
    /// Asked to stop.
    Stopped(RunSummary),
}

impl Consumer {
    pub fn new(client: Client, lake: Lake, options: ConsumerOptions) -> Self {
        Self {
            client,
            lake,
            options,
            status: Arc::new(ConsumerStatus::default()),
            on_flush: Arc::new(|_| {}),
            on_gap: Arc::new(|_| {}),
        }
    }

    /// Calls `report` when a shard's checkpoint is older than what the stream still holds
    /// (records may have been lost to retention before they were read).
    pub fn on_retention_gap(
        mut self,
        report: impl Fn(&RetentionGap) + Send + Sync + 'static,
    ) -> Self {
        self.on_gap = Arc::new(report);
        self
    }

    /// Calls `report` after every flush (from the shard's task).
    pub fn on_flush(mut self, report: impl Fn(&FlushReport) + Send + Sync + 'static) -> Self {
        self.on_flush = Arc::new(report);
        self
    }

    pub fn status(&self) -> Arc<ConsumerStatus> {
        Arc::clone(&self.status)
    }

    /// Reads until `shutdown` turns true (then flushes and checkpoints every shard) or, with
    /// `until_caught_up`, until every shard is read to its latest record.
    pub async fn run(
        &self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<RunSummary, ConsumerError> {
        // The shard readers stop on this: on the caller's request, or when one of them failed
        // (the others then flush and checkpoint what they read before the error surfaces).
        let (stop_tx, stop) = watch::channel(*shutdown.borrow());
        let mut summary = RunSummary::default();
        let mut tasks: JoinSet<(String, Result<ShardOutcome, ConsumerError>)> = JoinSet::new();
        let mut running: HashSet<String> = HashSet::new();
        // Closed and read to their end (by this run or an earlier one).
        let mut finished: HashSet<String> = HashSet::new();
        // Read to their latest record (until_caught_up only).
        let mut caught_up: HashSet<String> = HashSet::new();
        let mut failure = None;
        // Kibibytes of buffered rows all shards may hold, and the threads decoding or encoding.
        let budget = Arc::new(Semaphore::new(
            (self.options.buffer_limit_bytes >> 10).clamp(1, Semaphore::MAX_PERMITS),
        ));
        let cpu = Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ));
        loop {
            let mut started = 0;
            if !*stop.borrow() {
                let shards = self.list_shards().await?;
                let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id()).collect();
                for shard in &shards {
                    let shard_id = shard.shard_id();
                    if running.contains(shard_id)
                        || finished.contains(shard_id)
                        || caught_up.contains(shard_id)
                    {
                        continue;
                    }
                    let checkpoint =
                        ShardCheckpoint::load(&self.lake, &self.options.stream, shard_id).await?;
                    if checkpoint.as_ref().is_some_and(|c| c.closed) {
                        finished.insert(shard_id.to_owned());
                        self.status.update(shard_id, |s| s.closed = true);
                        continue;
                    }
                    // Parents the listing no longer shows have expired: nothing left to read.
                    let parents: Vec<&str> =
                        [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                            .into_iter()
                            .flatten()
                            .filter(|parent| listed.contains(parent))
                            .collect();
                    if parents.iter().any(|parent| !finished.contains(*parent)) {
                        continue;
                    }
                    let reader = ShardReader {
                        client: self.client.clone(),
                        lake: self.lake.clone(),
                        options: self.options.clone(),
                        shard_id: shard_id.to_owned(),
                        // A child's records all come after its parents': read it all.
                        has_parents: shard.parent_shard_id().is_some(),
                        checkpoint: checkpoint.unwrap_or_else(|| {
                            ShardCheckpoint::new(&self.options.stream, shard_id)
                        }),
                        status: Arc::clone(&self.status),
                        on_flush: Arc::clone(&self.on_flush),
                        on_gap: Arc::clone(&self.on_gap),
                        shutdown: stop.clone(),
                        buffer: ShardBuffer::new(FlushPolicy {
                            partition_bytes: self.options.flush_bytes,
                            buffer_bytes: self.options.flush_bytes,
                            max_age: Some(self.options.flush_interval),
                        }),
                        budget: Arc::clone(&budget),
                        cpu: Arc::clone(&cpu),
                        // Until a page shows the records' size: 1,000 CTRs are 2-10 MB.
                        page_limit: self.options.records_per_call.clamp(1, FIRST_PAGE_RECORDS),
                        millis_behind: None,
                        summary: RunSummary::default(),
                    };
                    running.insert(shard_id.to_owned());
                    started += 1;
                    let id = shard_id.to_owned();
                    tasks.spawn(async move { (id, reader.run().await) });
                }
            }
            if tasks.is_empty() {
                if started == 0 && (self.options.until_caught_up || *stop.borrow()) {
                    break;
                }
                if started == 0 {
                    // Nothing to read yet (children waiting for parents that are not there):
                    // look again later.
                    tokio::select! {
                        _ = tokio::time::sleep(self.options.relist_interval) => {}
                        changed = shutdown.changed() => {
                            if changed.is_err() || *shutdown.borrow() {
                                let _ = stop_tx.send(true);
                            }
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                joined = tasks.join_next() => {
                    let Some(joined) = joined else { continue };
                    let (shard_id, outcome) = joined.map_err(|e| ConsumerError::Task(e.to_string()))?;
                    running.remove(&shard_id);
                    match outcome {
                        Ok(ShardOutcome::Closed(done)) => {
                            add(&mut summary, &done);
                            finished.insert(shard_id);
                        }
                        Ok(ShardOutcome::CaughtUp(done)) => {
                            add(&mut summary, &done);
                            caught_up.insert(shard_id);
                        }
                        Ok(ShardOutcome::Stopped(done)) => add(&mut summary, &done),
                        Err(error) => {
                            // Stop the other shards cleanly (flushed and checkpointed), then
                            // report this one's error.
                            failure.get_or_insert(error);
                            let _ = stop_tx.send(true);
                        }
                    }
                }
                _ = tokio::time::sleep(self.options.relist_interval) => {}
                changed = shutdown.changed(), if !*stop.borrow() => {
                    if changed.is_err() || *shutdown.borrow() {
                        let _ = stop_tx.send(true);
                    }
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }

    /// Every shard of the stream (all pages), with retries on throttling.
    async fn list_shards(&self) -> Result<Vec<Shard>, ConsumerError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        let mut failures = 0;
        loop {
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.options.stream),
            };
            match request.send().await {
                Ok(page) => {
                    shards.extend(page.shards().iter().cloned());
                    next_token = page.next_token().map(str::to_owned);
                    if next_token.is_none() {
                        return Ok(shards);
                    }
                }
                Err(error) => {
                    let kind = classify(&error);
                    failures += 1;
                    if kind != CallFailure::Retry || failures >= MAX_CONSECUTIVE_FAILURES {
                        return Err(kinesis_error("ListShards", &self.options.stream, &error));
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

fn add(summary: &mut RunSummary, more: &RunSummary) {
    summary.records += more.records;
    summary.rows += more.rows;
    summary.dead_letters += more.dead_letters;
    summary.files += more.files;
    summary.flushes += more.flushes;
    summary.uncommitted_files_removed += more.uncommitted_files_removed;
}

/// What to do about a failed call.
#[derive(Debug, PartialEq, Eq)]
enum CallFailure {
    /// Throttling or a network error: back off and try again.
    Retry,
    /// The shard iterator is older than 5 minutes: take a new one.
    ExpiredIterator,
    /// Anything else (a missing stream, bad credentials): stop with the error.
    Fatal,
}

fn classify<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> CallFailure {
    match error {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("ExpiredIteratorException") => CallFailure::ExpiredIterator,
            Some(
                "ProvisionedThroughputExceededException"
                | "LimitExceededException"
                | "KMSThrottlingException"
                | "ThrottlingException"
                | "InternalFailure"
                | "ServiceUnavailable",
            ) => CallFailure::Retry,
            _ => CallFailure::Fatal,
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            CallFailure::Retry
        }
        _ => CallFailure::Fatal,
    }
}

fn kinesis_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    stream: &str,
    error: &SdkError<E, R>,
) -> ConsumerError {
    let message = match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{}: {}",
                inner.code().unwrap_or("error"),
                inner.message().unwrap_or("no message")
            )
        }
        other => {
            // The SDK's own message for transport failures is generic; its source says why.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    };
    ConsumerError::Kinesis {
        operation,
        stream: stream.to_owned(),
        message,
    }
}

/// Exponential backoff with full jitter: up to 100 ms × 2^(n−1), at most 5 s.
fn backoff(failures: u32) -> Duration {
    let ceiling = (100u64 << failures.saturating_sub(1).min(6)).min(5_000);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

/// Records to ask for in the next GetRecords call so that a page holds about
/// [`PAGE_TARGET_BYTES`], from the last page's `bytes` in `records` records; at most `limit`.
fn page_limit(bytes: usize, records: usize, limit: i32) -> i32 {
    let record_bytes = (bytes / records.max(1)).max(1);
    i32::try_from(PAGE_TARGET_BYTES / record_bytes)
        .unwrap_or(i32::MAX)
        .clamp(1, limit.max(1))
}

/// One GetRecords page, decoded.
struct DecodedPage {
    decoded: DecodedRecords,
    /// Kinesis records in the page (a record may hold several CTRs, or none).
    records: u64,
    first_sequence: String,
    last_sequence: String,
    last_arrival_ms: Option<i64>,
    /// When the page's oldest record arrived in the stream, as an instant of this clock.
    arrived: Instant,
}

/// A shard's records read and not yet flushed: the rows in the partition buffer every ingest
/// path shares (per day, small batches merged, due by size or by age), the dead letters beside
/// them, and the sequence range they cover, which names the files of the flush.
struct ShardBuffer {
    rows: PartitionBuffer,
    dead_letters: Vec<DeadLetter>,
    dead_letter_bytes: usize,
    /// When the oldest dead-lettered record arrived (the rows keep theirs).
    dead_letters_arrived: Option<Instant>,
    first_sequence: Option<String>,
    last_sequence: Option<String>,
    last_arrival_ms: Option<i64>,
    records: u64,
    /// Kibibytes of the consumer's memory budget held for what is buffered.
    held: Option<OwnedSemaphorePermit>,
}

/// What a flush takes out of a [`ShardBuffer`].
struct TakenBuffer {
    partitions: Vec<Partition>,
    dead_letters: Vec<DeadLetter>,
    first_sequence: String,
    last_sequence: String,
    last_arrival_ms: Option<i64>,
    records: u64,
    /// Released once the files are written.
    held: Option<OwnedSemaphorePermit>,
}

/// When a record that arrived in the stream at `arrival_ms` (the server's clock) arrived on
/// this machine's monotonic clock, read at `now_ms`. Clamped to `max_age` in the past: a clock
/// skewed against the server's makes a record due at once at worst, never later.
fn arrival_instant(arrival_ms: Option<i64>, now_ms: i64, max_age: Duration) -> Instant {
    let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    let age_ms = arrival_ms.map_or(0, |a| (now_ms - a).clamp(0, max_age_ms));
    Instant::now()
        .checked_sub(Duration::from_millis(age_ms.unsigned_abs()))
        .unwrap_or_else(Instant::now)
}

impl ShardBuffer {
    fn new(policy: FlushPolicy) -> Self {
        Self {
            rows: PartitionBuffer::new(policy),
            dead_letters: Vec::new(),
            dead_letter_bytes: 0,
            dead_letters_arrived: None,
            first_sequence: None,
            last_sequence: None,
            last_arrival_ms: None,
            records: 0,
            held: None,
        }
    }

    fn push(&mut self, page: DecodedPage) -> Result<(), EncodeError> {
        let start = self.records;
        self.records += page.records;
        self.rows
            .push(page.decoded.partitions, start, self.records, page.arrived)?;
        if !page.decoded.dead_letters.is_empty() {
            self.dead_letters_arrived = Some(
                self.dead_letters_arrived
                    .map_or(page.arrived, |t| t.min(page.arrived)),
            );
        }
        for letter in page.decoded.dead_letters {
            self.dead_letter_bytes += letter.bytes.len() + letter.detail.len();
            self.dead_letters.push(letter);
        }
        self.first_sequence.get_or_insert(page.first_sequence);
        self.last_sequence = Some(page.last_sequence);
        self.last_arrival_ms = page.last_arrival_ms.or(self.last_arrival_ms);
        Ok(())
    }

    /// Bytes buffered: decoded rows and dead letters.
    fn bytes(&self) -> usize {
        self.rows.bytes() + self.dead_letter_bytes
    }

    /// How long until the buffer is due by age (zero when it is), `None` when empty.
    fn due_in(&self) -> Option<Duration> {
        let max_age = self.rows.policy().max_age.unwrap_or(Duration::ZERO);
        let dead = self
            .dead_letters_arrived
            .map(|t| max_age.saturating_sub(t.elapsed()));
        match (self.rows.due_in(), dead) {
            (Some(rows), Some(dead)) => Some(rows.min(dead)),
            (rows, dead) => rows.or(dead),
        }
    }

    /// Whether the shard must flush now: a partition is full, or the oldest record waited
    /// the flush interval.
    fn is_due(&self) -> bool {
        self.rows.is_due()
            || self.due_in() == Some(Duration::ZERO)
            || self.dead_letter_bytes >= self.rows.policy().partition_bytes
    }

    /// Holds budget for what is buffered; `false` when the consumer's budget is spent (the
    /// shard must flush to give it back).
    fn reserve(&mut self, budget: &Arc<Semaphore>) -> bool {
        let wanted = self.bytes().div_ceil(1024);
        let held = self
            .held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        let Some(more) = wanted.checked_sub(held).filter(|more| *more > 0) else {
            return true;
        };
        let Ok(more) = u32::try_from(more) else {
            return false;
        };
        match Arc::clone(budget).try_acquire_many_owned(more) {
            Ok(permit) => {
                match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Everything buffered, leaving the buffer empty; `None` when nothing was read.
    fn take(&mut self) -> Option<TakenBuffer> {
        let first_sequence = self.first_sequence.take()?;
        let last_sequence = self.last_sequence.take()?;
        let taken = TakenBuffer {
            partitions: self.rows.take_all(),
            dead_letters: std::mem::take(&mut self.dead_letters),
            first_sequence,
            last_sequence,
            last_arrival_ms: self.last_arrival_ms.take(),
            records: std::mem::take(&mut self.records),
            held: self.held.take(),
        };
        self.dead_letter_bytes = 0;
        self.dead_letters_arrived = None;
        Some(taken)
    }
}

/// Reads one shard: its own task.
struct ShardReader {
    client: Client,
    lake: Lake,
    options: ConsumerOptions,
    shard_id: String,
    has_parents: bool,
    checkpoint: ShardCheckpoint,
    status: Arc<ConsumerStatus>,
    on_flush: Arc<FlushCallback>,
    on_gap: Arc<GapCallback>,
    shutdown: watch::Receiver<bool>,
    buffer: ShardBuffer,
    /// The consumer's memory budget (kibibytes of buffered records, all shards).
    budget: Arc<Semaphore>,
    /// Permits to decode or encode on a blocking thread: as many as cores.
    cpu: Arc<Semaphore>,
    /// Records asked for in the next GetRecords call ([`PAGE_TARGET_BYTES`]).
    page_limit: i32,
    /// `MillisBehindLatest` of the last GetRecords answer.
    millis_behind: Option<i64>,
    summary: RunSummary,
}

/// Where to take a shard iterator.
enum Position {
    Start(StartPosition),
    After(String),
    At(String),
}

impl ShardReader {
    async fn run(mut self) -> Result<ShardOutcome, ConsumerError> {
        self.summary.uncommitted_files_removed = self.remove_uncommitted_files().await?;
        if let Some(sequence) = self.checkpoint.sequence_number.clone() {
            self.check_retention(&sequence).await?;
        }
        let mut position = match &self.checkpoint.sequence_number {
            Some(sequence) => Position::After(sequence.clone()),
            None if self.has_parents => Position::Start(StartPosition::TrimHorizon),
            None => Position::Start(self.options.start.clone()),
        };
        let mut iterator = self.iterator(&position).await?;
        let mut last_call: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            if *self.shutdown.borrow() {
                self.flush(false).await?;
                return Ok(ShardOutcome::Stopped(std::mem::take(&mut self.summary)));
            }
            if let Some(last) = last_call {
                tokio::time::sleep_until((last + MIN_CALL_INTERVAL).into()).await;
            }
            last_call = Some(Instant::now());
            let answer = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(self.page_limit)
                .send()
                .await;
            let output = match answer {
                Ok(output) => output,
                Err(error) => {
                    match classify(&error) {
                        CallFailure::ExpiredIterator => {
                            iterator = self.iterator(&position).await?;
                            self.status
                                .update(&self.shard_id, |s| s.iterators_renewed += 1);
                        }
                        CallFailure::Retry if failures + 1 < MAX_CONSECUTIVE_FAILURES => {
                            failures += 1;
                            self.status.update(&self.shard_id, |s| s.retries += 1);
                            tokio::time::sleep(backoff(failures)).await;
                        }
                        _ => {
                            // Keep what was read: it is written before the error surfaces.
                            self.flush(false).await?;
                            return Err(kinesis_error("GetRecords", &self.options.stream, &error));
                        }
                    }
                    continue;
                }
            };
            failures = 0;
            let mut output = output;
            let records = std::mem::take(&mut output.records);
            let read = records.len();
            self.millis_behind = output.millis_behind_latest;
            if let Some(last) = records.last() {
                position = Position::After(last.sequence_number.clone());
            }
            if !records.is_empty() {
                let page_bytes: usize = records.iter().map(|r| r.data.as_ref().len()).sum();
                self.page_limit = page_limit(
                    page_bytes,
                    read,
                    self.options.records_per_call.clamp(1, 10_000),
                );
                let page = self.decode(records).await?;
                self.buffer.push(page)?;
            }
            let millis_behind = self.millis_behind;
            self.status
                .update(&self.shard_id, |s| s.millis_behind = millis_behind);
            let Some(next) = output.next_shard_iterator else {
                // Closed (split or merged) and read to its end.
                self.flush(true).await?;
                return Ok(ShardOutcome::Closed(std::mem::take(&mut self.summary)));
            };
            iterator = next;
            if self.buffer.is_due() || !self.buffer.reserve(&self.budget) {
                self.flush(false).await?;
            }
            let caught_up = read == 0 && self.millis_behind.unwrap_or(0) == 0;
            if caught_up {
                if self.options.until_caught_up {
                    self.flush(false).await?;
                    return Ok(ShardOutcome::CaughtUp(std::mem::take(&mut self.summary)));
                }
                // Wake early for a flush that falls due, or a request to stop.
                let wait = self
                    .buffer
                    .due_in()
                    .map_or(IDLE_POLL, |due| due.min(IDLE_POLL));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.changed() => {}
                }
            }
        }
    }

    /// Whether the checkpointed record is still in the stream. When it is not, the records
    /// after it may have been trimmed unread: a Kinesis iterator after a trimmed sequence
    /// number silently starts at the oldest record left, so this is the only moment the loss
    /// can be seen. It is reported (and counted), never skipped silently.
    async fn check_retention(&self, sequence: &str) -> Result<(), ConsumerError> {
        let iterator = self.iterator(&Position::At(sequence.to_owned())).await?;
        let answer = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(1)
            .send()
            .await
            .map_err(|e| kinesis_error("GetRecords", &self.options.stream, &e))?;
        let Some(first) = answer.records().first() else {
            // Nothing at or after the checkpoint is left to compare with.
            return Ok(());
        };
        if first.sequence_number() == sequence {
            return Ok(());
        }
        let gap = RetentionGap {
            shard_id: self.shard_id.clone(),
            checkpoint_sequence: sequence.to_owned(),
            checkpoint_arrival_ms: self.checkpoint.last_arrival_ms,
            first_available_sequence: first.sequence_number().to_owned(),
            first_available_arrival_ms: first
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok()),
        };
        self.status
            .update(&self.shard_id, |s| s.retention_gaps += 1);
        (self.on_gap)(&gap);
        Ok(())
    }

    /// Removes the files a flush of an earlier run listed and may have written before it
    /// died (see [`crate::checkpoint`]); their records are read again.
    async fn remove_uncommitted_files(&mut self) -> Result<u64, ConsumerError> {
        if self.checkpoint.pending.is_empty() {
            return Ok(0);
        }
        let pending = std::mem::take(&mut self.checkpoint.pending);
        for path in &pending {
            self.lake.delete(&Path::from(path.as_str())).await?;
        }
        self.checkpoint.save(&self.lake).await?;
        Ok(pending.len() as u64)
    }

    async fn iterator(&self, position: &Position) -> Result<String, ConsumerError> {
        let mut failures = 0;
        loop {
            let request = self
                .client
                .get_shard_iterator()
                .stream_name(&self.options.stream)
                .shard_id(&self.shard_id);
            let request = match position {
                Position::After(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(sequence),
                Position::At(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                    .starting_sequence_number(sequence),
                Position::Start(StartPosition::TrimHorizon) => {
                    request.shard_iterator_type(ShardIteratorType::TrimHorizon)
                }
                Position::Start(StartPosition::Latest) => {
                    request.shard_iterator_type(ShardIteratorType::Latest)
                }
                Position::Start(StartPosition::AtTimestamp(time)) => request
                    .shard_iterator_type(ShardIteratorType::AtTimestamp)
                    .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                        time.timestamp_millis(),
                    )),
            };
            match request.send().await {
                Ok(output) => {
                    if let Some(iterator) = output.shard_iterator() {
                        return Ok(iterator.to_owned());
                    }
                    return Err(ConsumerError::Kinesis {
                        operation: "GetShardIterator",
                        stream: self.options.stream.clone(),
                        message: format!("no iterator returned for {}", self.shard_id),
                    });
                }
                Err(error) => {
                    failures += 1;
                    if classify(&error) != CallFailure::Retry
                        || failures >= MAX_CONSECUTIVE_FAILURES
                    {
                        return Err(kinesis_error(
                            "GetShardIterator",
                            &self.options.stream,
                            &error,
                        ));
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }

    /// Decodes a page off the async threads (as many at once as there are cores); the
    /// records' bytes are dropped once decoded.
    async fn decode(&self, records: Vec<Record>) -> Result<DecodedPage, ConsumerError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let max_age = self.options.flush_interval;
        let uri = self.source_uri();
        let mode = self.options.writer.raw_json;
        let _cpu = Arc::clone(&self.cpu)
            .acquire_owned()
            .await
            .map_err(|e| ConsumerError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let records: Vec<(String, Option<i64>, Vec<u8>)> = records
                .into_iter()
                .map(|r| {
                    let arrival = r
                        .approximate_arrival_timestamp
                        .and_then(|t| t.to_millis().ok());
                    (r.sequence_number, arrival, r.data.into_inner())
                })
                .collect();
            let refs: Vec<KinesisRecordRef<'_>> = records
                .iter()
                .map(|(sequence_number, arrival, data)| KinesisRecordRef {
                    sequence_number,
                    arrival_timestamp: *arrival,
                    data,
                })
                .collect();
            let decoded = decode_kinesis_records(&refs, &uri, mode)?;
            let oldest_ms = records.iter().filter_map(|r| r.1).min();
            let (Some(first), Some(last)) = (records.first(), records.last()) else {
                return Err(ConsumerError::Task("an empty page was decoded".to_owned()));
            };
            Ok(DecodedPage {
                decoded,
                records: records.len() as u64,
                first_sequence: first.0.clone(),
                last_sequence: last.0.clone(),
                last_arrival_ms: last.1,
                arrived: arrival_instant(oldest_ms, now_ms, max_age),
            })
        })
        .await
        .map_err(|e| ConsumerError::Task(e.to_string()))?
    }

    /// `kinesis://stream/shard`: the rows' `source_uri`.
    fn source_uri(&self) -> Arc<str> {
        Arc::from(format!(
            "kinesis://{}/{}",
            self.options.stream, self.shard_id
        ))
    }

    /// Writes the buffered records as files and moves the checkpoint past them (with
    /// `closed`, marks the shard finished even when nothing is buffered).
    async fn flush(&mut self, closed: bool) -> Result<(), ConsumerError> {
        let started = Instant::now();
        let Some(taken) = self.buffer.take() else {
            if closed {
                self.checkpoint.closed = true;
                self.checkpoint.save(&self.lake).await?;
                self.status.update(&self.shard_id, |s| s.closed = true);
            }
            return Ok(());
        };
        let TakenBuffer {
            partitions,
            dead_letters,
            first_sequence,
            last_sequence,
            last_arrival_ms: last_arrival,
            records: count,
            held,
        } = taken;
        let origin = Origin::Shard {
            stream: self.options.stream.clone(),
            shard_id: self.shard_id.clone(),
            first_sequence: first_sequence.clone(),
            last_sequence: last_sequence.clone(),
        };
        let writer = self.options.writer.clone();
        let rows: u64 = partitions
            .iter()
            .flat_map(|p| &p.batches)
            .map(|b| b.num_rows() as u64)
            .sum();
        let dead_letters_count = dead_letters.len() as u64;
        // Encoding is CPU work: off the async threads, as many at once as there are cores.
        let cpu = Arc::clone(&self.cpu)
            .acquire_owned()
            .await
            .map_err(|e| ConsumerError::Task(e.to_string()))?;
        let files = tokio::task::spawn_blocking(move || {
            let partitions = partitions.into_iter().map(|p| (p.key, p.batches));
            encode_files(partitions, &dead_letters, &origin, &writer)
        })
        .await
        .map_err(|e| ConsumerError::Task(e.to_string()))??;
        drop(cpu);
        let dead_letters = dead_letters_count;
        // 1. The intent: these files may exist from now on.
        self.checkpoint.pending = files.iter().map(|f| f.path.to_string()).collect();
        self.checkpoint.save(&self.lake).await?;
        // 2. The files, durably.
        let bytes = write_files(&self.lake, &files).await?;
        drop(held);
        // 3. The checkpoint moves past them.
        self.checkpoint.pending.clear();
        self.checkpoint.sequence_number = Some(last_sequence.clone());
        self.checkpoint.records += count;
        self.checkpoint.last_arrival_ms = last_arrival.or(self.checkpoint.last_arrival_ms);
        self.checkpoint.closed = closed;
        self.checkpoint.save(&self.lake).await?;
        let report = FlushReport {
            shard_id: self.shard_id.clone(),
            records: count,
            rows,
            dead_letters,
            files: files.len() as u64,
            bytes,
            first_sequence,
            last_sequence,
            millis_behind: self.millis_behind,
            took: started.elapsed(),
        };
        self.summary.records += count;
        self.summary.rows += rows;
        self.summary.dead_letters += dead_letters;
        self.summary.files += report.files;
        self.summary.flushes += 1;
        let checkpoint_ms = self.checkpoint.written_ms;
        self.status.update(&self.shard_id, |s| {
            s.records += count;
            s.bytes += bytes;
            s.dead_letters += dead_letters;
            s.flushes += 1;
            s.files += report.files;
            s.checkpoint_ms = Some(checkpoint_ms);
            s.closed = closed;
        });
        (self.on_flush)(&report);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse() {
        assert_eq!("latest".parse(), Ok(StartPosition::Latest));
        assert_eq!("trim-horizon".parse(), Ok(StartPosition::TrimHorizon));
        let at: StartPosition = "at-timestamp:2026-03-02T09:00:00+09:00"
            .parse()
            .expect("time");
        assert_eq!(
            at,
            StartPosition::AtTimestamp("2026-03-02T00:00:00Z".parse().expect("utc"))
        );
        assert!("yesterday".parse::<StartPosition>().is_err());
    }

    #[test]
    fn arrivals_are_placed_on_this_clock_and_clamped() {
        let max_age = Duration::from_secs(10);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let age = |arrival| arrival_instant(arrival, now_ms, max_age).elapsed();
        let four = age(Some(now_ms - 4_000));
        assert!(four >= Duration::from_secs(4) && four < Duration::from_secs(5));
        assert!(
            age(Some(now_ms - 60_000)) >= max_age,
            "long ago: due at once"
        );
        assert!(age(Some(now_ms - 60_000)) < max_age + Duration::from_secs(1));
        assert!(
            age(Some(now_ms + 60_000)) < Duration::from_secs(1),
            "future: just now"
        );
        assert!(age(None) < Duration::from_secs(1), "unknown: just now");
    }

    #[test]
    fn pages_aim_at_a_few_mebibytes() {
        assert_eq!(
            page_limit(3_200_000, 1_000, 10_000),
            1_310,
            "3.2 KB records"
        );
        assert_eq!(
            page_limit(1_000, 10, 10_000),
            10_000,
            "small records: the cap"
        );
        assert_eq!(page_limit(2 << 20, 1, 10_000), 2, "1 MiB records: 2");
        assert_eq!(page_limit(8 << 20, 1, 10_000), 1, "never below one");
        assert_eq!(page_limit(0, 0, 500), 500);
    }

    /// One page of `rows` CTRs of `day` (2026-03-01 plus days) that arrived at `arrived`.
    fn page(first: usize, rows: usize, day: u32, arrived: Instant) -> DecodedPage {
        let data: Vec<Vec<u8>> = (first..first + rows)
            .map(|i| {
                format!(
                    "{{\"ContactId\":\"c-{i}\",\"InitiationTimestamp\":\"2026-03-{:02}T00:00:00Z\",\"LastUpdateTimestamp\":\"2026-03-{:02}T00:05:00Z\"}}",
                    day + 1,
                    day + 1
                )
                .into_bytes()
            })
            .chain(std::iter::once(b"not json".to_vec()))
            .collect();
        let sequences: Vec<String> = (first..first + rows + 1)
            .map(|i| format!("{i:056}"))
            .collect();
        let refs: Vec<KinesisRecordRef<'_>> = data
            .iter()
            .zip(&sequences)
            .map(|(data, sequence_number)| KinesisRecordRef {
                sequence_number,
                arrival_timestamp: Some(1),
                data,
            })
            .collect();
        let decoded = decode_kinesis_records(
            &refs,
            &Arc::from("kinesis://s/shardId-0"),
            ctrlake_model::RawJsonMode::Unmapped,
        )
        .expect("decodes");
        DecodedPage {
            decoded,
            records: refs.len() as u64,
            first_sequence: sequences[0].clone(),
            last_sequence: sequences[rows].clone(),
            last_arrival_ms: Some(1),
            arrived,
        }
    }

    fn shard_buffer(flush_bytes: usize) -> ShardBuffer {
        ShardBuffer::new(FlushPolicy {
            partition_bytes: flush_bytes,
            buffer_bytes: flush_bytes,
            max_age: Some(Duration::from_secs(10)),
        })
    }

    #[test]
    fn a_shard_buffer_is_due_by_age_or_size_and_covers_its_sequence_range() {
        let mut buffer = shard_buffer(usize::MAX);
        assert_eq!(buffer.due_in(), None);
        assert!(buffer.take().is_none(), "nothing read");
        let now = Instant::now();
        buffer.push(page(0, 10, 0, now)).expect("push");
        buffer.push(page(100, 10, 1, now)).expect("push");
        assert!(!buffer.is_due());
        let due = buffer.due_in().expect("buffered");
        assert!(due > Duration::from_secs(9), "{due:?}");
        let taken = buffer.take().expect("buffered");
        assert_eq!(taken.records, 22);
        assert_eq!(taken.partitions.len(), 2, "two days");
        assert_eq!(taken.dead_letters.len(), 2);
        assert_eq!(taken.first_sequence, format!("{:056}", 0));
        assert_eq!(taken.last_sequence, format!("{:056}", 110));
        assert_eq!((buffer.bytes(), buffer.due_in()), (0, None), "empty again");

        // A page read long after its records arrived is due at once, dead letters included.
        let old = now.checked_sub(Duration::from_secs(11)).expect("clock");
        buffer.push(page(0, 0, 0, old)).expect("push");
        assert_eq!(buffer.due_in(), Some(Duration::ZERO), "only a dead letter");
        assert!(buffer.is_due());
        buffer.take();

        // A partition at the flush size is due.
        let mut small = shard_buffer(1);
        small.push(page(0, 1, 0, now)).expect("push");
        assert!(small.is_due());
    }

    #[test]
    fn shards_share_one_memory_budget() {
        let now = Instant::now();
        let mut one = shard_buffer(usize::MAX);
        let mut two = shard_buffer(usize::MAX);
        one.push(page(0, 500, 0, now)).expect("push");
        two.push(page(1000, 500, 0, now)).expect("push");
        let kib = one.bytes().div_ceil(1024);
        let budget = Arc::new(Semaphore::new(kib + kib / 2));
        assert!(one.reserve(&budget), "the first shard fits");
        assert!(one.reserve(&budget), "asking again holds nothing more");
        assert!(!two.reserve(&budget), "the second does not: it must flush");
        let taken = one.take().expect("buffered");
        assert_eq!(budget.available_permits(), kib / 2, "held until written");
        drop(taken);
        assert_eq!(budget.available_permits(), kib + kib / 2, "given back");
        assert!(two.reserve(&budget));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for failures in 1..30 {
            let wait = backoff(failures);
            let ceiling = (100u64 << (failures - 1).min(6)).min(5_000);
            assert!(
                wait >= Duration::from_millis(ceiling / 2),
                "{failures}: {wait:?}"
            );
            assert!(
                wait <= Duration::from_millis(ceiling),
                "{failures}: {wait:?}"
            );
        }
    }
}
