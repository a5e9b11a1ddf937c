//! The consumer against a real Kinesis API (ferrokinesis, served in-process on 127.0.0.1) through
//! the real `aws-sdk-kinesis` client: every put record lands in exactly one lake row or dead
//! letter, across flushes, shards, expired iterators and crashes at random moments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use ctrlake_kinesis::{Consumer, ConsumerOptions, ShardCheckpoint};
use ctrlake_lake::Lake;
use ferrokinesis::store::StoreOptions;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng};

/// Where a record is: (shard id, sequence number).
type Placed = (String, String);

/// A Kinesis API on 127.0.0.1 for the whole test, on its own runtime thread.
struct LocalKinesis {
    endpoint: String,
    _runtime: tokio::runtime::Runtime,
}

impl LocalKinesis {
    fn start(options: StoreOptions) -> Self {
        Self::start_with_faults(options, None)
    }

    /// The server, answering some calls with the errors [`Faults`] plans instead of serving
    /// them: what a throttled or failing Kinesis endpoint sends, on the wire, to the real SDK.
    fn start_with_faults(options: StoreOptions, faults: Option<Arc<Faults>>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        let endpoint = runtime.block_on(async {
            let (app, _store) = ferrokinesis::create_app(options);
            let app = match faults {
                Some(faults) => app.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let faults = Arc::clone(&faults);
                        async move {
                            match faults.planned(&request) {
                                Some(fault) => fault,
                                None => next.run(request).await,
                            }
                        }
                    },
                )),
                None => app,
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1");
            let address = listener.local_addr().expect("address");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            format!("http://{address}")
        });
        Self {
            endpoint,
            _runtime: runtime,
        }
    }

    /// A client for the current runtime (a client's connections belong to one runtime).
    fn client(&self) -> Client {
        client(&self.endpoint)
    }
}

/// Errors the server answers on purpose, by operation and call number: bursts of throttling
/// (`ProvisionedThroughputExceededException`, `LimitExceededException`) and server failures.
#[derive(Default)]
struct Faults {
    get_records: AtomicU64,
    get_shard_iterator: AtomicU64,
    list_shards: AtomicU64,
    injected: AtomicU64,
}

impl Faults {
    /// GetRecords calls that can fail: the first this many.
    const GET_RECORDS_FAULTY: u64 = 40;

    fn planned(&self, request: &axum::extract::Request) -> Option<axum::response::Response> {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('.').next())
            .unwrap_or("");
        let (status, code) = match operation {
            "GetRecords" => {
                let n = self.get_records.fetch_add(1, Ordering::Relaxed);
                match n % 5 {
                    _ if n >= Self::GET_RECORDS_FAULTY => return None,
                    0 => (400, "ProvisionedThroughputExceededException"),
                    1 => (500, "InternalFailure"),
                    _ => return None,
                }
            }
            "GetShardIterator" => {
                let n = self.get_shard_iterator.fetch_add(1, Ordering::Relaxed);
                if !n.is_multiple_of(3) || n >= 30 {
                    return None;
                }
                (400, "LimitExceededException")
            }
            "ListShards" => {
                if self.list_shards.fetch_add(1, Ordering::Relaxed) != 0 {
                    return None;
                }
                (400, "LimitExceededException")
            }
            _ => return None,
        };
        self.injected.fetch_add(1, Ordering::Relaxed);
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .body(axum::body::Body::from(format!(
                r#"{{"__type":"{code}","message":"injected by the test"}}"#
            )))
            .ok()
    }
}

fn client(endpoint: &str) -> Client {
    client_with_retries(
        endpoint,
        aws_sdk_kinesis::config::retry::RetryConfig::standard(),
    )
}

fn client_with_retries(
    endpoint: &str,
    retries: aws_sdk_kinesis::config::retry::RetryConfig,
) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .retry_config(retries)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn fast_store() -> StoreOptions {
    StoreOptions {
        create_stream_ms: 0,
        delete_stream_ms: 0,
        update_stream_ms: 0,
        shard_limit: 64,
        ..StoreOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn create_stream(client: &Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
    wait_active(client, name).await;
}

/// Puts `records` (partition key, data) in order, 500 at a time; returns the sequence number
/// of each, by shard.
async fn put(
    client: &Client,
    stream: &str,
    records: &[(String, Vec<u8>)],
) -> Vec<(String, String)> {
    let mut placed = Vec::new();
    for batch in records.chunks(500) {
        let entries: Vec<PutRecordsRequestEntry> = batch
            .iter()
            .map(|(key, data)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(Blob::new(data.clone()))
                    .build()
                    .expect("entry")
            })
            .collect();
        let output = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(output.failed_record_count(), Some(0));
        for result in output.records() {
            placed.push((
                result.shard_id().expect("shard").to_owned(),
                result.sequence_number().expect("sequence").to_owned(),
            ));
        }
    }
    placed
}

/// Every record of the fixtures, a generated day with updates, and bad records: (partition
/// key, data, good).
fn records() -> Vec<(String, Vec<u8>, bool)> {
    let mut out = Vec::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ctr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("ndjson"))
        .collect();
    files.sort();
    let mut lines: Vec<String> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("fixture");
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
    }
    let config = ctrlake_gen::GenConfig {
        contacts: 300,
        seed: 11,
        days: 1,
        start: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"),
        format: ctrlake_gen::OutputFormat::Ndjson,
        gzip: false,
        agents: ctrlake_gen::DEFAULT_AGENTS,
    };
    let mut generated = Vec::new();
    ctrlake_gen::generate(&config, &mut generated).expect("generate");
    lines.extend(
        String::from_utf8(generated)
            .expect("utf-8")
            .lines()
            .map(str::to_owned),
    );
    for line in lines {
        let key = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["ContactId"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "no-id".to_owned());
        out.push((key, line.into_bytes(), true));
    }
    for (i, bad) in [
        "not json at all".to_owned(),
        r#"{"ContactId":"bad-ts","InitiationTimestamp":"9999-12-31T00:00:00Z","LastUpdateTimestamp":"2026-03-02T00:00:00Z"}"#.to_owned(),
        r#"{"ContactId":"cut","InitiationTimestamp":"2026-03-02T00:00:00Z","#.to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        out.insert(i * 97 + 5, (format!("bad-{i}"), bad.into_bytes(), false));
    }
    out
}

/// (shard, sequence number) of every row of the lake, and of every dead letter.
fn lake_contents(lake: &Path) -> (Vec<Placed>, Vec<Placed>) {
    let mut rows = Vec::new();
    for file in walk(&lake.join("ctr")) {
        if file.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("open"))
                .expect("parquet")
                .build()
                .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let uri = batch.column_by_name("source_uri").expect("source_uri");
            let sequence = batch
                .column_by_name("source_sequence_number")
                .expect("source_sequence_number");
            let uri = arrow_cast::cast(uri, &arrow_schema::DataType::Utf8).expect("cast");
            let sequence = arrow_cast::cast(sequence, &arrow_schema::DataType::Utf8).expect("cast");
            let uri = uri
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("strings");
            let sequence = sequence
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("strings");
            for i in 0..batch.num_rows() {
                let shard = uri.value(i).rsplit('/').next().expect("shard").to_owned();
                rows.push((shard, sequence.value(i).to_owned()));
            }
        }
    }
    let mut letters = Vec::new();
    for file in walk(&lake.join("_dead_letter")) {
        for line in std::fs::read_to_string(&file)
            .expect("dead letters")
            .lines()
        {
            let letter: serde_json::Value = serde_json::from_str(line).expect("json");
            let shard = letter["source_uri"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .expect("uri")
                .to_owned();
            let sequence = letter["source_sequence_number"]
                .as_str()
                .expect("sequence")
                .to_owned();
            letters.push((shard, sequence));
        }
    }
    (rows, letters)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every good record is in exactly one row, every bad one in exactly one dead letter.
fn assert_exactly_once(lake: &Path, good: &[(String, String)], bad: &[(String, String)]) {
    let (rows, letters) = lake_contents(lake);
    let count = |items: &[(String, String)]| {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for item in items {
            *counts.entry(item.clone()).or_default() += 1;
        }
        counts
    };
    let rows = count(&rows);
    let duplicated: Vec<_> = rows.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "records in two rows: {duplicated:?}");
    let expected: BTreeSet<_> = good.iter().cloned().collect();
    let found: BTreeSet<_> = rows.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "{} records missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(found.len(), expected.len(), "rows that were never put");
    let letters = count(&letters);
    assert!(
        letters.values().all(|n| *n == 1),
        "a dead letter twice: {letters:?}"
    );
    let bad: BTreeSet<_> = bad.iter().cloned().collect();
    assert_eq!(letters.keys().cloned().collect::<BTreeSet<_>>(), bad);
}

fn options(stream: &str) -> ConsumerOptions {
    ConsumerOptions {
        flush_interval: Duration::from_millis(300),
        flush_bytes: 64 << 10,
        relist_interval: Duration::from_millis(500),
        until_caught_up: true,
        ..ConsumerOptions::new(stream)
    }
}

/// `records` as (partition key, data), to put.
fn entries(records: &[(String, Vec<u8>, bool)]) -> Vec<(String, Vec<u8>)> {
    records
        .iter()
        .map(|(key, data, _)| (key.clone(), data.clone()))
        .collect()
}

/// A consumer into the lake at `lake_dir`, with a client for the current runtime.
fn consumer(kinesis: &LocalKinesis, lake_dir: &Path, options: ConsumerOptions) -> Consumer {
    let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
    Consumer::new(kinesis.client(), lake, options)
}

/// Runs `consumer` until it ends by itself (caught up, or dropped by the caller).
async fn run_to_end(consumer: Consumer) -> ctrlake_kinesis::RunSummary {
    let (_stop, stop) = tokio::sync::watch::channel(false);
    consumer.run(stop).await.expect("consume")
}

fn split(
    records: &[(String, Vec<u8>, bool)],
    placed: &[(String, String)],
) -> (Vec<Placed>, Vec<Placed>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for ((_, _, ok), place) in records.iter().zip(placed) {
        if *ok {
            good.push(place.clone());
        } else {
            bad.push(place.clone());
        }
    }
    (good, bad)
}

#[test]
fn every_record_of_a_four_shard_stream_lands_exactly_once() {
    let kinesis = LocalKinesis::start(fast_store());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let runtime = runtime();
    let placed = runtime.block_on(async {
        let client = kinesis.client();
        create_stream(&client, "ctr", 4).await;
        let entries: Vec<(String, Vec<u8>)> = entries(&records);
        put(&client, "ctr", &entries).await
    });
    let shards: BTreeSet<&str> = placed.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(shards.len(), 4, "records spread over every shard");
    let summary =
        runtime.block_on(async { run_to_end(consumer(&kinesis, &lake_dir, options("ctr"))).await });
    let (good, bad) = split(&records, &placed);
    assert_eq!(summary.records, records.len() as u64);
    assert_eq!(summary.rows, good.len() as u64);
    assert_eq!(summary.dead_letters, bad.len() as u64);
    assert_exactly_once(&lake_dir, &good, &bad);
    // Checkpoints name the last record of each shard, nothing pending.
    runtime.block_on(async {
        let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
        for shard in shards {
            let checkpoint = ShardCheckpoint::load(&lake, "ctr", shard)
                .await
                .expect("load")
                .expect("a checkpoint per shard");
            let last = placed
                .iter()
                .filter(|(s, _)| s == shard)
                .map(|(_, q)| q.clone())
                .max_by(|a, b| ctrlake_kinesis::sequence_order(a, b));
            assert_eq!(checkpoint.sequence_number, last);
            assert!(checkpoint.pending.is_empty());
        }
    });
    // A second run finds nothing new and writes nothing.
    let before = walk(&lake_dir.join("ctr"));
    let again =
        runtime.block_on(async { run_to_end(consumer(&kinesis, &lake_dir, options("ctr"))).await });
    assert_eq!(again.records, 0);
    assert_eq!(walk(&lake_dir.join("ctr")), before);
}

/// The consumer is stopped at random moments — while reading, while encoding, between a
/// file's write and the checkpoint — 30 times while a producer keeps putting records. Each
/// stop drops the consumer's runtime: its tasks end at whatever await they were at, as a
/// killed process would (a write in progress completes or does not, as on disk). After the
/// last run, every record is in the lake exactly once.
#[test]
fn stops_at_random_moments_leave_every_record_exactly_once() {
    let kinesis = LocalKinesis::start(fast_store());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let (first, rest) = records.split_at(records.len() / 4);
    let setup = runtime();
    let mut placed = setup.block_on(async {
        let client = kinesis.client();
        create_stream(&client, "crashy", 3).await;
        let entries: Vec<(String, Vec<u8>)> = entries(first);
        put(&client, "crashy", &entries).await
    });
    // The producer: the rest in small batches, while the consumer is stopped and started.
    let producer = {
        let entries: Vec<(String, Vec<u8>)> = entries(rest);
        let endpoint = kinesis.endpoint.clone();
        std::thread::spawn(move || {
            let runtime = runtime();
            runtime.block_on(async move {
                let client = client(&endpoint);
                let mut placed = Vec::new();
                for batch in entries.chunks(40) {
                    placed.extend(put(&client, "crashy", batch).await);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                placed
            })
        })
    };
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let fast = ConsumerOptions {
        flush_interval: Duration::from_millis(50),
        flush_bytes: 8 << 10,
        until_caught_up: false,
        ..options("crashy")
    };
    for _ in 0..30 {
        let runtime = runtime();
        let stop_after = Duration::from_millis(random.random_range(5..250));
        runtime.block_on(async {
            let consumer = consumer(&kinesis, &lake_dir, fast.clone());
            let _ = tokio::time::timeout(stop_after, run_to_end(consumer)).await;
        });
        // Dropping the runtime ends its tasks at their await points and waits for blocking
        // work (a file being written) to finish, as the kernel would finish a write(2).
        drop(runtime);
    }
    placed.extend(producer.join().expect("producer"));
    runtime().block_on(run_to_end(consumer(&kinesis, &lake_dir, options("crashy"))));
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
}

/// The moment the random stops above rarely hit, made on purpose: a flush's files are written
/// and the process dies before its checkpoint moves. The next run reads the same records
/// again and cuts them into other files (other flush settings here): without the checkpoint's
/// list of pending files, the first run's files would stay and hold those records twice.
#[test]
fn files_written_before_a_checkpoint_that_never_moved_are_replaced() {
    let kinesis = LocalKinesis::start(fast_store());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let (first, second) = records.split_at(records.len() / 2);
    let runtime = runtime();
    let consume = |options: ConsumerOptions| {
        runtime.block_on(async { run_to_end(consumer(&kinesis, &lake_dir, options)).await })
    };
    let mut placed = runtime.block_on(async {
        let client = kinesis.client();
        create_stream(&client, "torn", 1).await;
        put(&client, "torn", &entries(first)).await
    });
    consume(options("torn"));
    let checkpoint_file = lake_dir.join("_checkpoints/kinesis/torn/shardId-000000000000.json");
    let committed = std::fs::read(&checkpoint_file).expect("checkpoint");
    let files_before: BTreeSet<PathBuf> = walk(&lake_dir).into_iter().collect();
    placed
        .extend(runtime.block_on(async { put(&kinesis.client(), "torn", &entries(second)).await }));
    consume(options("torn"));
    // Undo the last checkpoint as a crash before step 3 would have left it: the committed
    // position, with the flush's files listed as pending.
    let written: Vec<String> = walk(&lake_dir)
        .into_iter()
        .filter(|f| !files_before.contains(f) && f != &checkpoint_file)
        .map(|f| {
            f.strip_prefix(&lake_dir)
                .expect("in the lake")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(!written.is_empty());
    let mut crashed: ShardCheckpoint = serde_json::from_slice(&committed).expect("json");
    crashed.pending = written;
    std::fs::write(
        &checkpoint_file,
        serde_json::to_vec(&crashed).expect("json"),
    )
    .expect("write");
    let rerun = consume(ConsumerOptions {
        flush_bytes: 4 << 10,
        records_per_call: 25,
        ..options("torn")
    });
    assert!(rerun.uncommitted_files_removed > 0);
    assert!(
        rerun.flushes > 1,
        "the re-run cut the records into other files"
    );
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
}

/// Iterators that expire after a second: a shard idle longer than that gets a new iterator
/// after its last record, and nothing is read twice or skipped.
#[test]
fn expired_iterators_are_taken_again_after_the_last_record() {
    let kinesis = LocalKinesis::start(StoreOptions {
        iterator_ttl_seconds: 1,
        ..fast_store()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let (first, second) = records.split_at(records.len() / 2);
    let runtime = runtime();
    let placed = runtime.block_on(async {
        let client = kinesis.client();
        create_stream(&client, "slow", 2).await;
        let mut placed = put(&client, "slow", &entries(first)).await;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let consumer = consumer(
            &kinesis,
            &lake_dir,
            ConsumerOptions {
                until_caught_up: false,
                ..options("slow")
            },
        );
        let status = consumer.status();
        let run = tokio::spawn(async move { consumer.run(stop).await });
        // Idle for longer than an iterator lives, then more records.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        placed.extend(put(&client, "slow", &entries(second)).await);
        // Bounded wait until everything is read, then stop.
        for _ in 0..100 {
            let read: u64 = status.snapshot().values().map(|s| s.records).sum();
            if read == records.len() as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let renewed: u64 = status
            .snapshot()
            .values()
            .map(|s| s.iterators_renewed)
            .sum();
        assert!(renewed > 0, "no iterator expired: the test proves nothing");
        stop_tx.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("stops within 10 s")
            .expect("task")
            .expect("consume");
        placed
    });
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
}

/// Throttled and failing calls, on the wire from the server: GetRecords answered
/// `ProvisionedThroughputExceededException` and `InternalFailure`, GetShardIterator and
/// ListShards `LimitExceededException`. The SDK's own retries are off, so that each failure
/// reaches the consumer's backoff; every record still lands once, and the retries are counted.
#[test]
fn throttled_and_failed_calls_back_off_and_lose_nothing() {
    let faults = Arc::new(Faults::default());
    let kinesis = LocalKinesis::start_with_faults(fast_store(), Some(Arc::clone(&faults)));
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let runtime = runtime();
    let (placed, status) = runtime.block_on(async {
        let client = kinesis.client();
        create_stream(&client, "throttled", 2).await;
        let placed = put(&client, "throttled", &entries(&records)).await;
        let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
        let no_sdk_retries = client_with_retries(
            &kinesis.endpoint,
            aws_sdk_kinesis::config::retry::RetryConfig::disabled(),
        );
        let consumer = Consumer::new(
            no_sdk_retries,
            lake,
            ConsumerOptions {
                records_per_call: 10,
                ..options("throttled")
            },
        );
        let status = consumer.status();
        tokio::time::timeout(Duration::from_secs(60), run_to_end(consumer))
            .await
            .expect("caught up within 60 s");
        (placed, status.snapshot())
    });
    let calls = faults.get_records.load(Ordering::Relaxed);
    assert!(
        calls > Faults::GET_RECORDS_FAULTY,
        "only {calls} GetRecords calls: not every planned fault was met"
    );
    let retries: u64 = status.values().map(|s| s.retries).sum();
    let injected_get_records = Faults::GET_RECORDS_FAULTY * 2 / 5;
    assert!(
        retries >= injected_get_records,
        "{retries} retried GetRecords calls, {injected_get_records} failed on purpose"
    );
    assert!(faults.injected.load(Ordering::Relaxed) > injected_get_records);
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
}

/// A split and a merge while records keep coming: every record lands once, and no child shard
/// is flushed before its parents are read to their end (the versions of one contact, routed
/// by its id, stay in order).
#[test]
fn after_a_split_and_a_merge_children_are_read_after_their_parents() {
    let kinesis = LocalKinesis::start(fast_store());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let thirds: Vec<&[(String, Vec<u8>, bool)]> = records.chunks(records.len() / 3 + 1).collect();
    let runtime = runtime();
    let flushed: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let consume = || {
        let flushed = std::sync::Arc::clone(&flushed);
        runtime.block_on(async {
            run_to_end(
                consumer(&kinesis, &lake_dir, options("resharded")).on_flush(move |report| {
                    if let Ok(mut order) = flushed.lock() {
                        order.push(report.shard_id.clone());
                    }
                }),
            )
            .await
        })
    };
    let client = kinesis.client();
    let mut placed = runtime.block_on(async {
        create_stream(&client, "resharded", 2).await;
        put(&client, "resharded", &entries(thirds[0])).await
    });
    // Nothing is read until the end: parents and children all hold unread records.
    // Split shard 0 at the middle of its hash range, then put more.
    runtime.block_on(async {
        let shards = client
            .list_shards()
            .stream_name("resharded")
            .send()
            .await
            .expect("list");
        let shard0 = &shards.shards()[0];
        let range = shard0.hash_key_range().expect("range");
        let start: u128 = range.starting_hash_key().parse().expect("hash");
        let end: u128 = range.ending_hash_key().parse().expect("hash");
        client
            .split_shard()
            .stream_name("resharded")
            .shard_to_split(shard0.shard_id())
            .new_starting_hash_key((start + (end - start) / 2).to_string())
            .send()
            .await
            .expect("split");
        wait_active(&client, "resharded").await;
    });
    placed.extend(runtime.block_on(put(&client, "resharded", &entries(thirds[1]))));
    // Merge the two children of the split, then put the rest.
    runtime.block_on(async {
        let shards = client
            .list_shards()
            .stream_name("resharded")
            .send()
            .await
            .expect("list");
        let mut children: Vec<_> = shards
            .shards()
            .iter()
            .filter(|s| s.parent_shard_id().is_some())
            .collect();
        children.sort_by_key(|s| {
            s.hash_key_range()
                .map(|r| r.starting_hash_key().parse::<u128>().unwrap_or(0))
        });
        assert_eq!(children.len(), 2, "the split made two children");
        client
            .merge_shards()
            .stream_name("resharded")
            .shard_to_merge(children[0].shard_id())
            .adjacent_shard_to_merge(children[1].shard_id())
            .send()
            .await
            .expect("merge");
        wait_active(&client, "resharded").await;
    });
    placed.extend(runtime.block_on(put(&client, "resharded", &entries(thirds[2]))));
    consume();
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
    // Parents before children: no flush of a child before the last flush of its parents.
    let shards = runtime.block_on(async {
        client
            .list_shards()
            .stream_name("resharded")
            .send()
            .await
            .expect("list")
    });
    let order = flushed.lock().expect("order").clone();
    let mut checked = 0;
    for shard in shards.shards() {
        let Some(first_own) = order.iter().position(|s| s == shard.shard_id()) else {
            continue;
        };
        for parent in [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
            .into_iter()
            .flatten()
        {
            if let Some(last_parent) = order.iter().rposition(|s| s == parent) {
                assert!(
                    last_parent < first_own,
                    "{} flushed before its parent {parent} was done: {order:?}",
                    shard.shard_id()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 2,
        "the test saw no parent and child both flushing: {order:?}"
    );
    runtime.block_on(async {
        let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
        let parent = ShardCheckpoint::load(&lake, "resharded", "shardId-000000000000")
            .await
            .expect("load")
            .expect("checkpoint");
        assert!(
            parent.closed,
            "a split parent read to its end is marked closed"
        );
    });
}

async fn wait_active(client: &Client, name: &str) {
    for _ in 0..200 {
        let described = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("describe");
        let active = described
            .stream_description_summary()
            .is_some_and(|s| s.stream_status().as_str() == "ACTIVE");
        if active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("stream {name} did not become active");
}

/// A checkpoint whose record the stream no longer holds (its retention passed while the
/// consumer was stopped) is reported with the range, and reading goes on with what is left;
/// a checkpoint whose record is still there is not. The emulator trims by retention period
/// only (24 h at least), so the trimmed record is the shard's starting sequence number: valid
/// for the shard, held by no record.
#[test]
fn a_checkpoint_the_stream_no_longer_holds_is_reported_as_a_gap() {
    let kinesis = LocalKinesis::start(fast_store());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let records = records();
    let entries: Vec<(String, Vec<u8>)> = entries(&records);
    let runtime = runtime();
    let gaps: std::sync::Arc<std::sync::Mutex<Vec<ctrlake_kinesis::RetentionGap>>> =
        Default::default();
    let consume = || {
        let gaps = std::sync::Arc::clone(&gaps);
        runtime.block_on(async {
            run_to_end(
                consumer(&kinesis, &lake_dir, options("trimmed")).on_retention_gap(move |gap| {
                    if let Ok(mut gaps) = gaps.lock() {
                        gaps.push(gap.clone());
                    }
                }),
            )
            .await
        })
    };
    let client = kinesis.client();
    let (placed, starting_sequence) = runtime.block_on(async {
        create_stream(&client, "trimmed", 1).await;
        let placed = put(&client, "trimmed", &entries).await;
        let shards = client
            .list_shards()
            .stream_name("trimmed")
            .send()
            .await
            .expect("list");
        let start = shards.shards()[0]
            .sequence_number_range()
            .map(|r| r.starting_sequence_number().to_owned())
            .expect("range");
        (placed, start)
    });
    runtime.block_on(async {
        let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
        let mut checkpoint = ShardCheckpoint::new("trimmed", "shardId-000000000000");
        checkpoint.sequence_number = Some(starting_sequence.clone());
        checkpoint.save(&lake).await.expect("save");
    });
    let summary = consume();
    assert_eq!(
        summary.records,
        records.len() as u64,
        "what is left is read"
    );
    {
        let gaps = gaps.lock().expect("gaps");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].shard_id, "shardId-000000000000");
        assert_eq!(gaps[0].checkpoint_sequence, starting_sequence);
        assert_eq!(gaps[0].first_available_sequence, placed[0].1);
    }
    let (good, bad) = split(&records, &placed);
    assert_exactly_once(&lake_dir, &good, &bad);
    // A checkpoint on a record the stream holds: no gap.
    consume();
    assert_eq!(gaps.lock().expect("gaps").len(), 1);
}
