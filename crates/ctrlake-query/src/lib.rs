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

pub mod newest;
pub mod render;
pub mod reports;
pub mod udf;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::context::SessionContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig};

pub use reports::{ContactFilter, QueueReportOptions, ReportViews, ReportWindow};

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
    let message = error.find_root().strip_backtrace();
    let first = message.lines().next().unwrap_or_default().trim_end();
    if message.lines().nth(1).is_some() && first.contains("No field named") {
        format!("{first} (DESCRIBE <table> lists its columns)")
    } else {
        first.to_owned()
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

/// A query session over one lake.
pub struct KpiEngine {
    ctx: SessionContext,
    /// `<lake>/ctr/`, the table's root.
    ctr_url: ListingTableUrl,
}

impl KpiEngine {
    /// Opens the lake at `location` (a local directory or `s3://bucket/prefix`).
    pub async fn open(location: &str) -> Result<Self, QueryError> {
        // DATAFUSION_* environment variables tune the session (e.g.
        // DATAFUSION_EXECUTION_TARGET_PARTITIONS); ctrlake only changes what it measured.
        let mut config = SessionConfig::from_env()?.with_information_schema(true);
        if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_METADATA_SIZE_HINT").is_none() {
            config.options_mut().execution.parquet.metadata_size_hint = Some(FOOTER_READ_BYTES);
        }
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(
                CacheManagerConfig::default().with_metadata_cache_limit(METADATA_CACHE_BYTES),
            )
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let root = lake_root(&ctx, location)?;
        let table_url = ListingTableUrl::parse(format!("{root}/ctr/"))?;
        let format =
            ParquetFormat::default().with_options(ctx.state().default_table_options().parquet);
        let options = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("dt".to_owned(), DataType::Utf8)]);
        let table = ListingTable::try_new(
            ListingTableConfig::new(table_url.clone())
                .with_listing_options(options)
                .with_schema(ctrlake_model::lake_schema()),
        )?
        // A report scans the same files several times (`contacts`, the callback
        // look-up); without this cache each scan read every footer and summarised its
        // statistics again (measured, planning the week's queue report: 10M contacts
        // 0.91 s -> 0.42 s, 1M contacts 0.13 s -> 0.09 s).
        .with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
        let table = Arc::new(table);
        ctx.register_table("ctr_raw", Arc::clone(&table) as _)?;
        ctx.register_table("contacts", Arc::new(newest::NewestVersions::new(table)))?;
        for function in udf::functions() {
            ctx.register_udf(function);
        }
        Ok(Self {
            ctx,
            ctr_url: table_url,
        })
    }

    /// The first and last `dt` partition of the lake (from the listing of `ctr/`, no file is
    /// read), or `None` for an empty lake.
    pub async fn partition_dates(&self) -> Result<Option<(NaiveDate, NaiveDate)>, QueryError> {
        let store = self.ctx.runtime_env().object_store(&self.ctr_url)?;
        let listing = store
            .list_with_delimiter(Some(self.ctr_url.prefix()))
            .await
            .map_err(datafusion::error::DataFusionError::from)?;
        let dates = listing.common_prefixes.iter().filter_map(|prefix| {
            let date = prefix.filename()?.strip_prefix("dt=")?;
            NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
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
        Ok(self.frame(sql, params).await?.collect().await?)
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

    /// Plans `sql` with named parameters bound to `params`.
    pub async fn frame(
        &self,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<DataFrame, QueryError> {
        let mut frame = self.ctx.sql(sql).await?;
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

/// The lake root as a URL DataFusion can list, registering an S3 store when needed.
fn lake_root(ctx: &SessionContext, location: &str) -> Result<String, QueryError> {
    let open_error = |message: String| QueryError::Open {
        location: location.to_owned(),
        message,
    };
    if let Some(rest) = location.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or(rest);
        // The same S3 client settings as the writer's (credentials and endpoint from the
        // environment, path-style requests).
        let store =
            ctrlake_ingest::lake::s3_store(bucket).map_err(|e| open_error(e.to_string()))?;
        let url =
            url::Url::parse(&format!("s3://{bucket}")).map_err(|e| open_error(e.to_string()))?;
        ctx.register_object_store(&url, store);
        return Ok(location.trim_end_matches('/').to_owned());
    }
    // A plain path or a percent-encoded file:// URL, read exactly as `ingest` reads it.
    let path = ctrlake_ingest::lake::local_path(location);
    let absolute = std::fs::canonicalize(&path)
        .map_err(|e| open_error(format!("{e} (ingest something into it first)")))?;
    Ok(format!("file://{}", absolute.display())
        .trim_end_matches('/')
        .to_owned())
}
