//! `ctrlake report html`: the nightly report managers open, one self-contained HTML file.
//!
//! Why a page and not another CSV: the people who act on the numbers read them in a mail or a
//! browser, want the day at a glance (the center's headline KPIs, how the day went per 15
//! minutes, how it compares with the same weekday a week earlier), and cannot run a query.
//!
//! Every number comes from the same engine calls as `report queues`, `report intervals` and
//! `report agents`, so the page and the CSV reports agree cell for cell (the browser test checks
//! it). The center's row is `--all-queues` (computed from the contacts, never by averaging the
//! queues' averages); a queue's peak waiting for the day is the largest of its intervals'
//! per-second peaks. The only arithmetic here is week-over-week differences.
//!
//! The charts are Vega-Lite specs drawn in the browser by the Vega libraries embedded in the
//! binary (`assets/vega/`), so the file works with no network. Text goes through minijinja's
//! HTML escaping (queue and agent names are whatever the Connect instance holds), and the
//! specs through its `tojson`, which escapes what could end a `<script>`.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use arrow_array::Array;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use ctrlake_query::render::RecordBatch;
use ctrlake_query::{KpiEngine, QueueReportOptions, ReportWindow};
use serde::Serialize;
use serde_json::{Value, json};

const VEGA: &str = include_str!("../assets/vega/vega.min.js");
const VEGA_LITE: &str = include_str!("../assets/vega/vega-lite.min.js");
const TEMPLATE: &str = include_str!("../templates/report.html");

/// The queue report's columns the page's queue table shows (with every service level, in the
/// report's order); the CSV report has the rest (the sums behind the averages, ...).
const QUEUE_COLUMNS: [&str; 13] = [
    "contacts_queued",
    "contacts_handled",
    "contacts_abandoned",
    "abandonment_rate_pct",
    "avg_queue_answer_time_s",
    "avg_queue_abandon_time_s",
    "max_queued_time_s",
    "avg_handle_time_s",
    "avg_agent_interaction_s",
    "avg_customer_hold_s",
    "avg_after_contact_work_s",
    "contacts_transferred_out",
    "contacts_callback_requested",
];

/// The agent report's columns the page's agent tables show.
const AGENT_COLUMNS: [&str; 7] = [
    "contacts_handled",
    "avg_handle_time_s",
    "total_agent_interaction_s",
    "total_customer_hold_s",
    "total_after_contact_work_s",
    "contacts_put_on_hold",
    "missed_offers_before_answer",
];

/// Agents shown in each of the top and bottom tables; with at most twice as many agents, one
/// table shows them all.
const TOP_AGENTS: usize = 10;

/// The language of the page's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    Ja,
}

/// What the page covers.
pub struct HtmlOptions {
    pub queue: QueueReportOptions,
    /// Interval length of the charts, a divisor of 60.
    pub minutes: u32,
    pub lang: Lang,
}

/// The page, and how many contacts the day had (none: an empty report).
pub struct HtmlReport {
    pub page: String,
    pub contacts_queued: u64,
}

/// A report's cells as the CSV report writes them, and its numbers as numbers.
struct Rows {
    columns: Vec<String>,
    rows: Vec<BTreeMap<String, Cell>>,
}

#[derive(Clone, Default)]
struct Cell {
    /// The CSV's text; `None` for null.
    text: Option<String>,
    number: Option<f64>,
}

impl Rows {
    fn of(batch: &RecordBatch) -> Result<Self> {
        let schema = batch.schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut rows = vec![BTreeMap::new(); batch.num_rows()];
        let options = FormatOptions::default();
        for (name, array) in columns.iter().zip(batch.columns()) {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            let numbers = ctrlake_query::render::numbers(array.as_ref())?;
            for (index, row) in rows.iter_mut().enumerate() {
                let cell = if array.is_null(index) {
                    Cell::default()
                } else {
                    Cell {
                        text: Some(formatter.value(index).try_to_string()?),
                        number: numbers.as_ref().map(|n| n.value(index)),
                    }
                };
                row.insert(name.clone(), cell);
            }
        }
        Ok(Self { columns, rows })
    }

    fn text<'a>(row: &'a BTreeMap<String, Cell>, column: &str) -> &'a str {
        row.get(column)
            .and_then(|cell| cell.text.as_deref())
            .unwrap_or("")
    }

    fn number(row: &BTreeMap<String, Cell>, column: &str) -> Option<f64> {
        row.get(column).and_then(|cell| cell.number)
    }
}

/// How a column's values read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Percent,
    Duration,
}

impl Kind {
    fn of(column: &str) -> Self {
        if column.ends_with("_pct") {
            Kind::Percent
        } else if column.ends_with("_s") {
            Kind::Duration
        } else {
            Kind::Count
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Kind::Count => grouped(value.round() as i64),
            Kind::Percent => format!("{value:.1}%"),
            Kind::Duration => duration(value),
        }
    }

    /// `now - before` as the page writes a change: counts with their relative change,
    /// percentages in points, durations as a signed m:ss.
    fn change(self, now: f64, before: f64) -> String {
        let delta = now - before;
        // What the change shows, so that a change too small to show reads as none.
        let shown = match self {
            Kind::Count => delta.abs().round(),
            Kind::Percent => (delta.abs() * 10.0).round() / 10.0,
            Kind::Duration => delta.abs().round(),
        };
        let sign = if shown == 0.0 {
            "±"
        } else if delta < 0.0 {
            "−"
        } else {
            "+"
        };
        match self {
            Kind::Count if before != 0.0 && shown != 0.0 => format!(
                "{sign}{} ({sign}{:.1}%)",
                grouped(shown as i64),
                (delta / before * 100.0).abs()
            ),
            Kind::Count => format!("{sign}{}", grouped(shown as i64)),
            Kind::Percent => format!("{sign}{shown:.1} pt"),
            Kind::Duration => format!("{sign}{}", duration(shown)),
        }
    }
}

/// Seconds as `m:ss` (rounded to the second), `h:mm:ss` from an hour on.
fn duration(seconds: f64) -> String {
    let total = seconds.round() as i64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// `1234567` as `1,234,567`.
fn grouped(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// Whether a rise is good news.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
    Neither,
}

/// One cell of a table on the page.
#[derive(Serialize)]
struct PageCell {
    /// The report's column.
    column: String,
    /// The CSV's text of the value (empty for null).
    value: String,
    shown: String,
}

impl PageCell {
    /// A report's cell on the page under `column`, shown as a `kind` of value reads.
    fn of(column: String, kind: Kind, cell: Option<&Cell>) -> Self {
        Self {
            column,
            value: cell.and_then(|c| c.text.clone()).unwrap_or_default(),
            shown: cell
                .and_then(|c| c.number)
                .map_or_else(String::new, |n| kind.show(n)),
        }
    }
}

#[derive(Serialize)]
struct PageRow {
    name: String,
    total: bool,
    cells: Vec<PageCell>,
}

#[derive(Serialize)]
struct Header {
    column: String,
    label: String,
}

#[derive(Serialize)]
struct PageTable {
    id: String,
    title: String,
    key_label: String,
    headers: Vec<Header>,
    rows: Vec<PageRow>,
}

#[derive(Serialize)]
struct Tile {
    column: String,
    label: String,
    shown: String,
    value: String,
    detail: String,
    change: String,
    /// `better`, `worse` or empty.
    trend: String,
}

#[derive(Serialize)]
struct Chart {
    id: String,
    title: String,
    spec: Value,
}

#[derive(Serialize)]
struct Page {
    lang: &'static str,
    title: String,
    subtitle: String,
    generated: String,
    labels: BTreeMap<&'static str, &'static str>,
    tiles: Vec<Tile>,
    tables: Vec<PageTable>,
    agent_tables: Vec<PageTable>,
    charts: Vec<Chart>,
    vega: &'static str,
    vega_lite: &'static str,
}

/// The page's fixed words in `lang`.
fn labels(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    let pairs: &[(&str, &str, &str)] = &[
        (
            "title",
            "Contact center daily report",
            "コンタクトセンター日次レポート",
        ),
        ("center", "All queues", "全キュー"),
        ("queue", "Queue", "キュー"),
        ("agent", "Agent", "エージェント"),
        ("queues", "Queues", "キュー別"),
        ("agents", "Agents", "エージェント"),
        ("charts", "Through the day", "時間帯別"),
        ("wow", "Week over week", "前週比"),
        ("this_day", "This day", "当日"),
        ("week_before", "A week before", "前週同曜日"),
        ("change", "Change", "増減"),
        ("vs_week_before", "vs a week before", "前週同曜日比"),
        (
            "no_week_before",
            "no data a week before",
            "前週のデータなし",
        ),
        ("top_agents", "Most contacts handled", "応答数 上位"),
        ("bottom_agents", "Fewest contacts handled", "応答数 下位"),
        ("all_agents", "All agents", "全エージェント"),
        (
            "no_agents",
            "No agent handled a contact this day.",
            "この日に応答したエージェントはいません。",
        ),
        ("peak_at", "at", "時刻"),
        ("generated", "Generated", "作成"),
        ("time", "Time", "時刻"),
        ("contacts", "Contacts", "件数"),
        ("waiting", "Callers waiting", "待ち呼数"),
        ("notes", "How these are counted", "集計の定義"),
        (
            "note_days",
            "A contact counts on the day and in the interval it entered its queue, in the report's time zone; durations are seconds from the contact trace records, shown as m:ss.",
            "コンタクトはキューに入った日・時間帯（レポートのタイムゾーン）で集計します。時間はコンタクト追跡レコードの秒数を m:ss で表示します。",
        ),
        (
            "note_sl",
            "Service level: contacts answered, abandoned or given a callback within the threshold, of all contacts queued. Abandonment rate: abandoned of queued.",
            "サービスレベル：しきい値内に応答・放棄・コールバック受付となったコンタクトの、受付数に対する割合。放棄率：受付数に対する放棄数の割合。",
        ),
        (
            "note_center",
            "The “All queues” row is computed from all the contacts, not by averaging the queues. Peak waiting: the most contacts waiting in queue at the same second.",
            "「全キュー」の行はすべてのコンタクトから計算しており、キュー別の値の平均ではありません。最大待ち呼数：同じ秒にキューで待っていたコンタクトの最大数。",
        ),
    ];
    pairs
        .iter()
        .map(|&(key, en, ja)| (key, if lang == Lang::Ja { ja } else { en }))
        .collect()
}

/// A report column's heading in `lang`.
fn column_label(column: &str, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    let threshold = |prefix: &str| {
        column
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("_pct"))
            .map(str::to_owned)
    };
    if let Some(x) = threshold("service_level_") {
        return if ja {
            format!("サービスレベル {x}秒")
        } else {
            format!("Service level {x} s")
        };
    }
    if let Some(x) = threshold("answered_within_") {
        return if ja {
            format!("{x}秒以内応答率")
        } else {
            format!("Answered within {x} s")
        };
    }
    let (en, ja_text) = match column {
        "contacts_queued" => ("Queued", "受付数"),
        "contacts_handled" => ("Handled", "応答数"),
        "contacts_abandoned" => ("Abandoned", "放棄数"),
        "abandonment_rate_pct" => ("Abandonment rate", "放棄率"),
        "avg_queue_answer_time_s" => ("Avg. speed of answer", "平均応答時間"),
        "avg_queue_abandon_time_s" => ("Avg. time to abandon", "平均放棄時間"),
        "max_queued_time_s" => ("Longest wait", "最長待ち時間"),
        "avg_handle_time_s" => ("Avg. handle time", "平均処理時間"),
        "avg_agent_interaction_s" => ("Avg. talk time", "平均通話時間"),
        "avg_customer_hold_s" => ("Avg. hold (held contacts)", "平均保留時間（保留あり）"),
        "avg_after_contact_work_s" => ("Avg. after-contact work", "平均後処理時間"),
        "contacts_put_on_hold" => ("Put on hold", "保留件数"),
        "contacts_transferred_out" => ("Transferred out", "転送数"),
        "contacts_callback_requested" => ("Callbacks", "コールバック数"),
        "agent_non_response" => ("Agent non-response", "エージェント無応答"),
        "peak_waiting" => ("Peak waiting", "最大待ち呼数"),
        "total_agent_interaction_s" => ("Talk time", "通話時間"),
        "total_customer_hold_s" => ("Hold time", "保留時間"),
        "total_after_contact_work_s" => ("After-contact work", "後処理時間"),
        "missed_offers_before_answer" => ("Missed offers", "不在着信"),
        other => (other, other),
    };
    if ja { ja_text } else { en }.to_owned()
}

/// The reports a page is made of: the day's and the same weekday's a week before.
struct Day {
    queues: Rows,
    center: Rows,
    queues_before: Rows,
    center_before: Rows,
    intervals: Rows,
    center_intervals: Rows,
    agents: Rows,
}

/// The labels and choices every part of the page shares.
struct Words {
    lang: Lang,
    words: BTreeMap<&'static str, &'static str>,
    /// The service-level column the page leads with (the smallest threshold).
    first_sl: String,
}

impl Words {
    fn get(&self, key: &str) -> &'static str {
        self.words.get(key).copied().unwrap_or("")
    }

    fn headers(&self, columns: &[String]) -> Vec<Header> {
        columns
            .iter()
            .map(|c| Header {
                column: c.clone(),
                label: column_label(c, self.lang),
            })
            .collect()
    }
}

/// The page for the one local day of `window`.
pub async fn render(
    engine: &KpiEngine,
    window: &ReportWindow,
    options: &HtmlOptions,
) -> Result<HtmlReport> {
    if window.from != window.to {
        bail!("report html covers one day: give --date DAY");
    }
    let week_before = ReportWindow::new(
        window.tz,
        window.from - chrono::Days::new(7),
        window.to - chrono::Days::new(7),
    )?
    .with_lookback(window.lookback_days)?;
    let all = QueueReportOptions {
        all_queues: true,
        by_channel: false,
        ..options.queue.clone()
    };
    let by_queue = QueueReportOptions {
        all_queues: false,
        by_channel: false,
        ..options.queue.clone()
    };
    let minutes = options.minutes;
    let day = Day {
        queues: Rows::of(&engine.queue_daily(window, &by_queue).await?)?,
        center: Rows::of(&engine.queue_daily(window, &all).await?)?,
        queues_before: Rows::of(&engine.queue_daily(&week_before, &by_queue).await?)?,
        center_before: Rows::of(&engine.queue_daily(&week_before, &all).await?)?,
        intervals: Rows::of(&engine.queue_intervals(window, minutes, &by_queue).await?)?,
        center_intervals: Rows::of(&engine.queue_intervals(window, minutes, &all).await?)?,
        agents: Rows::of(
            &engine
                .agent_daily(window, ctrlake_query::AgentGroup::Agent)
                .await?,
        )?,
    };
    let words = Words {
        lang: options.lang,
        words: labels(options.lang),
        first_sl: format!(
            "service_level_{}_pct",
            options.queue.thresholds.iter().min().copied().unwrap_or(20)
        ),
    };
    let center_peak = center_peak(&day.center_intervals);
    let page = Page {
        lang: if options.lang == Lang::Ja { "ja" } else { "en" },
        title: format!("{} {}", words.get("title"), window.from),
        subtitle: format!("{} ({})", window.from, window.tz.name()),
        generated: format!(
            "{} {} · ctrlake {}",
            words.get("generated"),
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            env!("CARGO_PKG_VERSION")
        ),
        tiles: headline_tiles(&day, center_peak.as_ref(), &words),
        tables: vec![
            queue_table(&day, center_peak.as_ref(), &words),
            week_over_week_table(&day, &words),
        ],
        agent_tables: agent_tables(&day.agents, &words),
        charts: charts(&day, &interval_grid(window, minutes), minutes, &words),
        labels: words.words.clone(),
        vega: VEGA,
        vega_lite: VEGA_LITE,
    };
    let contacts_queued = day
        .center
        .rows
        .first()
        .and_then(|row| Rows::number(row, "contacts_queued"))
        .unwrap_or(0.0) as u64;
    let mut environment = minijinja::Environment::new();
    environment.add_template("report.html", TEMPLATE)?;
    let page = environment
        .get_template("report.html")?
        .render(minijinja::value::Serde(&page))?;
    Ok(HtmlReport {
        page,
        contacts_queued,
    })
}

/// The center's peak waiting for the day, and the first interval that reached it.
fn center_peak(center_intervals: &Rows) -> Option<(f64, String)> {
    let mut highest: Option<(f64, String)> = None;
    for row in &center_intervals.rows {
        let peak = Rows::number(row, "peak_waiting").unwrap_or(0.0);
        if highest.as_ref().is_none_or(|(most, _)| peak > *most) {
            highest = Some((peak, Rows::text(row, "interval_start").to_owned()));
        }
    }
    highest
}

/// The queues' KPIs for the day, each queue's peak waiting (the largest of its intervals'
/// per-second peaks), and the center's totals row.
fn queue_table(day: &Day, center_peak: Option<&(f64, String)>, words: &Words) -> PageTable {
    let mut peaks: BTreeMap<String, f64> = BTreeMap::new();
    for row in &day.intervals.rows {
        let peak = peaks
            .entry(Rows::text(row, "queue").to_owned())
            .or_default();
        *peak = peak.max(Rows::number(row, "peak_waiting").unwrap_or(0.0));
    }
    let columns: Vec<String> = day
        .queues
        .columns
        .iter()
        .filter(|c| c.starts_with("service_level_") || QUEUE_COLUMNS.contains(&c.as_str()))
        .cloned()
        .chain(["peak_waiting".to_owned()])
        .collect();
    let cells = |row: &BTreeMap<String, Cell>, peak: Option<f64>| {
        columns
            .iter()
            .map(|column| {
                let kind = Kind::of(column);
                if column == "peak_waiting" {
                    let peak = peak.unwrap_or(0.0);
                    let cell = Cell {
                        text: Some(format!("{peak}")),
                        number: Some(peak),
                    };
                    PageCell::of(column.clone(), kind, Some(&cell))
                } else {
                    PageCell::of(column.clone(), kind, row.get(column))
                }
            })
            .collect()
    };
    let mut rows: Vec<PageRow> = day
        .queues
        .rows
        .iter()
        .map(|row| {
            let name = Rows::text(row, "queue").to_owned();
            PageRow {
                cells: cells(row, peaks.get(&name).copied()),
                name,
                total: false,
            }
        })
        .collect();
    if let Some(row) = day.center.rows.first() {
        rows.push(PageRow {
            name: words.get("center").to_owned(),
            total: true,
            cells: cells(row, center_peak.map(|(peak, _)| *peak)),
        });
    }
    PageTable {
        id: "queues".into(),
        title: words.get("queues").into(),
        key_label: words.get("queue").into(),
        headers: words.headers(&columns),
        rows,
    }
}

/// The center and each queue: the headline KPIs of the day, a week before, and the change.
fn week_over_week_table(day: &Day, words: &Words) -> PageTable {
    let metrics = [
        "contacts_queued",
        "abandonment_rate_pct",
        words.first_sl.as_str(),
        "avg_queue_answer_time_s",
        "avg_handle_time_s",
    ];
    let mut headers = Vec::new();
    for metric in metrics {
        for (suffix, word) in [
            ("", "this_day"),
            (":week_before", "week_before"),
            (":change", "change"),
        ] {
            headers.push(Header {
                column: format!("{metric}{suffix}"),
                label: format!("{} · {}", column_label(metric, words.lang), words.get(word)),
            });
        }
    }
    let row = |name: String,
               total: bool,
               now: Option<&BTreeMap<String, Cell>>,
               before: Option<&BTreeMap<String, Cell>>| {
        let mut cells = Vec::new();
        for metric in metrics {
            let kind = Kind::of(metric);
            let now_value = now.and_then(|row| Rows::number(row, metric));
            let before_value = before.and_then(|row| Rows::number(row, metric));
            for (suffix, row) in [("", now), (":week_before", before)] {
                cells.push(PageCell::of(
                    format!("{metric}{suffix}"),
                    kind,
                    row.and_then(|row| row.get(metric)),
                ));
            }
            let change = match (now_value, before_value) {
                (Some(now), Some(before)) => kind.change(now, before),
                _ => String::new(),
            };
            cells.push(PageCell {
                column: format!("{metric}:change"),
                value: change.clone(),
                shown: change,
            });
        }
        PageRow { name, total, cells }
    };
    let mut rows: Vec<PageRow> = day
        .queues
        .rows
        .iter()
        .map(|now| {
            let name = Rows::text(now, "queue");
            let before = day
                .queues_before
                .rows
                .iter()
                .find(|b| Rows::text(b, "queue") == name);
            row(name.to_owned(), false, Some(now), before)
        })
        .collect();
    rows.push(row(
        words.get("center").to_owned(),
        true,
        day.center.rows.first(),
        day.center_before.rows.first(),
    ));
    PageTable {
        id: "week-over-week".into(),
        title: words.get("wow").into(),
        key_label: words.get("queue").into(),
        headers,
        rows,
    }
}

/// The center's headline KPIs, each with its change from a week before, and its peak waiting.
fn headline_tiles(day: &Day, center_peak: Option<&(f64, String)>, words: &Words) -> Vec<Tile> {
    let now = day.center.rows.first();
    let before = day.center_before.rows.first();
    let mut tiles = Vec::new();
    for (metric, better) in [
        ("contacts_queued", Better::Neither),
        ("contacts_handled", Better::Neither),
        ("abandonment_rate_pct", Better::Lower),
        (words.first_sl.as_str(), Better::Higher),
        ("avg_queue_answer_time_s", Better::Lower),
        ("avg_handle_time_s", Better::Neither),
    ] {
        let kind = Kind::of(metric);
        let value = now.and_then(|row| Rows::number(row, metric));
        let previous = before.and_then(|row| Rows::number(row, metric));
        let (change, trend) = match (value, previous) {
            (Some(value), Some(previous)) => {
                let change = kind.change(value, previous);
                let trend = if change.starts_with('±') {
                    String::new()
                } else {
                    trend(value - previous, better)
                };
                (format!("{change} {}", words.get("vs_week_before")), trend)
            }
            _ => (words.get("no_week_before").to_owned(), String::new()),
        };
        tiles.push(Tile {
            column: metric.to_owned(),
            label: column_label(metric, words.lang),
            shown: value.map_or_else(|| "–".to_owned(), |v| kind.show(v)),
            value: now.map_or("", |row| Rows::text(row, metric)).to_owned(),
            detail: String::new(),
            change,
            trend,
        });
    }
    if let Some((peak, at)) = center_peak {
        tiles.push(Tile {
            column: "peak_waiting".into(),
            label: column_label("peak_waiting", words.lang),
            shown: Kind::Count.show(*peak),
            value: format!("{peak}"),
            detail: format!("{} {}", words.get("peak_at"), wall_clock(at)),
            change: String::new(),
            trend: String::new(),
        });
    }
    tiles
}

/// The class of a change that is not nil: `better` or `worse`, or none for a KPI that is
/// neither good nor bad when it rises.
fn trend(delta: f64, better: Better) -> String {
    let good = match better {
        Better::Neither => return String::new(),
        Better::Higher => delta > 0.0,
        Better::Lower => delta < 0.0,
    };
    if good { "better" } else { "worse" }.to_owned()
}

/// `2026-03-02T09:15:00+09:00` → `09:15`.
fn wall_clock(interval_start: &str) -> &str {
    interval_start.get(11..16).unwrap_or(interval_start)
}

/// The local start of every `minutes`-long interval of `window`'s day, as the interval reports
/// write it (`2026-03-02T09:15:00+09:00`): the charts' x axis, so that quiet intervals keep
/// their place and a day with a daylight-saving change has its 23 or 25 hours.
fn interval_grid(window: &ReportWindow, minutes: u32) -> Vec<String> {
    use chrono::TimeZone;
    let (start, end) = window.bounds();
    let step = i64::from(minutes) * 60_000;
    let mut grid = Vec::new();
    let mut at = start;
    while at < end {
        if let Some(time) = window.tz.timestamp_millis_opt(at).single() {
            grid.push(time.format(ctrlake_query::udf::LOCAL_SECONDS).to_string());
        }
        at += step;
    }
    grid
}

/// The day's charts: the center's service level (the smallest threshold) and peak waiting per
/// interval, and contacts queued per interval stacked by queue.
fn charts(day: &Day, grid: &[String], minutes: u32, words: &Words) -> Vec<Chart> {
    let (lang, service_level) = (words.lang, words.first_sl.as_str());
    let points = |rows: &Rows, field: &str| {
        rows.rows
            .iter()
            .map(|row| {
                json!({
                    "interval_start": Rows::text(row, "interval_start"),
                    "time": wall_clock(Rows::text(row, "interval_start")),
                    "queue": row.get("queue").and_then(|cell| cell.text.clone()),
                    field: Rows::number(row, field),
                })
            })
            .collect::<Vec<_>>()
    };
    let x = json!({
        "field": "interval_start",
        "type": "ordinal",
        "scale": {"domain": grid},
        "title": words.get("time"),
        "axis": {
            "labelAngle": 0,
            "ticks": false,
            // A label on each full hour: the local wall clock of the interval's start.
            "labelExpr": "substring(datum.value, 14, 16) == '00' ? substring(datum.value, 11, 16) : ''"
        }
    });
    let tooltip = |field: &str, with_queue: bool| {
        let mut fields = vec![json!({"field": "time", "title": words.get("time")})];
        if with_queue {
            fields.push(json!({"field": "queue", "title": words.get("queue")}));
        }
        fields.push(json!({"field": field, "title": column_label(field, lang)}));
        Value::Array(fields)
    };
    let per = if lang == Lang::Ja {
        format!("（{minutes}分ごと、{}）", words.get("center"))
    } else {
        format!(
            " per {minutes} minutes, {}",
            words.get("center").to_lowercase()
        )
    };
    let schema = "https://vega.github.io/schema/vega-lite/v6.json";
    vec![
        Chart {
            id: "service-level".into(),
            title: format!("{}{per}", column_label(service_level, lang)),
            spec: json!({
                "$schema": schema,
                "width": 860,
                "height": 240,
                "data": {"name": "points", "values": points(&day.center_intervals, service_level)},
                "mark": {"type": "line", "point": true},
                "encoding": {
                    "x": x,
                    "y": {"field": service_level, "type": "quantitative",
                          "scale": {"domain": [0, 100]}, "title": "%"},
                    "tooltip": tooltip(service_level, false)
                }
            }),
        },
        Chart {
            id: "waiting".into(),
            title: format!("{}{per}", column_label("peak_waiting", lang)),
            spec: json!({
                "$schema": schema,
                "width": 860,
                "height": 200,
                "data": {"name": "points", "values": points(&day.center_intervals, "peak_waiting")},
                "mark": {"type": "bar", "color": "#e07b39"},
                "encoding": {
                    "x": x,
                    "y": {"field": "peak_waiting", "type": "quantitative",
                          "title": words.get("waiting")},
                    "tooltip": tooltip("peak_waiting", false)
                }
            }),
        },
        Chart {
            id: "contacts".into(),
            title: if lang == Lang::Ja {
                format!(
                    "{}（{minutes}分ごと、キュー別）",
                    column_label("contacts_queued", lang)
                )
            } else {
                format!(
                    "{} per {minutes} minutes, by queue",
                    column_label("contacts_queued", lang)
                )
            },
            spec: json!({
                "$schema": schema,
                "width": 860,
                "height": 220,
                "data": {"name": "points", "values": points(&day.intervals, "contacts_queued")},
                "mark": {"type": "bar"},
                "encoding": {
                    "x": x,
                    "y": {"field": "contacts_queued", "type": "quantitative",
                          "stack": "zero", "title": words.get("contacts")},
                    "color": {"field": "queue", "type": "nominal", "title": words.get("queue")},
                    "tooltip": tooltip("contacts_queued", true)
                }
            }),
        },
    ]
}

/// The agents of the day: the top and bottom by contacts handled, or all of them when few.
fn agent_tables(agents: &Rows, words: &Words) -> Vec<PageTable> {
    let columns: Vec<String> = agents
        .columns
        .iter()
        .filter(|c| AGENT_COLUMNS.contains(&c.as_str()))
        .cloned()
        .collect();
    let handled = |row: &BTreeMap<String, Cell>| Rows::number(row, "contacts_handled");
    let mut order: Vec<&BTreeMap<String, Cell>> = agents.rows.iter().collect();
    // Most handled first; ties by name, so the page is the same every run.
    order.sort_by(|a, b| {
        handled(b)
            .unwrap_or(0.0)
            .total_cmp(&handled(a).unwrap_or(0.0))
            .then_with(|| Rows::text(a, "agent").cmp(Rows::text(b, "agent")))
    });
    let table = |id: &str, title: &str, rows: Vec<&BTreeMap<String, Cell>>| PageTable {
        id: id.to_owned(),
        title: title.to_owned(),
        key_label: words.get("agent").into(),
        headers: words.headers(&columns),
        rows: rows
            .into_iter()
            .map(|row| PageRow {
                name: Rows::text(row, "agent").to_owned(),
                total: false,
                cells: columns
                    .iter()
                    .map(|c| PageCell::of(c.clone(), Kind::of(c), row.get(c)))
                    .collect(),
            })
            .collect(),
    };
    if order.len() <= 2 * TOP_AGENTS {
        return vec![table("agents-all", words.get("all_agents"), order)];
    }
    let bottom: Vec<_> = order[order.len() - TOP_AGENTS..]
        .iter()
        .rev()
        .copied()
        .collect();
    vec![
        table(
            "agents-top",
            words.get("top_agents"),
            order[..TOP_AGENTS].to_vec(),
        ),
        table("agents-bottom", words.get("bottom_agents"), bottom),
        table("agents-all", words.get("all_agents"), order),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration(0.0), "0:00");
        assert_eq!(duration(59.5), "1:00");
        assert_eq!(duration(83.4), "1:23");
        assert_eq!(duration(3599.0), "59:59");
        assert_eq!(duration(3600.0), "1:00:00");
        assert_eq!(duration(45_296.0), "12:34:56");
    }

    #[test]
    fn changes_read_with_their_sign_and_unit() {
        assert_eq!(Kind::Count.change(1100.0, 1000.0), "+100 (+10.0%)");
        assert_eq!(Kind::Count.change(5.0, 0.0), "+5");
        assert_eq!(Kind::Percent.change(80.25, 82.5), "−2.3 pt");
        assert_eq!(Kind::Duration.change(30.0, 95.0), "−1:05");
        assert_eq!(Kind::Duration.change(30.2, 30.4), "±0:00");
        assert_eq!(Kind::Percent.change(50.02, 50.0), "±0.0 pt");
        assert_eq!(Kind::Count.change(7.0, 7.0), "±0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-1_000), "-1,000");
    }

    #[test]
    fn the_embedded_libraries_cannot_end_their_script_element() {
        for library in [VEGA, VEGA_LITE] {
            assert!(!library.to_ascii_lowercase().contains("</script"));
        }
    }
}
