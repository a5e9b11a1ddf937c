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
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use ctrlake_ingest::{
    BackfillOptions, BackfillSummary, Lake, LakeCompression, Progress, backfill, resolve_sources,
};
use ctrlake_model::RawJsonMode;
use ctrlake_model::schema::COLUMNS;

mod compact;
mod html;
mod kinesis;
mod meta;
mod table;
mod xlsx;

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
        /// Write a report whose window holds no rows (its header only) and exit 0. Without
        /// it such a report is not written: the command names the days the lake holds and
        /// exits 3, so that a nightly job does not send an empty report.
        #[arg(long, global = true)]
        allow_empty: bool,
        /// How durations (the `_s` columns) are written: seconds (`95.500`), or hms
        /// (`0:01:35.500`, hours:minutes:seconds, milliseconds when there are any).
        #[arg(long, global = true, value_enum, default_value_t = Durations::Seconds)]
        durations: Durations,
    },
    /// Run SQL over the lake: tables ctr_raw (every version), contacts (de-duplicated) and
    /// agent_events_raw (every delivered agent event), the report views (queue_daily,
    /// queue_intervals, agent_daily, agent_activity) and the agent span views over
    /// --from/--to or --date in --tz (default: every day in the lake, UTC). A query or a
    /// script (--file, or piped in); on a terminal without one, an interactive shell.
    Sql(SqlArgs),
    /// List de-duplicated contacts with every timestamp to the second, or one contact's chain.
    Contacts(ContactsArgs),
    /// Rewrite partitions' many small files (a stream's) as a few large ones, removing the
    /// duplicate rows a retried batch leaves; reports and queries are unchanged.
    Compact(compact::CompactArgs),
    /// Print a shell completion script: `source <(ctrlake completions bash)`, or save it where
    /// the shell looks (e.g. ~/.local/share/bash-completion/completions/ctrlake,
    /// ~/.zfunc/_ctrlake, ~/.config/fish/completions/ctrlake.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// Per local day and queue (or channel, or the whole center): queued, handled, abandoned,
    /// ASA, service level, AHT, transfers, ... and the counts and sums behind them.
    Queues(QueueReportArgs),
    /// Per local day and agent (or routing profile or hierarchy group): handled, AHT, hold,
    /// after-contact work, pause, missed offers.
    Agents(AgentGroupedArgs),
    /// Per local interval and queue: the queue KPIs plus peak waiting at 1-second resolution.
    Intervals(IntervalReportArgs),
    /// Per local day and agent, from the agent event stream: online time split into idle,
    /// connecting, on contact, after-contact work, missed/error and non-productive, occupancy.
    AgentActivity(AgentGroupedArgs),
    /// The nightly report as one self-contained HTML page: the day's KPIs per queue and for
    /// the center, service level, waiting and contacts per interval as charts, week-over-week
    /// change, and the agents. Opens offline; English or Japanese labels.
    Html(HtmlReportArgs),
}

#[derive(clap::Args)]
struct HtmlReportArgs {
    /// The lake: a local directory or s3://bucket/prefix.
    #[arg(long, env = "CTRLAKE_LAKE")]
    lake: String,
    /// The local day: YYYY-MM-DD, today or yesterday (in --tz).
    #[arg(long)]
    date: String,
    /// IANA time zone of the day, e.g. Asia/Tokyo.
    #[arg(long, default_value = "UTC")]
    tz: String,
    #[command(flatten)]
    lookback: LookbackArg,
    /// Service-level thresholds in seconds, comma-separated (the charts show the smallest).
    #[arg(long, value_delimiter = ',', default_value = "20,60")]
    sl: Vec<i64>,
    /// Count a queue time equal to the threshold as within it (D <= X) instead of D < X.
    #[arg(long)]
    sl_inclusive: bool,
    /// Interval length of the charts in minutes: a divisor of 60.
    #[arg(long, default_value_t = 15)]
    minutes: u32,
    /// Language of the labels.
    #[arg(long, value_enum, default_value_t = html::Lang::En)]
    lang: html::Lang,
    #[command(flatten)]
    engine: EngineArgs,
    /// Write the page to FILE (without it, to standard output when that is not a terminal).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct AgentGroupedArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// One row per agent, or per routing profile or hierarchy group with the number of
    /// agents in it (agent-activity: the agent's group at each moment; agents: the group the
    /// contact's record names).
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
    lookback: LookbackArg,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// How far before the window contacts are looked for.
#[derive(clap::Args)]
struct LookbackArg {
    /// Days before the window's first UTC day whose contacts are read (e.g. 3d). A contact
    /// is found by the UTC day it was initiated: one enqueued or answered more than a day
    /// later (a scheduled task, a late callback) needs a longer look-back. Reading more days
    /// costs time only.
    #[arg(long, value_name = "DAYS", default_value = "1d", value_parser = parse_days)]
    lookback: i64,
}

/// `"3d"` or `"3"` → 3.
fn parse_days(text: &str) -> Result<i64, String> {
    let digits = text.strip_suffix('d').unwrap_or(text);
    digits
        .parse::<i64>()
        .ok()
        .filter(|days| (0..=ctrlake_query::reports::MAX_LOOKBACK_DAYS).contains(days))
        .ok_or_else(|| {
            format!(
                "expected days like 1d or 3d (0d to {}d)",
                ctrlake_query::reports::MAX_LOOKBACK_DAYS
            )
        })
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
    /// table (fitted to a terminal's width), line (one `column = value` line each), csv
    /// (maps and lists as JSON text), json (an array of objects), parquet and xlsx (an Excel
    /// workbook, numbers as numbers) need --out.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write to FILE instead of stdout (required for parquet and xlsx).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows a table on a terminal shows at most (the first and last halves); 0 shows all.
    /// Default: 40 on a terminal; files and pipes get every row.
    #[arg(long, value_name = "N")]
    max_rows: Option<usize>,
    /// Start CSV with a UTF-8 byte order mark, so that Excel (in a Japanese locale too)
    /// opens it as UTF-8 and shows queue and agent names as written.
    #[arg(long)]
    csv_bom: bool,
}

impl OutputArgs {
    /// The table's output on standard output.
    fn stdout_table() -> Self {
        Self {
            format: Format::Table,
            out: None,
            max_rows: None,
            csv_bom: false,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Line,
    Csv,
    Json,
    Parquet,
    Xlsx,
}

/// Rows a table on a terminal shows unless --max-rows says otherwise.
const TERMINAL_ROWS: usize = 40;

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
    /// Every queue together: the center's row per day (or interval), computed from all its
    /// contacts, without the queue column (in `ctrlake sql`, the views' queue is NULL).
    #[arg(long, conflicts_with = "group_by")]
    all_queues: bool,
    /// What a row is: a queue (default), a queue and channel, or a channel (every queue
    /// together), so that voice and chat waits are not averaged together.
    #[arg(long, value_enum)]
    group_by: Option<QueueGroupArg>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueueGroupArg {
    Queue,
    #[value(name = "queue,channel")]
    QueueChannel,
    Channel,
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
    /// The SQL: one statement or several, each ended by `;` (the last one's is optional).
    /// Without it (and without --file), an interactive shell on a terminal, or the script
    /// read from standard input. It may start with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    query: Option<String>,
    /// Run the statements of this file (`-`: standard input) in order; the first that fails
    /// stops the script with exit code 1. With --out, the last statement's result goes to
    /// the file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
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

/// Exit code when there was no data where some was expected: a report whose window holds no
/// rows (see `--allow-empty`), a source of `ingest files` from which no record was ingested.
const EXIT_NO_DATA: u8 = 3;
/// Exit code when the reader of standard output went away (`ctrlake ... | head`): the status
/// of a Unix tool that SIGPIPE ended (128 + 13), without a message.
const EXIT_BROKEN_PIPE: u8 = 141;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(error) => {
            eprintln!("ctrlake: {}", error_text(&error));
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader closed it.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // Arrow's writers keep only the text of some I/O errors.
            || cause.to_string().contains("Broken pipe (os error 32)")
    })
}

/// Writes `text` to standard output, returning the error (a closed pipe) instead of
/// panicking as `print!` does.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
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
        Command::Schema(args) => print_schema(&args).map(|()| ExitCode::SUCCESS),
        Command::Gen(args) => generate(args).map(|()| ExitCode::SUCCESS),
        Command::Report {
            report,
            allow_empty,
            durations,
        } => query_runtime()?.block_on(run_report(report, allow_empty, durations)),
        Command::Sql(args) => query_runtime()?.block_on(sql(args)),
        Command::Contacts(args) => query_runtime()?.block_on(contacts(args)),
        Command::Compact(args) => compact::compact(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ctrlake", &mut script);
            print_out(&String::from_utf8_lossy(&script)).map(|()| ExitCode::SUCCESS)
        }
    }
}

fn query_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")
}

fn report_window(args: &ReportArgs) -> Result<ctrlake_query::ReportWindow> {
    Ok(
        window_of(&args.tz, args.date.as_deref(), args.from, args.to)?
            .with_lookback(args.lookback.lookback)?,
    )
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
    emit_timed(batches, output, None)
}

/// [`emit`], with the time the query took in a terminal table's footer.
fn emit_timed(
    batches: &[ctrlake_query::render::RecordBatch],
    output: &OutputArgs,
    elapsed: Option<Duration>,
) -> Result<()> {
    use ctrlake_query::render::OutputFormat;
    let terminal = output.out.is_none() && std::io::stdout().is_terminal();
    match output.format {
        Format::Line => {
            let text = table::render_lines(batches)?;
            return match &output.out {
                Some(path) => {
                    write_atomically(path, |mut file| Ok(file.write_all(text.as_bytes())?))
                }
                None => print_out(&text),
            };
        }
        Format::Xlsx => {
            let Some(path) = &output.out else {
                bail!("--format xlsx needs --out FILE (a workbook is not text for a terminal)");
            };
            let workbook = xlsx::workbook(batches)?;
            return write_atomically(path, |mut file| Ok(file.write_all(&workbook)?));
        }
        Format::Table if terminal => {
            let width = console::Term::stdout()
                .size_checked()
                .map_or(120, |(_, columns)| usize::from(columns));
            let max_rows = match output.max_rows {
                Some(0) => None,
                Some(rows) => Some(rows),
                None => Some(TERMINAL_ROWS),
            };
            let layout = table::Layout { width, max_rows };
            return print_out(&table::render(batches, layout, elapsed)?);
        }
        _ => {}
    }
    let format = match output.format {
        Format::Table | Format::Line | Format::Xlsx => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Parquet => OutputFormat::Parquet,
    };
    let bom = output.csv_bom && format == OutputFormat::Csv;
    match (&output.out, format) {
        (Some(path), OutputFormat::Parquet) => write_atomically(path, |file| {
            Ok(ctrlake_query::render::write_parquet(batches, file)?)
        })?,
        (Some(path), _) => write_atomically(path, |file| {
            let mut out = std::io::BufWriter::new(file);
            if bom {
                out.write_all(UTF8_BOM)?;
            }
            ctrlake_query::render::write(batches, format, &mut out)?;
            out.into_inner().map_err(|e| e.into_error())?;
            Ok(())
        })?,
        (None, _) => {
            let mut out = std::io::stdout().lock();
            if bom {
                out.write_all(UTF8_BOM)?;
            }
            ctrlake_query::render::write(batches, format, out)?
        }
    }
    Ok(())
}

/// What `--csv-bom` writes first.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes `path` through a temporary file beside it, renamed over `path` once complete: a
/// command that fails leaves no half-written file (and an earlier file at `path` as it was).
fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(std::fs::File) -> Result<()>,
) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ctrlake-").suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // As File::create would: 0666 less the umask (tempfile's default is 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temporary = builder
        .tempfile_in(folder)
        .with_context(|| format!("creating a file in {}", folder.display()))?;
    let file = temporary.as_file().try_clone()?;
    write(file).with_context(|| format!("writing {}", path.display()))?;
    temporary
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn queue_options(args: &QueueReportArgs) -> ctrlake_query::QueueReportOptions {
    ctrlake_query::QueueReportOptions {
        thresholds: args.sl.clone(),
        inclusive: args.sl_inclusive,
        all_queues: args.all_queues || args.group_by == Some(QueueGroupArg::Channel),
        by_channel: matches!(
            args.group_by,
            Some(QueueGroupArg::QueueChannel | QueueGroupArg::Channel)
        ),
    }
}

async fn open_engine(
    lake: &str,
    engine: &EngineArgs,
    allow_write: bool,
) -> Result<ctrlake_query::KpiEngine> {
    Ok(ctrlake_query::KpiEngine::open_with(lake, &engine.options(allow_write)).await?)
}

/// How a report writes its durations.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Durations {
    Seconds,
    Hms,
}

async fn run_report(
    report: ReportKind,
    allow_empty: bool,
    durations: Durations,
) -> Result<ExitCode> {
    let agent_events = matches!(report, ReportKind::AgentActivity(_));
    let (batch, output, engine, window) = match report {
        ReportKind::Html(args) => return html_report(args, allow_empty).await,
        ReportKind::Queues(args) => {
            let window = report_window(&args.report)?;
            let engine = open_engine(&args.report.lake, &args.report.engine, false).await?;
            let batch = engine.queue_daily(&window, &queue_options(&args)).await?;
            (batch, args.report.output, engine, window)
        }
        ReportKind::Agents(args) => {
            let window = report_window(&args.report)?;
            let engine = open_engine(&args.report.lake, &args.report.engine, false).await?;
            let batch = engine.agent_daily(&window, args.group_by.group()).await?;
            (batch, args.report.output, engine, window)
        }
        ReportKind::AgentActivity(args) => {
            let window = report_window(&args.report)?;
            let engine = open_engine(&args.report.lake, &args.report.engine, false).await?;
            let batch = engine
                .agent_activity(&window, args.group_by.group())
                .await?;
            (batch, args.report.output, engine, window)
        }
        ReportKind::Intervals(args) => {
            let window = report_window(&args.queues.report)?;
            let engine =
                open_engine(&args.queues.report.lake, &args.queues.report.engine, false).await?;
            let batch = engine
                .queue_intervals(&window, args.minutes, &queue_options(&args.queues))
                .await?;
            (batch, args.queues.report.output, engine, window)
        }
    };
    if batch.num_rows() == 0 && !allow_empty {
        return report_is_empty(&engine, &window, agent_events).await;
    }
    let batch = match durations {
        Durations::Seconds => batch,
        Durations::Hms => ctrlake_query::render::durations_as_hms(&batch)?,
    };
    emit(&[batch], &output)?;
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr that the report of `window` has no rows and which days the lake holds:
/// [`EXIT_NO_DATA`].
async fn report_is_empty(
    engine: &ctrlake_query::KpiEngine,
    window: &ctrlake_query::ReportWindow,
    agent_events: bool,
) -> Result<ExitCode> {
    let (what, held) = if agent_events {
        ("agent events", engine.agent_event_partition_dates().await?)
    } else {
        ("contacts", engine.partition_dates().await?)
    };
    let holds = match held {
        Some((first, last)) => format!("the lake holds {what} of the UTC days {first} to {last}"),
        None => format!("the lake holds no {what}"),
    };
    eprintln!(
        "ctrlake: the report is empty: no {what} in {} to {} ({}); {holds}. Nothing was \
         written (--allow-empty writes the empty report and exits 0).",
        window.from,
        window.to,
        window.tz.name()
    );
    Ok(ExitCode::from(EXIT_NO_DATA))
}

/// `report html`: the page, written atomically to --out or to a pipe.
async fn html_report(args: HtmlReportArgs, allow_empty: bool) -> Result<ExitCode> {
    if args.out.is_none() && std::io::stdout().is_terminal() {
        bail!("report html writes a page for a browser: give --out FILE (or pipe it)");
    }
    let window =
        window_of(&args.tz, Some(&args.date), None, None)?.with_lookback(args.lookback.lookback)?;
    let engine = open_engine(&args.lake, &args.engine, false).await?;
    let options = html::HtmlOptions {
        queue: ctrlake_query::QueueReportOptions {
            thresholds: args.sl.clone(),
            inclusive: args.sl_inclusive,
            all_queues: false,
            by_channel: false,
        },
        minutes: args.minutes,
        lang: args.lang,
    };
    let report = html::render(&engine, &window, &options).await?;
    if report.contacts_queued == 0 && !allow_empty {
        return report_is_empty(&engine, &window, false).await;
    }
    match &args.out {
        Some(path) => {
            write_atomically(path, |mut file| Ok(file.write_all(report.page.as_bytes())?))?
        }
        None => print_out(&report.page)?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn sql(args: SqlArgs) -> Result<ExitCode> {
    let report = &args.views.queues.report;
    let engine = open_engine(&report.lake, &report.engine, args.allow_write).await?;
    let window = if report.date.is_none() && report.from.is_none() {
        let tz = ctrlake_query::udf::parse_time_zone(&report.tz).map_err(anyhow::Error::msg)?;
        match engine.lake_window(tz).await? {
            Some(window) => Some(window.with_lookback(report.lookback.lookback)?),
            None => None,
        }
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
    let script = match (&args.query, &args.file) {
        (Some(query), None) => query.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => read_stdin()?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the SQL script {}", path.display()))?,
        (None, None) if std::io::stdin().is_terminal() => return shell(&engine, &report.tz).await,
        (None, None) => read_stdin()?,
        (Some(_), Some(_)) => bail!("give the SQL either as an argument or with --file, not both"),
    };
    run_input(&engine, &script, &report.output, &report.tz).await?;
    Ok(ExitCode::SUCCESS)
}

fn read_stdin() -> Result<String> {
    use std::io::Read;
    let mut script = String::new();
    std::io::stdin()
        .read_to_string(&mut script)
        .context("reading the SQL script from standard input")?;
    Ok(script)
}

/// What the shell's meta-commands change for the statements after them.
struct Session {
    format: Format,
    max_rows: Option<usize>,
    csv_bom: bool,
    timer: bool,
    /// The zone results' timestamps are shown in (`--tz`).
    tz: String,
}

impl Session {
    fn new(output: &OutputArgs, tz: &str) -> Self {
        Self {
            format: output.format,
            max_rows: output.max_rows,
            csv_bom: output.csv_bom,
            timer: true,
            tz: tz.to_owned(),
        }
    }

    fn output(&self, out: Option<PathBuf>) -> OutputArgs {
        OutputArgs {
            format: self.format,
            out,
            max_rows: self.max_rows,
            csv_bom: self.csv_bom,
        }
    }
}

/// Runs a script of SQL statements and meta-commands in order (with `--out`, the last
/// statement's result goes to the file); the first that fails stops it.
async fn run_input(
    engine: &ctrlake_query::KpiEngine,
    script: &str,
    output: &OutputArgs,
    tz: &str,
) -> Result<()> {
    let chunks = meta::chunks(script);
    if chunks.is_empty() {
        bail!("no SQL statement to run");
    }
    let last_sql = chunks
        .iter()
        .rposition(|chunk| matches!(chunk, meta::Chunk::Sql(_)));
    let mut session = Session::new(output, tz);
    for (index, chunk) in chunks.into_iter().enumerate() {
        match chunk {
            meta::Chunk::Sql(sql) => {
                let out = if Some(index) == last_sql {
                    output.out.clone()
                } else {
                    None
                };
                run_script(engine, &sql, &session, out).await?;
            }
            meta::Chunk::Meta(line) => {
                let command = meta::parse(&line).map_err(anyhow::Error::msg)?;
                if !run_meta(engine, command, &mut session).await? {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Carries out a meta-command; `false` for `.quit`.
async fn run_meta(
    engine: &ctrlake_query::KpiEngine,
    command: meta::Meta,
    session: &mut Session,
) -> Result<bool> {
    match command {
        meta::Meta::Help => print_out(meta::HELP)?,
        meta::Meta::Tables => print_out(&(engine.table_names().join("\n") + "\n"))?,
        meta::Meta::Schema(name) => {
            let batches = engine
                .query(&format!("DESCRIBE {name}"), &[])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            emit(&batches, &session.output(None))?;
        }
        meta::Meta::Timer(on) => session.timer = on,
        meta::Meta::Mode(mode) => {
            session.format = match mode.as_str() {
                "line" => Format::Line,
                "csv" => Format::Csv,
                "json" => Format::Json,
                _ => Format::Table,
            }
        }
        meta::Meta::MaxRows(rows) => session.max_rows = Some(rows),
        meta::Meta::Quit => return Ok(false),
    }
    Ok(true)
}

/// Runs every statement of `script` in order, printing each result as `session` says (the
/// last one to `out`, when given), and stops at the first that fails, naming it.
async fn run_script(
    engine: &ctrlake_query::KpiEngine,
    script: &str,
    session: &Session,
    out: Option<PathBuf>,
) -> Result<()> {
    let statements = engine
        .parse_script(script)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if statements.is_empty() {
        bail!("no SQL statement to run");
    }
    let count = statements.len();
    for (index, statement) in statements.into_iter().enumerate() {
        let named = |error: ctrlake_query::QueryError, text: &str| {
            let mut short: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if short.chars().count() > 60 {
                short = short.chars().take(57).collect::<String>() + "...";
            }
            match count {
                1 => anyhow::anyhow!("{error}"),
                _ => anyhow::anyhow!("statement {} of {count} ({short}): {error}", index + 1),
            }
        };
        let text = statement.text.clone();
        let started = Instant::now();
        let frame = engine
            .frame_statement(statement)
            .await
            .map_err(|e| named(e, &text))?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let mut batches = engine.collect(frame).await.map_err(|e| named(e, &text))?;
        if batches.is_empty() {
            // No row still has columns: CSV gets its header, a table its heading.
            batches.push(ctrlake_query::render::RecordBatch::new_empty(schema));
        }
        let elapsed = session.timer.then(|| started.elapsed());
        let batches = ctrlake_query::render::in_time_zone(&batches, &session.tz)?;
        let last = index + 1 == count;
        let output = session.output(if last { out.clone() } else { None });
        emit_timed(&batches, &output, elapsed)?;
    }
    Ok(())
}

/// An interactive SQL shell: statements end with `;`, history in ~/.ctrlake_history.
async fn shell(engine: &ctrlake_query::KpiEngine, tz: &str) -> Result<ExitCode> {
    let mut editor = rustyline::DefaultEditor::new().context("starting the shell")?;
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ctrlake_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "ctrlake SQL shell over the lake's tables and report views (.tables lists them, \
         .schema NAME shows one, .help the rest); end statements with ';', quit with .quit \
         or Ctrl-D"
    );
    let mut session = Session::new(&OutputArgs::stdout_table(), tz);
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "ctrlake> "
        } else {
            "     ...> "
        };
        match editor.readline(prompt) {
            Ok(line) if meta::is_meta(&line) => {
                let _ = editor.add_history_entry(line.trim());
                match meta::parse(&line) {
                    Ok(command) => match run_meta(engine, command, &mut session).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(error) => eprintln!("error: {}", error_text(&error)),
                    },
                    Err(message) => eprintln!("error: {message}"),
                }
            }
            Ok(line) => {
                statement.push_str(&line);
                statement.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let text = std::mem::take(&mut statement);
                let _ = editor.add_history_entry(text.trim_end());
                if let Err(error) = run_script(engine, &text, &session, None).await {
                    eprintln!("error: {}", error_text(&error));
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
    print_summary(&summary, lake.location())?;
    for error in &summary.source_errors {
        eprintln!("ctrlake: {error}");
    }
    for (source, read) in &summary.sources_without_rows {
        match read {
            0 => eprintln!("ctrlake: nothing was ingested from {source}: it holds no records"),
            _ => eprintln!(
                "ctrlake: nothing was ingested from {source}: its {read} record(s) were all \
                 dead-lettered (reasons in the summary, bytes in the lake's _dead_letter/)"
            ),
        }
    }
    Ok(if !summary.source_errors.is_empty() {
        ExitCode::from(2)
    } else if !summary.sources_without_rows.is_empty() {
        ExitCode::from(EXIT_NO_DATA)
    } else {
        ExitCode::SUCCESS
    })
}

fn rate(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64().max(1e-9)
}

fn print_summary(summary: &BackfillSummary, lake: &str) -> Result<()> {
    use std::fmt::Write;
    let mut text = String::new();
    const MB: f64 = 1_000_000.0;
    let elapsed = summary.elapsed;
    writeln!(text, "ingested {} source(s) into {lake}", summary.sources)?;
    writeln!(text, "  records read         {:>12}", summary.records_read)?;
    writeln!(
        text,
        "  records written      {:>12}",
        summary.records_written
    )?;
    writeln!(
        text,
        "  records dead-lettered{:>12}",
        summary.dead_lettered()
    )?;

    for (reason, count) in &summary.dead_letters {
        writeln!(text, "    {:<19}{count:>12}", reason.code())?;
    }
    if !summary.sources_without_rows.is_empty() {
        writeln!(
            text,
            "  sources without rows {:>12}  (nothing ingested from them)",
            summary.sources_without_rows.len()
        )?;
    }
    writeln!(
        text,
        "  files written        {:>12}  ({} Parquet, {} dead-letter)",
        summary.parquet_files + summary.dead_letter_files,
        summary.parquet_files,
        summary.dead_letter_files
    )?;
    writeln!(
        text,
        "  bytes read           {:>12}  ({:.1} MB of JSON after decompression)",
        summary.bytes_read,
        summary.bytes_decoded as f64 / MB
    )?;
    writeln!(text, "  bytes written        {:>12}", summary.bytes_written)?;
    if summary.earlier_files_removed > 0 {
        writeln!(
            text,
            "  earlier files removed{:>12}  (written from these sources by earlier runs, replaced)",
            summary.earlier_files_removed
        )?;
    }
    if summary.stale_temporaries_removed > 0 {
        writeln!(
            text,
            "  stale temporaries    {:>12}  (left by interrupted runs, removed)",
            summary.stale_temporaries_removed
        )?;
    }
    writeln!(
        text,
        "  elapsed              {:>11.2}s",
        elapsed.as_secs_f64()
    )?;
    writeln!(
        text,
        "  rate                 {:>12.0} records/s, {:.1} MB/s",
        rate(summary.records_read as f64, elapsed),
        rate(summary.bytes_decoded as f64, elapsed) / MB
    )?;
    print_out(&text)
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

fn print_schema(args: &SchemaArgs) -> Result<()> {
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
        SchemaFormat::All => print_out(&format!("{}\n{}", arrow(), ddl())),
        SchemaFormat::Arrow => print_out(&arrow()),
        SchemaFormat::Athena => print_out(&ddl()),
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
            print_out(&format!("{}\n", serde_json::json!({ "columns": columns })))
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
