//! The report commands and `ctrlake sql`'s report views: parameters in, the SQL of `queries/`
//! run (or registered as a view), a table out.
//!
//! Nothing here computes a KPI; the SQL files do. This module turns user choices (local dates,
//! a time zone, thresholds) into bound parameters, computes which UTC partitions a local window
//! touches, and reshapes the per-threshold rows of the queue report into one column per
//! threshold.

use std::sync::Arc;

use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, UInt64Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::DataFrame;

use crate::materialized::MaterializedView;
use crate::{KpiEngine, QueryError};

/// The per-day, per-queue KPI SQL.
pub const QUEUE_DAILY_SQL: &str = include_str!("../../../queries/queue_daily.sql");
/// The per-interval, per-queue KPI SQL with peak waiting.
pub const QUEUE_INTERVALS_SQL: &str = include_str!("../../../queries/queue_intervals.sql");
/// Contact search over a window.
pub const CONTACTS_SEARCH_SQL: &str = include_str!("../../../queries/contacts_search.sql");
/// Every leg of one contact's journey.
pub const CONTACT_CHAIN_SQL: &str = include_str!("../../../queries/contact_chain.sql");
/// The root of a contact's journey, looked up before [`CONTACT_CHAIN_SQL`].
pub const CONTACT_CHAIN_ROOT_SQL: &str = include_str!("../../../queries/contact_chain_root.sql");
/// What the KPIs count each contact of a window as: the view the queue and agent reports read.
pub const CLASSIFIED_CONTACTS_SQL: &str = include_str!("../../../queries/classified_contacts.sql");
/// The per-day, per-agent KPI SQL.
pub const AGENT_DAILY_SQL: &str = include_str!("../../../queries/agent_daily.sql");
/// Where agents' online time went, from the agent event stream: sums over [`AGENT_VIEWS`].
pub const AGENT_ACTIVITY_SQL: &str = include_str!("../../../queries/agent_activity.sql");
/// The views [`AGENT_ACTIVITY_SQL`] is built from, in order (each file reads those before it):
/// the agents' configuration at each event, every agent status as a span, every contact state
/// with an agent as a span, the tiling of each agent's time into activities, and when contacts
/// waited in each queue.
pub const AGENT_VIEWS: [(&str, &str); 5] = [
    (
        "agent_configs",
        include_str!("../../../queries/agent_configs.sql"),
    ),
    (
        "agent_status_spans",
        include_str!("../../../queries/agent_status_spans.sql"),
    ),
    (
        "agent_contact_spans",
        include_str!("../../../queries/agent_contact_spans.sql"),
    ),
    (
        "agent_activities",
        include_str!("../../../queries/agent_activities.sql"),
    ),
    (
        "queue_waiting_spans",
        include_str!("../../../queries/queue_waiting_spans.sql"),
    ),
];

/// How far after a report's last partition a callback leg is looked for (**choice**).
pub const CALLBACK_LOOKAHEAD_DAYS: i64 = 7;
/// How far before a report's first partition contacts are read unless a report says
/// otherwise ([`ReportWindow::with_lookback`]): a contact begun before midnight UTC can be
/// enqueued (or answered) on the window's first day (**choice**). A contact is found by the
/// UTC day it was initiated, so one enqueued more days after that (a scheduled task, a late
/// callback) needs a longer look-back.
pub const SCAN_LOOKBACK_DAYS: i64 = 1;
/// The longest look-back a report takes.
pub const MAX_LOOKBACK_DAYS: i64 = 366;

/// The first and last local day a report can cover: the years a CTR's timestamps can hold
/// (`ctrlake_model::decode::MIN_TIMESTAMP_MS` .. `END_TIMESTAMP_MS`) with a day to spare for
/// time zones. The bounds keep every partition name a four-digit year, so `dt` compares as
/// text in date order, and keep a window from enumerating centuries of intervals.
pub fn supported_days() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2016, 12, 31).unwrap_or(NaiveDate::MIN),
        NaiveDate::from_ymd_opt(2100, 1, 1).unwrap_or(NaiveDate::MAX),
    )
}

/// Local calendar days `from..=to` in a time zone.
#[derive(Debug, Clone)]
pub struct ReportWindow {
    pub tz: Tz,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days of partitions read before the window's first (see [`SCAN_LOOKBACK_DAYS`]).
    pub lookback_days: i64,
}

impl ReportWindow {
    pub fn new(tz: Tz, from: NaiveDate, to: NaiveDate) -> Result<Self, QueryError> {
        let (first, last) = supported_days();
        if from < first || to > last {
            return Err(QueryError::Invalid(format!(
                "{from} to {to}: reports cover days from {first} to {last} (a contact trace \
                 record's timestamps are from 2017 to 2099)"
            )));
        }
        if to < from {
            return Err(QueryError::Invalid(format!(
                "--to {to} is before --from {from}"
            )));
        }
        Ok(Self {
            tz,
            from,
            to,
            lookback_days: SCAN_LOOKBACK_DAYS,
        })
    }

    /// The window reading `days` of partitions before its first: contacts initiated up to
    /// that many UTC days before they were enqueued or answered are found.
    pub fn with_lookback(mut self, days: i64) -> Result<Self, QueryError> {
        if !(0..=MAX_LOOKBACK_DAYS).contains(&days) {
            return Err(QueryError::Invalid(format!(
                "--lookback {days}d: expected 0d to {MAX_LOOKBACK_DAYS}d"
            )));
        }
        self.lookback_days = days;
        Ok(self)
    }

    /// The first instant of local day `date` (the earliest, if midnight repeats; the first
    /// existing minute, if a DST jump skips midnight).
    fn start_of(&self, date: NaiveDate) -> i64 {
        let mut naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        for _ in 0..=120 {
            if let Some(t) = self.tz.from_local_datetime(&naive).earliest() {
                return t.timestamp_millis();
            }
            naive += chrono::Duration::minutes(1);
        }
        naive.and_utc().timestamp_millis()
    }

    /// The UTC partitions (`dt` values, inclusive) that overlap the local days.
    pub fn partitions(&self) -> (String, String) {
        let start = self.start_of(self.from);
        let end = self.start_of(self.to.checked_add_days(Days::new(1)).unwrap_or(self.to)) - 1;
        (
            ctrlake_model::timestamp::utc_date(start),
            ctrlake_model::timestamp::utc_date(end),
        )
    }

    /// Each local day of the window with its first instant and the next day's, in epoch
    /// milliseconds (23 or 25 hours apart on a daylight-saving change).
    pub fn local_days(&self) -> Vec<(NaiveDate, i64, i64)> {
        self.from
            .iter_days()
            .take_while(|day| *day <= self.to)
            .map(|day| {
                let next = day.succ_opt().unwrap_or(day);
                (day, self.start_of(day), self.start_of(next))
            })
            .collect()
    }

    /// Epoch milliseconds of the first instant of the window and of the day after it.
    pub fn bounds(&self) -> (i64, i64) {
        let after = self.to.checked_add_days(Days::new(1)).unwrap_or(self.to);
        (self.start_of(self.from), self.start_of(after))
    }

    /// The bound parameters every report file takes (see `queries/README.md`).
    pub fn params(&self) -> Vec<(&'static str, ScalarValue)> {
        let (dt_from, dt_to) = self.partitions();
        let shift = |dt: &str, days: i64| {
            NaiveDate::parse_from_str(dt, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(days)))
                .map_or(dt.to_owned(), |d| d.format("%Y-%m-%d").to_string())
        };
        let text = |value: String| ScalarValue::Utf8(Some(value));
        vec![
            ("tz", text(self.tz.name().to_owned())),
            ("from_date", text(self.from.to_string())),
            ("to_date", text(self.to.to_string())),
            ("dt_scan_from", text(shift(&dt_from, -self.lookback_days))),
            (
                "callback_dt_to",
                text(shift(&dt_to, CALLBACK_LOOKAHEAD_DAYS)),
            ),
            ("dt_from", text(dt_from)),
            ("dt_to", text(dt_to)),
        ]
    }
}

/// Options of `report queues`.
#[derive(Debug, Clone)]
pub struct QueueReportOptions {
    /// Service-level thresholds in seconds (default 20 and 60).
    pub thresholds: Vec<i64>,
    /// Count `D == X` as within the threshold (`<=`) instead of the default `<`.
    pub inclusive: bool,
    /// One row per day (or interval) for every queue together, without the `queue` column:
    /// the center's KPIs computed from its contacts (never averages of the queues' averages;
    /// its peak waiting counts every queue's callers at the same second).
    pub all_queues: bool,
    /// A row per channel too (VOICE, CHAT, TASK, ...), with a `channel` column: voice and chat
    /// waits are not averaged together.
    pub by_channel: bool,
}

impl Default for QueueReportOptions {
    fn default() -> Self {
        Self {
            thresholds: vec![20, 60],
            inclusive: false,
            all_queues: false,
            by_channel: false,
        }
    }
}

/// What the report views of `ctrlake sql` cover (see [`KpiEngine::register_report_views`]).
#[derive(Debug, Clone)]
pub struct ReportViews {
    pub window: ReportWindow,
    /// Interval length of `queue_intervals`, a divisor of 60.
    pub minutes: u32,
    pub queue: QueueReportOptions,
}

/// Filters of `ctrlake contacts`; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub channel: Option<String>,
    pub initiation_method: Option<String>,
    pub customer: Option<String>,
    pub contact_id: Option<String>,
}

/// Columns of the per-threshold rows that become one column per threshold.
const PER_THRESHOLD: [(&str, &str); 5] = [
    ("service_level_pct", "service_level_{}_pct"),
    ("answered_within_pct", "answered_within_{}_pct"),
    ("contacts_answered_in", "contacts_answered_in_{}"),
    ("contacts_abandoned_in", "contacts_abandoned_in_{}"),
    (
        "contacts_removed_from_queue_in",
        "contacts_removed_from_queue_in_{}",
    ),
];

impl KpiEngine {
    /// Binds the thresholds table the queue reports cross-join with.
    fn set_thresholds(&self, options: &QueueReportOptions) -> Result<Vec<i64>, QueryError> {
        let mut thresholds = options.thresholds.clone();
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.is_empty() || thresholds.iter().any(|&t| t < 0) {
            return Err(QueryError::Invalid(
                "--sl needs one or more non-negative thresholds in seconds, like 20,60".into(),
            ));
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "threshold_s",
            DataType::Int64,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(thresholds.clone())) as ArrayRef],
        )?;
        let table = MemTable::try_new(schema, vec![vec![batch]])?;
        self.ctx.deregister_table("sl_thresholds")?;
        self.ctx.register_table("sl_thresholds", Arc::new(table))?;
        Ok(thresholds)
    }

    async fn single_batch(
        &self,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<RecordBatch, QueryError> {
        self.collect_single(self.frame(sql, params).await?).await
    }

    /// Runs a query and joins its batches into one.
    async fn collect_single(&self, frame: DataFrame) -> Result<RecordBatch, QueryError> {
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = self.collect(frame).await?;
        Ok(concat_batches(&schema, &batches)?)
    }

    /// `report queues`: KPIs per local day and queue.
    pub async fn queue_daily(
        &self,
        window: &ReportWindow,
        options: &QueueReportOptions,
    ) -> Result<RecordBatch, QueryError> {
        let thresholds = self.set_thresholds(options)?;
        self.register_classified_contacts(window).await?;
        let long = self
            .single_batch(QUEUE_DAILY_SQL, &queue_daily_params(window, options))
            .await?;
        grouping_columns_only(pivot_thresholds(&long, &thresholds)?, options)
    }

    /// `report intervals`: the queue KPIs per local `minutes`-long interval, with peak waiting.
    pub async fn queue_intervals(
        &self,
        window: &ReportWindow,
        minutes: u32,
        options: &QueueReportOptions,
    ) -> Result<RecordBatch, QueryError> {
        let params = queue_intervals_params(window, minutes, options)?;
        let thresholds = self.set_thresholds(options)?;
        self.register_classified_contacts(window).await?;
        let long = self.single_batch(QUEUE_INTERVALS_SQL, &params).await?;
        grouping_columns_only(pivot_thresholds(&long, &thresholds)?, options)
    }

    /// `contacts`: de-duplicated contacts initiated in the window, filtered.
    pub async fn contacts(
        &self,
        window: &ReportWindow,
        filter: &ContactFilter,
    ) -> Result<RecordBatch, QueryError> {
        let text = |value: &Option<String>| ScalarValue::Utf8(value.clone());
        let mut params = window.params();
        params.extend([
            ("queue", text(&filter.queue)),
            ("agent", text(&filter.agent)),
            ("channel", text(&filter.channel)),
            ("initiation_method", text(&filter.initiation_method)),
            ("customer", text(&filter.customer)),
            ("contact_id", text(&filter.contact_id)),
        ]);
        self.single_batch(CONTACTS_SEARCH_SQL, &params).await
    }

    /// `contacts --chain ID`: every leg of the journey of contact `contact_id` (no row when the
    /// lake has no such contact). Two queries: the root of the journey, then its legs, so that
    /// every scan filters on a literal id its bloom filters can rule files out by.
    pub async fn contact_chain(&self, contact_id: &str, tz: Tz) -> Result<RecordBatch, QueryError> {
        let id = ScalarValue::Utf8(Some(contact_id.to_owned()));
        let roots = self
            .single_batch(CONTACT_CHAIN_ROOT_SQL, &[("contact_id", id)])
            .await?;
        let root = match roots.column_by_name("root_id") {
            Some(column) if roots.num_rows() > 0 => ScalarValue::try_from_array(column, 0)?,
            // No such contact: the legs query with a NULL root returns no row (and the columns).
            _ => ScalarValue::Utf8(None),
        };
        let params = [
            ("tz", ScalarValue::Utf8(Some(tz.name().to_owned()))),
            ("root_id", root),
        ];
        // The scan of the legs' versions is cut to the files that may hold the candidates' ids
        // only when the join collects the few candidates on one side and passes them to the
        // scan as an IN list. A partitioned join (DataFusion's choice when it cannot tell the
        // candidates are few) passes a hash expression no bloom filter can check: measured on
        // a 10M-contact lake, 467 MB and 3.7 s read instead of 25 MB and 0.1 s.
        // (The frame's state is its own copy; rebuilding one with `SessionStateBuilder` would
        // replace the engine's shared catalog, and with it `ctr_raw`.)
        let (mut state, plan) = self.frame(CONTACT_CHAIN_SQL, &params).await?.into_parts();
        state.config_mut().options_mut().optimizer.repartition_joins = false;
        self.collect_single(DataFrame::new(state, plan)).await
    }

    /// `report agents`: KPIs per local day and agent.
    pub async fn agent_daily(
        &self,
        window: &ReportWindow,
        group: AgentGroup,
    ) -> Result<RecordBatch, QueryError> {
        self.register_classified_contacts(window).await?;
        let mut params = window.params();
        params.push(("group_by", ScalarValue::Utf8(Some(group.name().to_owned()))));
        let batch = self.single_batch(AGENT_DAILY_SQL, &params).await?;
        named_group(&batch, group, "agent")
    }

    /// Registers the view `classified_contacts` over `window`'s partitions (replacing the one
    /// registered before): the queue and agent reports read it.
    async fn register_classified_contacts(&self, window: &ReportWindow) -> Result<(), QueryError> {
        let view = self
            .frame(CLASSIFIED_CONTACTS_SQL, &window.params())
            .await?
            .into_view();
        self.ctx.deregister_table("classified_contacts")?;
        self.ctx.register_table("classified_contacts", view)?;
        Ok(())
    }

    /// `report agent-activity`: where agents' online time went, per local day and agent (or
    /// per routing profile or hierarchy group, see [`AgentGroup`]).
    pub async fn agent_activity(
        &self,
        window: &ReportWindow,
        group: AgentGroup,
    ) -> Result<RecordBatch, QueryError> {
        self.set_local_days(window)?;
        let mut params = agent_activity_params(window);
        self.register_agent_views(&params).await?;
        params.push(("group_by", ScalarValue::Utf8(Some(group.name().to_owned()))));
        let batch = self.single_batch(AGENT_ACTIVITY_SQL, &params).await?;
        named_group(&batch, group, "grp")
    }

    /// Registers [`AGENT_VIEWS`] with `params` bound (and `local_days` set), each computed
    /// once, on its first read ([`MaterializedView`]), replacing those registered before.
    async fn register_agent_views(&self, params: &[(&str, ScalarValue)]) -> Result<(), QueryError> {
        for (name, sql) in AGENT_VIEWS {
            let view = MaterializedView::new(name, self.frame(sql, params).await?);
            self.ctx.deregister_table(name)?;
            self.ctx.register_table(name, Arc::new(view))?;
        }
        Ok(())
    }

    /// Registers `local_days(date, start_ms, end_ms)`: the window's local days.
    fn set_local_days(&self, window: &ReportWindow) -> Result<(), QueryError> {
        let days = window.local_days();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("start_ms", DataType::Int64, false),
            Field::new("end_ms", DataType::Int64, false),
        ]));
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let dates: Vec<i32> = days
            .iter()
            .map(|(day, _, _)| i32::try_from((*day - epoch).num_days()).unwrap_or_default())
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Date32Array::from(dates)) as ArrayRef,
                Arc::new(Int64Array::from_iter_values(days.iter().map(|d| d.1))),
                Arc::new(Int64Array::from_iter_values(days.iter().map(|d| d.2))),
            ],
        )?;
        let table = MemTable::try_new(schema, vec![vec![batch]])?;
        self.ctx.deregister_table("local_days")?;
        self.ctx.register_table("local_days", Arc::new(table))?;
        Ok(())
    }

    /// Registers one view per KPI query for ad-hoc SQL: `queue_daily`, `queue_intervals`,
    /// `agent_daily` and `agent_activity` (per agent) are the report files with their
    /// parameters bound to `views`, and `agent_status_spans`, `agent_contact_spans` and
    /// `agent_activities` the views agent activity is built from (see [`AGENT_VIEWS`]),
    /// replacing views registered before. The queue views keep one row per service-level
    /// threshold (`threshold_s`), as the SQL computes them; the reports spread those rows into
    /// columns.
    pub async fn register_report_views(&self, views: &ReportViews) -> Result<(), QueryError> {
        let intervals = queue_intervals_params(&views.window, views.minutes, &views.queue)?;
        self.set_thresholds(&views.queue)?;
        self.set_local_days(&views.window)?;
        self.register_classified_contacts(&views.window).await?;
        let mut agent_params = agent_activity_params(&views.window);
        self.register_agent_views(&agent_params).await?;
        agent_params.push(("group_by", ScalarValue::Utf8(Some("agent".to_owned()))));
        let activity = self
            .frame(AGENT_ACTIVITY_SQL, &agent_params)
            .await?
            .drop_columns(&["agents"])?
            .with_column_renamed("grp", "agent")?;
        self.ctx.deregister_table("agent_activity")?;
        self.ctx
            .register_table("agent_activity", activity.into_view())?;
        for (name, sql, params) in [
            (
                "queue_daily",
                QUEUE_DAILY_SQL,
                queue_daily_params(&views.window, &views.queue),
            ),
            ("queue_intervals", QUEUE_INTERVALS_SQL, intervals),
        ] {
            let view = self.frame(sql, &params).await?.into_view();
            self.ctx.deregister_table(name)?;
            self.ctx.register_table(name, view)?;
        }
        let mut daily_params = views.window.params();
        daily_params.push(("group_by", ScalarValue::Utf8(Some("agent".to_owned()))));
        let daily = self
            .frame(AGENT_DAILY_SQL, &daily_params)
            .await?
            .drop_columns(&["agents"])?;
        self.ctx.deregister_table("agent_daily")?;
        self.ctx.register_table("agent_daily", daily.into_view())?;
        Ok(())
    }
}

/// The parameters of `queue_daily.sql`.
fn queue_daily_params(
    window: &ReportWindow,
    options: &QueueReportOptions,
) -> Vec<(&'static str, ScalarValue)> {
    let mut params = window.params();
    params.extend([
        (
            "sl_inclusive",
            ScalarValue::Boolean(Some(options.inclusive)),
        ),
        ("all_queues", ScalarValue::Boolean(Some(options.all_queues))),
        ("by_channel", ScalarValue::Boolean(Some(options.by_channel))),
    ]);
    params
}

/// A report keeps the columns it is grouped by: no `queue` column for every queue together,
/// no `channel` column unless grouped by channel (the SQL leaves them NULL).
fn grouping_columns_only(
    report: RecordBatch,
    options: &QueueReportOptions,
) -> Result<RecordBatch, QueryError> {
    let keep: Vec<usize> = (0..report.num_columns())
        .filter(
            |&index| match report.schema().field(index).name().as_str() {
                "queue" => !options.all_queues,
                "channel" => options.by_channel,
                _ => true,
            },
        )
        .collect();
    Ok(report.project(&keep)?)
}

/// A report grouped by `group`: its group column (`key`) takes the group's name, and per agent
/// the agent count (always 1) goes.
fn named_group(
    batch: &RecordBatch,
    group: AgentGroup,
    key: &str,
) -> Result<RecordBatch, QueryError> {
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match field.name().as_str() {
            "agents" if group == AgentGroup::Agent => continue,
            name if name == key => fields.push(field.as_ref().clone().with_name(group.name())),
            _ => fields.push(field.as_ref().clone()),
        }
        columns.push(Arc::clone(column));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// What `report agent-activity` and `report agents` group agents by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentGroup {
    Agent,
    RoutingProfile,
    /// Hierarchy level 1 to 5.
    HierarchyLevel(u8),
}

impl AgentGroup {
    /// The group's column name (and `$group_by` value).
    pub fn name(self) -> &'static str {
        match self {
            AgentGroup::Agent => "agent",
            AgentGroup::RoutingProfile => "routing_profile",
            AgentGroup::HierarchyLevel(1) => "hierarchy_level1",
            AgentGroup::HierarchyLevel(2) => "hierarchy_level2",
            AgentGroup::HierarchyLevel(3) => "hierarchy_level3",
            AgentGroup::HierarchyLevel(4) => "hierarchy_level4",
            AgentGroup::HierarchyLevel(_) => "hierarchy_level5",
        }
    }
}

/// The parameters of `agent_activity.sql`: the window's, and the partition after its last (a
/// span that begins in the window can end the next day).
fn agent_activity_params(window: &ReportWindow) -> Vec<(&'static str, ScalarValue)> {
    let (_, dt_to) = window.partitions();
    let after = NaiveDate::parse_from_str(&dt_to, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .map_or(dt_to, |d| d.format("%Y-%m-%d").to_string());
    let mut params = window.params();
    params.push(("events_dt_to", ScalarValue::Utf8(Some(after))));
    params
}

/// The parameters of `queue_intervals.sql`: those of `queue_daily.sql` and the interval grid.
fn queue_intervals_params(
    window: &ReportWindow,
    minutes: u32,
    options: &QueueReportOptions,
) -> Result<Vec<(&'static str, ScalarValue)>, QueryError> {
    if minutes == 0 || 60 % minutes != 0 {
        return Err(QueryError::Invalid(format!(
            "--minutes {minutes}: expected a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)"
        )));
    }
    let (start, end) = window.bounds();
    let interval_ms = i64::from(minutes) * 60_000;
    let mut params = queue_daily_params(window, options);
    params.extend([
        ("minutes", ScalarValue::Int64(Some(i64::from(minutes)))),
        ("window_start_ms", ScalarValue::Int64(Some(start))),
        ("interval_ms", ScalarValue::Int64(Some(interval_ms))),
        (
            "interval_count",
            ScalarValue::Int64(Some((end - start + interval_ms - 1) / interval_ms)),
        ),
    ]);
    Ok(params)
}

/// Rows come ordered by (date, queue, threshold_s) with every threshold present for every
/// (date, queue): keep the first row of each group, and spread the per-threshold columns.
fn pivot_thresholds(long: &RecordBatch, thresholds: &[i64]) -> Result<RecordBatch, QueryError> {
    let per_group = thresholds.len();
    let groups = long.num_rows() / per_group;
    let firsts = UInt64Array::from_iter_values((0..groups).map(|g| (g * per_group) as u64));
    let schema = long.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        if name == "threshold_s" {
            continue;
        }
        if let Some((_, pattern)) = PER_THRESHOLD.iter().find(|(column, _)| *column == name) {
            for (k, threshold) in thresholds.iter().enumerate() {
                let rows =
                    UInt64Array::from_iter_values((0..groups).map(|g| (g * per_group + k) as u64));
                fields.push(Field::new(
                    pattern.replace("{}", &threshold.to_string()),
                    field.data_type().clone(),
                    true,
                ));
                columns.push(take(long.column(index), &rows, None)?);
            }
        } else {
            fields.push(field.as_ref().clone());
            columns.push(take(long.column(index), &firsts, None)?);
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn a_tokyo_day_reads_two_utc_partitions() {
        let tz = crate::udf::parse_time_zone("Asia/Tokyo").expect("zone");
        let window = ReportWindow::new(tz, date("2026-03-02"), date("2026-03-02")).expect("ok");
        assert_eq!(
            window.partitions(),
            ("2026-03-01".to_owned(), "2026-03-02".to_owned())
        );
    }

    #[test]
    fn a_utc_week_reads_exactly_its_days() {
        let window =
            ReportWindow::new(chrono_tz::UTC, date("2026-03-01"), date("2026-03-07")).expect("ok");
        assert_eq!(
            window.partitions(),
            ("2026-03-01".to_owned(), "2026-03-07".to_owned())
        );
    }

    #[test]
    fn a_new_york_day_reads_its_own_and_the_next_utc_day() {
        let tz = crate::udf::parse_time_zone("America/New_York").expect("zone");
        // The day DST starts (2026-03-08) is 23 hours long.
        let window = ReportWindow::new(tz, date("2026-03-08"), date("2026-03-08")).expect("ok");
        assert_eq!(
            window.partitions(),
            ("2026-03-08".to_owned(), "2026-03-09".to_owned())
        );
    }

    #[test]
    fn windows_outside_the_years_of_ctrs_are_rejected() {
        for (from, to) in [("1970-01-01", "2026-03-01"), ("2026-03-01", "9999-12-31")] {
            let error = ReportWindow::new(chrono_tz::UTC, date(from), date(to))
                .expect_err("outside")
                .to_string();
            assert!(error.contains("from 2016-12-31 to 2100-01-01"), "{error}");
        }
    }

    #[test]
    fn backwards_windows_are_rejected() {
        assert!(ReportWindow::new(chrono_tz::UTC, date("2026-03-02"), date("2026-03-01")).is_err());
    }
}
