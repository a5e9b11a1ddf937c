"""`ctrlake report html`: the nightly page, opened in a real browser engine (Debian's headless
Chromium through Selenium; scripts/browser-env.sh installs it). Every table cell, headline tile
and chart data point must equal the CSV reports of the same lake (`report queues`, `report
queues --all-queues`, `report intervals`, `report agents`), and the charts must have drawn a
mark for each point. Screenshots are kept in target/test-artifacts/."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import pytest

from conftest import REPO, ingest, run_ctrlake

ARTIFACTS = REPO / "target" / "test-artifacts"
DAY, WEEK_BEFORE, TZ = "2026-03-09", "2026-03-02", "Asia/Tokyo"


def csv_rows(*args) -> list[dict]:
    return list(csv.DictReader(io.StringIO(run_ctrlake(*args, "--format", "csv")
                                           .stdout.decode())))


@pytest.fixture(scope="module")
def lake(bin_path, tmp_path_factory) -> Path:
    """Nine generated days: 2026-03-09 and the same weekday a week before."""
    work = tmp_path_factory.mktemp("html")
    generated = work / "ctr.ndjson"
    run_ctrlake("gen", "--contacts", "9000", "--days", "9", "--start", "2026-03-01",
                "--out", generated)
    ingest([generated], work / "lake")
    return work / "lake"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, page: Path, screenshot: str):
    """Loads `page`, waits for every chart to be drawn, keeps a full-page screenshot."""
    browser.get(page.as_uri())
    outcome = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.ctrlakeReady.then(() => done('drawn'), e => done('failed: ' + e));")
    assert outcome == "drawn"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, height + 100)
    assert browser.save_screenshot(str(ARTIFACTS / screenshot))
    browser.set_window_size(1280, 1000)


def table(browser, table_id: str) -> dict[str, dict[str, dict]]:
    """The rows of a page table: key -> column -> {value, shown}."""
    rows = browser.execute_script("""
        const rows = [];
        for (const tr of document.querySelectorAll('#' + arguments[0] + ' tbody tr')) {
          const cells = {};
          for (const td of tr.querySelectorAll('td[data-column]')) {
            cells[td.dataset.column] = {value: td.dataset.value, shown: td.textContent};
          }
          rows.push([tr.dataset.key, cells]);
        }
        return rows;""", table_id)
    return dict(rows)  # in the page's order


def chart_points(browser, chart: str) -> list[dict]:
    return browser.execute_script(
        "return window.ctrlakeCharts[arguments[0]].data('points')"
        ".map(p => ({interval_start: p.interval_start, queue: p.queue,"
        "            value: p[arguments[1]]}));",
        chart, {"service-level": "service_level_20_pct", "waiting": "peak_waiting",
                "contacts": "contacts_queued"}[chart])


def marks(browser, chart: str, kind: str) -> int:
    return browser.execute_script(
        f"return document.querySelectorAll('#chart-{chart} svg .mark-{kind} path').length")


def shown(column: str, text: str) -> str:
    """A CSV value as the page shows it: m:ss durations, one-decimal percentages, grouped
    counts."""
    if text == "":
        return ""
    value = float(text)
    if column.endswith("_pct"):
        return f"{value:.1f}%"
    if column.endswith("_s"):
        total = math.floor(value + 0.5)  # half a second up, as people round
        hours, minutes, seconds = total // 3600, total // 60 % 60, total % 60
        return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
    return f"{round(value):,}"


def same_number(page_value: str, csv_value: str) -> bool:
    if csv_value == "":
        return page_value == ""
    return abs(float(page_value) - float(csv_value)) < 1e-9


@pytest.fixture(scope="module")
def reports(lake) -> dict:
    common = ["--lake", lake, "--tz", TZ]
    return {
        "queues": csv_rows("report", "queues", *common, "--date", DAY),
        "center": csv_rows("report", "queues", *common, "--date", DAY, "--all-queues"),
        "queues_before": csv_rows("report", "queues", *common, "--date", WEEK_BEFORE),
        "center_before": csv_rows("report", "queues", *common, "--date", WEEK_BEFORE,
                                  "--all-queues"),
        "intervals": csv_rows("report", "intervals", *common, "--date", DAY),
        "center_intervals": csv_rows("report", "intervals", *common, "--date", DAY,
                                     "--all-queues"),
        "agents": csv_rows("report", "agents", *common, "--date", DAY),
    }


@pytest.fixture(scope="module")
def english(lake, browser, tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("page") / "report.html"
    run_ctrlake("report", "html", "--lake", lake, "--date", DAY, "--tz", TZ, "--out", page)
    open_page(browser, page, "html-report-en.png")
    return page


def test_the_queue_table_and_its_totals_row_equal_the_csv_reports(english, browser, reports):
    rows = table(browser, "queues")
    queues = {r["queue"]: r for r in reports["queues"]}
    center = reports["center"][0]
    assert list(rows) == [*queues, "All queues"], "every queue, then the center's row"
    peaks: dict[str, int] = {}
    for r in reports["intervals"]:
        peaks[r["queue"]] = max(peaks.get(r["queue"], 0), int(r["peak_waiting"]))
    for name, cells in rows.items():
        expected = queues.get(name, center)
        peak = (max(int(r["peak_waiting"]) for r in reports["center_intervals"])
                if name == "All queues" else peaks.get(name, 0))
        assert cells["peak_waiting"]["value"] == str(peak)
        for column, cell in cells.items():
            if column == "peak_waiting":
                continue
            assert cell["value"] == expected[column], (name, column)
            assert cell["shown"] == shown(column, expected[column]), (name, column)
    # The totals row is the center's own KPIs: its averages are not the queues' mean.
    mean_of_averages = sum(float(r["avg_queue_answer_time_s"]) for r in queues.values()
                           if r["avg_queue_answer_time_s"]) / len(queues)
    assert abs(float(center["avg_queue_answer_time_s"]) - mean_of_averages) > 0.001
    assert int(center["contacts_queued"]) == sum(int(r["contacts_queued"])
                                                 for r in queues.values())


def test_the_headline_tiles_and_week_over_week_equal_both_weeks_reports(english, browser,
                                                                       reports):
    center, before = reports["center"][0], reports["center_before"][0]
    tiles = browser.execute_script(
        "return [...document.querySelectorAll('.tile')].map(t => ({column: t.dataset.column,"
        " value: t.dataset.value, shown: t.querySelector('.shown').textContent,"
        " change: (t.querySelector('.change') || {}).textContent || ''}))")
    by_column = {t["column"]: t for t in tiles}
    for column in ("contacts_queued", "contacts_handled", "abandonment_rate_pct",
                   "service_level_20_pct", "avg_queue_answer_time_s", "avg_handle_time_s"):
        tile = by_column[column]
        assert tile["value"] == center[column]
        assert tile["shown"] == shown(column, center[column])
        assert tile["change"].endswith("vs a week before"), tile
    queued = int(center["contacts_queued"]) - int(before["contacts_queued"])
    assert by_column["contacts_queued"]["change"].startswith(
        f"{'−' if queued < 0 else '+' if queued else '±'}{abs(queued):,}")
    peak = max(int(r["peak_waiting"]) for r in reports["center_intervals"])
    assert by_column["peak_waiting"]["value"] == str(peak)

    rows = table(browser, "week-over-week")
    previous = {r["queue"]: r for r in reports["queues_before"]}
    for queue in [*(r["queue"] for r in reports["queues"]), "All queues"]:
        now_row = center if queue == "All queues" else next(
            r for r in reports["queues"] if r["queue"] == queue)
        before_row = before if queue == "All queues" else previous.get(queue)
        for metric in ("contacts_queued", "abandonment_rate_pct", "service_level_20_pct",
                       "avg_queue_answer_time_s", "avg_handle_time_s"):
            assert rows[queue][metric]["value"] == now_row[metric]
            assert rows[queue][f"{metric}:week_before"]["value"] == (
                before_row[metric] if before_row else "")
        change = rows[queue]["service_level_20_pct:change"]["shown"]
        if not (before_row and now_row["service_level_20_pct"]
                and before_row["service_level_20_pct"]):
            # An outbound-only queue has no service level; a queue new this week no change.
            assert change == ""
            continue
        sl = float(now_row["service_level_20_pct"]) - float(before_row["service_level_20_pct"])
        points = round(abs(sl), 1)
        sign = "±" if points == 0 else "−" if sl < 0 else "+"
        assert change == f"{sign}{points:.1f} pt"


def test_the_charts_plot_the_interval_reports_points_and_draw_each(english, browser, reports):
    center = reports["center_intervals"]
    sl = chart_points(browser, "service-level")
    assert [p["interval_start"] for p in sl] == [r["interval_start"] for r in center]
    for point, row in zip(sl, center):
        assert same_number("" if point["value"] is None else str(point["value"]),
                           row["service_level_20_pct"])
    assert marks(browser, "service-level", "symbol") == sum(
        1 for r in center if r["service_level_20_pct"] != "")
    waiting = chart_points(browser, "waiting")
    assert [(p["interval_start"], p["value"]) for p in waiting] == [
        (r["interval_start"], int(r["peak_waiting"])) for r in center]
    assert marks(browser, "waiting", "rect") == len(center)
    contacts = chart_points(browser, "contacts")
    assert sorted((p["interval_start"], p["queue"], p["value"]) for p in contacts) == sorted(
        (r["interval_start"], r["queue"], int(r["contacts_queued"]))
        for r in reports["intervals"])
    assert marks(browser, "contacts", "rect") == len(reports["intervals"])
    # The x axis is the whole local day in 15-minute intervals, quiet ones included.
    domain = browser.execute_script(
        "return window.ctrlakeCharts['waiting'].scale('x').domain()")
    assert len(domain) == 96 and domain[0] == f"{DAY}T00:00:00+09:00"
    assert domain[-1] == f"{DAY}T23:45:00+09:00"


def test_the_agent_tables_show_the_top_and_bottom_by_contacts_handled(english, browser,
                                                                     reports):
    agents = sorted(reports["agents"], key=lambda r: (-int(r["contacts_handled"]), r["agent"]))
    assert len(agents) > 20, "enough agents for a top and a bottom table"
    top, bottom, everyone = (table(browser, t) for t in
                             ("agents-top", "agents-bottom", "agents-all"))
    assert list(top) == [r["agent"] for r in agents[:10]]
    assert list(bottom) == [r["agent"] for r in reversed(agents[-10:])]
    assert list(everyone) == [r["agent"] for r in agents]
    for row in agents:
        for column, cell in everyone[row["agent"]].items():
            assert cell["value"] == row[column], (row["agent"], column)
            assert cell["shown"] == shown(column, row[column])


def test_the_page_needs_no_network(english, browser):
    text = english.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text), "nothing loaded"
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
    assert browser.execute_script("return document.querySelectorAll('svg').length") >= 3


def test_japanese_labels_with_the_same_numbers(lake, browser, tmp_path, reports):
    page = tmp_path / "report-ja.html"
    run_ctrlake("report", "html", "--lake", lake, "--date", DAY, "--tz", TZ, "--lang", "ja",
                "--out", page)
    open_page(browser, page, "html-report-ja.png")
    assert browser.execute_script("return document.documentElement.lang") == "ja"
    headers = browser.execute_script(
        "return [...document.querySelectorAll('#queues th')].map(th => th.textContent)")
    assert headers[:4] == ["キュー", "受付数", "応答数", "放棄数"]
    rows = table(browser, "queues")
    assert list(rows)[-1] == "全キュー"
    assert rows["全キュー"]["avg_handle_time_s"]["value"] == \
        reports["center"][0]["avg_handle_time_s"]
    assert "サービスレベル 20秒" in browser.execute_script("return document.body.innerText")


def test_a_daylight_saving_day_has_its_23_hours(lake, browser, tmp_path):
    page = tmp_path / "new-york.html"
    run_ctrlake("report", "html", "--lake", lake, "--date", "2026-03-08", "--tz",
                "America/New_York", "--out", page)
    open_page(browser, page, "html-report-dst.png")
    domain = browser.execute_script(
        "return window.ctrlakeCharts['service-level'].scale('x').domain()")
    assert len(domain) == 92
    assert "2026-03-08T01:45:00-05:00" in domain and "2026-03-08T03:00:00-04:00" in domain
    assert "2026-03-08T02:00:00-05:00" not in domain


def test_a_day_without_contacts_exits_3_and_writes_nothing(lake, tmp_path):
    page = tmp_path / "empty.html"
    proc = run_ctrlake("report", "html", "--lake", lake, "--date", "2026-04-01", "--tz", TZ,
                       "--out", page, check=False)
    assert proc.returncode == 3
    assert "the lake holds contacts of the UTC days" in proc.stderr.decode()
    assert not page.exists()
    proc = run_ctrlake("report", "html", "--allow-empty", "--lake", lake, "--date",
                       "2026-04-01", "--tz", TZ, "--out", page, check=False)
    assert proc.returncode == 0 and "<html" in page.read_text()
    # A page to standard output when it is a pipe; a range of days is not a nightly page.
    piped = run_ctrlake("report", "html", "--lake", lake, "--date", DAY, "--tz", TZ)
    assert piped.stdout.startswith(b"<!DOCTYPE html>")
    wrong = run_ctrlake("report", "html", "--lake", lake, "--from", DAY, "--to", DAY,
                        check=False)
    assert wrong.returncode == 2 and b"--from" in wrong.stderr
