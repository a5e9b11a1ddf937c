//! The polling Kinesis consumer: every shard of a CTR stream into the lake that `ingest files`
//! writes, seconds after a call ends, with each delivered record exactly once in `ctr_raw`.
//!
//! Guarantees (see `../shared/docs/kinesis.md` for the Kinesis semantics they rest on):
//! - **Exactly once.** A shard's records are buffered and flushed as one set of files named
//!   after the shard and the first and last sequence number they hold; the shard's checkpoint
//!   moves only once those files are durable, and it lists a flush's files before they are
//!   written, so that a consumer killed in between removes them before it reads the same
//!   records again ([`checkpoint`]). No record is in two files, none is skipped.
//! - **Order.** A child shard (after a split or merge) is read only once its parents are read
//!   to their end and checkpointed, so the versions of one contact arrive in order.
//! - **Never blocked by bad data.** A record that does not decode is dead-lettered with its
//!   shard and sequence number, exactly as `ingest files` dead-letters it.
//! - **Loud about loss.** A shard whose checkpointed record the stream no longer holds (its
//!   retention passed while the consumer was stopped) is reported as a [`RetentionGap`]:
//!   records between the checkpoint and the oldest one left may have been trimmed unread.
//! - **Polite.** At most 5 GetRecords calls a second per shard; throttling and network errors
//!   back off with jitter; an expired iterator is taken again from the last record read; a
//!   shard that is caught up is polled once a second.

pub mod checkpoint;
pub mod consumer;
pub mod metrics;

pub use checkpoint::{CheckpointError, ShardCheckpoint, sequence_order};
pub use consumer::{
    Consumer, ConsumerError, ConsumerOptions, ConsumerStatus, FlushReport, RetentionGap,
    RunSummary, ShardStatus, StartPosition,
};
