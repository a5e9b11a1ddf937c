//! `ctrlake compact`: rewrite partitions' small files as a few large ones (see
//! `ctrlake_ingest::compact`), one line per partition and a summary.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctrlake_ingest::lake::Table;
use ctrlake_ingest::{CompactOptions, Lake, compact_table_partition, table_partitions};

use crate::kinesis::parse_duration_within;
use crate::parse_compression;

#[derive(clap::Args)]
pub struct CompactArgs {
    /// The lake: a local directory or s3://bucket/prefix.
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    /// One partition (UTC day, YYYY-MM-DD).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    dt: Option<chrono::NaiveDate>,
    /// First partition (inclusive).
    #[arg(long, requires = "to")]
    from: Option<chrono::NaiveDate>,
    /// Last partition (inclusive).
    #[arg(long, requires = "from")]
    to: Option<chrono::NaiveDate>,
    /// Only files last modified at least this long ago (1h leaves a live stream's newest files
    /// for a later run). Default: every file.
    #[arg(long, default_value = "0s", value_parser = parse_age)]
    older_than: Duration,
    /// Parquet compression of the new files: zstd, zstd:LEVEL (1-22) or snappy.
    #[arg(long, default_value = "zstd:1")]
    compression: String,
    /// No line per partition.
    #[arg(long, short)]
    quiet: bool,
}

/// A file age for `--older-than`: 0s (every file) to 24h.
fn parse_age(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, 0.0, "0s")
}

pub fn compact(args: CompactArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: CompactArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let lake = Lake::open_existing(&args.lake)?;
    let mut options = CompactOptions {
        older_than: args.older_than,
        ..CompactOptions::default()
    };
    options.writer.compression = parse_compression(&args.compression)?;
    // Both tables: contact trace records and agent events (a stream writes small files in each).
    let mut selected: Vec<(Table, String)> = Vec::new();
    for table in Table::ALL {
        let all = table_partitions(&lake, table).await?;
        match (args.dt, args.from, args.to) {
            (Some(dt), _, _) => {
                let dt = dt.to_string();
                if table == Table::Ctr || all.contains(&dt) {
                    selected.push((table, dt));
                }
            }
            (None, Some(from), Some(to)) => {
                if from > to {
                    bail!("--from {from} is after --to {to}");
                }
                let (from, to) = (from.to_string(), to.to_string());
                selected.extend(
                    all.into_iter()
                        .filter(|dt| *dt >= from && *dt <= to)
                        .map(|dt| (table, dt)),
                );
            }
            _ => selected.extend(all.into_iter().map(|dt| (table, dt))),
        }
    }
    let (mut files_before, mut files_after, mut rows_before, mut rows_after) = (0, 0, 0, 0);
    let mut compacted = 0;
    for (table, dt) in &selected {
        let folder = table.dir();
        let done = compact_table_partition(&lake, *table, dt, &options)
            .await
            .with_context(|| format!("compacting {folder}/dt={dt} in {}", lake.location()))?;
        files_before += done.files_before;
        files_after += done.files_after;
        rows_before += done.rows_before;
        rows_after += done.rows_after;
        if done.skipped.is_none() {
            compacted += 1;
        }
        if !args.quiet {
            let young = match done.files_too_young {
                0 => String::new(),
                n => format!(", {n} younger than --older-than left alone"),
            };
            match done.skipped {
                Some(why) => eprintln!(
                    "{folder}/dt={dt}: {} files, skipped: {why}{young}",
                    done.files_before
                ),
                None => eprintln!(
                    "{folder}/dt={dt}: {} files -> {}, {} rows -> {} ({} duplicates removed), {:.1} MB -> {:.1} MB{young}",
                    done.files_before,
                    done.files_after,
                    done.rows_before,
                    done.rows_after,
                    done.rows_before - done.rows_after,
                    done.bytes_before as f64 / 1e6,
                    done.bytes_after as f64 / 1e6,
                ),
            }
        }
    }
    crate::print_out(&format!(
        "compacted {compacted} of {} partitions in {:.1} s: {files_before} files -> {files_after}, \
         {} duplicate rows removed\n",
        selected.len(),
        started.elapsed().as_secs_f64(),
        rows_before - rows_after
    ))?;
    Ok(ExitCode::SUCCESS)
}
