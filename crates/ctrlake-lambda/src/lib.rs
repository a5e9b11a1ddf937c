//! The serverless ingest: a Lambda function on the CTR stream. AWS's event source mapping
//! reads the shards and invokes the function with one shard's batch at a time (in parallel
//! across shards, with retries and bisecting); each invocation writes its batch to the lake
//! with the writer every other path uses, and nothing else.
//!
//! Why it is built this way:
//! - **No second decoder or writer.** Records decode with [`decode_kinesis_records`] and become
//!   files with [`encode_batch`] and [`write_files`], exactly as in the Kinesis consumer; the
//!   crate links the writer without its backfill machinery (no memory maps, globs or thread
//!   pool) and without DataFusion, so the function stays small and starts fast.
//! - **Nothing lost, nothing failed for bad data.** A record that does not decode is a dead
//!   letter (shard, sequence number, reason, original bytes) and the batch succeeds. Only a
//!   failure to write returns `batchItemFailures`, naming the first record of the shard's
//!   batch: its files cover the whole batch, so Lambda retries from there
//!   (`ReportBatchItemFailures` on the mapping).
//! - **Retries stay harmless.** Files are named after the stream, the shard and the batch's
//!   first and last sequence numbers, so a retried batch rewrites the same files. A bisected
//!   batch writes other names: its rows are then in `ctr_raw` twice, which the de-duplicated
//!   `contacts` view never counts twice and `ctrlake compact` removes.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use ctrlake_ingest::{
    KinesisRecordRef, Lake, LakeCompression, Origin, WriterOptions, decode_kinesis_records,
    encode_batch, write_files,
};
use ctrlake_model::RawJsonMode;
use serde::Serialize;

pub mod compaction;
#[cfg(test)]
mod tests;

/// Configuration that cannot work: the function fails its init phase with this one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("CTRLAKE_LAKE is not set: set it to s3://bucket/prefix (or a local directory)")]
    MissingLake,
    #[error("CTRLAKE_LAKE={location}: {reason}")]
    Lake { location: String, reason: String },
    #[error("CTRLAKE_COMPRESSION={0}")]
    Compression(String),
    #[error("CTRLAKE_RAW_JSON={0}: expected unmapped or full")]
    RawJson(String),
    #[error("{0}={1}: expected a whole number")]
    Number(&'static str, String),
    #[error("CTRLAKE_COMPACT_DAYS={0}: expected 1 to 366")]
    Days(u64),
}

/// What the function writes where, from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub lake: Lake,
    pub writer: WriterOptions,
}

impl Config {
    /// Reads `CTRLAKE_LAKE` (required), `CTRLAKE_COMPRESSION` (`zstd:1` by default, as
    /// `ingest files`) and `CTRLAKE_RAW_JSON` (`unmapped` or `full`) through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let location = var("CTRLAKE_LAKE")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::MissingLake)?;
        let lake = Lake::open(&location).map_err(|e| ConfigError::Lake {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        let compression = match var("CTRLAKE_COMPRESSION") {
            Some(text) => text
                .parse::<LakeCompression>()
                .map_err(ConfigError::Compression)?,
            None => WriterOptions::default().compression,
        };
        let raw_json = match var("CTRLAKE_RAW_JSON").as_deref() {
            None | Some("unmapped") => RawJsonMode::Unmapped,
            Some("full") => RawJsonMode::FullRecord,
            Some(other) => return Err(ConfigError::RawJson(other.to_owned())),
        };
        Ok(Self {
            lake,
            writer: WriterOptions {
                compression,
                raw_json,
                ..WriterOptions::default()
            },
        })
    }
}

/// One invocation's log line (JSON on stdout, so CloudWatch Logs Insights can query its
/// fields).
#[derive(Debug, Default, Serialize)]
pub struct InvocationLog {
    pub records: u64,
    pub rows: u64,
    pub dead_letters: u64,
    pub files: u64,
    /// Bytes of record data received.
    pub bytes_in: u64,
    /// Bytes of files written.
    pub bytes_written: u64,
    pub duration_ms: u64,
    /// Shards whose batch could not be written (Lambda retries them).
    pub failed_shards: u64,
    pub shards: Vec<ShardLog>,
}

/// One shard's part of an invocation (an event source mapping sends one shard per batch).
#[derive(Debug, Serialize)]
pub struct ShardLog {
    pub stream: String,
    pub shard: String,
    pub first_sequence: String,
    pub last_sequence: String,
    pub records: u64,
    pub rows: u64,
    pub dead_letters: u64,
    pub files: u64,
    /// Why the batch was not written, when it was not.
    pub error: Option<String>,
}

/// The function: a lake and how to write it.
pub struct IngestFunction {
    config: Config,
}

/// Records of one shard of one stream, in the order of the event.
struct ShardBatch<'a> {
    stream: String,
    shard: String,
    records: Vec<&'a KinesisEventRecord>,
}

impl IngestFunction {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// Writes the event's records to the lake; the response names the first record of every
    /// shard batch that could not be written.
    pub async fn handle(&self, event: &KinesisEvent) -> (KinesisEventResponse, InvocationLog) {
        let started = Instant::now();
        let mut log = InvocationLog::default();
        let mut response = KinesisEventResponse::default();
        for batch in shard_batches(event) {
            let (shard_log, failed) = self.write_batch(&batch, &mut log).await;
            if let Some(first) = failed {
                let mut failure = KinesisBatchItemFailure::default();
                failure.item_identifier = Some(first);
                response.batch_item_failures.push(failure);
                log.failed_shards += 1;
            }
            log.shards.push(shard_log);
        }
        log.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        (response, log)
    }

    /// Decodes, encodes and writes one shard's records; returns its log and, when it could
    /// not be written, the sequence number Lambda must retry from.
    async fn write_batch(
        &self,
        batch: &ShardBatch<'_>,
        log: &mut InvocationLog,
    ) -> (ShardLog, Option<String>) {
        let first_sequence = batch
            .records
            .first()
            .map(|r| r.kinesis.sequence_number.clone())
            .unwrap_or_default();
        let last_sequence = batch
            .records
            .last()
            .map(|r| r.kinesis.sequence_number.clone())
            .unwrap_or_default();
        let mut shard_log = ShardLog {
            stream: batch.stream.clone(),
            shard: batch.shard.clone(),
            first_sequence: first_sequence.clone(),
            last_sequence: last_sequence.clone(),
            records: batch.records.len() as u64,
            rows: 0,
            dead_letters: 0,
            files: 0,
            error: None,
        };
        log.records += shard_log.records;
        log.bytes_in += batch
            .records
            .iter()
            .map(|r| r.kinesis.data.0.len() as u64)
            .sum::<u64>();
        let refs: Vec<KinesisRecordRef<'_>> = batch
            .records
            .iter()
            .map(|r| KinesisRecordRef {
                sequence_number: &r.kinesis.sequence_number,
                arrival_timestamp: Some(
                    r.kinesis.approximate_arrival_timestamp.0.timestamp_millis(),
                ),
                data: &r.kinesis.data.0,
            })
            .collect();
        let uri: Arc<str> = Arc::from(format!("kinesis://{}/{}", batch.stream, batch.shard));
        let origin = Origin::Shard {
            stream: batch.stream.clone(),
            shard_id: batch.shard.clone(),
            first_sequence: first_sequence.clone(),
            last_sequence,
        };
        let written = async {
            let decoded = decode_kinesis_records(&refs, &uri, self.config.writer.raw_json)?;
            shard_log.rows = decoded.rows();
            shard_log.dead_letters = decoded.dead_letters.len() as u64;
            let files = encode_batch(&decoded, &origin, &self.config.writer)?;
            drop(decoded);
            shard_log.files = files.len() as u64;
            let bytes = write_files(&self.config.lake, &files).await?;
            Ok::<u64, WriteError>(bytes)
        }
        .await;
        match written {
            Ok(bytes) => {
                log.rows += shard_log.rows;
                log.dead_letters += shard_log.dead_letters;
                log.files += shard_log.files;
                log.bytes_written += bytes;
                (shard_log, None)
            }
            Err(error) => {
                shard_log.error = Some(error.to_string());
                (shard_log, Some(first_sequence))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Encode(#[from] ctrlake_ingest::writer::EncodeError),
    #[error(transparent)]
    Lake(#[from] ctrlake_ingest::LakeError),
}

/// The event's records grouped by stream and shard, each group in event order, groups in
/// the order their first record appears. An event source mapping sends one shard per batch;
/// an event put together by hand may hold several.
fn shard_batches(event: &KinesisEvent) -> Vec<ShardBatch<'_>> {
    let mut batches: Vec<ShardBatch<'_>> = Vec::new();
    for record in &event.records {
        let (stream, shard) = provenance(record);
        match batches
            .iter_mut()
            .find(|b| b.stream == stream && b.shard == shard)
        {
            Some(batch) => batch.records.push(record),
            None => batches.push(ShardBatch {
                stream,
                shard,
                records: vec![record],
            }),
        }
    }
    batches
}

/// The stream (from `eventSourceARN`, `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`) and the
/// shard (from `eventID`, `shardId-000000000000:SEQUENCE`) of a record; `unknown` when the
/// event lacks them (Lambda always sets both).
fn provenance(record: &KinesisEventRecord) -> (String, String) {
    let stream = record
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.rsplit_once(":stream/"))
        .map(|(_, name)| name.split('/').next().unwrap_or(name))
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown");
    let shard = record
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map(|(shard, _)| shard)
        .filter(|shard| !shard.is_empty())
        .unwrap_or("unknown");
    (stream.to_owned(), shard.to_owned())
}
