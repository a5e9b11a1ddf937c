//! `ctrlake ingest kinesis`: arguments, the AWS client, signals, and what the consumer shows
//! (a status line on a terminal, one JSON line per flush otherwise, a summary at the end).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ctrlake_kinesis::{Consumer, ConsumerOptions, FlushReport, RunSummary, StartPosition};
use ctrlake_lake::Lake;

use crate::{RawJson, number_and_unit, parse_size, writer_options};

#[derive(clap::Args)]
pub struct IngestKinesisArgs {
    /// The Kinesis data stream that Amazon Connect writes CTRs to.
    #[arg(long)]
    stream: String,
    /// The lake: a local directory or s3://bucket/prefix.
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    /// AWS region (default: from the environment and the AWS config files).
    #[arg(long)]
    region: Option<String>,
    /// Kinesis endpoint, e.g. a local emulator (default: AWS_ENDPOINT_URL_KINESIS, or AWS's).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Where shards without a checkpoint start: trim-horizon, latest or
    /// at-timestamp:2026-03-02T00:00:00Z. Shards with a checkpoint resume after it.
    #[arg(long, default_value = "trim-horizon")]
    start: StartPosition,
    /// A shard's records become files at most this long after the first was read (1s, 10s,
    /// 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    flush_interval: Duration,
    /// ... or as soon as one day of a shard buffers this much (decoded, in memory).
    #[arg(long, default_value = "48MB", value_parser = parse_size)]
    flush_bytes: usize,
    /// Memory for buffered records over all shards: a shard that would take the total over it
    /// flushes at once. Peak memory grows with it (with 64MB, 4 shards drained in ~230 MB).
    #[arg(long, default_value = "64MB", value_parser = parse_size)]
    buffer_limit: usize,
    /// Stop once every shard is read to its latest record, instead of waiting for more.
    #[arg(long)]
    until_caught_up: bool,
    /// Parquet compression: zstd, zstd:LEVEL (1-22) or snappy.
    #[arg(long, default_value = "zstd:1")]
    compression: String,
    /// What the raw_json column keeps: the fields no typed column holds, or the whole record.
    #[arg(long, value_enum, default_value_t = RawJson::Unmapped)]
    raw_json: RawJson,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics, e.g. 127.0.0.1:9898:
    /// records, bytes, dead letters, flushes, files, lag and checkpoint age per shard.
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// No status line or flush log.
    #[arg(long, short)]
    quiet: bool,
}

/// `10s`, `1s`, `500ms`, `2m`, `1h`: a flush interval, from 10ms to 24h.
fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, 0.01, "10ms")
}

/// `10s`, `500ms`, `2m`, `1h`, at least `min_seconds` (`min_text` to the user) and at most 24h.
pub fn parse_duration_within(
    text: &str,
    min_seconds: f64,
    min_text: &str,
) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 10s or 500ms"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    if !(min_seconds..=86_400.0).contains(&seconds) {
        return Err(format!("{text:?}: between {min_text} and 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub fn ingest_kinesis(args: IngestKinesisArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    runtime.block_on(consume(args))
}

async fn consume(args: IngestKinesisArgs) -> Result<ExitCode> {
    let lake = Lake::open(&args.lake)?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &args.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    let client = aws_sdk_kinesis::Client::new(&config);
    let options = ConsumerOptions {
        start: args.start.clone(),
        flush_interval: args.flush_interval,
        flush_bytes: args.flush_bytes.max(1),
        buffer_limit_bytes: args.buffer_limit.max(1),
        writer: writer_options(&args.compression, args.raw_json)?,
        until_caught_up: args.until_caught_up,
        ..ConsumerOptions::new(&args.stream)
    };
    let terminal = std::io::stderr().is_terminal() && !args.quiet;
    let log_flushes = !terminal && !args.quiet;
    let consumer = Consumer::new(client, lake.clone(), options)
        .on_flush(move |report| {
            if log_flushes {
                eprintln!("{}", flush_line(report));
            }
        })
        .on_retention_gap(|gap| {
            // Always shown, even with --quiet: records may be lost.
            let when = |ms: Option<i64>| {
                ms.and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or("an unknown time".to_owned(), |t| t.to_rfc3339())
            };
            eprintln!(
                "ctrlake: WARNING: shard {}: the last record written to the lake (sequence {}, \
                 arrived {}) is no longer in the stream; the oldest record left is {} (arrived \
                 {}). Records between them, if any, were trimmed by the stream's retention \
                 before they were read and are not in the lake.",
                gap.shard_id,
                gap.checkpoint_sequence,
                when(gap.checkpoint_arrival_ms),
                gap.first_available_sequence,
                when(gap.first_available_arrival_ms)
            );
        });
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("ctrlake: stopping: flushing and checkpointing every shard");
        let _ = stop_tx.send(true);
    });
    let status = consumer.status();
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    let metrics = match args.metrics_addr {
        Some(address) => Some(
            ctrlake_kinesis::metrics::serve(
                address,
                Arc::clone(&status),
                args.stream.clone(),
                metrics_stopped,
            )
            .await
            .with_context(|| format!("serving metrics on {address}"))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let display = terminal.then(|| {
        let status = Arc::clone(&status);
        tokio::spawn(async move {
            let bar = indicatif::ProgressBar::new_spinner();
            loop {
                let shards = status.snapshot();
                let records: u64 = shards.values().map(|s| s.records).sum();
                let lag = shards
                    .values()
                    .filter_map(|s| s.millis_behind)
                    .max()
                    .unwrap_or(0);
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{} shards, {records} records ({rate:.0}/s), lag {:.1} s",
                    shards.len(),
                    lag as f64 / 1000.0
                ));
                bar.tick();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    });
    let outcome = consumer.run(stop).await;
    let _ = metrics_stop.send(true);
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    signals.abort();
    if let Some(display) = display {
        display.abort();
    }
    let summary =
        outcome.with_context(|| format!("consuming {} into {}", args.stream, lake.location()))?;
    print_summary(&args.stream, lake.location(), &summary, started.elapsed())?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and systemd send).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One flush as a JSON line (for log collectors).
fn flush_line(report: &FlushReport) -> String {
    serde_json::json!({
        "event": "flush",
        "shard": report.shard_id,
        "records": report.records,
        "rows": report.rows,
        "dead_letters": report.dead_letters,
        "files": report.files,
        "bytes": report.bytes,
        "first_sequence": report.first_sequence,
        "last_sequence": report.last_sequence,
        "millis_behind_latest": report.millis_behind,
        "took_ms": report.took.as_millis() as u64,
    })
    .to_string()
}

fn print_summary(stream: &str, lake: &str, summary: &RunSummary, elapsed: Duration) -> Result<()> {
    use std::fmt::Write;
    let mut text = String::new();
    writeln!(text, "consumed stream {stream} into {lake}")?;
    writeln!(text, "  records read         {:>12}", summary.records)?;
    writeln!(text, "  records written      {:>12}", summary.rows)?;
    writeln!(text, "  records dead-lettered{:>12}", summary.dead_letters)?;
    writeln!(
        text,
        "  files written        {:>12}  ({} flushes)",
        summary.files, summary.flushes
    )?;
    if summary.uncommitted_files_removed > 0 {
        writeln!(
            text,
            "  uncommitted files    {:>12}  (of a run that stopped mid-flush, removed and written again)",
            summary.uncommitted_files_removed
        )?;
    }
    writeln!(
        text,
        "  elapsed              {:>11.2}s",
        elapsed.as_secs_f64()
    )?;
    crate::print_out(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
