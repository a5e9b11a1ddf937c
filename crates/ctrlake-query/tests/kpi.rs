//! Golden tests: the hand-written fixtures are ingested with the real writer into a temporary
//! lake, the reports run over it, and the output must equal the tables in `fixtures/expected/`,
//! which were worked out by hand from the records (see its README), not by running this code.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ctrlake_ingest::{BackfillOptions, Lake, Progress, backfill, resolve_sources};
use ctrlake_query::render::{OutputFormat, write};
use ctrlake_query::udf::parse_time_zone;
use ctrlake_query::{KpiEngine, QueueReportOptions, ReportWindow};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A lake made of every `fixtures/ctr/*.ndjson`.
fn fixture_lake(dir: &Path) -> String {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let pattern = repo().join("fixtures/ctr/*.ndjson").display().to_string();
    let sources = resolve_sources(&[pattern], runtime.handle()).expect("fixtures");
    let location = dir.join("lake").display().to_string();
    let lake = Lake::open(&location).expect("lake");
    let summary = backfill(
        &sources,
        &lake,
        &BackfillOptions::default(),
        runtime.handle(),
        &Progress::default(),
    )
    .expect("ingest");
    assert_eq!(
        summary.dead_lettered(),
        0,
        "fixtures are all valid: {summary:?}"
    );
    location
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

fn csv(batch: &datafusion::arrow::record_batch::RecordBatch) -> String {
    let mut out = Vec::new();
    write(std::slice::from_ref(batch), OutputFormat::Csv, &mut out).expect("csv");
    String::from_utf8(out).expect("utf8")
}

/// Compares line by line and prints the differing lines, so a failure is readable.
fn assert_golden(actual: &str, golden: &str) {
    let expected = std::fs::read_to_string(repo().join("fixtures/expected").join(golden))
        .expect("golden file");
    if actual.trim_end() == expected.trim_end() {
        return;
    }
    let mut diff = String::new();
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    for i in 0..a.len().max(e.len()) {
        let (got, want) = (
            a.get(i).copied().unwrap_or("<none>"),
            e.get(i).copied().unwrap_or("<none>"),
        );
        if got != want {
            diff.push_str(&format!(
                "line {}:\n  expected {want}\n  actual   {got}\n",
                i + 1
            ));
        }
    }
    panic!("{golden} differs:\n{diff}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_daily_matches_the_hand_computed_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || fixture_lake(&dir)
    })
    .await
    .expect("ingest thread");
    let engine = KpiEngine::open(&location).await.expect("open");
    let whole = |tz: &str| {
        ReportWindow::new(
            parse_time_zone(tz).expect("zone"),
            date("2022-01-01"),
            date("2026-12-31"),
        )
        .expect("window")
    };
    let strict = QueueReportOptions::default();
    let inclusive = QueueReportOptions {
        inclusive: true,
        ..QueueReportOptions::default()
    };
    let tokyo = engine
        .queue_daily(&whole("Asia/Tokyo"), &strict)
        .await
        .expect("report");
    assert_golden(&csv(&tokyo), "queue_daily_asia_tokyo.csv");
    let utc = engine
        .queue_daily(&whole("UTC"), &strict)
        .await
        .expect("report");
    assert_golden(&csv(&utc), "queue_daily_utc.csv");
    let le = engine
        .queue_daily(&whole("Asia/Tokyo"), &inclusive)
        .await
        .expect("report");
    assert_golden(&csv(&le), "queue_daily_asia_tokyo_le.csv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_daily_and_intervals_match_the_hand_computed_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || fixture_lake(&dir)
    })
    .await
    .expect("ingest thread");
    let engine = KpiEngine::open(&location).await.expect("open");
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let whole = ReportWindow::new(tokyo, date("2022-01-01"), date("2026-12-31")).expect("window");
    let agents = engine.agent_daily(&whole).await.expect("report");
    assert_golden(&csv(&agents), "agent_daily_asia_tokyo.csv");

    let day = ReportWindow::new(tokyo, date("2026-03-02"), date("2026-03-02")).expect("window");
    let intervals = engine
        .queue_intervals(&day, 15, &QueueReportOptions::default())
        .await
        .expect("report");
    let columns = [
        "interval_start",
        "queue",
        "contacts_queued",
        "contacts_handled",
        "contacts_abandoned",
        "avg_queue_answer_time_s",
        "service_level_20_pct",
        "avg_handle_time_s",
        "peak_waiting",
    ];
    let indices: Vec<usize> = columns
        .iter()
        .map(|c| intervals.schema().index_of(c).expect("column"))
        .collect();
    let projected = intervals.project(&indices).expect("project");
    assert_golden(
        &csv(&projected),
        "queue_intervals_15m_asia_tokyo_2026-03-02.csv",
    );
}
