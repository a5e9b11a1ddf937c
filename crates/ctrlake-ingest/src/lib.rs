//! The lake writer: raw CTR bytes in, Hive-partitioned Parquet files and dead letters out.
//!
//! - [`writer`]: the library API every ingest path shares (file backfill, Lambda, Kinesis
//!   poller): decode a batch of raw records, encode Parquet and dead-letter files named after
//!   their [`origin`], write them atomically to a [`Lake`].
//! - [`buffer`]: the flush policy every path shares: rows per day partition until they are
//!   worth a file (by size, by total memory with cold days first, by age on a stream).
//! - [`compact`]: a partition's small files rewritten as a few large ones, one row per
//!   delivered record and version.
//! - [`backfill`]: `ctrlake ingest files` — stream many large sources through that API on all
//!   cores with bounded memory.
//!
//! DataFusion is deliberately absent: this crate links into the Lambda and must stay small.
//! The backfill and its sources (memory maps, globs, a thread pool) are the default feature
//! `files`; the Lambda builds without it.

#[cfg(feature = "files")]
pub mod backfill;
pub mod buffer;
pub mod compact;
pub mod framing;
pub mod origin;
#[cfg(feature = "files")]
pub mod source;
pub mod writer;

#[cfg(feature = "files")]
pub use backfill::{BackfillError, BackfillOptions, BackfillSummary, Progress, backfill};
pub use buffer::{FlushPolicy, Partition, PartitionBuffer};
pub use compact::{
    CompactError, CompactOptions, PartitionCompaction, compact_partition, compact_table_partition,
    partitions, table_partitions,
};
pub use ctrlake_lake as lake;
pub use ctrlake_lake::{Lake, LakeError};
pub use origin::Origin;
#[cfg(feature = "files")]
pub use source::{Source, SourceError, resolve_sources};
pub use writer::{
    DeadLetter, DecodedRecords, EncodedFile, KinesisRecordRef, LakeCompression, PartitionKey,
    WriterOptions, decode_bytes, decode_kinesis_records, encode_batch, encode_dead_letter_file,
    encode_files, encode_parquet_file, write_files,
};
