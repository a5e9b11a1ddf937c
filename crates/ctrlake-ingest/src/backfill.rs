//! `ctrlake ingest files`: many large sources into the lake, on all cores, in bounded memory.
//!
//! Three kinds of threads, connected by channels:
//! - one **reader** maps each plain local file ([`Source::map`]) or streams the source
//!   (decompressing gzip), cuts it into chunks of about `chunk_bytes` at record starts
//!   ([`crate::framing::find_cut`]) and queues them;
//! - `threads` **workers** decode chunks into Arrow batches and encode + write Parquet files;
//! - the **coordinator** (the calling thread) takes decoded chunks *in input order*, buffers rows
//!   per partition, and decides when a partition becomes a file.
//!
//! Guarantees:
//! - **Deterministic output.** Chunk boundaries depend only on the input bytes and flush
//!   decisions only on the in-order sequence of chunks, never on timing or thread count, so a
//!   re-run writes byte-identical files under identical names (which replace the old ones).
//! - **Bounded memory.** At most `2 × threads + 2` chunks are read ahead; a partition is flushed
//!   when it buffers `partition_flush_bytes`, and when all buffers exceed `buffer_limit_bytes`
//!   the largest *cold* partitions (days whose late updates have stopped), else the largest;
//!   everything is flushed at the end of each source. Reading pauses while files being encoded
//!   hold more than half of `buffer_limit_bytes`. A partition's many small batches (a few late
//!   updates per chunk) are merged as they come, so that they do not fill the buffer with the
//!   builders' initial room.
//! - **A file never mixes sources**: its name is the source and the byte range it covers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use ctrlake_model::DeadLetterReason;
use memmap2::Mmap;
use tokio::runtime::Handle;

use crate::buffer::{FlushPolicy, Partition, PartitionBuffer};
use crate::framing::{complete_prefix, find_cut, first_cut};
use crate::lake::{AGENT_EVENTS_TABLE, CTR_TABLE, DEAD_LETTER_DIR, Lake, LakeError};
use crate::origin::{Origin, fnv1a64};
use crate::source::{Source, SourceError, SourceLocation};
use crate::writer::{
    DeadLetter, DecodedRecords, EncodeError, PartitionKey, WriterOptions, decode_bytes,
    encode_dead_letter_file, encode_parquet_file, write_files,
};

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("an ingest thread stopped unexpectedly")]
    ThreadLost,
}

/// Tuning of a backfill; the defaults keep peak memory well under 512 MB.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Decode/encode threads (the reader and coordinator come on top, mostly idle).
    pub threads: usize,
    pub writer: WriterOptions,
    /// Target size of a chunk of input handed to a worker.
    pub chunk_bytes: usize,
    /// A chunk grows up to this size when no record start is found (a huge or broken record).
    pub max_chunk_bytes: usize,
    /// Arrow bytes buffered for one partition before it becomes a file. 48 MB (~15K rows): at
    /// 64 MB, 1M generated contacts made 99 files instead of 104, but peak RSS was ~35 MB higher
    /// (two workers encoding larger files).
    pub partition_flush_bytes: usize,
    /// Arrow bytes buffered over all partitions before partitions are flushed early (days no
    /// longer receiving rows first, then the largest); reading also pauses while files being
    /// encoded hold half of this.
    pub buffer_limit_bytes: usize,
    /// Dead-letter bytes buffered for one source before they are written.
    pub dead_letter_flush_bytes: usize,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            writer: WriterOptions::default(),
            chunk_bytes: 4 << 20,
            max_chunk_bytes: 64 << 20,
            partition_flush_bytes: 48 << 20,
            buffer_limit_bytes: 128 << 20,
            dead_letter_flush_bytes: 16 << 20,
        }
    }
}

/// Live counters for a progress display (read from another thread).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes taken from storage (compressed size for gzip sources).
    pub bytes_read: Arc<AtomicU64>,
    pub records_read: AtomicU64,
    pub files_written: AtomicU64,
}

/// What a backfill did.
#[derive(Debug, Default, Clone)]
pub struct BackfillSummary {
    pub sources: usize,
    /// Bytes taken from storage (compressed size for gzip sources).
    pub bytes_read: u64,
    /// Bytes of CTR JSON after decompression.
    pub bytes_decoded: u64,
    pub records_read: u64,
    pub records_written: u64,
    pub dead_letters: BTreeMap<DeadLetterReason, u64>,
    pub parquet_files: u64,
    pub dead_letter_files: u64,
    pub bytes_written: u64,
    pub elapsed: Duration,
    /// Sources that could not be read to the end (the bytes before the failure are ingested).
    pub source_errors: Vec<String>,
    /// Sources read to their end from which no record was written, with the records read
    /// from them: every record dead-lettered (a file of something else), or none in them
    /// (an empty file).
    pub sources_without_rows: Vec<(String, u64)>,
    /// Files that earlier runs wrote from a source read whole in this run and that this run
    /// did not write again (the source changed since): removed, so that a source's rows are
    /// in the lake once.
    pub earlier_files_removed: u64,
    /// Temporary files left by writers killed before their rename, removed at the start.
    pub stale_temporaries_removed: u64,
}

impl BackfillSummary {
    pub fn dead_lettered(&self) -> u64 {
        self.dead_letters.values().sum()
    }
}

struct Chunk {
    /// Position in the input order (numbered by [`ChunkReader::send`]).
    seq: u64,
    source: usize,
    offset: u64,
    len: u64,
    bytes: ChunkBytes,
    /// The last chunk of its source.
    last: bool,
    content_tag: Option<u64>,
    /// Reading the source failed after this chunk's bytes.
    read_error: Option<ReadFailure>,
    /// The chunk is one record too large for any chunk, of this many bytes (`len` also counts
    /// the blanks after it); `bytes` holds its first [`OVERSIZED_SAMPLE_BYTES`] (read) or all
    /// of it (mapped).
    oversized: Option<u64>,
}

/// Why a source was not read to its end.
enum ReadFailure {
    /// It could not be opened at all (missing, permissions, a failed listing or GET).
    Open(String),
    /// Reading stopped after the chunk's bytes (a corrupt or cut-off gzip stream, I/O).
    Read(String),
}

/// A chunk's bytes: read into a buffer (which the coordinator hands back to the reader for
/// reuse), or a range of a memory-mapped source.
enum ChunkBytes {
    Read(Vec<u8>),
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        end: usize,
    },
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Read(buffer) => buffer,
            ChunkBytes::Mapped { map, start, end } => &map[*start..*end],
        }
    }
}

impl ChunkBytes {
    /// Called once the chunk is decoded (the batches and dead letters own copies of what they
    /// keep): drops the mapped pages wholly inside the chunk from this process's resident set,
    /// so that peak RSS stays bounded by the chunks in flight, not the size of the file. The
    /// pages stay in the page cache.
    fn release(&self) {
        #[cfg(unix)]
        if let ChunkBytes::Mapped { map, start, end } = self {
            const PAGE: usize = 4096;
            let first = start.div_ceil(PAGE) * PAGE;
            let last = end / PAGE * PAGE;
            if last > first {
                // SAFETY: the map is a read-only file mapping, so MADV_DONTNEED only drops page
                // table entries: were the pages read again, the same file bytes would fault
                // back in. With 4 KiB pages only pages wholly inside this decoded chunk are
                // dropped. With larger pages memmap2 rounds the start down into the previous
                // chunk, whose reader then faults the same bytes back in (rounding inwards to
                // 64 KiB instead kept ~60 MB of boundary pages resident on 4 KiB pages). A
                // failure only leaves the pages resident.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        first,
                        last - first,
                    )
                };
            }
        }
    }
}

/// Where the chunk that starts a window of its source ends.
#[derive(Debug, PartialEq, Eq)]
enum ChunkEnd {
    /// The window holds the rest of the source: all of it is the source's last chunk.
    Last,
    /// The chunk ends here (a record start, or the window's end when a record outgrows
    /// `max_chunk_bytes`).
    At(usize),
    /// No record starts in the window: look again with a window of this size.
    Grow(usize),
    /// No record starts within `max_chunk_bytes`: the bytes up to the next record start are one
    /// record too large for any chunk (see [`Oversized`]).
    Oversized,
}

/// How much of a record too large for any chunk its dead letter keeps: the Kinesis record
/// limit, which no CTR exceeds. The dead letter names the byte range of the whole record in
/// its source, and memory stays bounded however large the record is.
const OVERSIZED_SAMPLE_BYTES: usize = ctrlake_model::MAX_RECORD_BYTES;

/// When a stream is scanned for the end of an oversized record, this many bytes at the end of
/// each window are scanned again with the next one, so that a record start cut by the window's
/// end is still found (any record of up to this size).
const OVERSIZED_SCAN_OVERLAP: usize = 2 * ctrlake_model::MAX_RECORD_BYTES;

/// Cuts chunks the same way whether the source is read or mapped, so that the same bytes make
/// the same files under the same names. `window` holds the next `target` bytes of the source,
/// or everything that is left when fewer remain.
fn chunk_end(window: &[u8], target: usize, max_chunk_bytes: usize) -> ChunkEnd {
    if window.len() < target {
        return ChunkEnd::Last;
    }
    match find_cut(window) {
        Some(cut) => ChunkEnd::At(cut),
        None if window.len() < max_chunk_bytes => ChunkEnd::Grow((target * 2).min(max_chunk_bytes)),
        None => match complete_prefix(window) {
            0 => ChunkEnd::Oversized,
            records => ChunkEnd::At(records),
        },
    }
}

enum WriteJob {
    Parquet {
        key: PartitionKey,
        origin: Origin,
        batches: Vec<RecordBatch>,
        buffered: usize,
    },
    DeadLetters {
        origin: Origin,
        letters: Vec<DeadLetter>,
    },
}

/// What workers take: writes first (they free memory), then chunks to decode.
struct WorkQueues {
    chunks: Receiver<Chunk>,
    writes: Receiver<WriteJob>,
}

enum Report {
    Decoded {
        chunk: Chunk,
        decoded: Result<DecodedRecords, EncodeError>,
    },
    Written {
        path: object_store::path::Path,
        parquet: bool,
        rows: u64,
        bytes: u64,
        buffered: usize,
    },
    WriteFailed(BackfillError),
    ReaderFailed(BackfillError),
    ReaderDone {
        chunks: u64,
    },
}

/// Reads every source into `lake`.
pub fn backfill(
    sources: &[Source],
    lake: &Lake,
    options: &BackfillOptions,
    runtime: &Handle,
    progress: &Progress,
) -> Result<BackfillSummary, BackfillError> {
    let started = Instant::now();
    let stale_temporaries_removed = lake.remove_stale_temporaries()?.len() as u64;
    let threads = options.threads.max(1);
    let (job_tx, job_rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
    let (write_tx, write_rx) = crossbeam_channel::unbounded::<WriteJob>();
    let (report_tx, report_rx) = crossbeam_channel::unbounded::<Report>();
    // Chunks read but not yet taken by the coordinator: the reader takes a credit per chunk and
    // the coordinator returns it, so decoded chunks cannot pile up while writes catch up. A
    // credit is the buffer to read into: the coordinator returns a taken chunk's buffer, so the
    // reader re-uses memory already faulted in instead of allocating a buffer per chunk.
    let chunks_in_flight = threads * 2 + 2;
    let (credit_tx, credit_rx) = crossbeam_channel::bounded::<Vec<u8>>(chunks_in_flight);
    for _ in 0..chunks_in_flight {
        let _ = credit_tx.send(Vec::new());
    }
    let abort = AtomicBool::new(false);

    let (mut summary, written) = std::thread::scope(|scope| {
        {
            let job_tx = job_tx.clone();
            let report_tx = report_tx.clone();
            let abort = &abort;
            scope.spawn(move || {
                let outcome = read_sources(
                    sources, options, runtime, progress, &job_tx, &credit_rx, abort,
                );
                let _ = report_tx.send(match outcome {
                    Ok(chunks) => Report::ReaderDone { chunks },
                    Err(error) => Report::ReaderFailed(error),
                });
            });
        }
        for _ in 0..threads {
            let queues = WorkQueues {
                chunks: job_rx.clone(),
                writes: write_rx.clone(),
            };
            let report_tx = report_tx.clone();
            let abort = &abort;
            scope.spawn(move || work(&queues, &report_tx, sources, lake, options, runtime, abort));
        }
        drop(job_rx);
        drop(write_rx);
        drop(report_tx);
        drop(job_tx);
        let mut coordinator = Coordinator::new(sources, options, write_tx, credit_tx, progress);
        let result = coordinator.run(&report_rx);
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        let summary = coordinator.finish();
        // Drain so that no worker blocks on a full channel while the scope joins.
        for _ in report_rx.iter() {}
        result.map(|()| summary)
    })?;
    summary.earlier_files_removed =
        runtime.block_on(remove_earlier_files(sources, lake, &written))?;
    summary.stale_temporaries_removed = stale_temporaries_removed;
    summary.sources = sources.len();
    summary.bytes_read = progress.bytes_read.load(Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Removes what earlier runs wrote from the sources this run read whole, where this run did
/// not write the same file again: a source that grew or changed since then is cut at other
/// byte ranges, and its old files would hold its rows a second time. A source this run could
/// not read to its end keeps its earlier files (they may hold rows this run did not reach),
/// and so do stdin sources (each stdin stream is its own source).
///
/// It runs after every file of the run is written: a crash before it leaves the earlier files
/// beside the new ones (the `contacts` view still counts each contact once), and the next run
/// of the same sources removes them.
async fn remove_earlier_files(
    sources: &[Source],
    lake: &Lake,
    written: &Written,
) -> Result<u64, BackfillError> {
    let prefixes: Vec<String> = sources
        .iter()
        .enumerate()
        .filter(|(index, source)| {
            !written.failed_sources.contains(index)
                && matches!(
                    source.location,
                    SourceLocation::Local(_) | SourceLocation::Object { .. }
                )
        })
        .map(|(_, source)| Origin::file_name_prefix(&source.uri))
        .collect();
    if prefixes.is_empty() {
        return Ok(0);
    }
    let mut removed = 0;
    for folder in [CTR_TABLE, AGENT_EVENTS_TABLE, DEAD_LETTER_DIR] {
        for object in lake.list(&object_store::path::Path::from(folder)).await? {
            let path = object.location;
            let Some(name) = path.filename() else {
                continue;
            };
            let from_a_source = prefixes
                .iter()
                .any(|prefix| Origin::is_file_name_of(name, prefix));
            if from_a_source && !written.paths.contains(path.as_ref()) {
                lake.delete(&path).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn read_sources(
    sources: &[Source],
    options: &BackfillOptions,
    runtime: &Handle,
    progress: &Progress,
    job_tx: &Sender<Chunk>,
    credits: &Receiver<Vec<u8>>,
    abort: &AtomicBool,
) -> Result<u64, BackfillError> {
    let mut reader = ChunkReader {
        options,
        progress,
        job_tx,
        credits,
        abort,
        seq: 0,
    };
    for (index, source) in sources.iter().enumerate() {
        // A source that cannot be opened is dead-lettered and the others are read.
        let more = match source.map() {
            Ok(Some(map)) => reader.read_mapped(index, map),
            Ok(None) => match reader.read_stream(index, source, runtime) {
                Ok(more) => more,
                Err(error) => reader.unreadable(index, error),
            },
            Err(error) => reader.unreadable(index, error),
        };
        if !more {
            break;
        }
    }
    Ok(reader.seq)
}

/// The reader thread's side of the chunk queue.
struct ChunkReader<'a> {
    options: &'a BackfillOptions,
    progress: &'a Progress,
    job_tx: &'a Sender<Chunk>,
    /// A credit bounds the chunks in flight; it is a buffer to read into.
    credits: &'a Receiver<Vec<u8>>,
    abort: &'a AtomicBool,
    /// Sequence number of the next chunk.
    seq: u64,
}

impl ChunkReader<'_> {
    /// Waits for a credit; `None` when reading must stop.
    fn credit(&self) -> Option<Vec<u8>> {
        let buffer = self.credits.recv().ok()?;
        (!self.abort.load(Ordering::Relaxed)).then_some(buffer)
    }

    /// Queues a chunk, numbering it; `false` when reading must stop.
    fn send(&mut self, mut chunk: Chunk) -> bool {
        chunk.seq = self.seq;
        self.seq += 1;
        self.job_tx.send(chunk).is_ok()
    }

    /// Queues an empty last chunk for a source that could not be opened, carrying the error;
    /// `false` when reading must stop.
    fn unreadable(&mut self, index: usize, error: impl std::fmt::Display) -> bool {
        if self.credit().is_none() {
            return false;
        }
        self.send(Chunk {
            seq: 0,
            source: index,
            offset: 0,
            len: 0,
            bytes: ChunkBytes::Read(Vec::new()),
            last: true,
            content_tag: None,
            read_error: Some(ReadFailure::Open(error.to_string())),
            oversized: None,
        })
    }

    /// Queues the chunks of a memory-mapped source; `false` when reading must stop.
    fn read_mapped(&mut self, index: usize, map: Arc<Mmap>) -> bool {
        let mut offset = 0usize;
        loop {
            // The credit's buffer is not needed for a mapped chunk.
            if self.credit().is_none() {
                return false;
            }
            let mut target = self.options.chunk_bytes;
            let (end, last, oversized) = loop {
                let window = &map[offset..map.len().min(offset + target)];
                match chunk_end(window, target, self.options.max_chunk_bytes) {
                    ChunkEnd::Last => break (map.len(), true, None),
                    ChunkEnd::At(cut) => break (offset + cut, false, None),
                    ChunkEnd::Grow(bigger) => target = bigger,
                    ChunkEnd::Oversized => {
                        let (end, last) = match first_cut(&map[offset..], 1) {
                            Some(cut) => (offset + cut, false),
                            None => (map.len(), true),
                        };
                        let blanks = trailing_blanks(&map[offset..end]);
                        break (end, last, Some((end - offset - blanks) as u64));
                    }
                }
            };
            self.progress
                .bytes_read
                .fetch_add((end - offset) as u64, Ordering::Relaxed);
            let chunk = Chunk {
                seq: 0,
                source: index,
                offset: offset as u64,
                len: (end - offset) as u64,
                bytes: ChunkBytes::Mapped {
                    map: Arc::clone(&map),
                    start: offset,
                    end,
                },
                last,
                content_tag: None,
                read_error: None,
                oversized,
            };
            offset = end;
            if !self.send(chunk) {
                return false;
            }
            if last {
                return true;
            }
        }
    }

    /// Queues the chunks of a source read as a stream (gzip, stdin, S3); `false` when reading
    /// must stop.
    fn read_stream(
        &mut self,
        index: usize,
        source: &Source,
        runtime: &Handle,
    ) -> Result<bool, BackfillError> {
        // The reader thread is a plain thread: it may wait for the runtime.
        let mut reader = runtime.block_on(source.open(self.progress.bytes_read.clone()))?;
        let mut offset = 0u64;
        // Bytes read past the last cut: the start of the next chunk.
        let mut carry: Vec<u8> = Vec::new();
        let mut content_tag = None;
        loop {
            let Some(mut buf) = self.credit() else {
                return Ok(false);
            };
            buf.clear();
            buf.extend_from_slice(&carry);
            carry.clear();
            let mut target = self.options.chunk_bytes;
            let mut oversized = None;
            let (cut, last, read_error) = loop {
                buf.reserve(target.saturating_sub(buf.len()));
                let want = target.saturating_sub(buf.len()) as u64;
                let read = (&mut reader).take(want).read_to_end(&mut buf);
                if let Err(error) = read {
                    break (buf.len(), true, Some(ReadFailure::Read(error.to_string())));
                }
                // What was carried over can be longer than `target` (after a grown chunk).
                let window = &buf[..buf.len().min(target)];
                match chunk_end(window, target, self.options.max_chunk_bytes) {
                    ChunkEnd::Last => break (buf.len(), true, None),
                    ChunkEnd::At(cut) => break (cut, false, None),
                    ChunkEnd::Grow(bigger) => target = bigger,
                    ChunkEnd::Oversized => {
                        if matches!(source.location, SourceLocation::Stdin) {
                            content_tag.get_or_insert_with(|| fnv1a64(&buf));
                        }
                        let (scan, end) = self.skip_oversized(&mut reader, &mut buf);
                        oversized = Some(scan);
                        break end;
                    }
                }
            };
            if matches!(source.location, SourceLocation::Stdin) && content_tag.is_none() {
                content_tag = Some(fnv1a64(&buf));
            }
            carry.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
            let mut record_len = None;
            let len = match oversized {
                Some(OversizedScan { len, sample }) => {
                    record_len = Some(len - trailing_blanks(&buf) as u64);
                    buf = sample;
                    len
                }
                None => buf.len() as u64,
            };
            let chunk = Chunk {
                seq: 0,
                source: index,
                offset,
                len,
                bytes: ChunkBytes::Read(buf),
                last,
                content_tag,
                read_error,
                oversized: record_len,
            };
            offset += len;
            if !self.send(chunk) {
                return Ok(false);
            }
            if last {
                return Ok(true);
            }
        }
    }
}

/// How many spaces, tabs, carriage returns and newlines end `bytes`.
fn trailing_blanks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

/// A record too large for any chunk, read past in a stream.
struct OversizedScan {
    /// Its length in bytes.
    len: u64,
    /// Its first [`OVERSIZED_SAMPLE_BYTES`].
    sample: Vec<u8>,
}

impl ChunkReader<'_> {
    /// Reads past a record that starts `buf` and is too large for any chunk (`buf` holds
    /// `max_chunk_bytes` without a record start), window by window, keeping only its first
    /// bytes. Returns the record and `(cut, last, read_error)` for the loop in
    /// [`ChunkReader::read_stream`]: `buf[cut..]` is what follows the record.
    fn skip_oversized(
        &self,
        reader: &mut impl Read,
        buf: &mut Vec<u8>,
    ) -> (OversizedScan, (usize, bool, Option<ReadFailure>)) {
        let sample = buf[..buf.len().min(OVERSIZED_SAMPLE_BYTES)].to_vec();
        let mut skipped = 0u64;
        let mut scan_from = 1;
        let end = loop {
            if let Some(cut) = first_cut(buf, scan_from) {
                break (cut, false, None);
            }
            // Keep the window's end (a record start may be cut by it), drop the rest.
            let keep = buf.len().min(OVERSIZED_SCAN_OVERLAP);
            let drop = buf.len() - keep;
            skipped += drop as u64;
            buf.drain(..drop);
            scan_from = 1;
            let want = self.options.max_chunk_bytes as u64;
            match reader.take(want).read_to_end(buf) {
                Ok(0) => break (buf.len(), true, None),
                Ok(_) => {}
                Err(error) => {
                    break (buf.len(), true, Some(ReadFailure::Read(error.to_string())));
                }
            }
        };
        // `buf` now starts inside the record (or with it): its bytes before the cut are the
        // record's last ones.
        let scan = OversizedScan {
            len: skipped + end.0 as u64,
            sample,
        };
        (scan, end)
    }
}

fn work(
    queues: &WorkQueues,
    report_tx: &Sender<Report>,
    sources: &[Source],
    lake: &Lake,
    options: &BackfillOptions,
    runtime: &Handle,
    abort: &AtomicBool,
) {
    let uris: Vec<Arc<str>> = sources.iter().map(|s| Arc::from(s.uri.as_str())).collect();
    loop {
        let job = match queues.writes.try_recv() {
            Ok(write) => Ok(write),
            Err(_) => crossbeam_channel::select! {
                recv(queues.writes) -> write => match write {
                    Ok(write) => Ok(write),
                    // No more writes can come: only chunks are left.
                    Err(_) => match queues.chunks.recv() {
                        Ok(chunk) => Err(chunk),
                        Err(_) => return,
                    },
                },
                recv(queues.chunks) -> chunk => match chunk {
                    Ok(chunk) => Err(chunk),
                    Err(_) => match queues.writes.recv() {
                        Ok(write) => Ok(write),
                        Err(_) => return,
                    },
                },
            },
        };
        if abort.load(Ordering::Relaxed) {
            continue;
        }
        let report = match job {
            Err(chunk) if chunk.oversized.is_some() => {
                let decoded = Ok(oversized_record(&chunk, &uris[chunk.source], options));
                chunk.bytes.release();
                Report::Decoded { chunk, decoded }
            }
            Err(chunk) => {
                let source = &sources[chunk.source];
                let decoded = decode_bytes(
                    &chunk.bytes,
                    chunk.offset,
                    &uris[chunk.source],
                    source.modified_ms,
                    options.writer.raw_json,
                );
                chunk.bytes.release();
                Report::Decoded { chunk, decoded }
            }
            Ok(job) => write(job, lake, options, runtime),
        };
        if report_tx.send(report).is_err() {
            return;
        }
    }
}

/// The one dead letter of a record too large for any chunk.
fn oversized_record(chunk: &Chunk, uri: &Arc<str>, options: &BackfillOptions) -> DecodedRecords {
    let sample = &chunk.bytes[..chunk.bytes.len().min(OVERSIZED_SAMPLE_BYTES)];
    let record_len = chunk.oversized.unwrap_or(chunk.len);
    DecodedRecords {
        partitions: BTreeMap::new(),
        dead_letters: vec![DeadLetter {
            source_uri: Arc::clone(uri),
            source_offset: Some(chunk.offset),
            source_sequence_number: None,
            reason: DeadLetterReason::TooLarge,
            detail: format!(
                "bytes {}..{} of the source are one record of {} bytes, over the {} MiB a chunk \
                 can hold (and the 1 MiB Kinesis record limit); its first {} bytes are kept here",
                chunk.offset,
                chunk.offset + record_len,
                record_len,
                options.max_chunk_bytes >> 20,
                sample.len()
            ),
            bytes: sample.to_vec(),
        }],
        records: 1,
    }
}

fn write(job: WriteJob, lake: &Lake, options: &BackfillOptions, runtime: &Handle) -> Report {
    let (encoded, buffered, parquet) = match job {
        WriteJob::Parquet {
            key,
            origin,
            batches,
            buffered,
        } => (
            encode_parquet_file(key, &origin, &batches, &options.writer),
            buffered,
            true,
        ),
        WriteJob::DeadLetters { origin, letters } => {
            (encode_dead_letter_file(&origin, &letters), 0, false)
        }
    };
    let file = match encoded {
        Ok(file) => file,
        Err(error) => return Report::WriteFailed(error.into()),
    };
    let bytes = file.bytes.len() as u64;
    // The worker is a plain thread: it may wait for the runtime.
    match runtime.block_on(write_files(lake, std::slice::from_ref(&file))) {
        Ok(_) => Report::Written {
            path: file.path,
            parquet,
            rows: file.rows,
            bytes,
            buffered,
        },
        Err(error) => Report::WriteFailed(error.into()),
    }
}

/// Dead letters of the current source waiting to be written.
#[derive(Default)]
struct PendingDeadLetters {
    letters: Vec<DeadLetter>,
    bytes: usize,
    start: u64,
    end: u64,
}

struct Coordinator<'a> {
    sources: &'a [Source],
    options: &'a BackfillOptions,
    write_tx: Sender<WriteJob>,
    credit_tx: Sender<Vec<u8>>,
    progress: &'a Progress,
    /// Rows per partition waiting to become files (the shared flush policy).
    buffer: PartitionBuffer,
    dead: PendingDeadLetters,
    in_flight: usize,
    writes_outstanding: u64,
    summary: BackfillSummary,
    /// Lake paths written by this run.
    written: HashSet<String>,
    /// Sources not read to their end.
    failed_sources: HashSet<usize>,
    /// Records read from each source, and those not dead-lettered (in `sources` order).
    rows_by_source: Vec<(u64, u64)>,
}

/// What a finished run wrote, for [`remove_earlier_files`].
struct Written {
    paths: HashSet<String>,
    failed_sources: HashSet<usize>,
}

impl<'a> Coordinator<'a> {
    fn new(
        sources: &'a [Source],
        options: &'a BackfillOptions,
        write_tx: Sender<WriteJob>,
        credit_tx: Sender<Vec<u8>>,
        progress: &'a Progress,
    ) -> Self {
        Self {
            sources,
            options,
            write_tx,
            credit_tx,
            progress,
            buffer: PartitionBuffer::new(FlushPolicy {
                partition_bytes: options.partition_flush_bytes,
                buffer_bytes: options.buffer_limit_bytes,
                max_age: None,
            }),
            dead: PendingDeadLetters::default(),
            in_flight: 0,
            writes_outstanding: 0,
            summary: BackfillSummary::default(),
            written: HashSet::new(),
            failed_sources: HashSet::new(),
            rows_by_source: vec![(0, 0); sources.len()],
        }
    }

    /// Closes the write queue (so workers end) and hands back the summary and what
    /// [`remove_earlier_files`] needs.
    fn finish(mut self) -> (BackfillSummary, Written) {
        self.summary.sources_without_rows = self
            .sources
            .iter()
            .zip(&self.rows_by_source)
            .enumerate()
            .filter(|(index, (_, (_, rows)))| *rows == 0 && !self.failed_sources.contains(index))
            .map(|(_, (source, (read, _)))| (source.uri.clone(), *read))
            .collect();
        (
            self.summary,
            Written {
                paths: self.written,
                failed_sources: self.failed_sources,
            },
        )
    }

    fn run(&mut self, reports: &Receiver<Report>) -> Result<(), BackfillError> {
        let mut waiting: HashMap<u64, (Chunk, DecodedRecords)> = HashMap::new();
        let mut next_seq = 0u64;
        let mut total_chunks = None;
        loop {
            if total_chunks == Some(next_seq) && self.writes_outstanding == 0 {
                return Ok(());
            }
            let Ok(report) = reports.recv() else {
                return Err(BackfillError::ThreadLost);
            };
            match report {
                Report::Decoded { chunk, decoded } => {
                    waiting.insert(chunk.seq, (chunk, decoded?));
                }
                Report::Written {
                    path,
                    parquet,
                    rows,
                    bytes,
                    buffered,
                } => {
                    self.writes_outstanding -= 1;
                    self.in_flight -= buffered;
                    self.summary.bytes_written += bytes;
                    if parquet {
                        self.summary.parquet_files += 1;
                        self.summary.records_written += rows;
                    } else {
                        self.summary.dead_letter_files += 1;
                    }
                    self.progress.files_written.fetch_add(1, Ordering::Relaxed);
                    self.written.insert(path.to_string());
                }
                Report::WriteFailed(error) | Report::ReaderFailed(error) => return Err(error),
                Report::ReaderDone { chunks } => total_chunks = Some(chunks),
            }
            // Take chunks in input order, but not while files being encoded hold half the
            // memory budget: the reports of their completion come first. (This only delays.)
            while self.in_flight < self.options.buffer_limit_bytes {
                let Some((mut chunk, decoded)) = waiting.remove(&next_seq) else {
                    break;
                };
                next_seq += 1;
                // The reader may read another chunk into this one's buffer (the reader ends
                // once all sources are read). A buffer grown for an outsized record is dropped.
                let spare = match std::mem::replace(&mut chunk.bytes, ChunkBytes::Read(Vec::new()))
                {
                    ChunkBytes::Read(buffer)
                        if buffer.capacity() <= 2 * self.options.chunk_bytes =>
                    {
                        buffer
                    }
                    _ => Vec::new(),
                };
                let _ = self.credit_tx.send(spare);
                self.take(chunk, decoded)?;
            }
        }
    }

    fn take(&mut self, chunk: Chunk, decoded: DecodedRecords) -> Result<(), BackfillError> {
        let chunk_end = chunk.offset + chunk.len;
        self.summary.bytes_decoded += chunk.len;
        self.summary.records_read += decoded.records;
        if let Some((read, rows)) = self.rows_by_source.get_mut(chunk.source) {
            *read += decoded.records;
            *rows += decoded
                .records
                .saturating_sub(decoded.dead_letters.len() as u64);
        }
        self.progress
            .records_read
            .fetch_add(decoded.records, Ordering::Relaxed);
        // Flush decisions look only at what is buffered (never at what is still being written,
        // which depends on timing) so that the same input always makes the same files.
        self.buffer
            .push(decoded.partitions, chunk.offset, chunk_end, Instant::now())?;
        while let Some(key) = self.buffer.due_partition() {
            self.flush_partition(key, &chunk)?;
        }
        let mut letters = decoded.dead_letters;
        if let Some(failure) = &chunk.read_error {
            let source = &self.sources[chunk.source];
            self.failed_sources.insert(chunk.source);
            let (reason, detail) = match failure {
                ReadFailure::Open(error) => (
                    DeadLetterReason::UnreadableSource,
                    format!("the source could not be read: {error}"),
                ),
                ReadFailure::Read(error) => (
                    DeadLetterReason::Truncated,
                    format!(
                        "the source could not be read past byte {chunk_end} (after \
                         decompression): {error}"
                    ),
                ),
            };
            self.summary
                .source_errors
                .push(format!("{}: {detail}", source.uri));
            // The unreadable rest of the source counts as one record read and dead-lettered,
            // so that read = written + dead-lettered still holds.
            self.summary.records_read += 1;
            letters.push(DeadLetter {
                source_uri: Arc::from(source.uri.as_str()),
                source_offset: Some(chunk_end),
                source_sequence_number: None,
                reason,
                detail,
                bytes: Vec::new(),
            });
        }
        for letter in letters {
            *self.summary.dead_letters.entry(letter.reason).or_default() += 1;
            if self.dead.letters.is_empty() {
                self.dead.start = chunk.offset;
            }
            self.dead.bytes += letter.bytes.len() + letter.detail.len();
            self.dead.letters.push(letter);
            self.dead.end = chunk_end;
        }
        if self.dead.bytes >= self.options.dead_letter_flush_bytes {
            self.flush_dead_letters(&chunk)?;
        }
        if chunk.last {
            for partition in self.buffer.take_all() {
                self.submit_partition(partition, &chunk)?;
            }
            self.flush_dead_letters(&chunk)?;
        }
        Ok(())
    }

    fn origin(&self, chunk: &Chunk, start: u64, end: u64) -> Origin {
        Origin::File {
            uri: self.sources[chunk.source].uri.clone(),
            content_tag: chunk.content_tag,
            start,
            end,
        }
    }

    fn flush_partition(&mut self, key: PartitionKey, chunk: &Chunk) -> Result<(), BackfillError> {
        match self.buffer.take(key) {
            Some(partition) => self.submit_partition(partition, chunk),
            None => Ok(()),
        }
    }

    fn submit_partition(
        &mut self,
        partition: Partition,
        chunk: &Chunk,
    ) -> Result<(), BackfillError> {
        self.in_flight += partition.bytes;
        let origin = self.origin(chunk, partition.start, partition.end);
        self.submit(WriteJob::Parquet {
            key: partition.key,
            origin,
            batches: partition.batches,
            buffered: partition.bytes,
        })
    }

    fn flush_dead_letters(&mut self, chunk: &Chunk) -> Result<(), BackfillError> {
        if self.dead.letters.is_empty() {
            return Ok(());
        }
        let dead = std::mem::take(&mut self.dead);
        let origin = self.origin(chunk, dead.start, dead.end);
        self.submit(WriteJob::DeadLetters {
            origin,
            letters: dead.letters,
        })
    }

    fn submit(&mut self, job: WriteJob) -> Result<(), BackfillError> {
        self.writes_outstanding += 1;
        self.write_tx
            .send(job)
            .map_err(|_| BackfillError::ThreadLost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &[u8] = b"{\"ContactId\":\"a\"}\n";

    #[test]
    fn a_window_shorter_than_its_target_is_the_last_chunk() {
        assert_eq!(chunk_end(RECORD, RECORD.len() + 1, 1024), ChunkEnd::Last);
        assert_eq!(chunk_end(b"", 16, 1024), ChunkEnd::Last);
    }

    #[test]
    fn a_full_window_ends_at_its_last_complete_record_start() {
        let window: Vec<u8> = RECORD.repeat(3);
        assert_eq!(
            chunk_end(&window, window.len(), 1024),
            ChunkEnd::At(2 * RECORD.len())
        );
    }

    #[test]
    fn a_window_without_a_record_start_grows_up_to_the_limit() {
        let garbage = vec![b'x'; 100];
        assert_eq!(chunk_end(&garbage, 100, 1024), ChunkEnd::Grow(200));
        assert_eq!(chunk_end(&garbage, 100, 150), ChunkEnd::Grow(150));
        assert_eq!(chunk_end(&garbage, 100, 100), ChunkEnd::Oversized);
        // Complete records before the one too large for a chunk are cut off on their own.
        let mut window = b"{\"a\":1}\n  {\"c\":\"".to_vec();
        window.resize(100, b'x');
        assert_eq!(chunk_end(&window, 100, 100), ChunkEnd::At(10));
    }
}
