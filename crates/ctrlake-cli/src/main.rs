//! `ctrlake`: argument parsing, progress and printing around the library crates.
//! Nothing here decides what goes into the lake (`ctrlake-ingest`) or what a KPI is
//! (`queries/*.sql`, run by `ctrlake-query`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use ctrlake_ingest::{
    BackfillOptions, BackfillSummary, Lake, LakeCompression, Progress, backfill, resolve_sources,
};
use ctrlake_model::RawJsonMode;
use ctrlake_model::schema::COLUMNS;

mod compact;
mod kinesis;

#[derive(Parser)]
#[command(
    name = "ctrlake",
    version,
    about = "Second-precision contact-center analytics for Amazon Connect contact trace records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write CTRs into the lake.
    Ingest {
        #[command(subcommand)]
        from: IngestFrom,
    },
    /// Print the lake schema: Arrow, Athena DDL, or JSON (for tools).
    Schema(SchemaArgs),
    /// Write a realistic, deterministic CTR stream (demos, tests, benchmarks).
    Gen(GenArgs),
    /// KPI reports with second precision, in any time zone.
    Report {
        #[command(subcommand)]
        report: ReportKind,
    },
    /// Run SQL over the lake: tables ctr_raw (every version), contacts (de-duplicated) and
    /// agent_events_raw (every delivered agent event), and the report views queue_daily,
    /// queue_intervals and agent_daily over --from/--to or --date in --tz (default: every day
    /// in the lake, UTC). Without a query, an interactive shell.
    Sql(SqlArgs),
    /// List de-duplicated contacts with every timestamp to the second, or one contact's chain.
    Contacts(ContactsArgs),
    /// Rewrite partitions' many small files (a stream's) as a few large ones, removing the
    /// duplicate rows a retried batch leaves; reports and queries are unchanged.
    Compact(compact::CompactArgs),
}

#[derive(clap::Args)]
struct ContactsArgs {
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    #[command(flatten)]
    engine: EngineArgs,
    /// First local day (YYYY-MM-DD) of initiation.
    #[arg(long, requires = "to", conflicts_with_all = ["date", "chain"])]
    from: Option<chrono::NaiveDate>,
    /// Last local day, inclusive.
    #[arg(long, requires = "from")]
    to: Option<chrono::NaiveDate>,
    /// One local day: YYYY-MM-DD, today or yesterday.
    #[arg(long, conflicts_with = "chain")]
    date: Option<String>,
    /// IANA time zone for days and the timestamps shown.
    #[arg(long, default_value = "UTC")]
    tz: String,
    #[arg(long)]
    queue: Option<String>,
    #[arg(long)]
    agent: Option<String>,
    /// VOICE, CHAT, TASK, EMAIL.
    #[arg(long)]
    channel: Option<String>,
    /// INBOUND, OUTBOUND, TRANSFER, QUEUE_TRANSFER, CALLBACK, API, ...
    #[arg(long)]
    method: Option<String>,
    /// Customer phone number as recorded, e.g. +81355550123.
    #[arg(long)]
    customer: Option<String>,
    #[arg(long)]
    contact_id: Option<String>,
    /// Show every leg of this contact's journey (transfers, callbacks) instead of a search.
    #[arg(long)]
    chain: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Subcommand)]
enum ReportKind {
    /// Per local day and queue: queued, handled, abandoned, ASA, service level, AHT, ...
    Queues(QueueReportArgs),
    /// Per local day and agent: handled, AHT, hold, after-contact work, missed offers.
    Agents(ReportArgs),
    /// Per local interval and queue: the queue KPIs plus peak waiting at 1-second resolution.
    Intervals(IntervalReportArgs),
    /// Per local day and agent, from the agent event stream: online time split into idle,
    /// connecting, on contact, after-contact work, missed/error and non-productive, occupancy.
    AgentActivity(AgentActivityArgs),
}

#[derive(clap::Args)]
struct AgentActivityArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// One row per agent, or per routing profile or hierarchy group (the agent's at each
    /// moment), with the number of agents in it.
    #[arg(long, value_enum, default_value_t = AgentGroupArg::Agent)]
    group_by: AgentGroupArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum AgentGroupArg {
    Agent,
    #[value(name = "routing_profile")]
    RoutingProfile,
    #[value(name = "hierarchy_level1")]
    HierarchyLevel1,
    #[value(name = "hierarchy_level2")]
    HierarchyLevel2,
    #[value(name = "hierarchy_level3")]
    HierarchyLevel3,
    #[value(name = "hierarchy_level4")]
    HierarchyLevel4,
    #[value(name = "hierarchy_level5")]
    HierarchyLevel5,
}

impl AgentGroupArg {
    fn group(self) -> ctrlake_query::AgentGroup {
        use ctrlake_query::AgentGroup;
        match self {
            AgentGroupArg::Agent => AgentGroup::Agent,
            AgentGroupArg::RoutingProfile => AgentGroup::RoutingProfile,
            AgentGroupArg::HierarchyLevel1 => AgentGroup::HierarchyLevel(1),
            AgentGroupArg::HierarchyLevel2 => AgentGroup::HierarchyLevel(2),
            AgentGroupArg::HierarchyLevel3 => AgentGroup::HierarchyLevel(3),
            AgentGroupArg::HierarchyLevel4 => AgentGroup::HierarchyLevel(4),
            AgentGroupArg::HierarchyLevel5 => AgentGroup::HierarchyLevel(5),
        }
    }
}

#[derive(clap::Args)]
struct IntervalReportArgs {
    #[command(flatten)]
    queues: QueueReportArgs,
    /// Interval length in minutes: a divisor of 60.
    #[arg(long, default_value_t = 15)]
    minutes: u32,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// The lake: a local directory or s3://bucket/prefix.
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    /// First local day (YYYY-MM-DD).
    #[arg(long, requires = "to", conflicts_with = "date")]
    from: Option<chrono::NaiveDate>,
    /// Last local day, inclusive (YYYY-MM-DD).
    #[arg(long, requires = "from")]
    to: Option<chrono::NaiveDate>,
    /// One local day: YYYY-MM-DD, today or yesterday (in --tz).
    #[arg(long)]
    date: Option<String>,
    /// IANA time zone of the days, e.g. Asia/Tokyo.
    #[arg(long, default_value = "UTC")]
    tz: String,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Limits of a query session.
#[derive(clap::Args)]
struct EngineArgs {
    /// Memory a query may take (operators and results), e.g. 2GB or 512MB; operators that
    /// can spill to disk do so first. Default: half of the machine's memory.
    #[arg(long, env = "CTRLAKE_MEMORY_LIMIT", value_parser = parse_memory_limit)]
    memory_limit: Option<usize>,
}

impl EngineArgs {
    fn options(&self, allow_write: bool) -> ctrlake_query::EngineOptions {
        let mut options = ctrlake_query::EngineOptions {
            allow_write,
            ..Default::default()
        };
        if let Some(limit) = self.memory_limit {
            options.memory_limit = limit;
        }
        options
    }
}

/// `"1.5GiB"` → `(1.5, "GiB")`: the leading decimal number and what follows it.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// A memory limit: a size ([`parse_size`]) from 1 MB to 1 PB.
fn parse_memory_limit(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    if !(1_000_000..=1_000_000_000_000_000).contains(&bytes) {
        return Err(format!("{text:?}: a memory limit is between 1MB and 1PB"));
    }
    Ok(bytes)
}

/// `4GB`, `512MB`, `1.5GiB`, `1000000` (bytes): decimal units (KB, MB, GB) and binary ones
/// (KiB, MiB, GiB).
fn parse_size(text: &str) -> Result<usize, String> {
    let (number, unit) = number_and_unit(text.trim())
        .ok_or_else(|| format!("{text:?} is not a size like 2GB or 512MB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use KB, MB, GB or KiB, MiB, GiB)"
            ));
        }
    };
    let bytes = number * scale;
    if !(0.0..=1e18).contains(&bytes) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as usize)
}

#[derive(clap::Args)]
struct OutputArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write to FILE instead of stdout (required for parquet).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(clap::Args)]
struct QueueReportArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Service-level thresholds in seconds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "20,60")]
    sl: Vec<i64>,
    /// Count a queue time equal to the threshold as within it (D <= X) instead of D < X.
    #[arg(long)]
    sl_inclusive: bool,
}

/// `ctrlake sql`: the lake options, the window and settings of the report views
/// (queue_daily, queue_intervals, agent_daily; default: every day in the lake) and the output.
#[derive(clap::Args)]
struct SqlArgs {
    #[command(flatten)]
    views: IntervalReportArgs,
    /// Also run statements that create, write or change settings (CREATE, INSERT, COPY, SET,
    /// ...). Without it the SQL is read-only: queries over the lake only.
    #[arg(long)]
    allow_write: bool,
    /// The query; without it, an interactive shell.
    query: Option<String>,
}

#[derive(Subcommand)]
enum IngestFrom {
    /// Backfill from NDJSON or Firehose archives (plain or gzip): paths, globs, directories,
    /// `-` for stdin, or s3://bucket/prefix.
    Files(IngestFilesArgs),
    /// Consume a Kinesis data stream of CTRs into the lake until stopped (SIGINT/SIGTERM flush
    /// and checkpoint first), each record exactly once across restarts.
    Kinesis(kinesis::IngestKinesisArgs),
}

#[derive(clap::Args)]
struct IngestFilesArgs {
    /// Inputs: files, directories (read recursively), globs, `-` (stdin), s3://bucket/key-or-prefix.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// The lake: a local directory or s3://bucket/prefix.
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Parquet compression: zstd, zstd:LEVEL (1-22) or snappy.
    #[arg(long, default_value = "zstd:1")]
    compression: String,
    /// What the raw_json column keeps: the fields no typed column holds, or the whole record.
    #[arg(long, value_enum, default_value_t = RawJson::Unmapped)]
    raw_json: RawJson,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RawJson {
    Unmapped,
    Full,
}

#[derive(clap::Args)]
struct SchemaArgs {
    /// Which of the lake's tables: contact trace records (ctr/) or agent events
    /// (agent_events/).
    #[arg(long, value_enum, default_value_t = LakeTable::Ctr)]
    of: LakeTable,
    #[arg(long, value_enum, default_value_t = SchemaFormat::All)]
    format: SchemaFormat,
    /// Table name in the DDL [default: ctr, or agent_events with --of agent-events].
    #[arg(long)]
    table: Option<String>,
    /// Table location in the DDL: the table's folder of the lake on S3
    /// [default: s3://YOUR-BUCKET/lake/<table folder>/].
    #[arg(long)]
    location: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LakeTable {
    Ctr,
    AgentEvents,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaFormat {
    All,
    Arrow,
    Athena,
    Json,
}

#[derive(clap::Args)]
struct GenArgs {
    #[arg(long, default_value_t = 1000)]
    contacts: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// First day (UTC date), YYYY-MM-DD.
    #[arg(long, default_value = "2026-03-01")]
    start: chrono::NaiveDate,
    #[arg(long, value_enum, default_value_t = GenFormat::Ndjson)]
    format: GenFormat,
    #[arg(long)]
    gzip: bool,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the agent event stream that goes with the CTRs to this file (same format):
    /// logins, statuses, breaks, each handled contact ringing, connected, on hold, in ACW,
    /// missed offers, heartbeats.
    #[arg(long, value_name = "FILE")]
    agent_events: Option<PathBuf>,
    /// Agents who answer the contacts (the directory's teams scaled alike).
    #[arg(long, default_value_t = ctrlake_gen::DEFAULT_AGENTS)]
    agents: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum GenFormat {
    Ndjson,
    Firehose,
}

/// jemalloc instead of glibc's malloc. An ingest allocates and frees many Arrow buffers of
/// every size on two threads (builders that grow from 32 rows, decoded batches freed by the
/// thread that encodes them), and glibc's malloc and free took ~12% of its CPU in a profile.
/// Measured on 1M generated contacts, alternating runs: wall -9% (8.3-8.6 s -> 7.6-7.9 s),
/// peak RSS unchanged (360-385 MB); reports on the 10M lake ~5% faster, peak RSS ~5% higher.
/// mimalloc v3 was as fast but took peak RSS to 480 MB, too close to the 512 MB bound.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ctrlake: {}", error_text(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: library errors often include their
/// source's text already, which `{:#}` would print a second time.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest {
            from: IngestFrom::Files(args),
        } => ingest_files(args),
        Command::Ingest {
            from: IngestFrom::Kinesis(args),
        } => kinesis::ingest_kinesis(args),
        Command::Schema(args) => {
            print_schema(&args);
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen(args) => generate(args).map(|()| ExitCode::SUCCESS),
        Command::Report { report } => query_runtime()?.block_on(run_report(report)),
        Command::Sql(args) => query_runtime()?.block_on(sql(args)),
        Command::Contacts(args) => query_runtime()?.block_on(contacts(args)),
        Command::Compact(args) => compact::compact(args),
    }
}

fn query_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")
}

fn report_window(args: &ReportArgs) -> Result<ctrlake_query::ReportWindow> {
    window_of(&args.tz, args.date.as_deref(), args.from, args.to)
}

fn window_of(
    tz: &str,
    date: Option<&str>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<ctrlake_query::ReportWindow> {
    let tz = ctrlake_query::udf::parse_time_zone(tz).map_err(anyhow::Error::msg)?;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let (from, to) = match (date, from, to) {
        (Some(day), None, None) => {
            let day = match day {
                "today" => today,
                "yesterday" => today.pred_opt().context("no day before today")?,
                text => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
                    format!("--date {text}: expected YYYY-MM-DD, today or yesterday")
                })?,
            };
            (day, day)
        }
        (None, Some(from), Some(to)) => (from, to),
        _ => bail!("give either --date DAY or --from DAY --to DAY"),
    };
    Ok(ctrlake_query::ReportWindow::new(tz, from, to)?)
}

fn emit(batches: &[ctrlake_query::render::RecordBatch], output: &OutputArgs) -> Result<()> {
    use ctrlake_query::render::OutputFormat;
    let format = match output.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Parquet => OutputFormat::Parquet,
    };
    match (&output.out, format) {
        (Some(path), OutputFormat::Parquet) => ctrlake_query::render::write_parquet(batches, path)?,
        (Some(path), _) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            ctrlake_query::render::write(batches, format, std::io::BufWriter::new(file))?
        }
        (None, _) => ctrlake_query::render::write(batches, format, std::io::stdout().lock())?,
    }
    Ok(())
}

fn queue_options(args: &QueueReportArgs) -> ctrlake_query::QueueReportOptions {
    ctrlake_query::QueueReportOptions {
        thresholds: args.sl.clone(),
        inclusive: args.sl_inclusive,
    }
}

async fn open_engine(
    lake: &str,
    engine: &EngineArgs,
    allow_write: bool,
) -> Result<ctrlake_query::KpiEngine> {
    Ok(ctrlake_query::KpiEngine::open_with(lake, &engine.options(allow_write)).await?)
}

async fn run_report(report: ReportKind) -> Result<ExitCode> {
    let (batch, output) = match report {
        ReportKind::Queues(args) => {
            let window = report_window(&args.report)?;
            let engine = open_engine(&args.report.lake, &args.report.engine, false).await?;
            let batch = engine.queue_daily(&window, &queue_options(&args)).await?;
            (batch, args.report.output)
        }
        ReportKind::Agents(args) => {
            let window = report_window(&args)?;
            let engine = open_engine(&args.lake, &args.engine, false).await?;
            (engine.agent_daily(&window).await?, args.output)
        }
        ReportKind::AgentActivity(args) => {
            let window = report_window(&args.report)?;
            let engine = open_engine(&args.report.lake, &args.report.engine, false).await?;
            let batch = engine
                .agent_activity(&window, args.group_by.group())
                .await?;
            (batch, args.report.output)
        }
        ReportKind::Intervals(args) => {
            let window = report_window(&args.queues.report)?;
            let engine =
                open_engine(&args.queues.report.lake, &args.queues.report.engine, false).await?;
            let batch = engine
                .queue_intervals(&window, args.minutes, &queue_options(&args.queues))
                .await?;
            (batch, args.queues.report.output)
        }
    };
    emit(&[batch], &output)?;
    Ok(ExitCode::SUCCESS)
}

async fn sql(args: SqlArgs) -> Result<ExitCode> {
    let report = &args.views.queues.report;
    let engine = open_engine(&report.lake, &report.engine, args.allow_write).await?;
    let window = if report.date.is_none() && report.from.is_none() {
        let tz = ctrlake_query::udf::parse_time_zone(&report.tz).map_err(anyhow::Error::msg)?;
        engine.lake_window(tz).await?
    } else {
        Some(report_window(report)?)
    };
    if let Some(window) = window {
        let views = ctrlake_query::ReportViews {
            window,
            minutes: args.views.minutes,
            queue: queue_options(&args.views.queues),
        };
        engine.register_report_views(&views).await?;
    }
    let Some(query) = &args.query else {
        return shell(&engine).await;
    };
    let batches = engine
        .query(query, &[])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    emit(&batches, &report.output)?;
    Ok(ExitCode::SUCCESS)
}

/// An interactive SQL shell: statements end with `;`, history in ~/.ctrlake_history.
async fn shell(engine: &ctrlake_query::KpiEngine) -> Result<ExitCode> {
    let mut editor = rustyline::DefaultEditor::new().context("starting the shell")?;
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ctrlake_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "ctrlake SQL shell: tables ctr_raw, contacts, agent_events_raw, queue_daily, \
         queue_intervals, agent_daily, agent_activity, agent_activities, agent_status_spans, \
         agent_contact_spans, agent_configs, queue_waiting_spans (SHOW TABLES; DESCRIBE t); \
         end statements with ';', quit with Ctrl-D"
    );
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "ctrlake> "
        } else {
            "     ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                statement.push_str(&line);
                statement.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let text = std::mem::take(&mut statement);
                let _ = editor.add_history_entry(text.trim_end());
                match engine
                    .query(text.trim_end().trim_end_matches(';'), &[])
                    .await
                {
                    Ok(batches) => {
                        let output = OutputArgs {
                            format: Format::Table,
                            out: None,
                        };
                        if let Err(error) = emit(&batches, &output) {
                            eprintln!("error: {error:#}");
                        }
                    }
                    Err(error) => eprintln!("error: {error}"),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => statement.clear(),
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(error) => return Err(error).context("reading input"),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(ExitCode::SUCCESS)
}

async fn contacts(args: ContactsArgs) -> Result<ExitCode> {
    let engine = open_engine(&args.lake, &args.engine, false).await?;
    let batch = match &args.chain {
        Some(id) => {
            let tz = ctrlake_query::udf::parse_time_zone(&args.tz).map_err(anyhow::Error::msg)?;
            engine.contact_chain(id, tz).await?
        }
        None => {
            let window = window_of(&args.tz, args.date.as_deref(), args.from, args.to)?;
            let filter = ctrlake_query::ContactFilter {
                queue: args.queue.clone(),
                agent: args.agent.clone(),
                channel: args.channel.clone(),
                initiation_method: args.method.clone(),
                customer: args.customer.clone(),
                contact_id: args.contact_id.clone(),
            };
            engine.contacts(&window, &filter).await?
        }
    };
    emit(&[batch], &args.output)?;
    Ok(ExitCode::SUCCESS)
}
/// The writer options that `--compression` and `--raw-json` choose.
fn writer_options(compression: &str, raw_json: RawJson) -> Result<ctrlake_ingest::WriterOptions> {
    Ok(ctrlake_ingest::WriterOptions {
        compression: parse_compression(compression)?,
        raw_json: match raw_json {
            RawJson::Unmapped => RawJsonMode::Unmapped,
            RawJson::Full => RawJsonMode::FullRecord,
        },
        ..Default::default()
    })
}

fn parse_compression(text: &str) -> Result<LakeCompression> {
    text.parse()
        .map_err(|error: String| anyhow::anyhow!("--compression {error}"))
}

fn ingest_files(args: IngestFilesArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let mut options = BackfillOptions::default();
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    options.writer = writer_options(&args.compression, args.raw_json)?;
    let sources = runtime.block_on(resolve_sources(&args.inputs));
    let lake = Lake::open(&args.lake)?;
    let total_bytes: Option<u64> = sources.iter().map(|s| s.size).sum();
    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(progress.clone(), total_bytes, args.quiet);
    let outcome = backfill(&sources, &lake, &options, runtime.handle(), &progress);
    display.stop();
    let summary = outcome.with_context(|| format!("ingest into {} failed", lake.location()))?;
    print_summary(&summary, lake.location());
    Ok(if summary.source_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        for error in &summary.source_errors {
            eprintln!("ctrlake: {error}");
        }
        ExitCode::from(2)
    })
}

fn rate(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64().max(1e-9)
}

fn print_summary(summary: &BackfillSummary, lake: &str) {
    const MB: f64 = 1_000_000.0;
    let elapsed = summary.elapsed;
    println!("ingested {} source(s) into {lake}", summary.sources);
    println!("  records read         {:>12}", summary.records_read);
    println!("  records written      {:>12}", summary.records_written);
    println!("  records dead-lettered{:>12}", summary.dead_lettered());
    for (reason, count) in &summary.dead_letters {
        println!("    {:<19}{count:>12}", reason.code());
    }
    println!(
        "  files written        {:>12}  ({} Parquet, {} dead-letter)",
        summary.parquet_files + summary.dead_letter_files,
        summary.parquet_files,
        summary.dead_letter_files
    );
    println!(
        "  bytes read           {:>12}  ({:.1} MB of JSON after decompression)",
        summary.bytes_read,
        summary.bytes_decoded as f64 / MB
    );
    println!("  bytes written        {:>12}", summary.bytes_written);
    if summary.earlier_files_removed > 0 {
        println!(
            "  earlier files removed{:>12}  (written from these sources by earlier runs, replaced)",
            summary.earlier_files_removed
        );
    }
    if summary.stale_temporaries_removed > 0 {
        println!(
            "  stale temporaries    {:>12}  (left by interrupted runs, removed)",
            summary.stale_temporaries_removed
        );
    }
    println!("  elapsed              {:>11.2}s", elapsed.as_secs_f64());
    println!(
        "  rate                 {:>12.0} records/s, {:.1} MB/s",
        rate(summary.records_read as f64, elapsed),
        rate(summary.bytes_decoded as f64, elapsed) / MB
    );
}

/// A progress bar on a terminal, a log line every 10 s otherwise, nothing with `--quiet`.
struct ProgressDisplay {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    fn start(progress: Arc<Progress>, total_bytes: Option<u64>, quiet: bool) -> Self {
        if quiet {
            return Self {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let bar = terminal.then(|| {
                let bar = match total_bytes {
                    Some(total) => indicatif::ProgressBar::new(total),
                    None => indicatif::ProgressBar::no_length(),
                };
                let style = indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                bar
            });
            let tick = if terminal {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(10)
            };
            loop {
                let finished = !matches!(
                    stopped.recv_timeout(tick),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                let bytes = progress.bytes_read.load(Ordering::Relaxed);
                let records = progress.records_read.load(Ordering::Relaxed);
                let per_second = rate(records as f64, started.elapsed());
                match &bar {
                    Some(bar) => {
                        bar.set_position(bytes);
                        bar.set_message(format!("{records} records ({per_second:.0}/s)"));
                        if finished {
                            bar.finish_and_clear();
                        }
                    }
                    None if !finished => {
                        let total = total_bytes.map_or(String::new(), |t| format!(" of {t}"));
                        eprintln!(
                            "ctrlake: {bytes} bytes{total} read, {records} records ({per_second:.0}/s), {} files written",
                            progress.files_written.load(Ordering::Relaxed)
                        );
                    }
                    None => {}
                }
                if finished {
                    return;
                }
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn print_schema(args: &SchemaArgs) {
    let folder = match args.of {
        LakeTable::Ctr => ctrlake_ingest::lake::CTR_TABLE,
        LakeTable::AgentEvents => ctrlake_ingest::lake::AGENT_EVENTS_TABLE,
    };
    let table = args.table.clone().unwrap_or_else(|| folder.to_owned());
    let location = args
        .location
        .clone()
        .unwrap_or_else(|| format!("s3://YOUR-BUCKET/lake/{folder}/"));
    // (field, Athena type, source) of every column, in file order.
    let (schema, columns): (_, Vec<(String, &str)>) = match args.of {
        LakeTable::Ctr => (
            ctrlake_model::lake_schema(),
            COLUMNS
                .iter()
                .map(|c| (c.athena_type().to_owned(), c.source))
                .collect(),
        ),
        LakeTable::AgentEvents => (
            ctrlake_model::agent_event_schema(),
            ctrlake_model::agent_event::AGENT_EVENT_COLUMNS
                .iter()
                .map(|c| {
                    (
                        ctrlake_model::agent_event::athena_type(&c.data_type),
                        c.source,
                    )
                })
                .collect(),
        ),
    };
    let arrow = || {
        let mut text =
            format!("-- Arrow schema of {folder}/dt=YYYY-MM-DD/*.parquet (dt is in the path)\n");
        for (field, (_, source)) in schema.fields().iter().zip(&columns) {
            let arrow_type = field.data_type().to_string();
            text.push_str(&format!(
                "{:<42} {:<28} {:<8} {}\n",
                field.name(),
                // Lists of structs print their whole type: the Athena DDL below is shorter.
                if arrow_type.len() > 28 {
                    "List(Struct(...))"
                } else {
                    &arrow_type
                },
                if field.is_nullable() {
                    "null"
                } else {
                    "not null"
                },
                source
            ));
        }
        text
    };
    let ddl = || match args.of {
        LakeTable::Ctr => ctrlake_model::athena_ddl(&table, &location),
        LakeTable::AgentEvents => ctrlake_model::agent_event::athena_ddl(&table, &location),
    };
    match args.format {
        SchemaFormat::All => print!("{}\n{}", arrow(), ddl()),
        SchemaFormat::Arrow => print!("{}", arrow()),
        SchemaFormat::Athena => print!("{}", ddl()),
        SchemaFormat::Json => {
            let columns: Vec<serde_json::Value> = schema
                .fields()
                .iter()
                .zip(&columns)
                .map(|(field, (athena_type, source))| {
                    serde_json::json!({
                        "name": field.name(),
                        "arrow_type": field.data_type().to_string(),
                        "athena_type": athena_type,
                        "nullable": field.is_nullable(),
                        "source": source,
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "columns": columns }));
        }
    }
}

fn generate(args: GenArgs) -> Result<()> {
    let config = ctrlake_gen::GenConfig {
        contacts: args.contacts,
        seed: args.seed,
        days: args.days,
        start: args.start,
        format: match args.format {
            GenFormat::Ndjson => ctrlake_gen::OutputFormat::Ndjson,
            GenFormat::Firehose => ctrlake_gen::OutputFormat::Firehose,
        },
        gzip: args.gzip,
        agents: args.agents,
    };
    let summary = match &args.out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            ctrlake_gen::generate(&config, file)
                .with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            ctrlake_gen::generate(&config, std::io::stdout().lock()).context("writing to stdout")?
        }
    };
    let target = args
        .out
        .as_ref()
        .map_or("stdout".to_owned(), |p| p.display().to_string());
    eprintln!(
        "generated {} contacts as {} records ({} bytes of JSON) into {target}",
        summary.contacts, summary.records, summary.bytes
    );
    if let Some(path) = &args.agent_events {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let events = ctrlake_gen::generate_agent_events(&config, file)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "generated {} agent events ({} bytes) into {}",
            events.records,
            events.bytes,
            path.display()
        );
    }
    std::io::stderr().flush().ok();
    Ok(())
}
