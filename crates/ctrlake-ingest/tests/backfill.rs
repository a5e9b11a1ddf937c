//! End-to-end behaviour of the file backfill against a real local lake: determinism of names
//! and bytes across re-runs and thread counts, nothing valid lost across chunk and flush
//! boundaries, gzip input, and a cut-off gzip source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctrlake_gen::{GenConfig, OutputFormat, generate};
use ctrlake_ingest::{BackfillOptions, Lake, Progress, backfill, resolve_sources};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn generated(dir: &Path, name: &str, contacts: u64, format: OutputFormat, gzip: bool) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create input");
    let config = GenConfig {
        contacts,
        seed: 7,
        days: 3,
        start: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        format,
        gzip,
        agents: ctrlake_gen::DEFAULT_AGENTS,
    };
    generate(&config, file).expect("generate");
    path
}

/// Small chunks and flush thresholds so that a few MB exercise many chunks, early flushes and
/// several files per partition.
fn small_options(threads: usize) -> BackfillOptions {
    BackfillOptions {
        threads,
        chunk_bytes: 64 << 10,
        partition_flush_bytes: 1 << 20,
        buffer_limit_bytes: 2 << 20,
        ..BackfillOptions::default()
    }
}

/// Relative path → file bytes of everything in the lake.
fn lake_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walk(root) {
        let relative = entry
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        files.insert(relative, std::fs::read(&entry).expect("read lake file"));
    }
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Rows of one Parquet file, from its footer.
fn file_rows(bytes: &[u8]) -> u64 {
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).expect("parquet");
    reader.metadata().file_metadata().num_rows() as u64
}

fn parquet_rows(files: &BTreeMap<String, Vec<u8>>) -> u64 {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .map(|(_, bytes)| file_rows(bytes))
        .sum()
}

fn ingest(
    inputs: &[PathBuf],
    lake_dir: &Path,
    options: &BackfillOptions,
) -> ctrlake_ingest::BackfillSummary {
    let runtime = runtime();
    let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let sources = runtime.block_on(resolve_sources(&inputs));
    let lake = Lake::open(&lake_dir.display().to_string()).expect("lake");
    backfill(
        &sources,
        &lake,
        options,
        runtime.handle(),
        &Progress::default(),
    )
    .expect("backfill")
}

#[test]
fn rerun_and_thread_count_leave_identical_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = generated(dir.path(), "ctr.ndjson", 3000, OutputFormat::Ndjson, false);
    let first = dir.path().join("lake-a");
    let summary = ingest(std::slice::from_ref(&input), &first, &small_options(2));
    assert!(
        summary.parquet_files > 3,
        "small thresholds make several files: {summary:?}"
    );
    let once = lake_files(&first);
    ingest(std::slice::from_ref(&input), &first, &small_options(2));
    assert_eq!(
        lake_files(&first),
        once,
        "re-running into the same lake replaces, never adds"
    );
    let second = dir.path().join("lake-b");
    ingest(std::slice::from_ref(&input), &second, &small_options(1));
    assert_eq!(
        lake_files(&second),
        once,
        "one thread writes what two threads write"
    );
}

#[test]
fn every_record_is_written_across_chunks_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = generated(dir.path(), "ctr.json", 2000, OutputFormat::Firehose, false);
    let lake = dir.path().join("lake");
    let summary = ingest(std::slice::from_ref(&input), &lake, &small_options(2));
    let records = std::fs::read(&input).expect("input");
    let expected = serde_json::Deserializer::from_slice(&records)
        .into_iter::<serde::de::IgnoredAny>()
        .count() as u64;
    assert_eq!(summary.records_read, expected);
    assert_eq!(summary.dead_lettered(), 0, "{summary:?}");
    assert_eq!(summary.records_written, expected);
    assert_eq!(parquet_rows(&lake_files(&lake)), expected);
    assert_eq!(summary.bytes_decoded, records.len() as u64);
}

/// `dt=…/<byte range>` of every Parquet file, with its rows: what a file holds, without the
/// source's name and hash.
fn parquet_ranges(files: &BTreeMap<String, Vec<u8>>) -> Vec<(String, u64)> {
    files
        .iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .map(|(name, bytes)| {
            let (dir, file) = name.rsplit_once('/').expect("dt directory");
            let stem = file.trim_end_matches(".parquet");
            let parts: Vec<&str> = stem.rsplitn(3, '-').collect();
            (format!("{dir}/{}-{}", parts[1], parts[0]), file_rows(bytes))
        })
        .collect()
}

#[test]
fn gzip_sources_read_like_plain_ones() {
    // A plain local file is memory-mapped, a gzip one is read as a stream: both must cut the
    // same chunks, so the same rows land in files covering the same byte ranges.
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = generated(dir.path(), "ctr.ndjson", 500, OutputFormat::Ndjson, false);
    let gzip = generated(dir.path(), "ctr.ndjson.gz", 500, OutputFormat::Ndjson, true);
    let a = ingest(&[plain], &dir.path().join("a"), &small_options(2));
    let b = ingest(&[gzip], &dir.path().join("b"), &small_options(2));
    assert_eq!(a.records_written, b.records_written);
    assert_eq!(a.bytes_decoded, b.bytes_decoded);
    assert_eq!(a.bytes_read, a.bytes_decoded, "a plain file is read once");
    assert!(b.bytes_read < b.bytes_decoded, "gzip is read compressed");
    let ranges = parquet_ranges(&lake_files(&dir.path().join("a")));
    assert!(ranges.len() > 3, "several chunks and files: {ranges:?}");
    assert_eq!(ranges, parquet_ranges(&lake_files(&dir.path().join("b"))));
}

#[test]
fn a_cut_off_gzip_source_keeps_what_came_before_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gzip = generated(
        dir.path(),
        "ctr.ndjson.gz",
        2000,
        OutputFormat::Ndjson,
        true,
    );
    let bytes = std::fs::read(&gzip).expect("gzip");
    let cut = dir.path().join("cut.ndjson.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write cut");
    let lake = dir.path().join("lake");
    let summary = ingest(&[cut], &lake, &small_options(2));
    assert_eq!(summary.source_errors.len(), 1, "{summary:?}");
    assert!(summary.records_written > 100, "{summary:?}");
    let files = lake_files(&lake);
    let dead: Vec<&String> = files
        .keys()
        .filter(|k| k.starts_with("_dead_letter/"))
        .collect();
    assert!(!dead.is_empty());
    let text = String::from_utf8(files[dead[dead.len() - 1]].clone()).expect("utf8");
    assert!(text.contains("could not be read past byte"), "{text}");
}

/// A record larger than any chunk may grow to is one `too_large` dead letter with its exact
/// byte range, whether the source is mapped (plain) or streamed (gzip), and the records after
/// it are read as usual.
#[test]
fn a_record_over_the_largest_chunk_is_one_too_large_dead_letter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = |id: &str, filler: usize| {
        format!(
            r#"{{"ContactId":"{id}","InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:05:00Z","Attributes":{{"filler":"{}"}}}}"#,
            "x{}".repeat(filler)
        )
    };
    let huge = record("huge", 60_000);
    let text = format!(
        "{}\n{huge}\n{}\n{}\n",
        record("before", 10),
        record("after-1", 10),
        record("after-2", 10)
    );
    let huge_start = text.find(&huge).expect("huge record") as u64;
    let plain = dir.path().join("oversized.ndjson");
    std::fs::write(&plain, &text).expect("write");
    let gzipped = dir.path().join("oversized.ndjson.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gzipped).expect("create"),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut encoder, text.as_bytes()).expect("compress");
    encoder.finish().expect("compress");
    let options = BackfillOptions {
        threads: 1,
        chunk_bytes: 4 << 10,
        max_chunk_bytes: 16 << 10,
        ..BackfillOptions::default()
    };
    for input in [plain, gzipped] {
        let lake = dir.path().join(format!(
            "lake-{}",
            input.extension().and_then(|e| e.to_str()).unwrap_or("x")
        ));
        let summary = ingest(std::slice::from_ref(&input), &lake, &options);
        assert_eq!(summary.records_read, 4, "{}", input.display());
        assert_eq!(
            summary.records_written,
            3,
            "{}: {summary:?}",
            input.display()
        );
        assert_eq!(
            summary.dead_letters.into_iter().collect::<Vec<_>>(),
            [(ctrlake_model::DeadLetterReason::TooLarge, 1)]
        );
        let letters: Vec<serde_json::Value> = lake_files(&lake)
            .into_iter()
            .filter(|(name, _)| name.starts_with("_dead_letter"))
            .flat_map(|(_, bytes)| {
                bytes
                    .split(|&b| b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(|line| serde_json::from_slice(line).expect("dead letter JSON"))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0]["source_offset"], huge_start);
        let detail = letters[0]["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!("{} bytes", huge.len())),
            "{detail}"
        );
    }
}
