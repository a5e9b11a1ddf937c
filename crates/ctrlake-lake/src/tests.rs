use std::sync::atomic::AtomicBool;

use super::*;

#[test]
fn plain_paths_are_literal_and_file_urls_are_percent_decoded() {
    assert_eq!(
        LakeLocation::parse("./my lake %20 #1 ?x").expect("path"),
        LakeLocation::Local(PathBuf::from("./my lake %20 #1 ?x"))
    );
    assert_eq!(
        LakeLocation::parse("file:///tmp/exports%20%231").expect("url"),
        LakeLocation::Local(PathBuf::from("/tmp/exports #1"))
    );
    assert_eq!(
        LakeLocation::parse("s3://my-lake/connect/ctr/").expect("s3"),
        LakeLocation::S3 {
            bucket: "my-lake".to_owned(),
            prefix: "connect/ctr".to_owned()
        }
    );
}

#[test]
fn what_is_not_a_lake_location_is_refused_with_the_reason() {
    for (text, reason) in [
        ("", "it is empty"),
        ("s3://", "it names no bucket"),
        ("s3://My_Bucket/x", "lower-case letters"),
        ("gs://bucket/x", "gs:// is not supported"),
        ("file://host/x", "absolute local path"),
    ] {
        let error = LakeLocation::parse(text).expect_err(text).to_string();
        assert!(error.contains(reason), "{text}: {error}");
    }
}

#[test]
fn a_directory_with_url_characters_has_a_url_that_leads_back_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("lake %20 #1 ?x");
    let lake = Lake::open(&odd.display().to_string()).expect("open");
    assert!(odd.is_dir(), "the literal name is created");
    assert!(lake.s3_bucket().is_none());
    let url = lake.url();
    assert!(url.as_str().ends_with('/'));
    assert_eq!(url.fragment(), None);
    assert_eq!(url.query(), None);
    assert_eq!(
        url.to_file_path().expect("file URL"),
        std::fs::canonicalize(&odd).expect("canonical")
    );
    let by_url = Lake::open_existing(url.as_str()).expect("open by URL");
    assert_eq!(by_url.location(), lake.location());
}

#[test]
fn reading_a_missing_local_lake_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here");
    let error = Lake::open_existing(&missing.display().to_string()).expect_err("missing");
    assert!(error.to_string().contains("ingest something into it first"));
    assert!(!missing.exists());
}

#[test]
fn s3_urls_keep_the_prefix() {
    // Building an S3 store makes no request.
    let lake = Lake::open("s3://bucket/a/b/").expect("s3");
    assert_eq!(lake.location(), "s3://bucket/a/b");
    assert_eq!(lake.url().as_str(), "s3://bucket/a/b/");
    assert_eq!(lake.s3_bucket().map(|(bucket, _)| bucket), Some("bucket"));
    let root = Lake::open("s3://bucket").expect("s3");
    assert_eq!(root.url().as_str(), "s3://bucket/");
}

#[tokio::test]
async fn puts_replace_and_create_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
    let path = Lake::ctr_file("2026-03-02", "x");
    lake.put(&path, Bytes::from_static(b"first"))
        .await
        .expect("put");
    lake.put(&path, Bytes::from_static(b"second"))
        .await
        .expect("put");
    let file = dir.path().join("ctr/dt=2026-03-02/x.parquet");
    assert_eq!(std::fs::read(&file).expect("read"), b"second");
    let names: Vec<_> = std::fs::read_dir(file.parent().expect("parent"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["x.parquet"], "no temporary files left behind");
}

/// What atomic means: a reader polling the file while it is rewritten sees the old content
/// whole or the new content whole, never a mix, a short file or an empty one.
#[test]
fn a_reader_never_sees_a_partial_file() {
    const SIZE: usize = 4 << 20;
    const WRITES: u8 = 24;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("ctr").join("file.parquet");
    write_durably(&target, &vec![0u8; SIZE]).expect("first write");
    let done = AtomicBool::new(false);
    let reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0u32;
            // Bounded: stops when the writer is done, or after 20,000 reads.
            while !done.load(Ordering::Relaxed) && reads < 20_000 {
                let bytes = std::fs::read(&target).expect("the file is always there");
                assert_eq!(bytes.len(), SIZE, "a partial file was visible");
                let first = bytes[0];
                assert!(
                    bytes.iter().all(|&b| b == first),
                    "two writes' bytes mixed in one file"
                );
                reads += 1;
            }
            reads
        });
        for generation in 1..=WRITES {
            write_durably(&target, &vec![generation; SIZE]).expect("write");
        }
        done.store(true, Ordering::Relaxed);
        reader.join().expect("reader")
    });
    assert!(reads > 0);
    assert_eq!(std::fs::read(&target).expect("read")[0], WRITES);
}

#[test]
fn stale_temporary_files_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
    let partition = dir.path().join("ctr/dt=2026-03-02");
    std::fs::create_dir_all(&partition).expect("mkdir");
    let file = |name: &str| {
        let path = partition.join(name);
        std::fs::write(&path, b"x").expect("write");
        path
    };
    // No process has id 999999999 (Linux's pid_max is at most 2^22).
    let dead_writer = file(".a.parquet.999999999-0.tmp");
    let this_process = file(&format!(".b.parquet.{}-3.tmp", std::process::id()));
    let old_legacy = file("c.parquet#12");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old_legacy)
        .expect("open")
        .set_modified(an_hour_ago)
        .expect("age it");
    let new_legacy = file("d.parquet#1");
    let data = file("e.parquet");
    let hidden_other = file(".keep");
    let removed = lake.remove_stale_temporaries().expect("clean");
    assert_eq!(removed, [dead_writer.clone(), old_legacy.clone()]);
    assert!(!dead_writer.exists() && !old_legacy.exists());
    for kept in [this_process, new_legacy, data, hidden_other] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
}

#[test]
fn temporary_names_are_hidden_from_engines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("x.parquet");
    let name = format!(".x.parquet.{}-7.tmp", std::process::id());
    assert!(matches!(
        temporary_kind(&name),
        Some(Temporary::Ours { pid }) if pid == std::process::id()
    ));
    assert!(name.starts_with('.') && !name.ends_with(".parquet"));
    assert!(temporary_kind("x.parquet").is_none());
    assert!(temporary_kind("a#b.parquet").is_none());
    write_durably(&target, b"data").expect("write");
    assert_eq!(std::fs::read(&target).expect("read"), b"data");
}
