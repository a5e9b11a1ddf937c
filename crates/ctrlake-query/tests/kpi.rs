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
    let pattern = repo().join("fixtures/ctr/*.ndjson").display().to_string();
    ingest(dir, &pattern, &BackfillOptions::default())
}

/// Ingests the files `pattern` names into `<dir>/lake` with `options`.
fn ingest(dir: &Path, pattern: &str, options: &BackfillOptions) -> String {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sources = runtime.block_on(resolve_sources(&[pattern.to_owned()]));
    let location = dir.join("lake").display().to_string();
    let lake = Lake::open(&location).expect("lake");
    let summary = backfill(
        &sources,
        &lake,
        options,
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

/// A query's batches as one batch (queries return at least one, possibly empty).
fn single(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> datafusion::arrow::record_batch::RecordBatch {
    datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).expect("concat")
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

/// Runs `build` (ingestion, which drives its own runtime) on a blocking thread with `dir`,
/// and returns what it returns (a lake's location).
async fn off_runtime(dir: &Path, build: impl FnOnce(&Path) -> String + Send + 'static) -> String {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || build(&dir))
        .await
        .expect("ingest thread")
}

async fn fixture_engine() -> (tempfile::TempDir, KpiEngine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = off_runtime(dir.path(), fixture_lake).await;
    let engine = KpiEngine::open(&location).await.expect("open");
    (dir, engine)
}

fn column_strings(batch: &datafusion::arrow::record_batch::RecordBatch, name: &str) -> Vec<String> {
    let column = batch.column_by_name(name).expect("column");
    let column =
        datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)
            .expect("cast");
    let column = column
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .expect("strings");
    column.iter().map(|v| v.unwrap_or("").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_daily_matches_the_hand_computed_tables() {
    let (_dir, engine) = fixture_engine().await;
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
    let (_dir, engine) = fixture_engine().await;
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let whole = ReportWindow::new(tokyo, date("2022-01-01"), date("2026-12-31")).expect("window");
    let agents = engine
        .agent_daily(&whole, ctrlake_query::AgentGroup::Agent)
        .await
        .expect("report");
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

/// The report views of `ctrlake sql`, queried the way an analyst would, give the same
/// hand-computed tables as the report commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_views_match_the_hand_computed_tables() {
    let (_dir, engine) = fixture_engine().await;
    assert_eq!(
        engine.partition_dates().await.expect("listing"),
        Some((date("2022-01-05"), date("2026-03-07")))
    );
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let whole = engine
        .lake_window(tokyo)
        .await
        .expect("listing")
        .expect("days");
    assert_eq!(
        (whole.from, whole.to),
        (date("2022-01-04"), date("2026-03-08"))
    );
    let views = |from: &str, to: &str| ctrlake_query::ReportViews {
        window: ReportWindow::new(tokyo, date(from), date(to)).expect("window"),
        minutes: 15,
        queue: QueueReportOptions::default(),
    };
    engine
        .register_report_views(&views("2022-01-01", "2026-12-31"))
        .await
        .expect("views");
    let agents = engine
        .query("SELECT * FROM agent_daily ORDER BY date, agent", &[])
        .await
        .expect("query");
    assert_golden(&csv(&single(&agents)), "agent_daily_asia_tokyo.csv");

    // One row per threshold: the 20 s and 60 s rows side by side make the report's columns.
    let queues = engine
        .query(
            "SELECT s.date, s.queue, s.contacts_queued, s.contacts_handled,
                    s.contacts_handled_incoming, s.contacts_handled_outbound,
                    s.contacts_abandoned, s.abandonment_rate_pct, s.avg_queue_answer_time_s,
                    s.avg_queue_abandon_time_s, s.max_queued_time_s,
                    s.service_level_pct AS service_level_20_pct,
                    m.service_level_pct AS service_level_60_pct,
                    s.answered_within_pct AS answered_within_20_pct,
                    m.answered_within_pct AS answered_within_60_pct,
                    s.contacts_answered_in AS contacts_answered_in_20,
                    m.contacts_answered_in AS contacts_answered_in_60,
                    s.contacts_abandoned_in AS contacts_abandoned_in_20,
                    m.contacts_abandoned_in AS contacts_abandoned_in_60,
                    s.contacts_removed_from_queue_in AS contacts_removed_from_queue_in_20,
                    m.contacts_removed_from_queue_in AS contacts_removed_from_queue_in_60,
                    s.avg_handle_time_s, s.avg_handle_time_excl_pause_s,
                    s.avg_agent_interaction_s, s.avg_customer_hold_s,
                    s.avg_customer_hold_all_contacts_s, s.avg_after_contact_work_s,
                    s.contacts_put_on_hold, s.contacts_transferred_out,
                    s.contacts_transferred_out_by_agent, s.contacts_transferred_out_from_queue,
                    s.contacts_transferred_in, s.contacts_callback_requested, s.agent_non_response,
                    s.sum_queue_answer_time_s, s.sum_queue_abandon_time_s, s.sum_handle_time_s
             FROM queue_daily s
             JOIN queue_daily m ON m.date = s.date AND m.queue = s.queue AND m.threshold_s = 60
             WHERE s.threshold_s = 20
             ORDER BY s.date, s.queue",
            &[],
        )
        .await
        .expect("query");
    assert_golden(&csv(&single(&queues)), "queue_daily_asia_tokyo.csv");

    // Registering again replaces the views: here one day of 15-minute intervals.
    engine
        .register_report_views(&views("2026-03-02", "2026-03-02"))
        .await
        .expect("views");
    let intervals = engine
        .query(
            "SELECT interval_start, queue, contacts_queued, contacts_handled, contacts_abandoned,
                    avg_queue_answer_time_s, service_level_pct AS service_level_20_pct,
                    avg_handle_time_s, peak_waiting
             FROM queue_intervals
             WHERE threshold_s = 20
             ORDER BY interval_start, queue",
            &[],
        )
        .await
        .expect("query");
    assert_golden(
        &csv(&single(&intervals)),
        "queue_intervals_15m_asia_tokyo_2026-03-02.csv",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_deduplicated_searchable_and_chained() {
    let (_dir, engine) = fixture_engine().await;
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let raw = engine
        .query("SELECT count(*) AS n FROM ctr_raw", &[])
        .await
        .expect("query");
    let deduplicated = engine
        .query(
            "SELECT count(*) AS n, count(DISTINCT contact_id) AS ids FROM contacts",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(column_strings(&raw[0], "n"), ["38"]);
    assert_eq!(column_strings(&deduplicated[0], "n"), ["33"]);
    assert_eq!(column_strings(&deduplicated[0], "ids"), ["33"]);

    // Fixture 12: the later update wins although it was delivered first.
    let window = ReportWindow::new(tokyo, date("2026-03-01"), date("2026-03-07")).expect("window");
    let week = engine
        .contacts(&window, &ctrlake_query::ContactFilter::default())
        .await
        .expect("search");
    assert_eq!(
        week.num_rows(),
        32,
        "every fixture contact of the week except the 2022 sample"
    );
    let ids = column_strings(&week, "contact_id");
    let last = column_strings(&week, "last_update_timestamp");
    let wanted = "00000000-0000-4000-8000-000000001201";
    let row = ids
        .iter()
        .position(|id| id == wanted)
        .expect("fixture 12 contact");
    let lines = std::fs::read_to_string(repo().join("fixtures/ctr/12-update-out-of-order.ndjson"))
        .unwrap_or_default();
    assert!(!lines.is_empty(), "fixture 12 present");
    let first: serde_json::Value =
        serde_json::from_str(lines.lines().next().expect("line")).expect("json");
    let newest =
        chrono::DateTime::parse_from_rfc3339(first["LastUpdateTimestamp"].as_str().expect("ts"))
            .expect("rfc3339")
            .with_timezone(&tokyo)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
    assert_eq!(last[row], newest);

    // Milliseconds are shown where the record has them (fixture 13).
    let ms = engine
        .contacts(
            &window,
            &ctrlake_query::ContactFilter {
                contact_id: Some("00000000-0000-4000-8000-000000001301".to_owned()),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(ms.num_rows(), 1);
    assert!(column_strings(&ms, "last_update_timestamp")[0].contains(".250+09:00"));

    // Filters: one queue, one channel.
    let chat = engine
        .contacts(
            &window,
            &ctrlake_query::ContactFilter {
                channel: Some("CHAT".to_owned()),
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert!(chat.num_rows() >= 1);
    assert!(column_strings(&chat, "channel").iter().all(|c| c == "CHAT"));

    // The callback journey of fixture 07 from either leg.
    for id in [
        "00000000-0000-4000-8000-000000000701",
        "00000000-0000-4000-8000-000000000702",
    ] {
        let chain = engine.contact_chain(id, tokyo).await.expect("chain");
        assert_eq!(
            column_strings(&chain, "contact_id"),
            [
                "00000000-0000-4000-8000-000000000701",
                "00000000-0000-4000-8000-000000000702"
            ]
        );
        assert_eq!(
            column_strings(&chain, "initiation_method"),
            ["INBOUND", "CALLBACK"]
        );
    }
}

/// Ingesting the same sources again with other chunk and flush sizes writes the same rows into
/// files of other names (other byte ranges), so the lake holds identical copies of versions
/// (same source, offset and arrival); a copy of one source adds the same versions from another
/// source. The view still has one row per contact, the same as before, and so has a chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_copies_in_two_files_count_once() {
    let (dir, engine) = fixture_engine().await;
    let contacts = "SELECT contact_id, last_update_timestamp, queue_name, agent_username
                    FROM contacts ORDER BY contact_id";
    let before = engine.query(contacts, &[]).await.expect("query");
    let location = off_runtime(dir.path(), |dir| {
        // One record per chunk and per file: a source of several records now makes files
        // named by each record's byte range (a one-record source makes the same file).
        let tiny_files = BackfillOptions {
            chunk_bytes: 1,
            partition_flush_bytes: 1,
            ..BackfillOptions::default()
        };
        let fixtures = repo().join("fixtures/ctr/*.ndjson").display().to_string();
        ingest(dir, &fixtures, &tiny_files);
        // And the callback journey again from a copy: the same versions from another source.
        let copy = dir.join("07-copy.ndjson");
        std::fs::copy(repo().join("fixtures/ctr/07-queued-callback.ndjson"), &copy).expect("copy");
        ingest(
            dir,
            &copy.display().to_string(),
            &BackfillOptions::default(),
        )
    })
    .await;
    let engine = KpiEngine::open(&location).await.expect("open");
    let counts = engine
        .query(
            "SELECT (SELECT count(*) FROM ctr_raw) AS raw,
                    (SELECT count(*) FROM contacts) AS contacts,
                    (SELECT count(DISTINCT contact_id) FROM contacts) AS ids",
            &[],
        )
        .await
        .expect("query");
    let raw: usize = column_strings(&counts[0], "raw")[0].parse().expect("count");
    assert!(
        raw > 38,
        "the sources of several records are in the lake twice: {raw}"
    );
    assert_eq!(column_strings(&counts[0], "contacts"), ["33"]);
    assert_eq!(column_strings(&counts[0], "ids"), ["33"]);
    let after = engine.query(contacts, &[]).await.expect("query");
    assert_eq!(csv(&single(&after)), csv(&single(&before)));
    // The chain look-up de-duplicates its legs by the same rule.
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let chain = engine
        .contact_chain("00000000-0000-4000-8000-000000000702", tokyo)
        .await
        .expect("chain");
    assert_eq!(
        column_strings(&chain, "contact_id"),
        [
            "00000000-0000-4000-8000-000000000701",
            "00000000-0000-4000-8000-000000000702"
        ]
    );
}

/// `contacts` is computed with a hash table (`newest.rs`); `queries/contacts.sql` states the
/// same rule as a sort. On a generated lake with updates and re-deliveries, ingested twice in
/// other file sizes and once more from a copy that arrived later (ties on every key but the
/// arrival, the file or the position), both pick the same version of every contact; a filter
/// on another column than `dt` applies to the newest versions only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_contacts_equal_the_sql_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = off_runtime(dir.path(), |dir| {
        let generated = dir.join("generated.ndjson");
        let config = ctrlake_gen::GenConfig {
            contacts: 4_000,
            seed: 7,
            days: 2,
            start: date("2026-03-01"),
            format: ctrlake_gen::OutputFormat::Ndjson,
            gzip: false,
            agents: ctrlake_gen::DEFAULT_AGENTS,
        };
        let file = std::fs::File::create(&generated).expect("create");
        ctrlake_gen::generate(&config, file).expect("generate");
        let earlier =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_772_400_000);
        std::fs::File::options()
            .write(true)
            .open(&generated)
            .and_then(|file| file.set_modified(earlier))
            .expect("mtime");
        let copy = dir.join("generated-copy.ndjson");
        std::fs::copy(&generated, &copy).expect("copy");
        // Another copy cut into other chunks: re-ingesting one source replaces its files, so
        // the second copy of every record comes from a second source.
        let small_chunked = dir.join("generated-small-chunks.ndjson");
        std::fs::copy(&generated, &small_chunked).expect("copy");
        std::fs::File::options()
            .write(true)
            .open(&small_chunked)
            .and_then(|file| file.set_modified(earlier))
            .expect("mtime");
        let pattern = generated.display().to_string();
        ingest(dir, &pattern, &BackfillOptions::default());
        let small_chunks = BackfillOptions {
            chunk_bytes: 64 << 10,
            partition_flush_bytes: 256 << 10,
            ..BackfillOptions::default()
        };
        ingest(dir, &small_chunked.display().to_string(), &small_chunks);
        ingest(
            dir,
            &copy.display().to_string(),
            &BackfillOptions::default(),
        )
    })
    .await;
    let engine = KpiEngine::open(&location).await.expect("open");
    let by_sort = ctrlake_query::CONTACTS_SQL
        .replace("CREATE VIEW contacts AS", "CREATE VIEW contacts_by_sort AS");
    assert_ne!(
        by_sort,
        ctrlake_query::CONTACTS_SQL,
        "the view's name is in the file"
    );
    engine.context().sql(&by_sort).await.expect("view");
    let versions = |table: &str| {
        format!(
            "SELECT dt, contact_id, last_update_timestamp, arrival_timestamp, source_uri,
                    source_offset, queue_name, agent_username
             FROM {table} ORDER BY dt, contact_id"
        )
    };
    let hashed = single(
        &engine
            .query(&versions("contacts"), &[])
            .await
            .expect("hashed"),
    );
    let sorted = single(
        &engine
            .query(&versions("contacts_by_sort"), &[])
            .await
            .expect("sorted"),
    );
    let counts = engine
        .query(
            "SELECT (SELECT count(*) FROM ctr_raw) AS raw,
                    (SELECT count(*) FROM contacts) AS contacts,
                    (SELECT count(*) FROM (SELECT DISTINCT dt, contact_id FROM ctr_raw)) AS ids",
            &[],
        )
        .await
        .expect("counts");
    let raw: usize = column_strings(&counts[0], "raw")[0].parse().expect("count");
    let ids = column_strings(&counts[0], "ids");
    assert!(raw > 3 * 4_000, "three copies of every record: {raw}");
    assert_eq!(column_strings(&counts[0], "contacts"), ids);
    assert_eq!(hashed.num_rows().to_string(), ids[0]);
    assert_eq!(csv(&hashed), csv(&sorted));
    // Versions of one contact read by different partitions meet in one table, however many
    // partitions read the lake.
    let default_partitions = engine.context().state().config().target_partitions();
    for partitions in [1, 3, 7, default_partitions] {
        engine
            .context()
            .sql(&format!(
                "SET datafusion.execution.target_partitions = {partitions}"
            ))
            .await
            .expect("set");
        let again = single(
            &engine
                .query(&versions("contacts"), &[])
                .await
                .expect("hashed"),
        );
        assert_eq!(csv(&again), csv(&sorted), "{partitions} partitions");
    }
    let copies = column_strings(&hashed, "source_uri");
    assert!(
        copies
            .iter()
            .all(|uri| uri.ends_with("generated-copy.ndjson")),
        "the copy arrived later, so its versions win every tie"
    );

    // An older version's value is not found through `contacts`.
    let older = engine
        .query(
            "SELECT dt, contact_id, min(last_update_timestamp) AS oldest FROM ctr_raw
             GROUP BY dt, contact_id HAVING count(DISTINCT last_update_timestamp) > 1",
            &[],
        )
        .await
        .expect("older");
    assert!(
        single(&older).num_rows() > 100,
        "the generator writes updates"
    );
    let leaked = engine
        .query(
            "SELECT count(*) AS n FROM contacts c
             WHERE last_update_timestamp IN (
                 SELECT min(last_update_timestamp) FROM ctr_raw r
                 WHERE r.contact_id = c.contact_id
                 GROUP BY contact_id HAVING count(DISTINCT last_update_timestamp) > 1)",
            &[],
        )
        .await
        .expect("filter");
    assert_eq!(column_strings(&leaked[0], "n"), ["0"]);
    // A filter on the id keeps whole contacts, so it reaches the Parquet scan (bloom filters)
    // below the de-duplication, and the contact still gets its newest version.
    let updated = column_strings(&single(&older), "contact_id")[0].clone();
    let by_id = "SELECT dt, contact_id, last_update_timestamp, arrival_timestamp, source_uri,
                        source_offset, queue_name, agent_username
                 FROM {table} WHERE contact_id = $id";
    let id = [(
        "id",
        datafusion::common::ScalarValue::Utf8(Some(updated.clone())),
    )];
    let hashed_one = engine
        .query(&by_id.replace("{table}", "contacts"), &id)
        .await
        .expect("by id");
    let sorted_one = engine
        .query(&by_id.replace("{table}", "contacts_by_sort"), &id)
        .await
        .expect("by id");
    assert_eq!(single(&hashed_one).num_rows(), 1);
    assert_eq!(csv(&single(&hashed_one)), csv(&single(&sorted_one)));
    let plan = engine
        .explain(&by_id.replace("{table}", "contacts"), &id)
        .await
        .expect("explain");
    let scan = plan
        .lines()
        .skip_while(|line| !line.contains("NewestVersionsExec"))
        .find(|line| line.contains("DataSourceExec"))
        .expect("a scan under the de-duplication");
    assert!(
        scan.contains(&format!("predicate=contact_id@0 = {updated}")),
        "the id filter reaches the scan: {scan}"
    );

    let limited = engine
        .query("SELECT contact_id FROM contacts LIMIT 5", &[])
        .await
        .expect("limit");
    assert_eq!(single(&limited).num_rows(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_day_reads_only_the_partitions_it_overlaps() {
    let (_dir, engine) = fixture_engine().await;
    let tokyo = parse_time_zone("Asia/Tokyo").expect("zone");
    let day = ReportWindow::new(tokyo, date("2026-03-03"), date("2026-03-03")).expect("window");
    let mut params = day.params();
    for flag in ["sl_inclusive", "all_queues", "by_channel"] {
        params.push((flag, datafusion::common::ScalarValue::Boolean(Some(false))));
    }
    engine
        .queue_daily(&day, &QueueReportOptions::default())
        .await
        .expect("thresholds registered");
    let plan = engine
        .explain(ctrlake_query::reports::QUEUE_DAILY_SQL, &params)
        .await
        .expect("explain");
    // Tokyo 2026-03-03 is UTC 03-02 15:00 .. 03-03 15:00; one day of lookback; callback legs
    // up to 7 days later. The 2022 sample's partition is never read.
    assert!(plan.contains("dt=2026-03-03"), "{plan}");
    assert!(!plan.contains("dt=2022-01-05"), "{plan}");
    let contacts_scan = engine
        .explain(
            "SELECT count(*) FROM contacts WHERE dt BETWEEN $dt_from AND $dt_to",
            &day.params(),
        )
        .await
        .expect("explain");
    assert!(contacts_scan.contains("dt=2026-03-02") && contacts_scan.contains("dt=2026-03-03"));
    for other in [
        "dt=2026-03-01",
        "dt=2026-03-04",
        "dt=2026-03-06",
        "dt=2022-01-05",
    ] {
        assert!(
            !contacts_scan.contains(other),
            "{other} read:\n{contacts_scan}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sql_is_one_clear_error() {
    let (_dir, engine) = fixture_engine().await;
    let error = engine
        .query("SELECT no_such_column FROM contacts", &[])
        .await
        .expect_err("bad column");
    let message = error.to_string();
    assert!(message.contains("no_such_column"), "{message}");
    assert!(message.contains("DESCRIBE <table>"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    // A type error: the root cause, not DataFusion's context name (`type_coercion`).
    let error = engine
        .query(
            "SELECT count(*) FROM contacts WHERE queue_duration AND channel = 'VOICE'",
            &[],
        )
        .await
        .expect_err("type error");
    let message = error.to_string();
    assert!(message.contains("Int64 AND Boolean"), "{message}");
    assert!(!message.contains("DESCRIBE"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scan_reads_no_footer_again() {
    // A report scans the same files several times; each file's footer and statistics must be
    // read once per session. Observed through DataFusion's caches: a footer read is inserted
    // (with 0 hits), a footer reused is a hit, and a footer read again would be inserted anew,
    // its hits back at 0.
    let (dir, engine) = fixture_engine().await;
    let runtime = engine.context().runtime_env();
    let footers = runtime.cache_manager.get_file_metadata_cache();
    let statistics = runtime
        .cache_manager
        .get_file_statistic_cache()
        .expect("a statistics cache");
    assert_eq!(footers.len(), 0);
    for _ in 0..2 {
        engine
            .query("SELECT count(*) FROM contacts", &[])
            .await
            .expect("query");
    }
    let files = parquet_files_under(dir.path());
    assert!(files > 1);
    let footer_entries = footers.list_entries();
    assert_eq!(footer_entries.len(), files, "one footer per file");
    for (file, entry) in &footer_entries {
        assert!(entry.hits >= 1, "{file:?}: its footer was read again");
    }
    let statistics_entries = statistics.list_entries();
    assert_eq!(statistics_entries.len(), files);
    for (file, entry) in &statistics_entries {
        assert!(
            entry.hits >= 1,
            "{file:?}: its statistics were summarised again"
        );
    }
}

fn parquet_files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                parquet_files_under(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}
