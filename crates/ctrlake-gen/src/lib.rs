//! Seeded generator of realistic, deterministic Amazon Connect CTR streams.
//!
//! Real contact trace records are personal data and cannot be checked in, yet ingest, the
//! lake and the KPI queries must be exercised on streams that look like production: legs
//! chained by transfers and callbacks, abandoned and IVR-only contacts, updates delivered
//! days later, exact re-deliveries, Japanese queue names and attribute values, oversized
//! attribute maps, timestamps with and without milliseconds, traffic across midnight in UTC
//! and in Tokyo. This crate writes such a stream from a seed.
//!
//! Guarantees:
//! - **Deterministic**: the same [`GenConfig`] always produces byte-identical output
//!   (ChaCha8 streams per contact, no hash-map iteration, struct field order in JSON).
//! - **Consistent**: durations are whole seconds equal to the differences of the timestamps
//!   they span (see `journey`), so KPI results can be checked against the generator.
//! - **Stream order**: records come out ordered by when Connect emits them
//!   (`LastUpdateTimestamp`), re-deliveries shortly after their original, as Kinesis
//!   delivers them — not by initiation time.
//! - **Bounded memory**: only records not yet due are held, as a few integers each.
//!
//! Contacts start in `[start 00:00Z, start + days 00:00Z)` on a diurnal curve peaking in
//! Tokyo business hours; their records (and updates) may be emitted after that window.

mod agents;
mod attributes;
mod directory;
mod journey;
mod record;
mod stream;
mod time;

use std::io::{BufWriter, Write};

use chrono::{Datelike, NaiveDate, NaiveTime};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::directory::Directory;
use crate::stream::Stream;

/// How records are framed in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line (`\n` after each record).
    Ndjson,
    /// JSON objects concatenated with no delimiter, as Kinesis Data Firehose writes S3 objects.
    Firehose,
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Customer journeys to start (each yields one or more legs, some updates, a few
    /// re-deliveries: about 1.15 records per journey).
    pub contacts: u64,
    /// Seed of every random choice; same config, same bytes.
    pub seed: u64,
    /// Number of UTC days over which journeys start; at least 1.
    pub days: u32,
    /// First UTC day.
    pub start: NaiveDate,
    pub format: OutputFormat,
    /// Gzip the output (as Firehose usually stores it).
    pub gzip: bool,
    /// Agents who answer the contacts ([`DEFAULT_AGENTS`] unless a benchmark needs more):
    /// each team scaled alike, so fewer agents share the same contacts, or more.
    pub agents: u32,
}

/// The directory's agents by default: 324 in eight teams.
pub const DEFAULT_AGENTS: u32 = 324;
/// Most agents a directory can have.
const MAX_AGENTS: u32 = 100_000;

/// What `generate` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenSummary {
    /// Journeys generated.
    pub contacts: u64,
    /// Records written: legs, later versions and exact re-deliveries.
    pub records: u64,
    /// Bytes written before gzip, delimiters included.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("invalid generator config: {0}")]
    InvalidConfig(String),
    #[error("{context} failed after {records} records ({bytes} bytes before gzip): {source}")]
    Io {
        context: &'static str,
        records: u64,
        bytes: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("serializing record {records} (contact {contact_id}) failed: {source}")]
    Serialize {
        records: u64,
        contact_id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Longest window accepted; beyond ten years the diurnal schedule stops being a useful model.
const MAX_DAYS: u32 = 3_660;
/// Output buffer: large writes keep the generator CPU-bound, not syscall-bound.
const BUFFER_BYTES: usize = 1 << 20;

/// Writes the CTR stream described by `config` to `out` and returns what was written.
///
/// `out` is buffered internally; with `gzip` the stream is gzip-compressed (level 1: the
/// generator feeds multi-gigabyte benchmarks, and the decoded bytes are the same at any
/// level). `contacts == 0` writes an empty stream (an empty gzip member when `gzip`).
pub fn generate<W: Write>(config: &GenConfig, out: W) -> Result<GenSummary, GenError> {
    let start_s = validate(config)?;
    let directory = Directory::with_agents(config.agents);
    let delimiter = match config.format {
        OutputFormat::Ndjson => Some(b'\n'),
        OutputFormat::Firehose => None,
    };
    let io_error = |context: &'static str, summary: &GenSummary, source| GenError::Io {
        context,
        records: summary.records,
        bytes: summary.bytes,
        source,
    };
    if config.gzip {
        let encoder = GzEncoder::new(out, Compression::fast());
        let writer = BufWriter::with_capacity(BUFFER_BYTES, encoder);
        let stream = Stream::new(&directory, config.seed, writer, delimiter);
        let (summary, writer) = stream.run(config.contacts, start_s, config.days)?;
        let encoder = writer
            .into_inner()
            .map_err(|e| io_error("flushing output", &summary, e.into_error()))?;
        let mut out = encoder
            .finish()
            .map_err(|e| io_error("finishing the gzip stream", &summary, e))?;
        out.flush()
            .map_err(|e| io_error("flushing output", &summary, e))?;
        Ok(summary)
    } else {
        let writer = BufWriter::with_capacity(BUFFER_BYTES, out);
        let stream = Stream::new(&directory, config.seed, writer, delimiter);
        let (summary, mut writer) = stream.run(config.contacts, start_s, config.days)?;
        writer
            .flush()
            .map_err(|e| io_error("flushing output", &summary, e))?;
        Ok(summary)
    }
}

/// Writes the agent event stream that goes with the CTR stream `config` describes (see
/// `agents`): the same journeys, simulated again, seen from the agents' side. `records` in the
/// summary counts events. Holds one small record per handled leg of the run.
pub fn generate_agent_events<W: Write>(config: &GenConfig, out: W) -> Result<GenSummary, GenError> {
    let start_s = validate(config)?;
    let directory = Directory::with_agents(config.agents);
    let mut handled = Vec::new();
    let stream =
        Stream::new(&directory, config.seed, std::io::sink(), None).collecting(&mut handled);
    let (ctr_summary, _) = stream.run(config.contacts, start_s, config.days)?;
    let delimiter = match config.format {
        OutputFormat::Ndjson => Some(b'\n'),
        OutputFormat::Firehose => None,
    };
    let io_error = |context: &'static str, source| GenError::Io {
        context,
        records: 0,
        bytes: 0,
        source,
    };
    let mut counted = CountingWriter {
        inner: out,
        bytes: 0,
    };
    let events = if config.gzip {
        let mut writer = BufWriter::with_capacity(
            BUFFER_BYTES,
            GzEncoder::new(&mut counted, Compression::fast()),
        );
        let events = agents::write_events(&directory, &handled, delimiter, &mut writer)
            .map_err(|e| io_error("writing agent events", e))?;
        let encoder = writer
            .into_inner()
            .map_err(|e| io_error("flushing output", e.into_error()))?;
        encoder
            .finish()
            .map_err(|e| io_error("finishing the gzip stream", e))?;
        events
    } else {
        let mut writer = BufWriter::with_capacity(BUFFER_BYTES, &mut counted);
        let events = agents::write_events(&directory, &handled, delimiter, &mut writer)
            .map_err(|e| io_error("writing agent events", e))?;
        writer.flush().map_err(|e| io_error("flushing output", e))?;
        events
    };
    counted
        .flush()
        .map_err(|e| io_error("flushing output", e))?;
    Ok(GenSummary {
        contacts: ctr_summary.contacts,
        records: events,
        bytes: counted.bytes,
    })
}

/// Counts the bytes written through it.
struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(data)?;
        self.bytes += written as u64;
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Checks `config` and returns the window start in seconds since the epoch.
fn validate(config: &GenConfig) -> Result<i64, GenError> {
    if config.days == 0 {
        return Err(GenError::InvalidConfig(
            "days must be at least 1 (contacts are spread over `days` days from `start`)".into(),
        ));
    }
    if config.days > MAX_DAYS {
        return Err(GenError::InvalidConfig(format!(
            "days is {}, at most {MAX_DAYS} are supported",
            config.days
        )));
    }
    if !(1..=MAX_AGENTS).contains(&config.agents) {
        return Err(GenError::InvalidConfig(format!(
            "agents is {}, it must be 1 to {MAX_AGENTS}",
            config.agents
        )));
    }
    // Timestamps are formatted with four-digit years; leave room for updates days later.
    if !(1970..=9000).contains(&config.start.year()) {
        return Err(GenError::InvalidConfig(format!(
            "start {} is outside the supported years 1970..=9000",
            config.start
        )));
    }
    Ok(config.start.and_time(NaiveTime::MIN).and_utc().timestamp())
}

#[cfg(test)]
mod tests;
