//! Where each shard has been read to, kept in the lake beside the data it describes.
//!
//! One small JSON object per shard, `_checkpoints/kinesis/<stream>/<shard id>.json`, replaced
//! whole by [`Lake::put`] (durable and atomic, local or S3). It is also the shard's intent log,
//! which is what makes every record land in `ctr_raw` exactly once across crashes:
//!
//! 1. before a flush writes its files, the checkpoint lists them as `pending` (the committed
//!    sequence number unchanged);
//! 2. the files are written (durably);
//! 3. the checkpoint moves to the flush's last sequence number with nothing pending.
//!
//! A consumer that starts with files pending (it died between 1 and 3) removes them before it
//! reads: their records come again after the committed sequence number and are written anew,
//! perhaps cut into other files. So a file either is removed or holds only records after the
//! previous checkpoint and up to the next one: no record is in two files, and none is missing.

use ctrlake_lake::{Lake, LakeError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The folder of the stream checkpoints under the lake root.
pub const CHECKPOINT_DIR: &str = "_checkpoints/kinesis";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("checkpoint {path} cannot be read: {source}")]
    Read {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error(
        "checkpoint {path} is not a ctrlake shard checkpoint ({source}); move it away to read \
         the shard again from --start"
    )]
    Corrupt {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What is durably done for one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    pub stream: String,
    pub shard_id: String,
    /// The last record whose row (or dead letter) is durably in the lake; `None` before the
    /// first flush.
    pub sequence_number: Option<String>,
    /// The shard is closed (split or merged) and read to its end: its children may be read.
    #[serde(default)]
    pub closed: bool,
    /// Lake paths a flush in progress is writing (see the module doc).
    #[serde(default)]
    pub pending: Vec<String>,
    /// Records committed so far from this shard, by this and earlier runs.
    #[serde(default)]
    pub records: u64,
    /// `ApproximateArrivalTimestamp` of the last committed record, epoch milliseconds.
    #[serde(default)]
    pub last_arrival_ms: Option<i64>,
    /// When the checkpoint was written, epoch milliseconds.
    #[serde(default)]
    pub written_ms: i64,
}

impl ShardCheckpoint {
    pub fn new(stream: &str, shard_id: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            shard_id: shard_id.to_owned(),
            ..Self::default()
        }
    }

    /// `_checkpoints/kinesis/<stream>/<shard id>.json`.
    pub fn path(stream: &str, shard_id: &str) -> Path {
        Path::from(format!("{CHECKPOINT_DIR}/{stream}/{shard_id}.json"))
    }

    /// The shard's checkpoint, `None` when it has none yet.
    pub async fn load(
        lake: &Lake,
        stream: &str,
        shard_id: &str,
    ) -> Result<Option<Self>, CheckpointError> {
        let path = Self::path(stream, shard_id);
        let bytes = match lake.store().get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(|source| CheckpointError::Read {
                    path: path.to_string(),
                    source,
                })?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: path.to_string(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Corrupt {
                path: path.to_string(),
                source,
            })
    }

    /// Writes the checkpoint durably (replacing the previous one).
    pub async fn save(&mut self, lake: &Lake) -> Result<(), CheckpointError> {
        self.written_ms = chrono::Utc::now().timestamp_millis();
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| CheckpointError::Corrupt {
            path: Self::path(&self.stream, &self.shard_id).to_string(),
            source,
        })?;
        lake.put(&Self::path(&self.stream, &self.shard_id), bytes.into())
            .await?;
        Ok(())
    }
}

/// Orders Kinesis sequence numbers: decimal strings without leading zeros, longer than any
/// integer type holds, so a longer one is larger and equal lengths compare as text.
pub fn sequence_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    #[test]
    fn sequence_numbers_compare_by_length_then_digits() {
        let a = "49568167373333333333333333333333333333333333333333333333";
        let b = "49568167373333333334444444444444444444444444444444444444";
        assert_eq!(sequence_order(a, b), Ordering::Less);
        assert_eq!(sequence_order("999", "1000"), Ordering::Less);
        assert_eq!(sequence_order(b, b), Ordering::Equal);
    }

    #[tokio::test]
    async fn checkpoints_round_trip_through_the_lake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
        assert_eq!(
            ShardCheckpoint::load(&lake, "s", "shardId-000000000000")
                .await
                .expect("load"),
            None
        );
        let mut checkpoint = ShardCheckpoint::new("s", "shardId-000000000000");
        checkpoint.sequence_number = Some("4956".to_owned());
        checkpoint.pending = vec!["ctr/dt=2026-03-02/x.parquet".to_owned()];
        checkpoint.save(&lake).await.expect("save");
        let loaded = ShardCheckpoint::load(&lake, "s", "shardId-000000000000")
            .await
            .expect("load")
            .expect("saved");
        assert_eq!(loaded, checkpoint);
        assert!(
            dir.path()
                .join("_checkpoints/kinesis/s/shardId-000000000000.json")
                .is_file()
        );
    }

    #[tokio::test]
    async fn a_corrupt_checkpoint_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
        let path = ShardCheckpoint::path("s", "shard-1");
        lake.put(&path, bytes::Bytes::from_static(b"{not json"))
            .await
            .expect("put");
        let error = ShardCheckpoint::load(&lake, "s", "shard-1")
            .await
            .expect_err("corrupt")
            .to_string();
        assert!(
            error.contains("_checkpoints/kinesis/s/shard-1.json"),
            "{error}"
        );
    }
}
