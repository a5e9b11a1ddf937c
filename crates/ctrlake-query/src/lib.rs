//! The KPI engine: DataFusion over the lake, a de-duplicated `contacts` view, and the KPI SQL
//! kept in `queries/` (readable by analysts, run as-is by the report commands).
//!
//! - [`KpiEngine::open`] registers `ctr_raw` (every delivered CTR version, `dt` partition column
//!   from the Hive path) over a local directory or `s3://bucket/prefix`, the time-zone functions
//!   of [`udf`], and `contacts`: the rule of `queries/contacts.sql`, applied with a hash table
//!   ([`newest`]).
//! - Reports bind their parameters with DataFusion placeholders (`$tz`, `$from_date`, ...):
//!   user input is never formatted into SQL text.
//! - The partitions a local-day report reads are computed here from the dates and the zone, so
//!   a report scans only the UTC days that overlap its local days.
//!
//! This crate only reads the lake; writing is `ctrlake-ingest`'s job.

pub mod lake_files;
pub mod materialized;
pub mod newest;
pub mod render;
pub mod reports;
pub mod udf;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use futures::StreamExt;

use chrono::NaiveDate;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig};

pub use reports::{AgentGroup, ContactFilter, QueueReportOptions, ReportViews, ReportWindow};

/// The de-duplication rule as SQL (`queries/contacts.sql`, `CREATE VIEW contacts`): the
/// reference that [`newest`] is tested against, for readers and other engines.
pub const CONTACTS_SQL: &str = include_str!("../../../queries/contacts.sql");

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{}", one_line(.0))]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("cannot open the lake at {location}: {message}")]
    Open { location: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Lake(#[from] ctrlake_lake::LakeError),
    #[error(
        "cannot read lake file {file}: {problem}; every query over its partition fails until \
         it is moved out of the lake (ctrlake writes no such file)"
    )]
    BadLakeFile { file: String, problem: String },
    #[error(
        "the query exceeded the memory limit of {limit_mb} MB ({detail}); narrow it with a \
         WHERE on dt or a LIMIT, or raise --memory-limit"
    )]
    MemoryLimit { limit_mb: usize, detail: String },
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// A DataFusion error as one line: the first line of its root cause without a backtrace (a
/// context such as `type_coercion` alone says nothing). The lines after the first are, for an
/// unknown column, the list of every column, which `ctrlake sql` users get from `DESCRIBE`; for
/// other errors (e.g. memory consumers) they are dropped without that hint.
fn one_line(error: &datafusion::error::DataFusionError) -> String {
    if let datafusion::error::DataFusionError::SQL(parser, _) = error.find_root() {
        return syntax_error(&parser.to_string());
    }
    let message = error.find_root().strip_backtrace();
    let first = message.lines().next().unwrap_or_default().trim_end();
    if message.lines().nth(1).is_some() && first.contains("No field named") {
        format!("{first} (DESCRIBE <table> lists its columns)")
    } else {
        first.to_owned()
    }
}

/// The SQL parser's message in plain words: `sql parser error: Expected: an expression,
/// found: EOF` becomes `syntax error: expected an expression, found the end of the SQL`.
fn syntax_error(message: &str) -> String {
    let text = message
        .trim_start_matches("sql parser error: ")
        .trim_start_matches("SQL error: ");
    // DataFusion wraps the parser's error in its Debug form: `ParserError("...")`.
    let text = ["ParserError(\"", "TokenizerError(\""]
        .iter()
        .find_map(|wrapper| text.strip_prefix(wrapper))
        .and_then(|inner| inner.strip_suffix("\")"))
        .unwrap_or(text);
    let text = text
        .strip_prefix("Expected: ")
        .map_or_else(|| text.to_owned(), |rest| format!("expected {rest}"));
    let text = text.replace("found: EOF", "found the end of the SQL");
    let text = text.replace("found: ", "found ");
    let text = text
        .replace(" at Line: ", " at line ")
        .replace(", Column: ", ", column ");
    format!("syntax error: {text}")
}

/// A table name the session does not know, with the closest one it knows (by edit distance,
/// at most a third of the name), if any: `table 'x' not found; did you mean 'contacts'?`.
fn suggest_table(message: &str, known: &[String]) -> Option<String> {
    let start = message.find("table '")? + "table '".len();
    let rest = &message[start..];
    let name = &rest[..rest.find('\'')?];
    let short = name.rsplit('.').next().unwrap_or(name);
    let (distance, best) = known
        .iter()
        .map(|table| {
            let distance = datafusion::common::utils::datafusion_strsim::levenshtein(
                &short.to_lowercase(),
                table,
            );
            (distance, table)
        })
        .min()?;
    (distance > 0 && distance <= short.chars().count().div_ceil(3))
        .then(|| format!("table '{short}' not found; did you mean '{best}'?"))
}

/// A statement refused by the read-only [`SQLOptions`] says how its owner allows it.
fn read_only_hint(error: datafusion::error::DataFusionError) -> QueryError {
    let message = error.find_root().strip_backtrace();
    if message.contains("not supported") && message.contains("DDL")
        || message.contains("DML")
        || message.contains("Statement not supported")
    {
        let first = message.lines().next().unwrap_or_default();
        QueryError::Invalid(format!(
            "{first}: ctrlake sql is read-only (queries only); the lake's owner can run \
             statements that create, write or change settings with --allow-write"
        ))
    } else {
        QueryError::DataFusion(error)
    }
}

/// Bytes read from the end of a Parquet file to get its footer in one read. Lake footers are
/// ~20 KB; DataFusion's default (512 KiB) read and faulted in half a megabyte per file while
/// planning (measured: planning over 30 days of a 1M-contact lake 0.11 s -> 0.09 s).
const FOOTER_READ_BYTES: usize = 64 * 1024;

/// Memory for the footers (and page indexes) of files already opened by this session. A query
/// that scans the whole lake several times (the chain look-up's four scans) parses each footer
/// once only if all of them fit: DataFusion's default, 50 MB, is smaller than the footers of a
/// 10M-contact lake's 2,180 files, so each scan evicted the footers the next one needed
/// (measured there: footer parsing in a second scan 0.36 s -> 0.09 s). Only footers read take
/// memory: about 35 KB a file.
const METADATA_CACHE_BYTES: usize = 512 << 20;

/// One statement of a script, parsed ([`KpiEngine::parse_script`]).
#[derive(Debug, Clone)]
pub struct ScriptStatement {
    /// The statement as the parser prints it back (for messages).
    pub text: String,
    statement: datafusion::sql::parser::Statement,
}

/// What a query session may do and how much memory it may take.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Run statements that change something: DDL (`CREATE [EXTERNAL] TABLE`, `CREATE VIEW`,
    /// `DROP`), DML (`INSERT`, `COPY ... TO`) and `SET`. Off by default: an analyst's SQL can
    /// then neither read files outside the lake, nor write any, nor lift its own limits.
    pub allow_write: bool,
    /// Bytes that one session's operators (joins, sorts, aggregates; those that can spill to
    /// disk do so first) and its collected results may hold. See [`default_memory_limit`].
    pub memory_limit: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            allow_write: false,
            memory_limit: default_memory_limit(),
        }
    }
}

/// Half of the machine's memory (or of the container's limit, when lower): room for the
/// reports of a large lake (10M contacts take ~1.2 GB) while a runaway query on a shared host
/// stops with an error instead of taking the machine. 4 GiB where the size is unknown.
pub fn default_memory_limit() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    match (meminfo, cgroup) {
        (Some(total), Some(limit)) => total.min(limit) / 2,
        (Some(total), None) => total / 2,
        (None, Some(limit)) => limit / 2,
        (None, None) => 4 << 30,
    }
}

/// A query session over one lake.
pub struct KpiEngine {
    ctx: SessionContext,
    /// `<lake>/ctr/`, the table's root.
    ctr_url: ListingTableUrl,
    /// `<lake>/agent_events/`.
    agent_events_url: ListingTableUrl,
    /// What statements [`KpiEngine::frame`] plans (read-only unless allowed).
    sql_options: SQLOptions,
    memory_limit: usize,
}

impl KpiEngine {
    /// Opens the lake at `location` (a local directory or `s3://bucket/prefix`) for read-only
    /// queries within [`default_memory_limit`].
    pub async fn open(location: &str) -> Result<Self, QueryError> {
        Self::open_with(location, &EngineOptions::default()).await
    }

    /// Opens the lake at `location` with `options`.
    pub async fn open_with(location: &str, engine: &EngineOptions) -> Result<Self, QueryError> {
        // DATAFUSION_* environment variables tune the session (e.g.
        // DATAFUSION_EXECUTION_TARGET_PARTITIONS); ctrlake only changes what it measured.
        let mut config = SessionConfig::from_env()?.with_information_schema(true);
        if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_METADATA_SIZE_HINT").is_none() {
            config.options_mut().execution.parquet.metadata_size_hint = Some(FOOTER_READ_BYTES);
        }
        // Operators that can spill (sorts, aggregates, some joins) share the limit fairly and
        // spill to the OS temporary directory; the pool names the largest consumers when a
        // query still does not fit.
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(engine.memory_limit),
            NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_cache_manager(
                CacheManagerConfig::default().with_metadata_cache_limit(METADATA_CACHE_BYTES),
            )
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let root = lake_root(&ctx, location)?;
        let (table_url, table) = lake_table(
            &ctx,
            &root,
            location,
            ctrlake_lake::CTR_TABLE,
            ctrlake_model::lake_schema(),
        )?;
        let table = Arc::new(table);
        ctx.register_table("ctr_raw", Arc::clone(&table) as _)?;
        ctx.register_table("contacts", Arc::new(newest::NewestVersions::new(table)))?;
        // Agent events (agent_events/), every delivered copy; a lake without any is an empty
        // table of the same columns.
        let (agent_events_url, events) = lake_table(
            &ctx,
            &root,
            location,
            ctrlake_lake::AGENT_EVENTS_TABLE,
            ctrlake_model::agent_event_schema(),
        )?;
        ctx.register_table("agent_events_raw", Arc::new(events))?;
        for function in udf::functions() {
            ctx.register_udf(function);
        }
        let read_only = !engine.allow_write;
        Ok(Self {
            ctx,
            ctr_url: table_url,
            agent_events_url,
            sql_options: SQLOptions::new()
                .with_allow_ddl(!read_only)
                .with_allow_dml(!read_only)
                .with_allow_statements(!read_only),
            memory_limit: engine.memory_limit,
        })
    }

    /// The first and last `dt` partition of the lake (from the listing of `ctr/`, no file is
    /// read), or `None` for an empty lake. Partitions outside the years a CTR can hold (which
    /// only a file from elsewhere or an older ctrlake can have made) are left out, so that a
    /// `9999-12-31` folder cannot stretch the whole-lake window to year 10000.
    pub async fn partition_dates(&self) -> Result<Option<(NaiveDate, NaiveDate)>, QueryError> {
        self.partition_dates_of(&self.ctr_url).await
    }

    /// [`KpiEngine::partition_dates`] of `agent_events/`.
    pub async fn agent_event_partition_dates(
        &self,
    ) -> Result<Option<(NaiveDate, NaiveDate)>, QueryError> {
        self.partition_dates_of(&self.agent_events_url).await
    }

    async fn partition_dates_of(
        &self,
        table: &ListingTableUrl,
    ) -> Result<Option<(NaiveDate, NaiveDate)>, QueryError> {
        let store = self.ctx.runtime_env().object_store(table)?;
        let listing = store
            .list_with_delimiter(Some(table.prefix()))
            .await
            .map_err(datafusion::error::DataFusionError::from)?;
        let dates = listing.common_prefixes.iter().filter_map(|prefix| {
            let date = prefix.filename()?.strip_prefix("dt=")?;
            NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
        });
        let (first_day, last_day) = reports::supported_days();
        let dates = dates.filter(|date| {
            (first_day.succ_opt().unwrap_or(first_day)..=last_day.pred_opt().unwrap_or(last_day))
                .contains(date)
        });
        Ok(dates.fold(None, |range, date| match range {
            None => Some((date, date)),
            Some((first, last)) => Some((first.min(date), last.max(date))),
        }))
    }

    /// The local days in `tz` that can hold a contact of the lake: from the day before its
    /// first `dt` partition to the day after its last (a UTC day overlaps those three local
    /// days in any zone), or `None` for an empty lake.
    pub async fn lake_window(
        &self,
        tz: chrono_tz::Tz,
    ) -> Result<Option<reports::ReportWindow>, QueryError> {
        let Some((first, last)) = self.partition_dates().await? else {
            return Ok(None);
        };
        reports::ReportWindow::new(
            tz,
            first.pred_opt().unwrap_or(first),
            last.succ_opt().unwrap_or(last),
        )
        .map(Some)
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs `sql` with named parameters bound to `params`.
    pub async fn query(
        &self,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<Vec<RecordBatch>, QueryError> {
        self.collect(self.frame(sql, params).await?).await
    }

    /// Runs a planned query and collects its batches, counting them against the session's
    /// memory limit (a result too large to hold ends with [`QueryError::MemoryLimit`] instead
    /// of taking the machine's memory).
    pub async fn collect(&self, frame: DataFrame) -> Result<Vec<RecordBatch>, QueryError> {
        let mut stream = match frame.execute_stream().await {
            Ok(stream) => stream,
            Err(error) => return Err(self.failure(error).await),
        };
        let reservation =
            MemoryConsumer::new("query result").register(&self.ctx.runtime_env().memory_pool);
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => return Err(self.failure(error).await),
            };
            if let Err(error) = reservation.try_grow(batch.get_array_memory_size()) {
                return Err(self.failure(error).await);
            }
            batches.push(batch);
        }
        Ok(batches)
    }

    /// [`KpiEngine::query_error`], and for an error that may come from one bad lake file
    /// (a corrupt footer, a column of another type), the file and what is wrong with it.
    async fn failure(&self, error: datafusion::error::DataFusionError) -> QueryError {
        let error = self.query_error(error);
        let QueryError::DataFusion(inner) = &error else {
            return error;
        };
        if !lake_files::may_be_a_bad_file(&inner.to_string()) {
            return error;
        }
        let Ok(store) = self.ctx.runtime_env().object_store(&self.ctr_url) else {
            return error;
        };
        let schema = ctrlake_model::lake_schema();
        match lake_files::first_unreadable_file(store, self.ctr_url.prefix(), &schema).await {
            Some((path, problem)) => {
                let file = match url::Url::parse(self.ctr_url.as_str()) {
                    Ok(url) if url.scheme() == "s3" => {
                        format!("s3://{}/{path}", url.host_str().unwrap_or_default())
                    }
                    _ => format!("/{path}"),
                };
                QueryError::BadLakeFile { file, problem }
            }
            None => error,
        }
    }

    /// A DataFusion error as a [`QueryError`]: running out of the memory limit gets its own
    /// variant, which names the limit.
    fn query_error(&self, error: datafusion::error::DataFusionError) -> QueryError {
        match error.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(detail) => {
                let first = detail.lines().next().unwrap_or_default();
                // "Additional allocation failed for X with top memory consumers …: " + a list.
                let what = first
                    .split(" with top memory consumers")
                    .next()
                    .unwrap_or(first);
                QueryError::MemoryLimit {
                    limit_mb: self.memory_limit / 1_000_000,
                    detail: what.trim().to_lowercase(),
                }
            }
            _ => QueryError::DataFusion(error),
        }
    }

    /// The physical plan of `sql` as text (`EXPLAIN`): shows which files a query reads.
    pub async fn explain(
        &self,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<String, QueryError> {
        let batches = self
            .frame(sql, params)
            .await?
            .explain(false, false)?
            .collect()
            .await?;
        Ok(arrow_cast::pretty::pretty_format_batches(&batches)?.to_string())
    }

    /// The tables and views a query can name (the lake's and the report views; not
    /// `information_schema`), sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names = self
            .ctx
            .catalog("datafusion")
            .and_then(|catalog| catalog.schema("public"))
            .map(|schema| schema.table_names())
            .unwrap_or_default();
        names.retain(|name| !matches!(name.as_str(), "local_days" | "sl_thresholds"));
        names.sort();
        names
    }

    /// A planning error, with the closest known table when it names an unknown one.
    fn planning_error(&self, error: datafusion::error::DataFusionError) -> QueryError {
        let message = error.find_root().strip_backtrace();
        if message.contains("not found")
            && let Some(suggestion) = suggest_table(&message, &self.table_names())
        {
            return QueryError::Invalid(suggestion);
        }
        read_only_hint(error)
    }

    /// The statements of a script (`;`-separated, the last one's `;` optional), parsed in the
    /// session's SQL dialect, not yet planned: a syntax error anywhere stops the script
    /// before any statement runs.
    pub fn parse_script(&self, sql: &str) -> Result<Vec<ScriptStatement>, QueryError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect.to_string();
        let dialect = datafusion::sql::sqlparser::dialect::dialect_from_str(&dialect)
            .ok_or_else(|| QueryError::Invalid(format!("unknown SQL dialect {dialect}")))?;
        let statements =
            datafusion::sql::parser::DFParser::parse_sql_with_dialect(sql, dialect.as_ref())
                .map_err(|e| QueryError::Invalid(syntax_error(&e.to_string())))?;
        Ok(statements
            .into_iter()
            .map(|statement| ScriptStatement {
                text: statement.to_string(),
                statement,
            })
            .collect())
    }

    /// Plans one statement of [`KpiEngine::parse_script`] (as [`KpiEngine::frame`] plans a
    /// query: statements that change something only when the session allows them).
    pub async fn frame_statement(
        &self,
        statement: ScriptStatement,
    ) -> Result<DataFrame, QueryError> {
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(statement.statement)
            .await
            .map_err(|e| self.planning_error(e))?;
        self.sql_options
            .verify_plan(&plan)
            .map_err(read_only_hint)?;
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(read_only_hint)
    }

    /// Plans `sql` with named parameters bound to `params`.
    pub async fn frame(
        &self,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<DataFrame, QueryError> {
        let mut frame = self
            .ctx
            .sql_with_options(sql, self.sql_options)
            .await
            .map_err(|e| self.planning_error(e))?;
        if !params.is_empty() {
            let map: HashMap<String, _> = params
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone().into()))
                .collect();
            frame = frame.with_param_values(ParamValues::Map(map))?;
        }
        Ok(frame)
    }
}

/// The table of the lake's `folder` (`ctr`, `agent_events`): its Parquet files with `dt` from
/// the Hive path, read with `schema`, and the URL it lists.
fn lake_table(
    ctx: &SessionContext,
    root: &url::Url,
    location: &str,
    folder: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
) -> Result<(ListingTableUrl, ListingTable), QueryError> {
    let url = root
        .join(&format!("{folder}/"))
        .map_err(|e| QueryError::Open {
            location: location.to_owned(),
            message: e.to_string(),
        })?;
    // A URL, not a string: `ListingTableUrl::parse` would read `%20`, `#` or `?` in a
    // directory's name as URL syntax and list another directory than `ingest` wrote.
    let table_url = ListingTableUrl::try_new(url, None)?;
    let format = ParquetFormat::default().with_options(ctx.state().default_table_options().parquet);
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("dt".to_owned(), DataType::Utf8)]);
    let table = ListingTable::try_new(
        ListingTableConfig::new(table_url.clone())
            .with_listing_options(options)
            .with_schema(schema),
    )?
    // A report scans the same files several times (`contacts`, the callback look-up); without
    // this cache each scan read every footer and summarised its statistics again (measured,
    // planning the week's queue report: 10M contacts 0.91 s -> 0.42 s, 1M contacts 0.13 s ->
    // 0.09 s).
    .with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
    Ok((table_url, table))
}

/// The lake root as a URL DataFusion can list (parsed as `ingest` parses it, by
/// [`ctrlake_lake::LakeLocation`]), registering an S3 store when needed.
fn lake_root(ctx: &SessionContext, location: &str) -> Result<url::Url, QueryError> {
    let lake = ctrlake_lake::Lake::open_existing(location).map_err(|e| QueryError::Open {
        location: location.to_owned(),
        message: match e {
            ctrlake_lake::LakeError::Open { source, .. } => source.to_string(),
            other => other.to_string(),
        },
    })?;
    if let Some((bucket, store)) = lake.s3_bucket() {
        // The writer's S3 client (credentials and endpoint from the environment, path-style
        // requests), registered for the bucket: the URL's path is the prefix.
        let bucket_url =
            url::Url::parse(&format!("s3://{bucket}")).map_err(|e| QueryError::Open {
                location: location.to_owned(),
                message: e.to_string(),
            })?;
        ctx.register_object_store(&bucket_url, Arc::clone(store));
    }
    Ok(lake.url().clone())
}
