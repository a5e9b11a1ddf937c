//! Deterministic file names from the origin of their content.
//!
//! A lake file is named after where its rows came from — a source file and byte range, or a
//! Kinesis shard and sequence-number range — never after the time it was written. Re-running a
//! backfill or retrying a Lambda batch after a crash therefore rewrites the same objects instead
//! of adding duplicates, and a name tells an operator exactly which input to look at.

use std::fmt::Write as _;

/// Where a lake file's content came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Bytes `start..end` of a source stream (offsets after decompression).
    File {
        uri: String,
        /// Distinguishes sources that share a URI (stdin): a hash of their first bytes.
        content_tag: Option<u64>,
        start: u64,
        end: u64,
    },
    /// Records `first_sequence..=last_sequence` of one Kinesis shard.
    Shard {
        stream: String,
        shard_id: String,
        first_sequence: String,
        last_sequence: String,
    },
    /// Part `part` of a compaction of a partition's files; `generation` hashes their names.
    Compacted { generation: u64, part: u32 },
}

impl Origin {
    /// The start of every file name of a file source read from `uri` (not stdin, whose names
    /// also hash its content): `<stem>-<uri hash>-`.
    pub fn file_name_prefix(uri: &str) -> String {
        let stem = uri.rsplit('/').next().unwrap_or(uri);
        format!("{}-{:016x}-", sanitize(stem, 48), fnv1a64(uri.as_bytes()))
    }

    /// Whether lake file `name` (with its extension) was named by [`Origin::file_name`] for a
    /// file source whose names start with `prefix` ([`Origin::file_name_prefix`]).
    pub fn is_file_name_of(name: &str, prefix: &str) -> bool {
        let Some(rest) = name.strip_prefix(prefix) else {
            return false;
        };
        let Some(range) = rest
            .strip_suffix(".parquet")
            .or_else(|| rest.strip_suffix(".ndjson"))
        else {
            return false;
        };
        let is_offset = |text: &str| text.len() >= 12 && text.bytes().all(|b| b.is_ascii_digit());
        matches!(range.split_once('-'), Some((start, end)) if is_offset(start) && is_offset(end))
    }

    /// The file name (without extension): `<stem>-<uri hash>-<start>-<end>` for files,
    /// `<stream>-<shard>-<first seq>-<last seq>` for shards. Only `[A-Za-z0-9._-]`.
    pub fn file_name(&self) -> String {
        match self {
            Origin::File {
                uri,
                content_tag,
                start,
                end,
            } => {
                let stem = uri.rsplit('/').next().unwrap_or(uri);
                let mut hash = fnv1a64(uri.as_bytes());
                if let Some(tag) = content_tag {
                    hash ^= tag.rotate_left(17);
                }
                let mut name = sanitize(stem, 48);
                let _ = write!(name, "-{hash:016x}-{start:012}-{end:012}");
                name
            }
            Origin::Compacted { generation, part } => {
                format!(
                    "{}{generation:016x}-{part:04}",
                    crate::compact::COMPACTED_PREFIX
                )
            }
            Origin::Shard {
                stream,
                shard_id,
                first_sequence,
                last_sequence,
            } => {
                let prefix = format!("{}-{}-", sanitize(stream, 64), sanitize(shard_id, 64));
                let first = sanitize(first_sequence, usize::MAX);
                let last = sanitize(last_sequence, usize::MAX);
                if prefix.len() + first.len() + 1 + last.len() <= MAX_SHARD_NAME {
                    return format!("{prefix}{first}-{last}");
                }
                // Kinesis allows sequence numbers of up to 128 digits: too long for a name
                // (255 bytes on most file systems, with the extension and temporary name). The
                // first 40 digits stay readable, and a 128-bit hash of both keeps names apart.
                let both = format!("{first_sequence}-{last_sequence}");
                let reversed = format!("{last_sequence}-{first_sequence}");
                format!(
                    "{prefix}{}-h{:016x}{:016x}",
                    first.chars().take(40).collect::<String>(),
                    fnv1a64(both.as_bytes()),
                    fnv1a64(reversed.as_bytes())
                )
            }
        }
    }
}

/// The longest shard file name kept whole (without extension): room under 255 bytes for
/// `.parquet` and the writer's temporary name (`.<name>.<pid>-<n>.tmp`).
const MAX_SHARD_NAME: usize = 200;

fn sanitize(text: &str, limit: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(limit)
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_depend_only_on_origin() {
        let origin = Origin::File {
            uri: "s3://archive/2026/03/02/ctr stream-1-2026-03-02-01.gz".to_owned(),
            content_tag: None,
            start: 0,
            end: 4_194_304,
        };
        // Pinned: a change to these names would make every re-run of a backfill write its
        // rows again under new names beside the old ones.
        assert_eq!(
            origin.file_name(),
            "ctr_stream-1-2026-03-02-01.gz-90ff207cebec4a48-000000000000-000004194304"
        );
        let stdin = Origin::File {
            uri: "stdin".to_owned(),
            content_tag: Some(1),
            start: 5,
            end: 10,
        };
        assert_eq!(
            stdin.file_name(),
            "stdin-07ce0cad53efa57d-000000000005-000000000010"
        );
    }

    #[test]
    fn a_sources_files_are_recognised_by_their_prefix() {
        let uri = "s3://archive/2026/03/02/ctr stream-1-2026-03-02-01.gz";
        let prefix = Origin::file_name_prefix(uri);
        assert_eq!(prefix, "ctr_stream-1-2026-03-02-01.gz-90ff207cebec4a48-");
        let name = |start, end, ext: &str| {
            let origin = Origin::File {
                uri: uri.to_owned(),
                content_tag: None,
                start,
                end,
            };
            format!("{}.{ext}", origin.file_name())
        };
        assert!(Origin::is_file_name_of(
            &name(0, 4_194_304, "parquet"),
            &prefix
        ));
        assert!(Origin::is_file_name_of(
            &name(9, 1_000_000_000_000, "ndjson"),
            &prefix
        ));
        assert!(!Origin::is_file_name_of(&name(0, 1, "tmp"), &prefix));
        let other =
            Origin::file_name_prefix("s3://archive/2026/03/03/ctr stream-1-2026-03-02-01.gz");
        assert!(!Origin::is_file_name_of(&name(0, 1, "parquet"), &other));
        assert!(!Origin::is_file_name_of(
            &format!("{prefix}000000000000-x.parquet"),
            &prefix
        ));
    }

    #[test]
    fn same_stem_in_different_folders_differs() {
        let a = Origin::File {
            uri: "file:///a/x.ndjson".to_owned(),
            content_tag: None,
            start: 0,
            end: 10,
        };
        let b = Origin::File {
            uri: "file:///b/x.ndjson".to_owned(),
            content_tag: None,
            start: 0,
            end: 10,
        };
        assert_ne!(a.file_name(), b.file_name());
    }

    #[test]
    fn stdin_streams_with_different_content_differ() {
        let stdin = |tag| Origin::File {
            uri: "stdin".to_owned(),
            content_tag: Some(tag),
            start: 0,
            end: 10,
        };
        assert_ne!(stdin(1).file_name(), stdin(2).file_name());
    }

    #[test]
    fn shard_names_with_the_longest_sequence_numbers_are_hashed_apart_and_short() {
        let shard = |first: String, last: String| Origin::Shard {
            stream: "s".repeat(100),
            shard_id: "shardId-000000000001".to_owned(),
            first_sequence: first,
            last_sequence: last,
        };
        let long = |tail: &str| format!("{}{tail}", "9".repeat(128 - tail.len()));
        // Equal in their first 64 digits (the old names cut each part there) and otherwise.
        let a = shard(long("1"), long("2")).file_name();
        let b = shard(long("1"), long("3")).file_name();
        let c = shard(long("2"), long("2")).file_name();
        assert!(a != b && b != c && a != c);
        for name in [&a, &b, &c] {
            assert!(name.len() <= MAX_SHARD_NAME, "{} bytes", name.len());
            assert!(format!(".{name}.parquet.4194304-18446744073709551615.tmp").len() <= 255);
        }
        // Pinned, like every name: a renamed file would be written again beside the old one.
        assert_eq!(
            shard("1".to_owned(), "2".repeat(128)).file_name(),
            format!(
                "{}-shardId-000000000001-1-h6bb708e7b0d6d1233fcd1f240e11e92b",
                "s".repeat(64)
            )
        );
    }

    #[test]
    fn shard_names_keep_sequence_numbers() {
        let origin = Origin::Shard {
            stream: "connect-ctr".to_owned(),
            shard_id: "shardId-000000000001".to_owned(),
            first_sequence: "49568167373333333333333333333333333333333333333333333333".to_owned(),
            last_sequence: "49568167373333333334444444444444444444444444444444444444".to_owned(),
        };
        assert_eq!(
            origin.file_name(),
            "connect-ctr-shardId-000000000001-49568167373333333333333333333333333333333333333333333333-49568167373333333334444444444444444444444444444444444444"
        );
    }
}
