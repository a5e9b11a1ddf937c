//! The partition buffer every ingest path shares: decoded rows wait here, per day partition,
//! until they are worth a file.
//!
//! One policy for the backfill and the stream, because both face the same two forces: a lake
//! of many small files is slow to query (and costs a request per file on S3), while rows held
//! back use memory and, on a stream, delay what analysts see. So:
//! - a partition becomes a file once it holds [`FlushPolicy::partition_bytes`];
//! - when all partitions together hold more than [`FlushPolicy::buffer_bytes`], partitions go
//!   early: first the largest *cold* one (a day no recent input added rows to: its late
//!   updates have stopped, so flushing it now makes no more files than flushing it later),
//!   else the largest;
//! - on a stream, rows wait at most [`FlushPolicy::max_age`] after they arrived: then the whole
//!   buffer is due (the freshness bound);
//! - a partition's many small batches (a few late updates per chunk or page) are merged as they
//!   come, so that each does not keep its builders' initial room.
//!
//! Decisions depend only on what was pushed, in order (never on timing, except the age rule),
//! so that the backfill writes the same files for the same input.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::writer::{EncodeError, PartitionKey};

/// When buffered rows become files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushPolicy {
    /// A partition buffering this many bytes (Arrow memory) becomes a file.
    pub partition_bytes: usize,
    /// Over this many bytes in all partitions, partitions are flushed early (cold first).
    pub buffer_bytes: usize,
    /// Rows wait at most this long after their arrival before the whole buffer is due.
    pub max_age: Option<Duration>,
}

/// A batch under this many bytes is a small one: most are a chunk's few late updates for an
/// earlier day, and each holds its builders' initial room (~46 KB) for a handful of rows.
const SMALL_BATCH_BYTES: usize = 256 << 10;

/// This many small batches in a row in one partition are merged into one batch of exactly
/// their size. Without it, a day's late updates (a few rows in every chunk for a month of
/// input) filled most of the buffer limit, which then flushed the current day's partition at a
/// fraction of its intended size.
const SMALL_BATCHES_MERGED: usize = 16;

/// A partition no push has added rows to in this many pushes (32 MB of input with the
/// backfill's 4 MB chunks) is cold. Before this rule, the largest partition was always the
/// current day, flushed at a fraction of its intended size while earlier days' late updates
/// held the rest of the buffer. With the merging of small batches, 1M generated contacts make
/// 104 files instead of 179.
const COLD_AFTER_PUSHES: u64 = 8;

/// Rows of one partition taken from the buffer to become a file.
#[derive(Debug)]
pub struct Partition {
    pub key: PartitionKey,
    pub batches: Vec<RecordBatch>,
    /// Arrow memory of `batches`.
    pub bytes: usize,
    /// The input positions its rows came from: `start` of the first push that added rows, `end`
    /// of the last (byte offsets for a file, record positions for a stream).
    pub start: u64,
    pub end: u64,
}

struct PendingPartition {
    batches: Vec<RecordBatch>,
    bytes: usize,
    start: u64,
    end: u64,
    /// How many of the last batches are small ([`SMALL_BATCH_BYTES`]).
    small_tail: usize,
    /// The last push that added rows ([`PartitionBuffer::pushes`]).
    last_push: u64,
    /// When its oldest row arrived.
    oldest: Option<Instant>,
}

/// Decoded rows per partition (table and day), and the policy that says when they become
/// files.
pub struct PartitionBuffer {
    policy: FlushPolicy,
    partitions: BTreeMap<PartitionKey, PendingPartition>,
    bytes: usize,
    /// Pushes so far: the clock that tells cold partitions.
    pushes: u64,
}

impl PartitionBuffer {
    pub fn new(policy: FlushPolicy) -> Self {
        Self {
            policy,
            partitions: BTreeMap::new(),
            bytes: 0,
            pushes: 0,
        }
    }

    pub fn policy(&self) -> &FlushPolicy {
        &self.policy
    }

    /// Adds one unit of input (a chunk of a file, a page of a stream), which covers positions
    /// `start..end` and whose oldest record arrived at `arrived`: its rows, by day. A unit
    /// without rows still counts as input for the cold rule.
    pub fn push(
        &mut self,
        rows: BTreeMap<PartitionKey, RecordBatch>,
        start: u64,
        end: u64,
        arrived: Instant,
    ) -> Result<(), EncodeError> {
        for (key, batch) in rows {
            let pending = self.partitions.entry(key).or_insert(PendingPartition {
                batches: Vec::new(),
                bytes: 0,
                start,
                end,
                small_tail: 0,
                last_push: 0,
                oldest: None,
            });
            let grown = pending.push(batch)?;
            pending.end = end;
            pending.last_push = self.pushes;
            pending.oldest = Some(pending.oldest.map_or(arrived, |t| t.min(arrived)));
            self.bytes = self.bytes.saturating_add_signed(grown);
        }
        self.pushes += 1;
        Ok(())
    }

    /// Arrow bytes buffered in all partitions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The partition the size rules say must become a file now, if any: one that reached
    /// `partition_bytes` (the earliest such day), else, while the buffer is over
    /// `buffer_bytes`, the largest cold one, else the largest (ties to the earlier day).
    /// Take it with [`Self::take`] and ask again until `None`.
    pub fn due_partition(&self) -> Option<PartitionKey> {
        let full = self
            .partitions
            .iter()
            .find(|(_, p)| p.bytes >= self.policy.partition_bytes);
        if let Some((key, _)) = full {
            return Some(*key);
        }
        if self.bytes < self.policy.buffer_bytes {
            return None;
        }
        // The last push is the current one: cold means no rows in the last COLD_AFTER_PUSHES.
        let cold_before = self.pushes.saturating_sub(1 + COLD_AFTER_PUSHES);
        self.partitions
            .iter()
            .max_by_key(|(key, p)| (p.last_push < cold_before, p.bytes, std::cmp::Reverse(**key)))
            .map(|(key, _)| *key)
    }

    /// How long until the age rule makes the whole buffer due (zero when it is); `None` when
    /// the buffer is empty or the policy has no age limit.
    pub fn due_in(&self) -> Option<Duration> {
        let max_age = self.policy.max_age?;
        let oldest = self.partitions.values().filter_map(|p| p.oldest).min()?;
        Some(max_age.saturating_sub(oldest.elapsed()))
    }

    /// Whether any rule makes (some of) the buffer due now.
    pub fn is_due(&self) -> bool {
        self.due_partition().is_some() || self.due_in() == Some(Duration::ZERO)
    }

    /// Takes one partition out of the buffer.
    pub fn take(&mut self, key: PartitionKey) -> Option<Partition> {
        let pending = self.partitions.remove(&key)?;
        self.bytes -= pending.bytes;
        Some(Partition {
            key,
            batches: pending.batches,
            bytes: pending.bytes,
            start: pending.start,
            end: pending.end,
        })
    }

    /// Takes every partition, by table and then earliest day first, leaving the buffer empty.
    pub fn take_all(&mut self) -> Vec<Partition> {
        let keys: Vec<PartitionKey> = self.partitions.keys().copied().collect();
        keys.into_iter().filter_map(|key| self.take(key)).collect()
    }
}

impl PendingPartition {
    /// Adds `batch` and returns by how much the partition's buffered bytes grew (merging small
    /// batches shrinks them, so the change can be negative).
    fn push(&mut self, batch: RecordBatch) -> Result<isize, EncodeError> {
        let before = self.bytes;
        let bytes = batch.get_array_memory_size();
        self.bytes += bytes;
        self.batches.push(batch);
        self.small_tail = if bytes < SMALL_BATCH_BYTES {
            self.small_tail + 1
        } else {
            0
        };
        if self.small_tail == SMALL_BATCHES_MERGED {
            // The merged rows keep their order and their place among the partition's rows,
            // so the file's row order (ties keep input order) is unchanged.
            let first = self.batches.len() - SMALL_BATCHES_MERGED;
            let small = self.batches.split_off(first);
            let merged = arrow_select::concat::concat_batches(&small[0].schema(), &small)?;
            let merged_bytes = merged.get_array_memory_size();
            self.bytes = self.bytes + merged_bytes
                - small
                    .iter()
                    .map(|b| b.get_array_memory_size())
                    .sum::<usize>();
            self.small_tail = usize::from(merged_bytes < SMALL_BATCH_BYTES);
            self.batches.push(merged);
        }
        Ok(self.bytes as isize - before as isize)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// One partition's batch of `rows` records with ids `c-{first}`, `c-{first + 1}`, ...
    fn batch(first: usize, rows: usize) -> RecordBatch {
        let ndjson: String = (first..first + rows)
            .map(|i| {
                format!(
                    "{{\"ContactId\":\"c-{i}\",\"InitiationTimestamp\":\"2026-03-01T00:00:00Z\",\"LastUpdateTimestamp\":\"2026-03-01T00:05:00Z\"}}\n"
                )
            })
            .collect();
        let decoded = crate::writer::decode_bytes(
            ndjson.as_bytes(),
            0,
            &Arc::from("file:///test"),
            None,
            ctrlake_model::RawJsonMode::Unmapped,
        )
        .expect("decodes");
        let (_, batch) = decoded.partitions.into_iter().next().expect("one day");
        batch
    }

    fn contact_ids(batches: &[RecordBatch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                let ids = b
                    .column_by_name("contact_id")
                    .and_then(|c| c.as_any().downcast_ref::<arrow_array::StringArray>())
                    .expect("contact_id");
                ids.iter().flatten().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }

    fn pending() -> PendingPartition {
        PendingPartition {
            batches: Vec::new(),
            bytes: 0,
            start: 0,
            end: 0,
            small_tail: 0,
            last_push: 0,
            oldest: None,
        }
    }

    fn policy(partition_bytes: usize, buffer_bytes: usize) -> FlushPolicy {
        FlushPolicy {
            partition_bytes,
            buffer_bytes,
            max_age: None,
        }
    }

    #[test]
    fn small_batches_in_a_row_are_merged_in_order() {
        let mut partition = pending();
        let mut growth = Vec::new();
        for i in 0..SMALL_BATCHES_MERGED {
            growth.push(partition.push(batch(i, 1)).expect("push"));
        }
        assert_eq!(partition.batches.len(), 1, "16 small batches became one");
        let expected: Vec<String> = (0..SMALL_BATCHES_MERGED)
            .map(|i| format!("c-{i}"))
            .collect();
        assert_eq!(contact_ids(&partition.batches), expected, "rows keep order");
        assert!(
            growth[..SMALL_BATCHES_MERGED - 1].iter().all(|g| *g > 0),
            "{growth:?}"
        );
        let unmerged: isize = growth[..SMALL_BATCHES_MERGED - 1].iter().sum();
        assert!(
            growth[SMALL_BATCHES_MERGED - 1] < 0,
            "the merge frees the builders' unused room: {growth:?}"
        );
        assert_eq!(
            partition.bytes as isize,
            growth.iter().sum::<isize>(),
            "bytes follow the reported growth"
        );
        assert!(
            (partition.bytes as isize) < unmerged / 4,
            "{} bytes merged, {unmerged} before",
            partition.bytes
        );
        assert_eq!(
            partition.bytes,
            partition.batches[0].get_array_memory_size()
        );
    }

    #[test]
    fn a_large_batch_breaks_a_run_of_small_ones() {
        let mut partition = pending();
        let large = batch(1000, 2000);
        assert!(large.get_array_memory_size() >= SMALL_BATCH_BYTES);
        for i in 0..SMALL_BATCHES_MERGED - 1 {
            partition.push(batch(i, 1)).expect("push");
        }
        partition.push(large).expect("push");
        for i in 100..100 + SMALL_BATCHES_MERGED - 1 {
            partition.push(batch(i, 1)).expect("push");
        }
        assert_eq!(partition.batches.len(), 2 * SMALL_BATCHES_MERGED - 1);
        partition.push(batch(200, 1)).expect("push");
        assert_eq!(
            partition.batches.len(),
            SMALL_BATCHES_MERGED + 1,
            "the 16 small batches after the large one are merged"
        );
        let ids = contact_ids(&partition.batches);
        assert_eq!(ids.len(), 2 * SMALL_BATCHES_MERGED - 1 + 2000);
        assert_eq!(ids[SMALL_BATCHES_MERGED - 1], "c-1000");
        assert_eq!(ids.last().map(String::as_str), Some("c-200"));
    }

    /// Pushes one batch of `rows` rows for `day` as the next unit of input.
    fn push_day(buffer: &mut PartitionBuffer, day: i64, rows: usize) {
        let unit = buffer.pushes;
        buffer
            .push(
                BTreeMap::from([(PartitionKey::ctr(day), batch(unit as usize * 10_000, rows))]),
                unit * 100,
                unit * 100 + 100,
                Instant::now(),
            )
            .expect("push");
    }

    #[test]
    fn a_full_partition_is_due_and_keeps_its_input_range() {
        let one = batch(0, 500).get_array_memory_size();
        let mut buffer = PartitionBuffer::new(policy(2 * one, usize::MAX));
        push_day(&mut buffer, 7, 500);
        push_day(&mut buffer, 8, 10);
        assert_eq!(buffer.due_partition(), None);
        push_day(&mut buffer, 7, 500);
        assert_eq!(buffer.due_partition(), Some(PartitionKey::ctr(7)));
        let taken = buffer.take(PartitionKey::ctr(7)).expect("day 7");
        assert_eq!((taken.start, taken.end), (0, 300), "first and third unit");
        assert_eq!(contact_ids(&taken.batches).len(), 1000);
        assert_eq!(buffer.due_partition(), None);
        assert_eq!(buffer.bytes(), buffer.take_all()[0].bytes);
        assert!(buffer.is_empty());
        assert_eq!(buffer.bytes(), 0);
    }

    #[test]
    fn a_full_buffer_flushes_cold_days_before_the_largest() {
        let mut buffer = PartitionBuffer::new(policy(usize::MAX, usize::MAX));
        // Days 10 and 11 get rows in the first units; day 12 (large) and 13 (small) later.
        push_day(&mut buffer, 10, 5);
        push_day(&mut buffer, 11, 200);
        for _ in 0..COLD_AFTER_PUSHES {
            push_day(&mut buffer, 12, 400);
        }
        push_day(&mut buffer, 13, 1);
        buffer.policy.buffer_bytes = buffer.bytes();
        assert_eq!(
            buffer.due_partition(),
            Some(PartitionKey::ctr(11)),
            "the largest cold day"
        );
        buffer.take(PartitionKey::ctr(11));
        buffer.policy.buffer_bytes = buffer.bytes();
        assert_eq!(
            buffer.due_partition(),
            Some(PartitionKey::ctr(10)),
            "then the other cold day"
        );
        buffer.take(PartitionKey::ctr(10));
        buffer.policy.buffer_bytes = buffer.bytes();
        assert_eq!(
            buffer.due_partition(),
            Some(PartitionKey::ctr(12)),
            "no cold day: the largest"
        );
        buffer.policy.buffer_bytes = buffer.bytes() + 1;
        assert_eq!(buffer.due_partition(), None, "under the limit");
    }

    #[test]
    fn the_age_rule_counts_from_the_oldest_arrival() {
        let mut buffer = PartitionBuffer::new(FlushPolicy {
            max_age: Some(Duration::from_secs(10)),
            ..policy(usize::MAX, usize::MAX)
        });
        assert_eq!(buffer.due_in(), None, "empty");
        let now = Instant::now();
        let rows = |day| BTreeMap::from([(PartitionKey::ctr(day), batch(0, 1))]);
        buffer.push(rows(1), 0, 1, now).expect("push");
        let due = buffer.due_in().expect("due some time");
        assert!(due > Duration::from_secs(9) && due <= Duration::from_secs(10));
        assert!(!buffer.is_due());
        let earlier = now.checked_sub(Duration::from_secs(11)).expect("clock");
        buffer.push(rows(2), 1, 2, earlier).expect("push");
        assert_eq!(buffer.due_in(), Some(Duration::ZERO), "an old arrival");
        assert!(buffer.is_due());
        buffer.take_all();
        assert_eq!(buffer.due_in(), None);
        let unlimited = PartitionBuffer::new(policy(1, 1));
        assert_eq!(unlimited.due_in(), None, "no age limit");
    }
}
