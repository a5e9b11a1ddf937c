//! The writer's library API: raw record bytes in, Parquet files and dead letters out.
//!
//! The same three steps serve every ingest path — the file backfill, the Lambda handler (one
//! invocation per Kinesis batch) and the polling consumer — without DataFusion:
//! 1. [`decode_bytes`] / [`decode_kinesis_records`]: frame and decode records into Arrow
//!    batches grouped by `dt` partition, plus [`DeadLetter`]s for the bad ones (CPU only);
//! 2. [`encode_parquet_file`] / [`encode_dead_letter_file`]: rows of one partition and one
//!    [`Origin`] to a sorted, compressed Parquet file (CPU only);
//! 3. [`crate::Lake::put`]: write it atomically under a name derived from the origin.
//!
//! [`encode_batch`] does steps 1–2 for a whole batch with one origin, which is all a Lambda
//! invocation needs: write every returned file, then report success.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{ArrayRef, RecordBatch, StringViewArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use base64::Engine as _;
use bytes::Bytes;
use ctrlake_model::{
    AgentEventBatchBuilder, ColumnKind, ContactBatchBuilder, DeadLetterReason, RawJsonMode, Record,
    RecordOrigin,
};
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::Serialize;

use crate::framing::{Framed, frame_records};
use crate::lake::{Lake, Table};
use crate::origin::Origin;

const MILLIS_PER_DAY: i64 = 86_400_000;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("building Arrow batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("encoding Parquet for {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("encoding dead letters for {path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Parquet compression of lake files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LakeCompression {
    Zstd(i32),
    Snappy,
}

impl std::str::FromStr for LakeCompression {
    type Err = String;

    /// `zstd` (level 1), `zstd:LEVEL` (1 to 22) or `snappy`: the text of `--compression` and of
    /// the Lambda's `CTRLAKE_COMPRESSION`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "zstd" => Ok(Self::Zstd(1)),
            None if text == "snappy" => Ok(Self::Snappy),
            Some(("zstd", level)) => match level.parse::<i32>() {
                Ok(level) if (1..=22).contains(&level) => Ok(Self::Zstd(level)),
                Ok(_) => Err(format!("{text}: zstd level must be 1 to 22")),
                Err(_) => Err(format!("{text}: zstd level is not a number")),
            },
            _ => Err(format!("{text}: expected zstd, zstd:LEVEL or snappy")),
        }
    }
}

/// How files are encoded.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub compression: LakeCompression,
    pub raw_json: RawJsonMode,
    /// Rows per Parquet row group (Athena and Spark scan row groups in parallel).
    pub max_row_group_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            compression: LakeCompression::Zstd(1),
            raw_json: RawJsonMode::Unmapped,
            max_row_group_rows: 1 << 20,
        }
    }
}

/// A record that could not be written to the lake: its original bytes, where it came from and
/// why. Written as one JSON line under `_dead_letter/`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub source_uri: Arc<str>,
    pub source_offset: Option<u64>,
    pub source_sequence_number: Option<String>,
    pub reason: DeadLetterReason,
    pub detail: String,
    pub bytes: Vec<u8>,
}

/// A partition of the lake: a table and a day (since 1970-01-01, UTC) of its partition date,
/// `InitiationTimestamp`'s for CTRs and `EventTimestamp`'s for agent events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub table: Table,
    pub day: i64,
}

impl PartitionKey {
    pub fn ctr(day: i64) -> Self {
        Self {
            table: Table::Ctr,
            day,
        }
    }

    /// `YYYY-MM-DD`, the `dt` of the partition's folder.
    pub fn date(self) -> String {
        partition_date(self.day)
    }
}

/// Decoded rows grouped by partition, with the dead letters met on the way.
#[derive(Debug, Default)]
pub struct DecodedRecords {
    /// Partition → rows in input order.
    pub partitions: BTreeMap<PartitionKey, RecordBatch>,
    pub dead_letters: Vec<DeadLetter>,
    /// Records seen, valid or not.
    pub records: u64,
}

impl DecodedRecords {
    pub fn rows(&self) -> u64 {
        self.partitions.values().map(|b| b.num_rows() as u64).sum()
    }
}

/// `YYYY-MM-DD` of a partition day.
pub fn partition_date(day: i64) -> String {
    ctrlake_model::timestamp::utc_date(day * MILLIS_PER_DAY)
}

/// Groups records into per-partition builders; shared by the file and Kinesis decoders.
#[derive(Default)]
struct PartitionedBuilder {
    builders: BTreeMap<i64, ContactBatchBuilder>,
    agent_event_builders: BTreeMap<i64, AgentEventBatchBuilder>,
    decoded: DecodedRecords,
}

impl PartitionedBuilder {
    fn add(&mut self, framed: Framed<'_>, origin: RecordOrigin<'_>, source_uri: &Arc<str>) {
        self.decoded.records += 1;
        match framed.result {
            Ok(Record::Contact(record)) => {
                let day = record.initiation_timestamp.div_euclid(MILLIS_PER_DAY);
                self.builders
                    .entry(day)
                    .or_default()
                    .append(&record, &origin);
            }
            Ok(Record::AgentEvent(event)) => {
                let day = event.event_timestamp.div_euclid(MILLIS_PER_DAY);
                self.agent_event_builders
                    .entry(day)
                    .or_default()
                    .push(&event, &origin);
            }
            Err(error) => self.decoded.dead_letters.push(DeadLetter {
                source_uri: source_uri.clone(),
                source_offset: origin.source_offset.and_then(|o| u64::try_from(o).ok()),
                source_sequence_number: origin.source_sequence_number.map(str::to_owned),
                reason: error.reason,
                detail: error.detail,
                bytes: framed.bytes.to_vec(),
            }),
        }
    }

    fn finish(mut self) -> Result<DecodedRecords, EncodeError> {
        for (day, mut builder) in self.builders {
            self.decoded
                .partitions
                .insert(PartitionKey::ctr(day), builder.finish()?);
        }
        for (day, mut builder) in self.agent_event_builders {
            let key = PartitionKey {
                table: Table::AgentEvents,
                day,
            };
            self.decoded.partitions.insert(key, builder.finish()?);
        }
        Ok(self.decoded)
    }
}

/// Frames and decodes `bytes`, which start at `base_offset` of the source `source_uri`. A UTF-8
/// byte-order mark at the very start of a source (offset 0) is skipped.
pub fn decode_bytes(
    bytes: &[u8],
    base_offset: u64,
    source_uri: &Arc<str>,
    arrival_timestamp: Option<i64>,
    mode: RawJsonMode,
) -> Result<DecodedRecords, EncodeError> {
    // A byte-order mark some Windows tools put at the start of a text file is not a record.
    let skip = if base_offset == 0 && bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let base_offset = base_offset + skip as u64;
    let mut builder = PartitionedBuilder::default();
    frame_records(&bytes[skip..], mode, |framed| {
        let offset = base_offset + framed.offset as u64;
        let origin = RecordOrigin {
            source_uri,
            source_offset: i64::try_from(offset).ok(),
            source_sequence_number: None,
            arrival_timestamp,
        };
        builder.add(framed, origin, source_uri);
    });
    builder.finish()
}

/// One Kinesis record as the Lambda event or GetRecords returns it.
#[derive(Debug, Clone, Copy)]
pub struct KinesisRecordRef<'a> {
    pub sequence_number: &'a str,
    /// `ApproximateArrivalTimestamp` in epoch milliseconds.
    pub arrival_timestamp: Option<i64>,
    /// The record's data (one CTR JSON, possibly followed by a newline).
    pub data: &'a [u8],
}

/// Decodes Kinesis records; `source_uri` names the shard (`kinesis://stream/shardId-...`).
pub fn decode_kinesis_records(
    records: &[KinesisRecordRef<'_>],
    source_uri: &Arc<str>,
    mode: RawJsonMode,
) -> Result<DecodedRecords, EncodeError> {
    let mut builder = PartitionedBuilder::default();
    for record in records {
        frame_records(record.data, mode, |framed| {
            let origin = RecordOrigin {
                source_uri,
                source_offset: None,
                source_sequence_number: Some(record.sequence_number),
                arrival_timestamp: record.arrival_timestamp,
            };
            builder.add(framed, origin, source_uri);
        });
    }
    builder.finish()
}

/// A file ready to be written to the lake.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    pub path: Path,
    pub bytes: Bytes,
    /// Rows (Parquet) or dead letters (NDJSON) in the file.
    pub rows: u64,
}

/// Files written to the lake at once by [`write_files`].
const WRITES_AT_ONCE: usize = 8;
/// Attempts at writing one file before [`write_files`] gives up.
const WRITE_ATTEMPTS: u32 = 4;

/// Writes `files` to the lake, up to [`WRITES_AT_ONCE`] at a time, each atomically and
/// durably ([`Lake::put`]), retrying a failed write (100, 200, 400 ms apart). Returns the bytes
/// written. On an error some files may be written: their names come from their content's
/// origin, so writing the same records again replaces them. Every streaming path (the Kinesis
/// consumer, the Lambda) writes a flush or a batch with it.
pub async fn write_files(lake: &Lake, files: &[EncodedFile]) -> Result<u64, crate::LakeError> {
    use futures::{StreamExt as _, TryStreamExt as _};
    // Owned futures (a lake and a file are cheap to clone): a stream of futures borrowing
    // `files` is not `Send` for every lifetime, which spawned callers need.
    let writes = files
        .iter()
        .cloned()
        .map(|file| put_with_retries(lake.clone(), file));
    futures::stream::iter(writes)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_fold(0u64, |total, bytes| async move { Ok(total + bytes) })
        .await
}

async fn put_with_retries(lake: Lake, file: EncodedFile) -> Result<u64, crate::LakeError> {
    let mut attempt = 0;
    loop {
        match lake.put(&file.path, file.bytes.clone()).await {
            Ok(()) => return Ok(file.bytes.len() as u64),
            Err(error) if attempt + 1 >= WRITE_ATTEMPTS => return Err(error),
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// Text columns nearly unique per row (ids, phone numbers, free-form text): a dictionary would
/// be built only to be abandoned (measured ~10% of the writer's CPU), and min/max statistics of
/// random values prune nothing.
const UNIQUE_TEXT: &[&str] = &[
    "contact_id",
    "initial_contact_id",
    "previous_contact_id",
    "next_contact_id",
    "related_contact_id",
    "customer_endpoint_address",
    "recording_location",
    "raw_json",
    "source_sequence_number",
];

/// Ids looked up one at a time (`contacts --chain`, `WHERE contact_id = ...` on `ctr_raw`, in
/// Athena or DuckDB too): each file has a bloom filter on them, so such a look-up reads the ids
/// of only the files that may hold the id instead of every id in the lake (ids are random:
/// min/max statistics cannot rule a file out).
const LOOKED_UP_IDS: &[&str] = &["contact_id", "initial_contact_id"];

/// False-positive rate of those bloom filters. Measured on 1M generated contacts: 1.6 bytes per
/// row for `contact_id`, less for the mostly empty `initial_contact_id` (the writer folds a
/// filter down to the ids it holds); files 1.3% larger, ingest time unchanged.
const BLOOM_FILTER_FPP: f64 = 0.01;

/// Per-column encoding choices, by Parquet column path (map columns have two leaves).
struct LeafEncoding {
    /// Column path parts: `["attributes", "key_value", "key"]` for a map leaf.
    path: Vec<String>,
    /// Values repeat (queue, agent, channel, ARNs, attribute keys): dictionary-encoded.
    dictionary: bool,
    /// Min/max statistics are written where a query may filter on the column: timestamps,
    /// numbers and the names analysts search by. Comparing every ARN or attribute value for
    /// statistics nobody prunes by showed as ~3% of the writer's CPU in a profile.
    statistics: bool,
    /// A bloom filter is written ([`LOOKED_UP_IDS`]).
    bloom_filter: bool,
}

fn leaf_encodings() -> impl Iterator<Item = LeafEncoding> {
    ctrlake_model::schema::COLUMNS.iter().flat_map(|c| {
        let unique = UNIQUE_TEXT.contains(&c.name);
        match c.kind() {
            ColumnKind::Text => vec![LeafEncoding {
                path: vec![c.name.to_owned()],
                dictionary: !unique,
                statistics: !unique && !c.name.ends_with("_arn"),
                bloom_filter: LOOKED_UP_IDS.contains(&c.name),
            }],
            ColumnKind::StringMap => ["key", "value"]
                .iter()
                .map(|leaf| LeafEncoding {
                    path: vec![
                        c.name.to_owned(),
                        "key_value".to_owned(),
                        (*leaf).to_owned(),
                    ],
                    // Keys repeat; values often do. Measured: same speed, files 8% smaller.
                    dictionary: true,
                    statistics: false,
                    bloom_filter: false,
                })
                .collect(),
            ColumnKind::Timestamp | ColumnKind::Integer => vec![LeafEncoding {
                path: vec![c.name.to_owned()],
                dictionary: false,
                statistics: true,
                bloom_filter: false,
            }],
        }
    })
}

/// Properties of a file of `rows` rows (which size its bloom filters).
fn writer_properties(options: &WriterOptions, rows: u64) -> WriterProperties {
    let compression = compression(options);
    let initiation_column = ctrlake_model::lake_schema()
        .index_of("initiation_timestamp")
        .ok();
    let mut builder = WriterProperties::builder().set_dictionary_enabled(false);
    for leaf in leaf_encodings() {
        let path = ColumnPath::new(leaf.path);
        builder = builder.set_column_dictionary_enabled(path.clone(), leaf.dictionary);
        if leaf.bloom_filter {
            builder = builder
                .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
                .set_column_bloom_filter_max_ndv(path.clone(), rows.max(1));
        }
        if !leaf.statistics {
            builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    builder
        .set_compression(compression)
        .set_coerce_types(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.max_row_group_rows))
        .set_sorting_columns(initiation_column.and_then(sorted_by))
        .build()
}

/// Encodes the rows of one partition as a Parquet file, sorted by the table's time
/// (`initiation_timestamp`, `event_timestamp`; ties keep input order, so the output is
/// deterministic).
pub fn encode_parquet_file(
    key: PartitionKey,
    origin: &Origin,
    batches: &[RecordBatch],
    options: &WriterOptions,
) -> Result<EncodedFile, EncodeError> {
    match key.table {
        Table::Ctr => encode_ctr_file(key.day, origin, batches, options),
        Table::AgentEvents => encode_agent_event_file(key.day, origin, batches, options),
    }
}

fn encode_ctr_file(
    day: i64,
    origin: &Origin,
    batches: &[RecordBatch],
    options: &WriterOptions,
) -> Result<EncodedFile, EncodeError> {
    let path = Lake::ctr_file(&partition_date(day), &origin.file_name());
    let parquet_error = |source| EncodeError::Parquet {
        path: path.to_string(),
        source,
    };
    let schema = ctrlake_model::lake_schema();
    let time_column = schema.index_of("initiation_timestamp")?;
    let (gather_schema, batches) = with_long_text_as_views(&schema, batches)?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut buffer = Vec::new();
    // The Parquet columns of a view and of a plain string are the same; the Arrow schema
    // stored in the file for Arrow readers stays the lake's.
    let mut properties = writer_properties(options, rows);
    parquet::arrow::add_encoded_arrow_schema_to_metadata(&schema, &mut properties);
    let writer = ArrowWriter::try_new_with_options(
        &mut buffer,
        gather_schema,
        ArrowWriterOptions::new()
            .with_properties(properties)
            .with_skip_arrow_metadata(true),
    )
    .map_err(parquet_error)?;
    write_sorted(writer, &batches, time_column, parquet_error)?;
    Ok(EncodedFile {
        path,
        bytes: Bytes::from(buffer),
        rows,
    })
}

/// Writes the rows of `batches` sorted by the timestamp column `time_column` (ties keep input
/// order, so the output is deterministic) and closes the writer.
fn write_sorted<W: std::io::Write + Send>(
    mut writer: ArrowWriter<W>,
    batches: &[RecordBatch],
    time_column: usize,
    parquet_error: impl Fn(parquet::errors::ParquetError) -> EncodeError,
) -> Result<(), EncodeError> {
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column(time_column)
            .as_primitive::<TimestampMillisecondType>();
        order.extend(times.values().iter().enumerate().map(|(r, &t)| (t, b, r)));
    }
    order.sort_unstable();
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    // Gather the sorted rows slice by slice so that only one slice is copied at a time: with
    // partitions flushed at 64 MB (~20K rows), two workers each gathering a whole one took
    // peak RSS ~20 MB higher than slices of 16K rows (8K rows: no lower, CPU within noise).
    for slice in order.chunks(16 * 1024) {
        let indices: Vec<(usize, usize)> = slice.iter().map(|&(_, b, r)| (b, r)).collect();
        let sorted = arrow_select::interleave::interleave_record_batch(&sources, &indices)?;
        writer.write(&sorted).map_err(&parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    Ok(())
}

/// A file's declared sort order: ascending by the column at `index`.
fn sorted_by(index: usize) -> Option<Vec<SortingColumn>> {
    i32::try_from(index).ok().map(|column_idx| {
        vec![SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        }]
    })
}

/// Agent event columns nearly unique per row: no dictionary (see [`UNIQUE_TEXT`]).
const UNIQUE_AGENT_EVENT_TEXT: &[&str] = &["event_id", "raw_json", "source_sequence_number"];

/// Encodes an agent event partition, sorted by `event_timestamp` (ties keep input order).
/// Simpler than a CTR file: the table is small next to the CTRs (a few hundred bytes of
/// Parquet per event), so it takes the default encodings with dictionaries off for the
/// columns unique per row, and the time sort that makes a day's range scans prune pages.
fn encode_agent_event_file(
    day: i64,
    origin: &Origin,
    batches: &[RecordBatch],
    options: &WriterOptions,
) -> Result<EncodedFile, EncodeError> {
    let path = Lake::table_file(
        Table::AgentEvents,
        &partition_date(day),
        &origin.file_name(),
    );
    let parquet_error = |source| EncodeError::Parquet {
        path: path.to_string(),
        source,
    };
    let schema = ctrlake_model::agent_event_schema();
    let time_column = schema.index_of("event_timestamp")?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut builder = WriterProperties::builder()
        .set_compression(compression(options))
        .set_coerce_types(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.max_row_group_rows))
        .set_sorting_columns(sorted_by(time_column));
    for name in UNIQUE_AGENT_EVENT_TEXT {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*name), false);
    }
    let mut buffer = Vec::new();
    let writer = ArrowWriter::try_new(&mut buffer, Arc::clone(&schema), Some(builder.build()))
        .map_err(parquet_error)?;
    write_sorted(writer, batches, time_column, parquet_error)?;
    Ok(EncodedFile {
        path,
        bytes: Bytes::from(buffer),
        rows,
    })
}

fn compression(options: &WriterOptions) -> Compression {
    match options.compression {
        LakeCompression::Zstd(level) => {
            Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default())
        }
        LakeCompression::Snappy => Compression::SNAPPY,
    }
}

/// Text columns gathered into sorted order as string views. Most of a file's bytes are in them
/// (`raw_json` alone is ~60% of the uncompressed data of a generated lake): as views, the
/// gather copies 16 bytes per row and shares the strings of the decoded batches, instead of
/// copying every string once more before Parquet reads it. Measured on 1M contacts: peak RSS
/// 430-450 MB -> 390-405 MB, CPU ~1% less. Every text column as a view was slower (+10% CPU:
/// short strings cost more to read through a view than to copy), and so were the attribute
/// maps' keys and values (+2%).
const GATHERED_AS_VIEWS: [&str; 2] = ["raw_json", "recording_location"];

/// `batches` with the [`GATHERED_AS_VIEWS`] columns as views of the same bytes (no copy), and
/// their schema.
fn with_long_text_as_views(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>), arrow_schema::ArrowError> {
    let columns: Vec<usize> = GATHERED_AS_VIEWS
        .iter()
        .map(|name| schema.index_of(name))
        .collect::<Result<_, _>>()?;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| match columns.contains(&index) {
            true => field.as_ref().clone().with_data_type(DataType::Utf8View),
            false => field.as_ref().clone(),
        })
        .collect();
    let gather_schema = Arc::new(Schema::new(fields));
    let batches = batches
        .iter()
        .map(|batch| {
            let arrays: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .enumerate()
                .map(|(index, column)| match column.as_string_opt::<i32>() {
                    Some(text) if columns.contains(&index) => {
                        Arc::new(StringViewArray::from(text)) as ArrayRef
                    }
                    _ => Arc::clone(column),
                })
                .collect();
            RecordBatch::try_new(Arc::clone(&gather_schema), arrays)
        })
        .collect::<Result<_, _>>()?;
    Ok((gather_schema, batches))
}

#[derive(Serialize)]
struct DeadLetterLine<'a> {
    source_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_sequence_number: Option<&'a str>,
    reason: &'static str,
    detail: &'a str,
    length: usize,
    /// The original bytes as text, when they are valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    /// The original bytes in base64, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_base64: Option<String>,
}

/// Encodes dead letters as NDJSON, one line each with the original bytes and the reason.
pub fn encode_dead_letter_file(
    origin: &Origin,
    letters: &[DeadLetter],
) -> Result<EncodedFile, EncodeError> {
    let path = Lake::dead_letter_file(&origin.file_name());
    let mut buffer = Vec::new();
    for letter in letters {
        let text = std::str::from_utf8(&letter.bytes).ok();
        let line = DeadLetterLine {
            source_uri: &letter.source_uri,
            source_offset: letter.source_offset,
            source_sequence_number: letter.source_sequence_number.as_deref(),
            reason: letter.reason.code(),
            detail: &letter.detail,
            length: letter.bytes.len(),
            record: text,
            record_base64: text
                .is_none()
                .then(|| base64::engine::general_purpose::STANDARD.encode(&letter.bytes)),
        };
        serde_json::to_writer(&mut buffer, &line).map_err(|source| EncodeError::Json {
            path: path.to_string(),
            source,
        })?;
        buffer.push(b'\n');
    }
    Ok(EncodedFile {
        path,
        bytes: Bytes::from(buffer),
        rows: letters.len() as u64,
    })
}

/// Encodes a whole decoded batch that shares one origin (a Lambda invocation's records, a
/// polling loop's GetRecords page, or a small file): one Parquet file per partition and one
/// dead-letter file when there are dead letters.
pub fn encode_batch(
    decoded: &DecodedRecords,
    origin: &Origin,
    options: &WriterOptions,
) -> Result<Vec<EncodedFile>, EncodeError> {
    let partitions = decoded
        .partitions
        .iter()
        .map(|(key, batch)| (*key, std::slice::from_ref(batch)));
    encode_files(partitions, &decoded.dead_letters, origin, options)
}

/// Encodes rows that share one origin, given per partition (each partition's batches together
/// in one file), and their dead letters: one Parquet file per partition and one dead-letter
/// file when there are dead letters. Owned batches are dropped as soon as their file is
/// encoded.
pub fn encode_files<B: AsRef<[RecordBatch]>>(
    partitions: impl IntoIterator<Item = (PartitionKey, B)>,
    dead_letters: &[DeadLetter],
    origin: &Origin,
    options: &WriterOptions,
) -> Result<Vec<EncodedFile>, EncodeError> {
    let mut files = Vec::new();
    for (key, batches) in partitions {
        files.push(encode_parquet_file(key, origin, batches.as_ref(), options)?);
    }
    if !dead_letters.is_empty() {
        files.push(encode_dead_letter_file(origin, dead_letters)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    const RECORDS: &str = concat!(
        r#"{"ContactId":"late","InitiationTimestamp":"2026-03-02T10:00:00Z","LastUpdateTimestamp":"2026-03-02T10:05:00Z"}"#,
        "\n",
        r#"{"ContactId":"other-day","InitiationTimestamp":"2026-03-01T23:59:59.999Z","LastUpdateTimestamp":"2026-03-02T00:05:00Z"}"#,
        "\n",
        "not json\n",
        r#"{"ContactId":"early","InitiationTimestamp":"2026-03-02T00:00:00Z","LastUpdateTimestamp":"2026-03-02T00:05:00Z"}"#,
        "\n",
    );

    fn decoded() -> DecodedRecords {
        decode_bytes(
            RECORDS.as_bytes(),
            100,
            &Arc::from("file:///in/x.ndjson"),
            Some(1_700_000_000_000),
            RawJsonMode::Unmapped,
        )
        .expect("decodes")
    }

    /// Decodes `data` as one whole source and encodes it with the default options.
    fn encode_source(data: &str) -> Vec<EncodedFile> {
        let uri = "file:///in/t.ndjson";
        let decoded = decode_bytes(
            data.as_bytes(),
            0,
            &Arc::from(uri),
            None,
            RawJsonMode::Unmapped,
        )
        .expect("decodes");
        let origin = Origin::File {
            uri: uri.to_owned(),
            content_tag: None,
            start: 0,
            end: data.len() as u64,
        };
        encode_batch(&decoded, &origin, &WriterOptions::default()).expect("encodes")
    }

    #[test]
    fn agent_events_beside_ctrs_go_to_their_own_table_sorted_by_event_time() {
        let events = include_str!("../../../fixtures/agent-events/aws-examples.ndjson");
        // The five events in reverse, a CTR among them: routed by shape, one run.
        let mut lines: Vec<&str> = events.lines().rev().collect();
        lines.insert(2, RECORDS.lines().next().expect("a CTR"));
        let files = encode_source(&(lines.join("\n") + "\n"));
        let paths: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(
            paths
                .iter()
                .map(|p| p.rsplit_once('/').map_or("", |(dir, _)| dir))
                .collect::<Vec<_>>(),
            [
                "ctr/dt=2026-03-02",
                "agent_events/dt=2019-01-02",
                "agent_events/dt=2019-05-25",
                "agent_events/dt=2019-08-13",
            ]
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(files[2].bytes.clone())
            .expect("parquet")
            .build()
            .expect("reader");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
        let ids: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let column = b.column_by_name("event_id").expect("event_id");
                let ids = column.as_string::<i32>();
                ids.iter().flatten().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, ["EventId-1", "EventId-2"], "sorted by event time");
        assert_eq!(files[3].rows, 2);
    }

    #[test]
    fn rows_are_partitioned_by_utc_initiation_date() {
        let decoded = decoded();
        assert_eq!(decoded.records, 4);
        let dates: Vec<String> = decoded.partitions.keys().map(|k| k.date()).collect();
        assert_eq!(dates, ["2026-03-01", "2026-03-02"]);
        assert_eq!(decoded.rows(), 3);
        let letter = &decoded.dead_letters[0];
        assert_eq!(letter.reason, DeadLetterReason::InvalidJson);
        assert_eq!(letter.bytes, b"not json");
        assert_eq!(
            letter.source_offset,
            Some(100 + RECORDS.find("not json").expect("present") as u64)
        );
    }

    #[test]
    fn parquet_rows_are_sorted_by_initiation_and_typed_millis_utc() {
        let decoded = decoded();
        let origin = Origin::File {
            uri: "file:///in/x.ndjson".to_owned(),
            content_tag: None,
            start: 100,
            end: 100 + RECORDS.len() as u64,
        };
        let files = encode_batch(&decoded, &origin, &WriterOptions::default()).expect("encodes");
        assert_eq!(files.len(), 3);
        let march2 = &files[1];
        assert!(
            march2
                .path
                .as_ref()
                .starts_with("ctr/dt=2026-03-02/x.ndjson-")
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(march2.bytes.clone())
            .expect("parquet")
            .build()
            .expect("reader");
        let batch = reader.into_iter().next().expect("one batch").expect("ok");
        let ids = batch
            .column_by_name("contact_id")
            .expect("column")
            .as_string::<i32>();
        assert_eq!(ids.value(0), "early");
        assert_eq!(ids.value(1), "late");
        // The Parquet logical type, as engines that ignore the Arrow schema see it.
        let file = SerializedFileReader::new(march2.bytes.clone()).expect("parquet");
        let schema = file.metadata().file_metadata().schema_descr();
        let column = schema
            .columns()
            .iter()
            .find(|c| c.name() == "initiation_timestamp")
            .expect("column");
        assert_eq!(
            format!("{:?}", column.logical_type_ref()),
            "Some(Timestamp(TimestampType { is_adjusted_to_u_t_c: true, unit: MILLIS }))"
        );
        let dead = String::from_utf8(files[2].bytes.to_vec()).expect("utf8");
        assert!(dead.contains(r#""reason":"invalid_json""#), "{dead}");
        assert!(dead.contains(r#""record":"not json""#), "{dead}");
    }

    #[test]
    fn map_leaves_are_dictionary_encoded_without_statistics() {
        let data = r#"{"ContactId":"a","InitiationTimestamp":"2026-03-02T10:00:00Z","LastUpdateTimestamp":"2026-03-02T10:05:00Z","Queue":{"Name":"q","ARN":"arn:q"},"Attributes":{"k":"v"}}"#;
        let files = encode_source(data);
        let file = SerializedFileReader::new(files[0].bytes.clone()).expect("parquet");
        let row_group = file.metadata().row_group(0);
        let chunk = |path: &str| {
            row_group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == path)
                .unwrap_or_else(|| panic!("no column {path}"))
        };
        for (path, dictionary, statistics) in [
            ("attributes.key_value.key", true, false),
            ("attributes.key_value.value", true, false),
            ("queue_name", true, true),
            ("queue_arn", true, false),
            ("contact_id", false, false),
            ("initiation_timestamp", false, true),
        ] {
            let column = chunk(path);
            assert_eq!(
                column.dictionary_page_offset().is_some(),
                dictionary,
                "{path} dictionary"
            );
            assert_eq!(
                column.statistics().is_some(),
                statistics,
                "{path} statistics"
            );
        }
    }

    #[test]
    fn looked_up_ids_have_bloom_filters_that_hold_every_id_of_the_file() {
        let data = concat!(
            r#"{"ContactId":"c-1","InitiationTimestamp":"2026-03-02T10:00:00Z","LastUpdateTimestamp":"2026-03-02T10:05:00Z"}"#,
            "\n",
            r#"{"ContactId":"c-2","InitialContactId":"c-1","InitiationTimestamp":"2026-03-02T10:05:00Z","LastUpdateTimestamp":"2026-03-02T10:09:00Z"}"#,
        );
        let files = encode_source(data);
        let options = parquet::file::serialized_reader::ReadOptionsBuilder::new()
            .with_reader_properties(
                parquet::file::properties::ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let file = SerializedFileReader::new_with_options(files[0].bytes.clone(), options)
            .expect("parquet");
        let row_group = file.get_row_group(0).expect("row group");
        let column_index = |name: &str| {
            file.metadata()
                .row_group(0)
                .columns()
                .iter()
                .position(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        for (name, present) in [
            ("contact_id", &["c-1", "c-2"][..]),
            ("initial_contact_id", &["c-1"][..]),
        ] {
            let filter = row_group
                .get_column_bloom_filter(column_index(name))
                .unwrap_or_else(|| panic!("{name} has no bloom filter"));
            for id in present {
                assert!(filter.check(id), "{name} filter misses {id}");
            }
            assert!(
                !filter.check(&"not-in-this-file"),
                "{name} filter admits an absent id"
            );
        }
        for name in ["queue_name", "previous_contact_id"] {
            assert!(
                row_group
                    .get_column_bloom_filter(column_index(name))
                    .is_none(),
                "{name} has a bloom filter"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_at_the_start_of_a_source_is_not_a_record() {
        let data = [UTF8_BOM, RECORDS.as_bytes()].concat();
        let uri: Arc<str> = Arc::from("file:///in/bom.ndjson");
        let decoded = decode_bytes(&data, 0, &uri, None, RawJsonMode::Unmapped).expect("decodes");
        assert_eq!(decoded.records, 4);
        assert_eq!(decoded.rows(), 3);
        assert_eq!(decoded.dead_letters.len(), 1, "only `not json`");
        let offsets = decoded.partitions[&PartitionKey::ctr(20_514)]
            .column_by_name("source_offset")
            .expect("column")
            .as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .to_vec();
        // Offsets stay those of the file, BOM included.
        assert_eq!(
            offsets,
            vec![
                3,
                3 + RECORDS.find("{\"ContactId\":\"early").expect("early") as i64
            ]
        );
        // Past offset 0 the same bytes are not a BOM but bad input.
        let later = decode_bytes(&data, 10, &uri, None, RawJsonMode::Unmapped).expect("decodes");
        assert_eq!(later.dead_letters.len(), 2);
    }

    #[tokio::test]
    async fn write_files_writes_every_file_and_names_a_failure() {
        let origin = Origin::File {
            uri: "file:///in/x.ndjson".to_owned(),
            content_tag: None,
            start: 100,
            end: 100 + RECORDS.len() as u64,
        };
        let files = encode_batch(&decoded(), &origin, &WriterOptions::default()).expect("encode");
        assert!(files.len() >= 3, "two days and the dead letters");
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
        let written = write_files(&lake, &files).await.expect("written");
        let expected: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
        assert_eq!(written, expected);
        // Written again (a retried batch): the same names, replaced, nothing added.
        write_files(&lake, &files).await.expect("rewritten");
        let mut on_disk = Vec::new();
        for file in &files {
            on_disk.push(std::fs::read(dir.path().join(file.path.as_ref())).expect("file"));
            assert_eq!(on_disk.last().map(Vec::as_slice), Some(file.bytes.as_ref()));
        }
        let count = |sub: &str| {
            std::fs::read_dir(dir.path().join(sub))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        assert_eq!(count("_dead_letter"), 1, "one dead-letter file");
        // A lake where a file stands in the place of `ctr/`: the error names the path.
        let blocked = tempfile::tempdir().expect("tempdir");
        std::fs::write(blocked.path().join("ctr"), b"not a directory").expect("file");
        let lake = Lake::open(&blocked.path().display().to_string()).expect("lake");
        let error = write_files(&lake, &files).await.expect_err("cannot write");
        assert!(error.to_string().contains("ctr/dt="), "{error}");
    }

    #[test]
    fn encoding_is_deterministic() {
        let origin = Origin::File {
            uri: "file:///in/x.ndjson".to_owned(),
            content_tag: None,
            start: 0,
            end: 1,
        };
        let a = encode_batch(&decoded(), &origin, &WriterOptions::default()).expect("encodes");
        let b = encode_batch(&decoded(), &origin, &WriterOptions::default()).expect("encodes");
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.bytes, b.bytes);
        }
    }

    #[test]
    fn kinesis_records_carry_their_sequence_numbers() {
        let data = RECORDS.lines().next().expect("line").as_bytes();
        let bad = b"{\"ContactId\": 5".as_slice();
        let records = [
            KinesisRecordRef {
                sequence_number: "4956816737333",
                arrival_timestamp: Some(1),
                data,
            },
            KinesisRecordRef {
                sequence_number: "4956816737334",
                arrival_timestamp: Some(2),
                data: bad,
            },
        ];
        let decoded = decode_kinesis_records(
            &records,
            &Arc::from("kinesis://s/shardId-0"),
            RawJsonMode::Unmapped,
        )
        .expect("decodes");
        assert_eq!(decoded.rows(), 1);
        assert_eq!(
            decoded.dead_letters[0].source_sequence_number.as_deref(),
            Some("4956816737334")
        );
        assert_eq!(decoded.dead_letters[0].reason, DeadLetterReason::Truncated);
    }
}
