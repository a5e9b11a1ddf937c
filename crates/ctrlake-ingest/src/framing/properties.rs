//! Property tests of framing and decoding: whatever the bytes, nothing panics and every input
//! byte ends in exactly one record or dead letter (blanks between records aside). Bounded by
//! case count so that they run in CI like any other test; the corpus of hostile inputs under
//! `fixtures/` is checked the same way, as is and mutated.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::*;
use crate::writer::decode_bytes;

/// Checks the framing of `buf`: spans in order, disjoint, equal to the input bytes, and only
/// blanks between them. Returns how many records were framed.
fn assert_every_byte_framed_once(buf: &[u8]) -> usize {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    frame_records(buf, RawJsonMode::Unmapped, |framed| {
        assert!(
            !framed.bytes.is_empty(),
            "an empty record at {}",
            framed.offset
        );
        assert_eq!(
            &buf[framed.offset..framed.offset + framed.bytes.len()],
            framed.bytes,
            "a record's bytes are the input's"
        );
        spans.push((framed.offset, framed.offset + framed.bytes.len()));
    });
    let mut covered = 0;
    for &(start, end) in &spans {
        assert!(
            start >= covered,
            "records overlap at byte {start}: {spans:?}"
        );
        assert!(
            buf[covered..start].iter().all(u8::is_ascii_whitespace),
            "bytes {covered}..{start} are in no record: {:?}",
            String::from_utf8_lossy(&buf[covered..start])
        );
        covered = end;
    }
    assert!(
        buf[covered..].iter().all(u8::is_ascii_whitespace),
        "bytes {covered}.. are in no record"
    );
    spans.len()
}

/// Decoding accounts for every framed record: a row or a dead letter with its bytes.
fn assert_every_record_accounted(buf: &[u8]) {
    let framed = assert_every_byte_framed_once(buf);
    let uri: Arc<str> = Arc::from("file:///fuzz.ndjson");
    match decode_bytes(buf, 0, &uri, None, RawJsonMode::Unmapped) {
        Ok(decoded) => {
            let rows = decoded.rows();
            let letters = decoded.dead_letters.len() as u64;
            assert_eq!(
                decoded.records,
                rows + letters,
                "read = written + dead-lettered"
            );
            // A leading byte-order mark is skipped, not framed.
            assert!(decoded.records as usize >= framed.saturating_sub(1));
            for letter in &decoded.dead_letters {
                assert!(!letter.detail.is_empty());
            }
        }
        Err(error) => panic!("decoding must not fail as a whole: {error}"),
    }
}

/// A valid CTR with some variety: ids, times, nesting, maps, numbers, escapes.
fn valid_record() -> impl Strategy<Value = String> {
    (
        "[a-f0-9]{8}",
        0u32..86_400,
        0u32..600,
        proptest::option::of(0u64..10_000),
        proptest::collection::vec(("[a-zA-Z]{1,6}", "[ -~]{0,12}"), 0..4),
        any::<bool>(),
    )
        .prop_map(|(id, start, length, duration, attributes, agent)| {
            let time = |s: u32| {
                format!(
                    "2026-03-02T{:02}:{:02}:{:02}Z",
                    s / 3600 % 24,
                    s / 60 % 60,
                    s % 60
                )
            };
            let attributes: Vec<String> = attributes
                .into_iter()
                .map(|(k, v)| format!("{}:{}", json_string(&k), json_string(&v)))
                .collect();
            let agent = if agent {
                r#","Agent":{"Username":"a","RoutingProfile":{"Name":"p"},"NumberOfHolds":1}"#
            } else {
                ""
            };
            format!(
                r#"{{"ContactId":"{id}","InitiationTimestamp":"{}","LastUpdateTimestamp":"{}","Queue":{{"Name":"Q","Duration":{}}}{agent},"Attributes":{{{}}}}}"#,
                time(start),
                time(start + length),
                duration.map_or("null".to_owned(), |d| d.to_string()),
                attributes.join(",")
            )
        })
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// One change to a byte string: what corrupts records in files and streams.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let structural = prop_oneof![
        Just(b'{'),
        Just(b'}'),
        Just(b'"'),
        Just(b'\\'),
        Just(b'\n'),
        Just(b','),
        Just(b':'),
        Just(0xff),
        Just(0xe3),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), structural).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(buf: &mut Vec<u8>, mutation: &Mutation) {
    if buf.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip { at, byte } => {
            let at = at % buf.len();
            buf[at] = *byte;
        }
        Mutation::Delete { at, len } => {
            let at = at % buf.len();
            let end = (at + len).min(buf.len());
            buf.drain(at..end);
        }
        Mutation::Insert { at, bytes } => {
            let at = at % (buf.len() + 1);
            buf.splice(at..at, bytes.iter().copied());
        }
        Mutation::Truncate { at } => {
            let at = at % buf.len();
            buf.truncate(at);
        }
    }
}

/// Records joined as Firehose writes them (no delimiter) or as NDJSON.
fn stream_of(records: &[String], delimiter: &str) -> Vec<u8> {
    records.join(delimiter).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_framed_once(
        buf in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(b"{}[]\":,\\\n tnulrfae0123456789.-".to_vec()),
                1 => any::<u8>(),
            ],
            0..2048,
        )
    ) {
        assert_every_record_accounted(&buf);
        if let Some(cut) = find_cut(&buf) {
            prop_assert!(cut > 0 && cut < buf.len());
            assert_every_byte_framed_once(&buf[..cut]);
            assert_every_byte_framed_once(&buf[cut..]);
        }
        let prefix = complete_prefix(&buf);
        prop_assert!(prefix <= buf.len());
    }

    #[test]
    fn valid_ctrs_with_mutations_are_framed_once_and_accounted(
        records in proptest::collection::vec(valid_record(), 1..8),
        delimiter in prop_oneof![Just(""), Just("\n"), Just("\r\n"), Just("\n\n  ")],
        mutations in proptest::collection::vec(mutation(), 0..5),
    ) {
        let mut buf = stream_of(&records, delimiter);
        if mutations.is_empty() {
            let uri: Arc<str> = Arc::from("file:///fuzz.ndjson");
            let decoded = decode_bytes(&buf, 0, &uri, None, RawJsonMode::Unmapped)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decoded.rows(), records.len() as u64);
            prop_assert!(decoded.dead_letters.is_empty());
        }
        for mutation in &mutations {
            apply(&mut buf, mutation);
        }
        assert_every_record_accounted(&buf);
        // Chunks cut where the backfill cuts them are framed without loss as well.
        let mut rest: &[u8] = &buf;
        while let Some(cut) = find_cut(rest) {
            assert_every_byte_framed_once(&rest[..cut]);
            rest = &rest[cut..];
        }
        assert_every_byte_framed_once(rest);
    }
}

/// The hostile inputs kept in `fixtures/` (see `fixtures/hostile/README.md`), as they are and
/// with seeded mutations.
#[test]
fn the_fixture_corpus_is_framed_once_and_accounted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut inputs = Vec::new();
    for folder in ["hostile", "malformed", "ctr", "firehose"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(folder))
            .expect("fixture folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| {
                !matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("md" | "gz" | "py")
                ) && path.file_name().and_then(|n| n.to_str()) != Some("expected.json")
            })
            .collect();
        files.sort();
        inputs.extend(files);
    }
    assert!(inputs.len() > 20, "the corpus is there: {inputs:?}");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for path in inputs {
        let bytes = std::fs::read(&path).expect("read fixture");
        assert_every_record_accounted(&bytes);
        for _ in 0..16 {
            let mutations = proptest::collection::vec(mutation(), 1..6)
                .new_tree(&mut runner)
                .expect("mutations")
                .current();
            let mut mutated = bytes.clone();
            for mutation in &mutations {
                apply(&mut mutated, mutation);
            }
            assert_every_record_accounted(&mutated);
        }
    }
}
