//! Arrival schedule and delivery order: contacts start on a Tokyo diurnal curve, and their
//! records leave in the order a Kinesis stream would carry them.
//!
//! A CTR enters the stream at its `LastUpdateTimestamp`, which is after the contact ended, so
//! the stream is ordered by emission time, not initiation time: long calls come out after
//! short ones that started later, updates minutes to days later, re-deliveries a little
//! after the original. Contacts are admitted in initiation order; every record they will
//! produce is queued in a min-heap keyed by (emission ms, admission sequence) as a handful
//! of integers, and everything due before the next initiation is written. No record is due
//! before its contact starts, so the output is exactly sorted by that key, and memory holds
//! only the records not yet due (contacts in progress plus pending updates), never the output.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::directory::Directory;
use crate::journey::{HOURLY_WEIGHT, Journey, simulate};
use crate::record::render;
use crate::time::{tokyo_hour, tokyo_weekday};
use crate::{GenError, GenSummary};

/// The random stream the arrival schedule draws from; journeys use streams `0..contacts`.
const SCHEDULE_STREAM: u64 = u64::MAX;

/// Relative arrival weight of the minute starting at `secs`: the hourly curve interpolated
/// within the hour, weekends (Tokyo) at 40% of weekdays.
fn minute_weight(secs: i64) -> u128 {
    let hour = tokyo_hour(secs);
    let minute = secs.rem_euclid(3_600) as u64 / 60;
    let here = HOURLY_WEIGHT[hour] * (60 - minute) + HOURLY_WEIGHT[(hour + 1) % 24] * minute;
    let day = if matches!(tokyo_weekday(secs), 0 | 6) {
        2
    } else {
        5
    };
    u128::from(here * day)
}

/// A record that is due later: enough to rebuild it exactly.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    due_ms: i64,
    seq: u64,
    contact: u64,
    init_s: i64,
    leg: u8,
    version: u8,
}

pub(crate) struct Stream<'a, W: Write> {
    dir: &'a Directory,
    key: [u8; 32],
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    out: W,
    buf: Vec<u8>,
    delimiter: Option<u8>,
    /// The journey rendered last: consecutive records of one contact reuse it.
    cached: Option<(u64, Journey)>,
    records: u64,
    bytes: u64,
    /// When set, every handled leg is recorded here for the agent event stream.
    handled: Option<&'a mut Vec<crate::agents::Handled>>,
}

impl<'a, W: Write> Stream<'a, W> {
    /// Records every handled leg of the journeys into `handled` as they are simulated.
    pub(crate) fn collecting(mut self, handled: &'a mut Vec<crate::agents::Handled>) -> Self {
        self.handled = Some(handled);
        self
    }

    pub(crate) fn new(dir: &'a Directory, seed: u64, out: W, delimiter: Option<u8>) -> Self {
        Self {
            dir,
            key: ChaCha8Rng::seed_from_u64(seed).get_seed(),
            heap: BinaryHeap::new(),
            seq: 0,
            out,
            buf: Vec::with_capacity(16 * 1024),
            delimiter,
            cached: None,
            records: 0,
            bytes: 0,
            handled: None,
        }
    }

    /// Generates `contacts` journeys initiated in `[start_s, start_s + days)` and writes all
    /// their records; returns the writer for the caller to finish.
    pub(crate) fn run(
        mut self,
        contacts: u64,
        start_s: i64,
        days: u32,
    ) -> Result<(GenSummary, W), GenError> {
        let minutes = i64::from(days) * 1_440;
        let total: u128 = (0..minutes).map(|m| minute_weight(start_s + m * 60)).sum();
        let mut schedule = ChaCha8Rng::from_seed(self.key);
        schedule.set_stream(SCHEDULE_STREAM);
        let mut cumulative: u128 = 0;
        let mut admitted: u64 = 0;
        let mut offsets: Vec<i64> = Vec::new();
        for m in 0..minutes {
            let minute_s = start_s + m * 60;
            cumulative += minute_weight(minute_s);
            // Cumulative rounding: minute counts sum to exactly `contacts`, with no drift.
            let target = (u128::from(contacts) * cumulative / total.max(1)) as u64;
            offsets.clear();
            offsets.extend((admitted..target).map(|_| schedule.random_range(0..60)));
            offsets.sort_unstable();
            for &offset in &offsets {
                let t0 = minute_s + offset;
                self.emit_due(t0 * 1000)?;
                self.admit(admitted, t0);
                admitted += 1;
            }
        }
        self.emit_due(i64::MAX)?;
        let summary = GenSummary {
            contacts: admitted,
            records: self.records,
            bytes: self.bytes,
        };
        Ok((summary, self.out))
    }

    fn journey(&self, contact: u64, init_s: i64) -> Journey {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(contact);
        simulate(self.dir, &mut rng, init_s)
    }

    /// Schedules every delivery of journey `contact`.
    fn admit(&mut self, contact: u64, init_s: i64) {
        let journey = self.journey(contact, init_s);
        if let Some(handled) = self.handled.as_mut() {
            crate::agents::handled_legs(&journey, handled);
        }
        for (leg, l) in journey.legs.iter().enumerate() {
            for (version, v) in l.versions.iter().enumerate() {
                let dues = std::iter::once(v.lut_ms).chain(v.redelivery_ms.map(|d| v.lut_ms + d));
                for due_ms in dues {
                    self.heap.push(Reverse(Pending {
                        due_ms,
                        seq: self.seq,
                        contact,
                        init_s,
                        leg: leg as u8,
                        version: version as u8,
                    }));
                    self.seq += 1;
                }
            }
        }
        self.cached = Some((contact, journey));
    }

    /// Writes every record due at or before `now_ms`, in (due, sequence) order.
    fn emit_due(&mut self, now_ms: i64) -> Result<(), GenError> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.due_ms > now_ms {
                break;
            }
            if let Some(Reverse(pending)) = self.heap.pop() {
                self.write(&pending)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, p: &Pending) -> Result<(), GenError> {
        let journey = match self.cached.take() {
            Some((contact, journey)) if contact == p.contact => journey,
            _ => self.journey(p.contact, p.init_s),
        };
        self.buf.clear();
        let rendered = render(
            self.dir,
            &journey,
            usize::from(p.leg),
            usize::from(p.version),
            &mut self.buf,
        );
        if let Err(source) = rendered {
            return Err(GenError::Serialize {
                records: self.records,
                contact_id: journey.legs[usize::from(p.leg)].id.as_str().to_owned(),
                source,
            });
        }
        self.cached = Some((p.contact, journey));
        if let Some(delimiter) = self.delimiter {
            self.buf.push(delimiter);
        }
        self.out
            .write_all(&self.buf)
            .map_err(|source| GenError::Io {
                context: "writing a record",
                records: self.records,
                bytes: self.bytes,
                source,
            })?;
        self.records += 1;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }
}
