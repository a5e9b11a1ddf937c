//! The handler on `KinesisEvent` JSON shaped like AWS's examples, into a local lake (the
//! same `object_store` code path as S3; the Python suite runs the built function on S3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::{Array, StringArray};
use base64::Engine as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

const STREAM_ARN: &str = "arn:aws:kinesis:ap-northeast-1:111122223333:stream/connect-ctr";

/// Every CTR of the fixtures, in file order.
fn fixture_ctrs() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ctr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("ndjson"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("fixture")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A 56-digit sequence number, as Kinesis writes them.
fn sequence(shard: u32, n: u32) -> String {
    format!("4959033827149025660855969253836157109592157598913{shard:02}{n:05}")
}

/// An event of `records` (shard number, data), in AWS's example shape.
fn event(records: &[(u32, Vec<u8>)]) -> KinesisEvent {
    let mut counters: BTreeMap<u32, u32> = BTreeMap::new();
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(shard, data)| {
            let n = counters.entry(*shard).or_default();
            *n += 1;
            let sequence = sequence(*shard, *n);
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "contact",
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1772413277.123
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-{shard:012}:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::111122223333:role/ctrlake-ingest",
                "awsRegion": "ap-northeast-1",
                "eventSourceARN": STREAM_ARN
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("a KinesisEvent")
}

fn function(lake_dir: &Path) -> IngestFunction {
    let location = lake_dir.display().to_string();
    let config = Config::from_env(|name| (name == "CTRLAKE_LAKE").then(|| location.clone()))
        .expect("config");
    IngestFunction::new(config)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// (source_uri, source_sequence_number) of every row of the lake.
fn rows(lake_dir: &Path) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let parquet = files_under(&lake_dir.join("ctr"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"));
    for file in parquet {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("open"))
                .expect("parquet")
                .build()
                .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let column = |name: &str| -> StringArray {
                let column = batch.column_by_name(name).expect(name);
                arrow_cast::cast(column, &arrow_schema::DataType::Utf8)
                    .expect("cast")
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("strings")
                    .clone()
            };
            let (uris, sequences) = (column("source_uri"), column("source_sequence_number"));
            for i in 0..batch.num_rows() {
                rows.push((uris.value(i).to_owned(), sequences.value(i).to_owned()));
            }
        }
    }
    rows.sort();
    rows
}

/// Dead letters as (source_sequence_number, reason).
fn dead_letters(lake_dir: &Path) -> Vec<(String, String)> {
    let mut letters = Vec::new();
    for file in files_under(&lake_dir.join("_dead_letter")) {
        for line in std::fs::read_to_string(&file).expect("read").lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("json");
            letters.push((
                value["source_sequence_number"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                value["reason"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    letters.sort();
    letters
}

/// Two shards, bad records among good ones, a contact's later version before its earlier one.
fn mixed_records() -> Vec<(u32, Vec<u8>)> {
    let ctrs = fixture_ctrs();
    let mut records: Vec<(u32, Vec<u8>)> = ctrs
        .iter()
        .enumerate()
        .map(|(i, ctr)| ((i % 2) as u32, ctr.clone().into_bytes()))
        .collect();
    // The last version of the first contact first (an update overtaking its original).
    let first: serde_json::Value = serde_json::from_str(&ctrs[0]).expect("json");
    let mut later = first.clone();
    later["LastUpdateTimestamp"] = "2026-03-02T02:00:00Z".into();
    records.insert(0, (0, later.to_string().into_bytes()));
    records.insert(3, (1, b"not json at all".to_vec()));
    records.insert(
        7,
        (
            0,
            br#"{"ContactId":"bad-ts","InitiationTimestamp":"9999-12-31T00:00:00Z","LastUpdateTimestamp":"2026-03-02T00:00:00Z"}"#
                .to_vec(),
        ),
    );
    records
}

#[tokio::test]
async fn two_shards_with_bad_records_land_once_each_with_dead_letters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = mixed_records();
    let event = event(&records);
    let (response, log) = function(dir.path()).handle(&event).await;
    assert!(response.batch_item_failures.is_empty(), "{log:?}");
    assert_eq!(log.records, records.len() as u64);
    assert_eq!(log.dead_letters, 2);
    assert_eq!(log.rows, records.len() as u64 - 2);
    assert_eq!(log.shards.len(), 2);
    assert_eq!(log.shards[0].stream, "connect-ctr");
    assert_eq!(log.shards[0].shard, "shardId-000000000000");
    assert_eq!(log.shards[0].first_sequence.len(), 56);

    let mut expected: Vec<(String, String)> = event
        .records
        .iter()
        .filter(|r| serde_json::from_slice::<serde_json::Value>(&r.kinesis.data.0).is_ok())
        .filter(|r| !r.kinesis.data.0.starts_with(br#"{"ContactId":"bad-ts""#))
        .map(|r| {
            let (stream, shard) = provenance(r);
            (
                format!("kinesis://{stream}/{shard}"),
                r.kinesis.sequence_number.clone(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(rows(dir.path()), expected, "one row per good record");
    let letters = dead_letters(dir.path());
    let reasons: Vec<&str> = letters.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons, ["bad_timestamp", "invalid_json"]);
    assert!(letters.iter().all(|(sequence, _)| sequence.len() == 56));
    // One log line that Logs Insights can parse.
    let line = serde_json::to_value(&log).expect("json");
    assert_eq!(line["records"], records.len() as u64);
    assert_eq!(line["shards"][1]["files"], log.shards[1].files);
}

#[tokio::test]
async fn a_retried_batch_rewrites_the_same_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event = event(&mixed_records());
    let function = function(dir.path());
    function.handle(&event).await;
    let first: Vec<(PathBuf, Vec<u8>)> = files_under(dir.path())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).expect("read");
            (f, bytes)
        })
        .collect();
    let (response, _) = function.handle(&event).await;
    assert!(response.batch_item_failures.is_empty());
    let again: Vec<(PathBuf, Vec<u8>)> = files_under(dir.path())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).expect("read");
            (f, bytes)
        })
        .collect();
    assert_eq!(first, again, "same names, same bytes, nothing added");
}

#[tokio::test]
async fn a_shard_that_cannot_be_written_is_retried_from_its_first_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctrs = fixture_ctrs();
    // Shard 0 gets a day whose partition directory cannot be created; shard 1 another day.
    let on_day = |ctr: &str, day: &str| {
        let mut value: serde_json::Value = serde_json::from_str(ctr).expect("json");
        value["InitiationTimestamp"] = format!("{day}T01:00:00Z").into();
        value.to_string().into_bytes()
    };
    let records = vec![
        (0, on_day(&ctrs[0], "2026-03-05")),
        (1, on_day(&ctrs[1], "2026-03-06")),
        (0, on_day(&ctrs[2], "2026-03-05")),
    ];
    std::fs::create_dir_all(dir.path().join("ctr")).expect("ctr");
    std::fs::write(dir.path().join("ctr/dt=2026-03-05"), b"in the way").expect("blocker");
    let (response, log) = function(dir.path()).handle(&event(&records)).await;
    let failed: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [Some(sequence(0, 1))], "{log:?}");
    assert_eq!(log.failed_shards, 1);
    let error = log.shards[0].error.as_deref().expect("an error");
    assert!(error.contains("dt=2026-03-05"), "{error}");
    assert!(log.shards[1].error.is_none());
    assert_eq!(
        rows(dir.path()),
        [(
            "kinesis://connect-ctr/shardId-000000000001".to_owned(),
            sequence(1, 1)
        )],
        "the other shard is written"
    );
}

#[test]
fn invalid_configuration_is_one_clear_line() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let error = |pairs| {
        Config::from_env(env(pairs))
            .expect_err("invalid")
            .to_string()
    };
    assert!(error(&[]).starts_with("CTRLAKE_LAKE is not set"));
    assert!(error(&[("CTRLAKE_LAKE", "  ")]).starts_with("CTRLAKE_LAKE is not set"));
    assert_eq!(
        error(&[("CTRLAKE_LAKE", "/tmp"), ("CTRLAKE_COMPRESSION", "lz4")]),
        "CTRLAKE_COMPRESSION=lz4: expected zstd, zstd:LEVEL or snappy"
    );
    assert_eq!(
        error(&[("CTRLAKE_LAKE", "/tmp"), ("CTRLAKE_RAW_JSON", "all")]),
        "CTRLAKE_RAW_JSON=all: expected unmapped or full"
    );
    assert!(error(&[("CTRLAKE_LAKE", "s3://")]).starts_with("CTRLAKE_LAKE=s3://: "));
    let config = Config::from_env(env(&[
        ("CTRLAKE_LAKE", "/tmp"),
        ("CTRLAKE_COMPRESSION", "snappy"),
        ("CTRLAKE_RAW_JSON", "full"),
    ]))
    .expect("valid");
    assert_eq!(config.writer.compression, LakeCompression::Snappy);
    assert_eq!(config.writer.raw_json, RawJsonMode::FullRecord);
}

#[test]
fn provenance_comes_from_the_arn_and_the_event_id() {
    let event = event(&[(3, b"{}".to_vec())]);
    assert_eq!(
        provenance(&event.records[0]),
        ("connect-ctr".to_owned(), "shardId-000000000003".to_owned())
    );
    let mut bare = event.records[0].clone();
    bare.event_source_arn = None;
    bare.event_id = None;
    assert_eq!(
        provenance(&bare),
        ("unknown".to_owned(), "unknown".to_owned())
    );
}

#[tokio::test]
async fn the_scheduled_compaction_removes_a_bisected_batchs_copies() {
    use crate::compaction::{CompactionConfig, CompactionRequest, compact_scheduled};
    let dir = tempfile::tempdir().expect("tempdir");
    let records = mixed_records();
    let function = function(dir.path());
    function.handle(&event(&records)).await;
    let once = rows(dir.path());
    // Lambda bisected a retry: the halves under other names, every row twice.
    let (first, second) = records.split_at(records.len() / 2);
    function.handle(&event(first)).await;
    let mut second_event = event(second);
    // The second half keeps its sequence numbers (they count per shard from the first half).
    let all = event(&records);
    second_event.records = all.records[first.len()..].to_vec();
    function.handle(&second_event).await;
    assert_eq!(rows(dir.path()).len(), 2 * once.len());

    let location = dir.path().display().to_string();
    let config = CompactionConfig::from_env(|name| match name {
        "CTRLAKE_LAKE" => Some(location.clone()),
        "CTRLAKE_COMPACT_OLDER_THAN_SECONDS" => Some("0".to_owned()),
        _ => None,
    })
    .expect("config");
    assert_eq!(config.days, 2);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
    // Asked to leave files younger than an hour: nothing here is that old.
    let young = CompactionRequest {
        older_than_seconds: Some(3600),
        ..CompactionRequest::default()
    };
    let log = compact_scheduled(&config, &young, today).await;
    assert_eq!(
        (log.files_after, log.error.as_deref()),
        (0, None),
        "{log:?}"
    );
    // By default the last two days: every row there was twice.
    let log = compact_scheduled(&config, &CompactionRequest::default(), today).await;
    assert_eq!(log.error, None);
    let days: Vec<&str> = log.partitions.iter().map(|p| p.dt.as_str()).collect();
    assert_eq!(days, ["2026-03-01", "2026-03-02"], "{log:?}");
    for partition in &log.partitions {
        assert_eq!(
            partition.rows_before,
            2 * partition.rows_after,
            "{partition:?}"
        );
    }
    assert!(log.duplicate_rows_removed > 0);
    // Asked for every day: one row per record again.
    let everything = CompactionRequest {
        from: chrono::NaiveDate::from_ymd_opt(2017, 1, 1),
        to: chrono::NaiveDate::from_ymd_opt(2099, 12, 31),
        ..CompactionRequest::default()
    };
    let all_days = compact_scheduled(&config, &everything, today).await;
    assert_eq!(all_days.error, None);
    assert_eq!(rows(dir.path()), once, "one row per record again");
    let line = serde_json::to_value(&log).expect("json");
    assert!(line["partitions"][0]["files_before"].as_u64() > Some(1));
}

#[test]
fn the_compaction_configuration_is_checked() {
    use crate::compaction::CompactionConfig;
    let with = |name: &'static str, value: &'static str| {
        move |n: &str| match n {
            "CTRLAKE_LAKE" => Some("/tmp".to_owned()),
            n if n == name => Some(value.to_owned()),
            _ => None,
        }
    };
    let error = |name, value| {
        CompactionConfig::from_env(with(name, value))
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        error("CTRLAKE_COMPACT_DAYS", "0"),
        "CTRLAKE_COMPACT_DAYS=0: expected 1 to 366"
    );
    assert_eq!(
        error("CTRLAKE_COMPACT_OLDER_THAN_SECONDS", "1h"),
        "CTRLAKE_COMPACT_OLDER_THAN_SECONDS=1h: expected a whole number"
    );
    let config = CompactionConfig::from_env(with("CTRLAKE_COMPACT_DAYS", "7")).expect("valid");
    assert_eq!(config.days, 7);
    assert_eq!(
        config.options.older_than,
        std::time::Duration::from_secs(3600)
    );
}

#[test]
fn compaction_requests_are_strict_but_a_schedule_asks_for_the_defaults() {
    use crate::compaction::CompactionRequest;
    let parse =
        |json: &str| CompactionRequest::from_payload(serde_json::from_str(json).expect("json"));
    let scheduled =
        r#"{"version":"0","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#;
    assert!(parse(scheduled).expect("defaults").dt.is_none());
    assert!(parse("{}").expect("defaults").from.is_none());
    assert_eq!(
        parse(r#"{"dt":"2026-03-02"}"#)
            .expect("dt")
            .dt
            .map(|d| d.to_string()),
        Some("2026-03-02".to_owned())
    );
    assert!(parse(r#"{"from":"2026-03-01","to":"2026-03-07","older_than_seconds":0}"#).is_ok());
    for bad in [
        r#"{"dt":"2026-13-02"}"#,
        r#"{"date":"2026-03-02"}"#,
        r#"{"from":"2026-03-01"}"#,
        r#"{"from":"2026-03-07","to":"2026-03-01"}"#,
        r#"{"dt":"2026-03-02","from":"2026-03-01","to":"2026-03-07"}"#,
        r#"{"older_than_seconds":"1h"}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}
