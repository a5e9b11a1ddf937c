//! The scheduled compaction function: an EventBridge schedule invokes it (hourly, say), and
//! it compacts the lake's recent partitions with the same code as `ctrlake compact`.
//!
//! Which partitions: the invocation's JSON may name them (`{"dt": "2026-03-02"}` or
//! `{"from": "2026-03-01", "to": "2026-03-07"}`); otherwise the last `CTRLAKE_COMPACT_DAYS`
//! UTC days (2 by default: today's and yesterday's, where late updates land). Files younger
//! than `CTRLAKE_COMPACT_OLDER_THAN_SECONDS` (3600) are left for a later run, so that a live
//! stream's newest files are not rewritten every hour.

use std::time::{Duration, Instant};

use ctrlake_ingest::lake::Table;
use ctrlake_ingest::{
    CompactOptions, PartitionCompaction, compact_table_partition, table_partitions,
};
use serde::Serialize;

use crate::{Config, ConfigError};

/// The compaction function's configuration, from its environment.
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    pub lake: ctrlake_ingest::Lake,
    pub options: CompactOptions,
    /// Recent UTC days compacted when the invocation names none.
    pub days: u32,
}

impl CompactionConfig {
    /// `CTRLAKE_LAKE` and `CTRLAKE_COMPRESSION` as for the ingest function, plus
    /// `CTRLAKE_COMPACT_DAYS` (default 2) and `CTRLAKE_COMPACT_OLDER_THAN_SECONDS` (3600).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::Number(name, text.clone())),
            }
        };
        let days = number("CTRLAKE_COMPACT_DAYS", 2)?;
        let days = u32::try_from(days)
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or(ConfigError::Days(days))?;
        let older_than = Duration::from_secs(number("CTRLAKE_COMPACT_OLDER_THAN_SECONDS", 3600)?);
        let Config { lake, writer } = Config::from_env(var)?;
        Ok(Self {
            lake,
            options: CompactOptions {
                writer,
                older_than,
                ..CompactOptions::default()
            },
            days,
        })
    }
}

/// What one invocation may ask for (every field optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactionRequest {
    pub dt: Option<chrono::NaiveDate>,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    pub older_than_seconds: Option<u64>,
}

impl CompactionRequest {
    /// The request an invocation's JSON makes: an EventBridge schedule's own event (it has
    /// `detail-type`) or `{}` asks for the defaults; anything else must be a valid request, so
    /// that a mistyped date is an error, not a quiet run over the default days.
    pub fn from_payload(payload: serde_json::Value) -> Result<Self, String> {
        let scheduled = payload.get("detail-type").is_some() || payload.get("source").is_some();
        if scheduled || payload.is_null() || payload == serde_json::json!({}) {
            return Ok(Self::default());
        }
        let request: Self = serde_json::from_value(payload)
            .map_err(|e| format!("the invocation's request is not valid: {e}"))?;
        match (request.dt, request.from, request.to) {
            (Some(_), None, None) | (None, None, None) => Ok(request),
            (None, Some(from), Some(to)) if from <= to => Ok(request),
            (None, Some(from), Some(to)) => Err(format!("from {from} is after to {to}")),
            _ => Err("give either dt, or from and to together".to_owned()),
        }
    }
}

/// One invocation's log line.
#[derive(Debug, Default, Serialize)]
pub struct CompactionLog {
    pub partitions: Vec<PartitionCompaction>,
    pub files_before: u64,
    pub files_after: u64,
    pub duplicate_rows_removed: u64,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Compacts the partitions `request` names (or the recent ones) and says what it did; an
/// error ends the run (the log names it) and the next scheduled run takes it up again.
pub async fn compact_scheduled(
    config: &CompactionConfig,
    request: &CompactionRequest,
    today: chrono::NaiveDate,
) -> CompactionLog {
    let started = Instant::now();
    let mut log = CompactionLog::default();
    let mut options = config.options.clone();
    if let Some(seconds) = request.older_than_seconds {
        options.older_than = Duration::from_secs(seconds);
    }
    let (from, to) = match (request.dt, request.from, request.to) {
        (Some(dt), _, _) => (dt, dt),
        (None, Some(from), Some(to)) => (from, to),
        _ => (today - chrono::Days::new(u64::from(config.days) - 1), today),
    };
    let (from, to) = (from.to_string(), to.to_string());
    // A partition that fails (a foreign file, a lost permission) does not stop the others:
    // each error is logged, and the invocation fails once all were tried.
    let mut errors = Vec::new();
    for table in Table::ALL {
        match table_partitions(&config.lake, table).await {
            Err(error) => errors.push(error.to_string()),
            Ok(days) => {
                for dt in days {
                    if dt < from || dt > to {
                        continue;
                    }
                    match compact_table_partition(&config.lake, table, &dt, &options).await {
                        Ok(done) => {
                            log.files_before += done.files_before;
                            log.files_after += done.files_after;
                            log.duplicate_rows_removed += done.rows_before - done.rows_after;
                            log.partitions.push(done);
                        }
                        Err(error) => errors.push(format!("{}/dt={dt}: {error}", table.dir())),
                    }
                }
            }
        }
    }
    log.error = (!errors.is_empty()).then(|| errors.join("; "));
    log.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    log
}
