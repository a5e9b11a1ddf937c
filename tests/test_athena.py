"""queries/athena/: Athena (Trino) SQL parsed by sqlglot's Trino dialect, transpiled to DuckDB
and run over lakes ctrlake wrote (see athena_duckdb.py for how DuckDB stands in for Athena),
against what ctrlake itself computes, cell for cell."""

from __future__ import annotations

import csv
import datetime as _dt
import io
from zoneinfo import ZoneInfo

import pytest
import sqlglot

from athena_duckdb import ATHENA, athena_rows, duckdb_over, run_athena, with_parameters
from conftest import CTR_FILES, FIREHOSE_FILES, REPO, ingest, run_ctrlake


def assert_same_cells(athena_row: dict, ctrlake_row: dict):
    """Cell for cell, except that an average may differ by its last digit: the Athena SQL
    rounds a double (`round(avg(x), 3)`), and a mean exactly halfway between two thousandths
    (45329 / 80 = 566.6125) is a double just below or above the half, so it rounds either way
    (ctrlake's value is the exact half-up one, checked by test_kpi_crosscheck.py)."""
    assert athena_row.keys() == ctrlake_row.keys()
    for column, value in ctrlake_row.items():
        theirs = athena_row[column]
        if column.startswith("avg_") and value and theirs:
            assert abs(float(theirs) - float(value)) <= 0.0010001, (column, theirs, value)
        else:
            assert theirs == value, (column, theirs, value)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def newest_versions_by_ctrlake(lake) -> set[tuple]:
    out = run_ctrlake(
        "sql", "--lake", lake, "--format", "csv",
        "SELECT contact_id, source_uri, coalesce(CAST(source_offset AS VARCHAR), '') AS o, "
        "coalesce(source_sequence_number, '') AS s, "
        "CAST(last_update_timestamp AS BIGINT) AS ms FROM contacts",
    ).stdout.decode().splitlines()[1:]
    return {tuple(line.split(",")) for line in out}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Fixtures with updates and duplicates, the Firehose archives (the same CTRs again from
    other sources), and generated days with late updates, callbacks and transfers."""
    root = tmp_path_factory.mktemp("athena")
    generated = root / "gen.ndjson"
    run_ctrlake("gen", "--contacts", "3000", "--days", "3", "--out", generated)
    # Three more days across the start of daylight saving time in New York (2026-03-08).
    around_dst = root / "dst.ndjson"
    run_ctrlake("gen", "--contacts", "1500", "--days", "3", "--start", "2026-03-07",
                "--seed", "2", "--out", around_dst)
    # And across its end (2026-11-01: 01:00-01:59 happens twice).
    fall_back = root / "fall-back.ndjson"
    run_ctrlake("gen", "--contacts", "1500", "--days", "3", "--start", "2026-10-31",
                "--seed", "3", "--out", fall_back)
    lake = root / "lake"
    ingest([*CTR_FILES, *FIREHOSE_FILES, generated, around_dst, fall_back], lake)
    return lake


@pytest.fixture(scope="module")
def athena(lake):
    con = duckdb_over(lake)
    run_athena(con, "contacts.sql")
    return con


def test_the_athena_contacts_view_picks_ctrlakes_versions(lake, athena):
    rows = athena.execute(
        "SELECT contact_id, source_uri, coalesce(CAST(source_offset AS VARCHAR), ''), "
        "coalesce(source_sequence_number, ''), CAST(epoch_ms(last_update_timestamp) AS VARCHAR), "
        "version_rank FROM contacts").fetchall()
    assert {r[5] for r in rows} == {1}
    versions = {tuple(r[:5]) for r in rows}
    assert len(versions) == len(rows), "one row per contact"
    assert versions == newest_versions_by_ctrlake(lake)
    total = athena.execute("SELECT count(*) FROM ctr").fetchall()[0][0]
    assert total > len(rows), "the lake holds older versions the view drops"


# Zones east and west of UTC, one with DST inside the generated days' neighbourhood, and one
# with a half-hour offset; windows of one day and of several.
QUEUE_REPORTS = [
    ("Asia/Tokyo", "2026-03-01", "2026-03-04", (20, 60), False),
    ("America/New_York", "2026-03-01", "2026-03-10", (15, 30, 90), True),
    ("UTC", "2026-03-02", "2026-03-02", (20,), False),
    ("Asia/Kolkata", "2026-03-03", "2026-03-03", (10, 60), False),
]


@pytest.mark.parametrize("tz,from_date,to_date,thresholds,inclusive", QUEUE_REPORTS)
def test_athena_queue_daily_equals_ctrlake_report_queues(
        lake, athena, tz, from_date, to_date, thresholds, inclusive):
    sql = with_parameters("queue_daily.sql", thresholds, tz=tz, from_date=from_date,
                          to_date=to_date, sl_inclusive=inclusive, all_queues=False,
                          by_channel=False, lookback_days=1)
    wide = spread_thresholds(athena_rows(athena, sql), ("date", "queue"))

    args = ["report", "queues", "--lake", lake, "--format", "csv", "--tz", tz,
            "--from", from_date, "--to", to_date, "--sl", ",".join(map(str, thresholds))]
    if inclusive:
        args.append("--sl-inclusive")
    report = csv_rows(run_ctrlake(*args).stdout.decode())
    assert report, "the window has contacts"
    assert [(r["date"], r["queue"]) for r in report] == list(wide), "same rows, same order"
    for expected in report:
        assert_same_cells(wide[(expected["date"], expected["queue"])], expected)


# The per-threshold columns of the Athena rows, as ctrlake's reports name them.
PER_THRESHOLD = {
    "service_level_pct": "service_level_{}_pct",
    "answered_within_pct": "answered_within_{}_pct",
    "contacts_answered_in": "contacts_answered_in_{}",
    "contacts_abandoned_in": "contacts_abandoned_in_{}",
    "contacts_removed_from_queue_in": "contacts_removed_from_queue_in_{}",
}


def spread_thresholds(per_threshold: list[dict], key_columns: tuple) -> dict[tuple, dict]:
    """Per-threshold rows as ctrlake's report prints them: one row per key, with
    service_level_<X>_pct and answered_within_<X>_pct columns."""
    wide: dict[tuple, dict] = {}
    for row in per_threshold:
        key = tuple(row[c] for c in key_columns)
        # ctrlake prints the channel column only when grouping by it (Athena's is NULL).
        out = wide.setdefault(key, {k: v for k, v in row.items()
                                    if k != "threshold_s" and k not in PER_THRESHOLD
                                    and (k != "channel" or "channel" in key_columns)})
        for column, pattern in PER_THRESHOLD.items():
            out[pattern.format(row["threshold_s"])] = row[column]
    return wide


INTERVAL_REPORTS = [
    ("Asia/Tokyo", "2026-03-02", "2026-03-03", 15, (20, 60), False),
    ("America/New_York", "2026-03-07", "2026-03-09", 30, (30,), True),
    ("Asia/Kolkata", "2026-03-01", "2026-03-01", 60, (20, 60), False),
    ("UTC", "2026-03-03", "2026-03-03", 5, (20,), False),
]


@pytest.mark.parametrize("tz,from_date,to_date,minutes,thresholds,inclusive", INTERVAL_REPORTS)
def test_athena_queue_intervals_equals_ctrlake_report_intervals(
        lake, athena, tz, from_date, to_date, minutes, thresholds, inclusive):
    sql = with_parameters("queue_intervals.sql", thresholds, tz=tz, from_date=from_date,
                          to_date=to_date, minutes=minutes, sl_inclusive=inclusive,
                          all_queues=False, by_channel=False, lookback_days=1)
    rows = athena_rows(athena, sql)
    wide = spread_thresholds(rows, ("interval_start", "queue"))

    args = ["report", "intervals", "--lake", lake, "--format", "csv", "--tz", tz,
            "--from", from_date, "--to", to_date, "--minutes", minutes,
            "--sl", ",".join(map(str, thresholds))]
    if inclusive:
        args.append("--sl-inclusive")
    report = csv_rows(run_ctrlake(*args).stdout.decode())
    assert any(r["peak_waiting"] != "0" and r["contacts_queued"] == "0" for r in report), \
        "some interval has callers waiting from an earlier one and none enqueued"
    # Athena's interval_start is a timestamp in the report's zone; here it is its wall clock,
    # which ctrlake prints followed by the UTC offset.
    for expected in report:
        expected["interval_start"] = expected["interval_start"][:19].replace("T", " ")
    assert [(r["interval_start"], r["queue"]) for r in report] == list(wide), \
        "same rows, same order"
    for expected in report:
        assert_same_cells(wide[(expected["interval_start"], expected["queue"])], expected)


@pytest.mark.parametrize("day", ["2026-03-08", "2026-11-01"])
def test_interval_rows_follow_the_instants_on_both_dst_days(lake, athena, day):
    """New York's spring-forward day has 92 quarter hours and its fall-back day 100, two of
    them 01:15: rows come in the order of the instants (Athena's timestamps sort so), not of
    their text, where '01:15:00-04:00' and '01:15:00-05:00' would interleave the two hours."""
    tz = "America/New_York"
    rows = csv_rows(run_ctrlake("report", "intervals", "--lake", lake, "--format", "csv",
                                "--tz", tz, "--date", day, "--sl", "20",
                                "--all-queues").stdout.decode())
    starts = [r["interval_start"] for r in rows]
    instants = [_dt.datetime.fromisoformat(s) for s in starts]
    assert instants == sorted(instants) and len(set(instants)) == len(instants)
    if day == "2026-11-01":
        assert starts.index("2026-11-01T01:45:00-04:00") < starts.index(
            "2026-11-01T01:00:00-05:00")
    athena_sql = with_parameters("queue_intervals.sql", (20,), tz=tz, from_date=day,
                                 to_date=day, minutes=15, sl_inclusive=False,
                                 all_queues=True, by_channel=False, lookback_days=1)
    assert [r["interval_start"] for r in athena_rows(athena, athena_sql)] == [
        s[:19].replace("T", " ") for s in starts]


@pytest.mark.parametrize("report,minutes", [("queues", None), ("intervals", 15), ("intervals", 60)])
def test_athena_all_queues_equals_ctrlake_all_queues(lake, athena, report, minutes):
    """The center's rows (every queue together) agree too, and their peak waiting counts the
    callers of all queues at the same second."""
    name, key = ("queue_daily.sql", "date") if report == "queues" else (
        "queue_intervals.sql", "interval_start")
    window = {"tz": "Asia/Tokyo", "from_date": "2026-03-01", "to_date": "2026-03-04",
              "sl_inclusive": False}
    if minutes:
        window["minutes"] = minutes
    rows = athena_rows(athena, with_parameters(name, (20, 60), all_queues=True,
                                               by_channel=False, lookback_days=1, **window))
    assert {r["queue"] for r in rows} == {""}, "one NULL queue: all of them"
    wide = spread_thresholds([{k: v for k, v in r.items() if k != "queue"} for r in rows],
                             (key,))
    args = ["report", report, "--lake", lake, "--format", "csv", "--tz", "Asia/Tokyo",
            "--from", "2026-03-01", "--to", "2026-03-04", "--all-queues"]
    if minutes:
        args += ["--minutes", minutes]
    center = csv_rows(run_ctrlake(*args).stdout.decode())
    assert center and "queue" not in center[0]
    if minutes:
        for expected in center:
            expected["interval_start"] = expected["interval_start"][:19].replace("T", " ")
    assert [(r[key],) for r in center] == list(wide)
    for expected in center:
        assert_same_cells(wide[(expected[key],)], expected)
    # The center's counts are the queues' sums; its peak is at most theirs.
    per_queue = csv_rows(run_ctrlake(*[a for a in args if a != "--all-queues"]).stdout.decode())
    if minutes:
        for row in per_queue:
            row["interval_start"] = row["interval_start"][:19].replace("T", " ")
    for expected in center:
        queues = [r for r in per_queue if r[key] == expected[key]]
        for column in ("contacts_queued", "contacts_handled", "contacts_abandoned"):
            assert int(expected[column]) == sum(int(r[column]) for r in queues), column
        if minutes:
            assert int(expected["peak_waiting"]) <= sum(int(r["peak_waiting"]) for r in queues)
            assert int(expected["peak_waiting"]) >= max(int(r["peak_waiting"]) for r in queues)


AGENT_REPORTS = [
    ("Asia/Tokyo", "2026-03-01", "2026-03-04", "agent"),
    ("America/New_York", "2026-03-07", "2026-03-09", "agent"),
    ("Asia/Kolkata", "2026-03-02", "2026-03-02", "agent"),
    ("Asia/Tokyo", "2026-03-01", "2026-03-04", "routing_profile"),
    ("UTC", "2026-03-02", "2026-03-03", "hierarchy_level2"),
]


@pytest.mark.parametrize("tz,from_date,to_date,group_by", AGENT_REPORTS)
def test_athena_agent_daily_equals_ctrlake_report_agents(lake, athena, tz, from_date, to_date,
                                                         group_by):
    sql = with_parameters("agent_daily.sql", tz=tz, from_date=from_date, to_date=to_date,
                          group_by=group_by, lookback_days=1)
    rows = athena_rows(athena, sql)
    # Athena's group column is `agent` whatever it holds; ctrlake names it after the group
    # and counts agents only in groups.
    for row in rows:
        row[group_by] = row.pop("agent")
        if group_by == "agent":
            del row["agents"]
    window = ["--lake", lake, "--format", "csv", "--tz", tz, "--from", from_date, "--to", to_date]
    report = csv_rows(run_ctrlake("report", "agents", *window, "--group-by", group_by)
                      .stdout.decode())
    assert len(report) > (10 if group_by == "agent" else 3), "the window has agents"
    assert [(r["date"], r[group_by]) for r in rows] == [(r["date"], r[group_by]) for r in report]
    for athena_row, expected in zip(rows, report):
        assert_same_cells(athena_row, expected)
    if group_by != "agent":
        # A group's contacts and seconds are its agents' sums; no agent is counted twice.
        agents = csv_rows(run_ctrlake("report", "agents", *window).stdout.decode())
        for day in {r["date"] for r in report}:
            groups = [r for r in report if r["date"] == day]
            people = [r for r in agents if r["date"] == day]
            for column in ("contacts_handled", "total_agent_interaction_s", "total_agent_pause_s"):
                assert sum(int(r[column]) for r in groups) == sum(int(r[column]) for r in people)
            assert sum(int(r["agents"]) for r in groups) >= len(people)


def saved_queries() -> dict[str, str]:
    """The template's Athena saved queries: file-like name -> Fn::Sub text."""
    import yaml

    template = yaml.safe_load((REPO / "infra" / "template.yaml").read_text())
    return {name: r["Properties"]["QueryString"]["Fn::Sub"]
            for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Athena::NamedQuery"}


def test_every_report_query_has_an_athena_version_saved_by_the_stack():
    kpi_files = {"contacts.sql", "queue_daily.sql", "queue_intervals.sql", "agent_daily.sql"}
    assert kpi_files <= {p.name for p in (REPO / "queries").glob("*.sql")}
    assert {p.name for p in ATHENA.glob("*.sql")} == kpi_files
    assert len(saved_queries()) == len(kpi_files)


def test_the_stacks_saved_queue_query_reports_yesterday_in_the_stacks_zone(tmp_path):
    # A lake around today, and the saved query as the stack deploys it with ReportTimeZone
    # Asia/Tokyo, run as is: it must be `ctrlake report queues --date yesterday`.
    tz = "Asia/Tokyo"
    start = (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=3)).date().isoformat()
    generated = tmp_path / "recent.ndjson"
    run_ctrlake("gen", "--contacts", "2000", "--days", "5", "--start", start,
                "--out", generated)
    lake = tmp_path / "lake"
    ingest([generated], lake)
    con = duckdb_over(lake)
    run_athena(con, "contacts.sql")
    saved = saved_queries()["QueueDailyQuery"].replace("${ReportTimeZone}", tz)
    assert "${" not in saved
    (sql,) = sqlglot.transpile(saved, read="trino", write="duckdb")
    wide = spread_thresholds(athena_rows(con, sql), ("date", "queue"))
    dates = {date for date, _ in wide}
    yesterday = (_dt.datetime.now(ZoneInfo(tz)) - _dt.timedelta(days=1)).date().isoformat()
    assert dates == {yesterday}
    report = csv_rows(run_ctrlake("report", "queues", "--lake", lake, "--format", "csv",
                                  "--tz", tz, "--date", yesterday).stdout.decode())
    assert [(r["date"], r["queue"]) for r in report] == list(wide)
    for expected in report:
        assert_same_cells(wide[(expected["date"], expected["queue"])], expected)


def test_a_task_enqueued_days_after_it_began_needs_the_lookback(tmp_path):
    """A contact is found by the UTC day it was initiated: a task created on 03-01 and
    scheduled into its queue on 03-04 is outside the default one-day look-back of a 03-04
    report, and inside `--lookback 3d` (Athena's lookback_days = 3 agrees)."""
    import json

    task = json.loads((REPO / "fixtures" / "ctr" / "10-task.ndjson").read_text().splitlines()[0])
    task.update(ContactId="00000000-0000-4000-8000-00000000a001",
                InitiationTimestamp="2026-03-01T04:10:00Z",
                ConnectedToSystemTimestamp="2026-03-01T04:10:00Z")
    source = tmp_path / "scheduled-task.ndjson"
    source.write_text(json.dumps(task) + "\n")
    lake = tmp_path / "lake"
    ingest([source], lake)
    day = ["--lake", lake, "--date", "2026-03-04", "--tz", "UTC", "--format", "csv"]
    missed = run_ctrlake("report", "queues", *day, check=False)
    assert missed.returncode == 3, "not found with the default look-back of one day"
    found = csv_rows(run_ctrlake("report", "queues", *day, "--lookback", "3d").stdout.decode())
    assert [(r["queue"], r["contacts_queued"], r["contacts_handled"]) for r in found] == [
        ("BackOffice", "1", "1")]
    agents = csv_rows(run_ctrlake("report", "agents", *day, "--lookback", "3d").stdout.decode())
    assert [(r["agent"], r["contacts_handled"]) for r in agents] == [("ito.takumi", "1")]
    bad = run_ctrlake("report", "queues", *day, "--lookback", "a week", check=False)
    assert bad.returncode == 2 and b"expected days like 1d or 3d" in bad.stderr

    con = duckdb_over(lake)
    run_athena(con, "contacts.sql")
    for days, expected in [(1, []), (3, [("BackOffice", "1")])]:
        sql = with_parameters("queue_daily.sql", (20,), tz="UTC", from_date="2026-03-04",
                              to_date="2026-03-04", sl_inclusive=False, all_queues=False,
                              by_channel=False, lookback_days=days)
        assert [(r["queue"], r["contacts_queued"]) for r in athena_rows(con, sql)] == expected


@pytest.mark.parametrize("report,group_by", [("queues", "queue,channel"), ("queues", "channel"),
                                             ("intervals", "queue,channel")])
def test_grouping_by_channel_equals_athena_and_sums_to_the_queues(lake, athena, report, group_by):
    """`--group-by queue,channel` and `channel`: a row per channel, the same cells as Athena's
    by_channel; the channels' counts add up to the queue's (or center's) row, and a queue's
    voice and chat rows keep their own averages."""
    name, key = ("queue_daily.sql", "date") if report == "queues" else (
        "queue_intervals.sql", "interval_start")
    window = {"tz": "Asia/Tokyo", "from_date": "2026-03-01", "to_date": "2026-03-04",
              "sl_inclusive": False, "lookback_days": 1}
    if report == "intervals":
        window["minutes"] = 15
    by_queue = group_by.startswith("queue")
    keys = (key, "queue", "channel") if by_queue else (key, "channel")
    rows = athena_rows(athena, with_parameters(name, (20, 60), all_queues=not by_queue,
                                               by_channel=True, **window))
    wide = spread_thresholds([{k: v for k, v in r.items() if by_queue or k != "queue"}
                              for r in rows], keys)
    args = ["report", report, "--lake", lake, "--format", "csv", "--tz", "Asia/Tokyo",
            "--from", "2026-03-01", "--to", "2026-03-04"]
    if report == "intervals":
        args += ["--minutes", "15"]
    grouped = csv_rows(run_ctrlake(*args, "--group-by", group_by).stdout.decode())
    assert grouped and "channel" in grouped[0] and ("queue" in grouped[0]) == by_queue
    assert {r["channel"] for r in grouped} >= {"VOICE", "CHAT"}
    if report == "intervals":
        for row in grouped:
            row["interval_start"] = row["interval_start"][:19].replace("T", " ")
    assert [tuple(r[k] for k in keys) for r in grouped] == list(wide)
    for expected in grouped:
        assert_same_cells(wide[tuple(expected[k] for k in keys)], expected)
    if report == "queues":
        whole = csv_rows(run_ctrlake(*args, *([] if by_queue else ["--all-queues"]))
                         .stdout.decode())
        for row in whole:
            parts = [r for r in grouped if r["date"] == row["date"]
                     and (not by_queue or r["queue"] == row["queue"])]
            for column in ("contacts_queued", "contacts_handled", "contacts_abandoned",
                           "sum_queue_answer_time_s", "sum_handle_time_s",
                           "contacts_removed_from_queue_in_20"):
                assert int(row[column]) == sum(int(r[column]) for r in parts), column



def test_an_outbound_call_counts_under_its_queue_by_its_agent_connection(tmp_path):
    """Fixture 08's outbound call, given the agent's outbound queue as Connect records it
    (`Queue.Name`, no enqueue): it counts in contacts_handled_outbound of that queue on the
    local day of its agent connection, and in nothing else; a queue with only outbound calls
    gets a row of zero counts and null averages (ctrlake and Athena alike)."""
    import json

    outbound = json.loads((REPO / "fixtures" / "ctr" / "08-outbound.ndjson").read_text()
                          .splitlines()[0])
    outbound["Queue"] = {"ARN": "arn:aws:connect:ap-northeast-1:111122223333:instance/x/queue/y",
                         "Name": "Outbound", "EnqueueTimestamp": None,
                         "DequeueTimestamp": None, "Duration": 0}
    answered = json.loads((REPO / "fixtures" / "ctr" / "01-inbound-answered.ndjson")
                          .read_text().splitlines()[0])
    source = tmp_path / "outbound.ndjson"
    source.write_text(json.dumps(outbound) + "\n" + json.dumps(answered) + "\n")
    lake = tmp_path / "lake"
    ingest([source], lake)
    window = ["--lake", lake, "--from", "2026-03-01", "--to", "2026-03-07", "--tz", "Asia/Tokyo",
              "--format", "csv"]
    rows = csv_rows(run_ctrlake("report", "queues", *window).stdout.decode())
    by_queue = {(r["date"], r["queue"]): r for r in rows}
    # 0801 is connected 03-04 02:00:00Z = 11:00 Tokyo; 0101 is queued on 03-02 in Support.
    assert set(by_queue) == {("2026-03-02", "Support"), ("2026-03-04", "Outbound")}
    out = by_queue[("2026-03-04", "Outbound")]
    assert out["contacts_handled_outbound"] == "1"
    for column in ("contacts_queued", "contacts_handled", "contacts_handled_incoming",
                   "contacts_abandoned", "contacts_transferred_out", "agent_non_response",
                   "sum_handle_time_s", "contacts_removed_from_queue_in_20"):
        assert out[column] == "0", column
    for column in ("abandonment_rate_pct", "avg_queue_answer_time_s", "max_queued_time_s",
                   "service_level_20_pct", "avg_handle_time_s"):
        assert out[column] == "", column
    support = by_queue[("2026-03-02", "Support")]
    assert (support["contacts_handled"], support["contacts_handled_outbound"]) == ("1", "0")
    # Intervals are by enqueue only: the outbound call is in none.
    intervals = csv_rows(run_ctrlake("report", "intervals", *window).stdout.decode())
    assert {r["queue"] for r in intervals} == {"Support"}

    con = duckdb_over(lake)
    run_athena(con, "contacts.sql")
    sql = with_parameters("queue_daily.sql", (20, 60), tz="Asia/Tokyo", from_date="2026-03-01",
                          to_date="2026-03-07", sl_inclusive=False, all_queues=False,
                          by_channel=False, lookback_days=1)
    wide = spread_thresholds(athena_rows(con, sql), ("date", "queue"))
    assert list(wide) == [(r["date"], r["queue"]) for r in rows]
    for expected in rows:
        assert_same_cells(wide[(expected["date"], expected["queue"])], expected)


def test_a_chat_and_voice_calls_in_one_queue_keep_their_own_averages(tmp_path):
    """Fixture 09's chat moved into Support beside the voice calls 1101 and 1502 (Tokyo 03-04),
    worked out by hand: per channel, chat D 33 / AHT 460 and voice D 95, 50 / AHT 170, 105;
    per queue the averages mix them."""
    import json

    lines = []
    for name in ("09-chat.ndjson", "11-missed-offers.ndjson", "15-crossing-midnight.ndjson"):
        lines += (REPO / "fixtures" / "ctr" / name).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        if record["Channel"] == "CHAT":
            record["Queue"]["Name"] = "Support"
    source = tmp_path / "mixed.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    lake = tmp_path / "lake"
    ingest([source], lake)
    day = ["--lake", lake, "--date", "2026-03-04", "--tz", "Asia/Tokyo", "--format", "csv"]
    columns = ("contacts_queued", "avg_queue_answer_time_s", "avg_handle_time_s",
               "service_level_60_pct")
    per_channel = csv_rows(run_ctrlake("report", "queues", *day, "--group-by", "queue,channel")
                           .stdout.decode())
    assert [(r["queue"], r["channel"], *(r[c] for c in columns)) for r in per_channel] == [
        ("Support", "CHAT", "1", "33.000", "460.000", "100.000"),
        ("Support", "VOICE", "2", "72.500", "137.500", "50.000"),
    ]
    per_queue = csv_rows(run_ctrlake("report", "queues", *day).stdout.decode())
    assert [(r["queue"], *(r[c] for c in columns)) for r in per_queue] == [
        ("Support", "3", "59.333", "245.000", "66.667")]
    by_channel = csv_rows(run_ctrlake("report", "queues", *day, "--group-by", "channel")
                          .stdout.decode())
    assert [(r["channel"], r["contacts_queued"]) for r in by_channel] == [("CHAT", "1"),
                                                                          ("VOICE", "2")]
