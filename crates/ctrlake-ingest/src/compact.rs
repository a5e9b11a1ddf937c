//! Compaction: a partition's many small files rewritten as a few large ones.
//!
//! A stream writes a file per shard per flush (thousands an hour at a 1 s interval), and a
//! retried or bisected Lambda batch leaves its records in `ctr_raw` twice. Both tables are
//! compacted alike: `ctr/` and `agent_events/` (whose rows are one per delivered event). Readers pay for
//! both: DataFusion, Athena and DuckDB open every file's footer, and S3 charges a request per
//! file. Compaction reads a partition's files one at a time, keeps **one row per delivered
//! record and version** (the same `source_uri`, sequence number or offset, `contact_id` and
//! `last_update_timestamp`), and writes the rows with the writer's own encoding (sorted by
//! initiation time, its dictionaries, statistics and bloom filters) into files of about
//! [`CompactOptions::output_bytes`] each. Memory is one output file's rows, one input file and
//! a 16-byte hash per row.
//!
//! Safe to stop at any moment and run again, and to run while ingest writes the same partition:
//! - it touches only the files it listed (files younger than [`CompactOptions::older_than`]
//!   are left for a later run, so a live stream's newest files are not taken);
//! - outputs are written before any input is removed, and are named `compacted-<hash of the
//!   inputs' names>-<part>`: a partition whose files all share one such hash is compacted;
//! - after a crash (outputs partly written, or inputs partly removed), the next run takes the
//!   partition's files again, outputs included: the duplicate rows collapse, and every input
//!   of both runs is removed once the new outputs are whole.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::time::Duration;

use arrow_array::{BooleanArray, RecordBatch};
use bytes::Bytes;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::lake::{Lake, LakeError, Table};
use crate::origin::Origin;
use crate::writer::{EncodeError, PartitionKey, WriterOptions, encode_parquet_file, write_files};

/// The name every compaction output starts with.
pub const COMPACTED_PREFIX: &str = "compacted-";

/// The columns that tell one delivered record's version from another: rows equal in all of
/// them are copies of one another (a retried batch, a re-run after a crash).
fn key_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Ctr => &[
            "source_uri",
            "source_sequence_number",
            "source_offset",
            "contact_id",
            "last_update_timestamp",
        ],
        Table::AgentEvents => &[
            "source_uri",
            "source_sequence_number",
            "source_offset",
            "event_id",
        ],
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("cannot read {path} in the lake at {location}: {reason}")]
    Read {
        location: String,
        path: String,
        reason: String,
    },
    #[error("{0:?} is not a partition (expected dt=YYYY-MM-DD)")]
    Partition(String),
    /// Only with [`CompactOptions::stop_after_operations`]: the run stopped as a crash would.
    #[error("stopped after {0} lake operations, as asked")]
    Stopped(usize),
}

/// How a compaction runs.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub writer: WriterOptions,
    /// Arrow bytes of rows per output file (256 MB: ~80K–300K CTRs, one row group).
    pub output_bytes: usize,
    /// Only files last modified at least this long ago are compacted.
    pub older_than: Duration,
    /// Stops (with [`CompactError::Stopped`]) after this many writes and removals, leaving the
    /// lake as a crash at that moment would: for the tests of every crash point.
    pub stop_after_operations: Option<usize>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            writer: WriterOptions::default(),
            output_bytes: 256 << 20,
            older_than: Duration::ZERO,
            stop_after_operations: None,
        }
    }
}

/// What compacting one partition did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PartitionCompaction {
    /// The table's folder: `ctr` or `agent_events`.
    pub table: &'static str,
    /// `YYYY-MM-DD`.
    pub dt: String,
    pub files_before: u64,
    pub files_after: u64,
    pub rows_before: u64,
    pub rows_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Files left alone because they are younger than `older_than`.
    pub files_too_young: u64,
    /// Why nothing was done, when nothing was.
    pub skipped: Option<&'static str>,
}

/// The partitions of `ctr/` (`YYYY-MM-DD`, sorted).
pub async fn partitions(lake: &Lake) -> Result<Vec<String>, CompactError> {
    table_partitions(lake, Table::Ctr).await
}

/// The partitions of `table` (`YYYY-MM-DD`, sorted).
pub async fn table_partitions(lake: &Lake, table: Table) -> Result<Vec<String>, CompactError> {
    let prefix = Path::from(table.dir());
    let listed = lake
        .store()
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| LakeError::Maintain {
            location: lake.location().to_owned(),
            path: prefix.to_string(),
            source: Box::new(e),
        })?;
    let mut days: Vec<String> = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename()?.strip_prefix("dt=").map(str::to_owned))
        .filter(|day| partition_day(day).is_some())
        .collect();
    days.sort();
    Ok(days)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` partition.
fn partition_day(dt: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == dt)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((date - epoch).num_days())
}

/// Counts lake writes and removals, to stop where a test asks.
struct Operations {
    done: usize,
    limit: Option<usize>,
}

impl Operations {
    fn next(&mut self) -> Result<(), CompactError> {
        if self.limit.is_some_and(|limit| self.done >= limit) {
            return Err(CompactError::Stopped(self.done));
        }
        self.done += 1;
        Ok(())
    }
}

/// Compacts partition `dt` (`YYYY-MM-DD`) of `ctr/`.
pub async fn compact_partition(
    lake: &Lake,
    dt: &str,
    options: &CompactOptions,
) -> Result<PartitionCompaction, CompactError> {
    compact_table_partition(lake, Table::Ctr, dt, options).await
}

/// Compacts partition `dt` (`YYYY-MM-DD`) of `table`.
pub async fn compact_table_partition(
    lake: &Lake,
    table: Table,
    dt: &str,
    options: &CompactOptions,
) -> Result<PartitionCompaction, CompactError> {
    let day = partition_day(dt).ok_or_else(|| CompactError::Partition(dt.to_owned()))?;
    let mut summary = PartitionCompaction {
        table: table.dir(),
        dt: dt.to_owned(),
        ..PartitionCompaction::default()
    };
    let prefix = Path::from(format!("{}/dt={dt}", table.dir()));
    let now = chrono::Utc::now();
    let older_than =
        chrono::Duration::from_std(options.older_than).unwrap_or(chrono::Duration::MAX);
    let mut inputs = Vec::new();
    for meta in lake.list(&prefix).await? {
        let Some(name) = meta.location.filename() else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".parquet") {
            continue;
        }
        // Outputs of an earlier run are always taken, however young: a run stopped after it
        // removed some inputs must be finished (its copies collapsed) by the next one.
        let output = compaction_generation(name).is_some();
        if !output && now.signed_duration_since(meta.last_modified) < older_than {
            summary.files_too_young += 1;
            continue;
        }
        inputs.push(meta);
    }
    summary.files_before = inputs.len() as u64;
    summary.bytes_before = inputs.iter().map(|m| m.size).sum();
    let generations: HashSet<Option<&str>> = inputs
        .iter()
        .map(|m| m.location.filename().and_then(compaction_generation))
        .collect();
    if inputs.len() < 2 {
        summary.files_after = summary.files_before;
        summary.skipped = Some("fewer than two files");
        return Ok(summary);
    }
    if generations.len() == 1 && !generations.contains(&None) {
        summary.files_after = summary.files_before;
        summary.skipped = Some("already compacted");
        return Ok(summary);
    }
    // Removing is tried before anything is written: a lake where inputs cannot be removed
    // (no `s3:DeleteObject`) would otherwise gain a full copy of the partition at every run.
    lake.delete(&Path::from(format!(
        "{}/dt={dt}/.ctrlake-compact-probe",
        table.dir()
    )))
    .await?;
    let key = PartitionKey { table, day };
    let names: Vec<String> = inputs.iter().map(|m| m.location.to_string()).collect();
    let generation = crate::origin::fnv1a64(names.join("\n").as_bytes());
    let mut operations = Operations {
        done: 0,
        limit: options.stop_after_operations,
    };
    let mut seen = SeenRows::new(key_columns(table));
    let mut run: Vec<RecordBatch> = Vec::new();
    let mut run_bytes = 0usize;
    let mut part = 0u32;
    let mut vanished: HashSet<&Path> = HashSet::new();
    for meta in &inputs {
        let fetched = match lake.store().get(&meta.location).await {
            Ok(fetched) => fetched,
            // Removed since the listing (by another compaction, or a consumer clearing the
            // files of a flush it never finished): its rows are elsewhere or read again.
            Err(object_store::Error::NotFound { .. }) => {
                vanished.insert(&meta.location);
                continue;
            }
            Err(e) => return Err(read_error(lake, &meta.location, e)),
        };
        let bytes = fetched
            .bytes()
            .await
            .map_err(|e| read_error(lake, &meta.location, e))?;
        // Batch by batch: a large input (an earlier compaction's output) is never decoded whole.
        let batches = parquet_batches(bytes).map_err(|e| read_error(lake, &meta.location, e))?;
        for batch in batches {
            let batch = batch.map_err(|e| read_error(lake, &meta.location, e))?;
            summary.rows_before += batch.num_rows() as u64;
            let fresh = seen
                .keep_new(&batch)
                .map_err(|e| read_error(lake, &meta.location, e))?;
            let batch = arrow_select::filter::filter_record_batch(&batch, &fresh)
                .map_err(|e| read_error(lake, &meta.location, e))?;
            if batch.num_rows() == 0 {
                continue;
            }
            run_bytes += batch.get_array_memory_size();
            run.push(batch);
            if run_bytes >= options.output_bytes {
                summary.bytes_after +=
                    write_output(lake, key, generation, part, &run, options, &mut operations)
                        .await?;
                summary.rows_after += run.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                part += 1;
                run.clear();
                run_bytes = 0;
            }
        }
    }
    if !run.is_empty() {
        summary.bytes_after +=
            write_output(lake, key, generation, part, &run, options, &mut operations).await?;
        summary.rows_after += run.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        part += 1;
    }
    summary.files_after = u64::from(part);
    // Every output is whole: the inputs can go (an output never has an input's name: its
    // generation hashes the names of all inputs, itself not among them).
    let outputs: HashSet<String> = (0..part)
        .map(|p| output_path(key, generation, p).to_string())
        .collect();
    for meta in &inputs {
        if outputs.contains(meta.location.as_ref()) || vanished.contains(&meta.location) {
            continue;
        }
        operations.next()?;
        lake.delete(&meta.location).await?;
    }
    Ok(summary)
}

/// The generation (`compacted-<generation>-<part>.parquet`) of a compaction output's name.
fn compaction_generation(name: &str) -> Option<&str> {
    let rest = name
        .strip_prefix(COMPACTED_PREFIX)?
        .strip_suffix(".parquet")?;
    let (generation, part) = rest.split_once('-')?;
    (generation.len() == 16 && part.bytes().all(|b| b.is_ascii_digit())).then_some(generation)
}

fn output_path(key: PartitionKey, generation: u64, part: u32) -> Path {
    let origin = Origin::Compacted { generation, part };
    Lake::table_file(key.table, &key.date(), &origin.file_name())
}

async fn write_output(
    lake: &Lake,
    key: PartitionKey,
    generation: u64,
    part: u32,
    rows: &[RecordBatch],
    options: &CompactOptions,
    operations: &mut Operations,
) -> Result<u64, CompactError> {
    let origin = Origin::Compacted { generation, part };
    let file = encode_parquet_file(key, &origin, rows, &options.writer)?;
    operations.next()?;
    Ok(write_files(lake, std::slice::from_ref(&file)).await?)
}

fn parquet_batches(
    bytes: Bytes,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, parquet::errors::ParquetError> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(8192)
        .build()
}

fn read_error(lake: &Lake, path: &Path, error: impl std::fmt::Display) -> CompactError {
    CompactError::Read {
        location: lake.location().to_owned(),
        path: path.to_string(),
        reason: error.to_string(),
    }
}

/// The rows kept so far, as 128-bit hashes of their key columns ([`key_columns`]).
struct SeenRows {
    columns: &'static [&'static str],
    hashes: HashSet<u128>,
    first: std::collections::hash_map::RandomState,
    second: std::collections::hash_map::RandomState,
}

impl SeenRows {
    fn new(columns: &'static [&'static str]) -> Self {
        Self {
            columns,
            hashes: HashSet::new(),
            first: Default::default(),
            second: Default::default(),
        }
    }

    /// Which rows of `batch` are not copies of a row kept before (nor of an earlier row of
    /// the batch); remembers them.
    fn keep_new(&mut self, batch: &RecordBatch) -> Result<BooleanArray, arrow_schema::ArrowError> {
        let columns: Vec<_> = self
            .columns
            .iter()
            .map(|name| {
                batch.column_by_name(name).cloned().ok_or_else(|| {
                    arrow_schema::ArrowError::SchemaError(format!("no column {name}"))
                })
            })
            .collect::<Result<_, _>>()?;
        let fields = columns
            .iter()
            .map(|c| arrow_row::SortField::new(c.data_type().clone()))
            .collect();
        let rows = arrow_row::RowConverter::new(fields)?.convert_columns(&columns)?;
        Ok(rows
            .iter()
            .map(|row| {
                let key = (u128::from(self.first.hash_one(row.as_ref())) << 64)
                    | u128::from(self.second.hash_one(row.as_ref()));
                Some(self.hashes.insert(key))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
