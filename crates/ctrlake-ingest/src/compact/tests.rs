//! Compaction of stream-written partitions: one row per delivered record, every crash point.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;

use super::*;
use crate::writer::{KinesisRecordRef, decode_kinesis_records, encode_batch};

/// A CTR of `contact` (version `version`) initiated on 2026-03-0`day`.
fn ctr(contact: usize, version: usize, day: u32) -> Vec<u8> {
    format!(
        "{{\"ContactId\":\"c-{contact}\",\"Channel\":\"VOICE\",\"InitiationTimestamp\":\"2026-03-0{day}T0{}:00:00Z\",\"LastUpdateTimestamp\":\"2026-03-0{day}T09:0{version}:00Z\"}}",
        contact % 9
    )
    .into_bytes()
}

fn sequence(n: usize) -> String {
    format!("{n:056}")
}

/// Writes records `range` (numbered by sequence) of shard 0 as one flush, the way the
/// consumer and the Lambda do; record n is contact n / 2, version n % 2, on day 1 + n % 2.
async fn flush(lake: &Lake, range: std::ops::Range<usize>) {
    let data: Vec<(String, Vec<u8>)> = range
        .clone()
        .map(|n| (sequence(n), ctr(n / 2, n % 2, 1 + (n % 2) as u32)))
        .collect();
    let refs: Vec<KinesisRecordRef<'_>> = data
        .iter()
        .map(|(sequence_number, data)| KinesisRecordRef {
            sequence_number,
            arrival_timestamp: Some(1_772_413_277_000),
            data,
        })
        .collect();
    let uri: Arc<str> = Arc::from("kinesis://s/shardId-000000000000");
    let decoded =
        decode_kinesis_records(&refs, &uri, ctrlake_model::RawJsonMode::Unmapped).expect("decodes");
    let origin = Origin::Shard {
        stream: "s".to_owned(),
        shard_id: "shardId-000000000000".to_owned(),
        first_sequence: sequence(range.start),
        last_sequence: sequence(range.end - 1),
    };
    let files = encode_batch(&decoded, &origin, &WriterOptions::default()).expect("encodes");
    write_files(lake, &files).await.expect("written");
}

/// A lake of 8 flushes of 25 records over two days, and a retried batch cut differently
/// (bisected): records 50..75 twice.
async fn stream_lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::open(&dir.display().to_string()).expect("lake");
    for start in (0..200).step_by(25) {
        flush(&lake, start..start + 25).await;
    }
    flush(&lake, 50..62).await;
    flush(&lake, 62..75).await;
    lake
}

/// (sequence number, contact, last update) of every row of partition `dt`, sorted, and the
/// partition's file names.
async fn partition_rows(lake: &Lake, dt: &str) -> (Vec<(String, String, i64)>, Vec<String>) {
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for meta in lake
        .list(&Path::from(format!("ctr/dt={dt}")))
        .await
        .expect("list")
    {
        names.push(meta.location.filename().unwrap_or_default().to_owned());
        let bytes = lake.store().get(&meta.location).await.expect("get");
        for batch in parquet_batches(bytes.bytes().await.expect("bytes")).expect("parquet") {
            let batch = batch.expect("batch");
            let text = |name: &str| {
                batch
                    .column_by_name(name)
                    .expect(name)
                    .as_string::<i32>()
                    .clone()
            };
            let (sequences, contacts) = (text("source_sequence_number"), text("contact_id"));
            let updates = batch
                .column_by_name("last_update_timestamp")
                .expect("last_update_timestamp")
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            for i in 0..batch.num_rows() {
                rows.push((
                    sequences.value(i).to_owned(),
                    contacts.value(i).to_owned(),
                    updates.value(i),
                ));
            }
        }
    }
    rows.sort();
    (rows, names)
}

/// The rows every partition must hold after compaction: each record once.
async fn distinct_rows(lake: &Lake) -> BTreeMap<String, Vec<(String, String, i64)>> {
    let mut expected = BTreeMap::new();
    for dt in partitions(lake).await.expect("partitions") {
        let (mut rows, _) = partition_rows(lake, &dt).await;
        rows.dedup();
        expected.insert(dt, rows);
    }
    expected
}

fn small_outputs() -> CompactOptions {
    // About two output files per partition.
    CompactOptions {
        output_bytes: 40 << 10,
        ..CompactOptions::default()
    }
}

#[tokio::test]
async fn compaction_keeps_one_row_per_delivered_record_in_few_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = stream_lake(dir.path()).await;
    let expected = distinct_rows(&lake).await;
    assert_eq!(
        partitions(&lake).await.expect("days"),
        ["2026-03-01", "2026-03-02"]
    );
    for (dt, rows) in &expected {
        let (before, _) = partition_rows(&lake, dt).await;
        // Records 50..75 twice: the even ones (13) on the 1st, the odd ones (12) on the 2nd.
        let twice = if dt == "2026-03-01" { 13 } else { 12 };
        assert_eq!(before.len(), rows.len() + twice, "{dt}");
        let summary = compact_partition(&lake, dt, &CompactOptions::default())
            .await
            .expect("compacts");
        assert_eq!(
            (summary.files_before, summary.files_after),
            (10, 1),
            "{summary:?}"
        );
        assert_eq!(summary.rows_after, rows.len() as u64);
        assert_eq!(summary.rows_before, before.len() as u64);
        let (after, names) = partition_rows(&lake, dt).await;
        assert_eq!(&after, rows, "{dt}: every record once, every version");
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(COMPACTED_PREFIX), "{names:?}");
        let again = compact_partition(&lake, dt, &CompactOptions::default())
            .await
            .expect("runs");
        assert_eq!(again.skipped, Some("fewer than two files"));
    }
    // Split outputs are recognised as one generation and left alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = stream_lake(dir.path()).await;
    let split = compact_partition(&lake, "2026-03-01", &small_outputs())
        .await
        .expect("compacts");
    assert!(split.files_after >= 2, "{split:?}");
    let again = compact_partition(&lake, "2026-03-01", &small_outputs())
        .await
        .expect("runs");
    assert_eq!(again.skipped, Some("already compacted"));
}

/// Makes every file of the lake two hours old.
fn age(dir: &std::path::Path) {
    let then = std::time::SystemTime::now() - Duration::from_secs(7200);
    for entry in walk(dir) {
        let file = std::fs::File::options()
            .write(true)
            .open(&entry)
            .expect("open");
        file.set_modified(then).expect("mtime");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs as the scheduled function does: only files older than an hour (the test's inputs are
/// aged; a crashed run's outputs are young and must still be taken by the next run).
fn scheduled() -> CompactOptions {
    CompactOptions {
        older_than: Duration::from_secs(3600),
        ..small_outputs()
    }
}

#[tokio::test]
async fn a_crash_at_any_point_then_a_rerun_leaves_one_copy_of_everything() {
    let reference = tempfile::tempdir().expect("tempdir");
    let lake = stream_lake(reference.path()).await;
    let expected = distinct_rows(&lake).await;
    age(reference.path());
    let full = compact_partition(&lake, "2026-03-01", &scheduled())
        .await
        .expect("compacts");
    // Writes of the outputs, then removals of the inputs.
    let operations = (full.files_after + full.files_before) as usize;
    for stop in 0..operations {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = stream_lake(dir.path()).await;
        age(dir.path());
        let crashed = CompactOptions {
            stop_after_operations: Some(stop),
            ..scheduled()
        };
        match compact_partition(&lake, "2026-03-01", &crashed).await {
            Err(CompactError::Stopped(done)) => assert_eq!(done, stop),
            other => panic!("stop {stop}: {other:?}"),
        }
        // Readers meanwhile see every record (maybe twice, never missing).
        let (meanwhile, _) = partition_rows(&lake, "2026-03-01").await;
        let mut seen = meanwhile.clone();
        seen.dedup();
        assert_eq!(seen, expected["2026-03-01"], "stop {stop}: nothing missing");
        let rerun = compact_partition(&lake, "2026-03-01", &scheduled())
            .await
            .expect("re-runs");
        let (after, names) = partition_rows(&lake, "2026-03-01").await;
        assert_eq!(
            after, expected["2026-03-01"],
            "stop {stop}: one copy each ({rerun:?})"
        );
        assert!(
            names.iter().all(|n| n.starts_with(COMPACTED_PREFIX)),
            "stop {stop}: {names:?}"
        );
        let generations: HashSet<Option<&str>> =
            names.iter().map(|n| compaction_generation(n)).collect();
        assert_eq!(
            generations.len(),
            1,
            "stop {stop}: one generation left: {names:?}"
        );
    }
}

#[tokio::test]
async fn files_younger_than_the_limit_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = stream_lake(dir.path()).await;
    let young = CompactOptions {
        older_than: Duration::from_secs(3600),
        ..CompactOptions::default()
    };
    let summary = compact_partition(&lake, "2026-03-01", &young)
        .await
        .expect("runs");
    assert_eq!(summary.files_too_young, 10);
    assert_eq!(summary.skipped, Some("fewer than two files"));
    let (_, names) = partition_rows(&lake, "2026-03-01").await;
    assert_eq!(names.len(), 10, "nothing touched");
    assert!(matches!(
        compact_partition(&lake, "2026-3-1", &young).await,
        Err(CompactError::Partition(_))
    ));
}

/// Ingest keeps writing the partition while compaction runs: the files it adds meanwhile are
/// not touched, and after a last run every record is there exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_beside_a_writer_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = stream_lake(dir.path()).await;
    let writer = {
        let lake = lake.clone();
        tokio::spawn(async move {
            for start in (200..400).step_by(20) {
                flush(&lake, start..start + 20).await;
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..3 {
        compact_partition(&lake, "2026-03-01", &small_outputs())
            .await
            .expect("compacts");
    }
    writer.await.expect("writer");
    compact_partition(&lake, "2026-03-01", &small_outputs())
        .await
        .expect("compacts");
    let (rows, names) = partition_rows(&lake, "2026-03-01").await;
    let expected: Vec<String> = (0..400).filter(|n| n % 2 == 0).map(sequence).collect();
    let mut sequences: Vec<String> = rows.iter().map(|(s, _, _)| s.clone()).collect();
    sequences.sort();
    assert_eq!(
        sequences,
        expected,
        "every record of the 1st once ({} files)",
        names.len()
    );
}
