"""The query commands through the real binary: contacts search and chain, sql with its error
handling and the interactive shell fed on stdin, report output formats and bad arguments."""

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import run_ctrlake


def test_contacts_search_shows_local_seconds_and_milliseconds(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--from", "2026-03-01", "--to", "2026-03-07",
                      "--tz", "Asia/Tokyo", "--format", "csv").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 32
    ids = [r["contact_id"] for r in rows]
    assert len(ids) == len(set(ids)), "one row per contact"
    ms = next(r for r in rows if r["contact_id"] == "00000000-0000-4000-8000-000000001301")
    assert ms["last_updated"].endswith(".250+09:00"), ms["last_updated"]
    assert all(r["initiated"].endswith("+09:00") for r in rows)


def test_contacts_filters_combine(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--date", "2026-03-02", "--tz", "Asia/Tokyo",
                      "--queue", "Support", "--channel", "VOICE", "--format", "json").stdout.decode()
    rows = json.loads(out)
    assert rows, "Support had voice contacts on 2026-03-02"
    assert {r["queue"] for r in rows} == {"Support"}
    assert {r["channel"] for r in rows} == {"VOICE"}


def test_chain_lists_every_leg(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--chain",
                      "00000000-0000-4000-8000-000000000702", "--format", "csv").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["initiation_method"] for r in rows] == ["INBOUND", "CALLBACK"]


def test_sql_query_and_parquet_output(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    out = tmp_path / "q.parquet"
    run_ctrlake("sql", "--lake", lake, "--format", "parquet", "--out", out,
                "SELECT queue_name, count(*) AS n FROM contacts WHERE queue_name IS NOT NULL "
                "GROUP BY queue_name ORDER BY queue_name")
    table = pq.read_table(out)
    assert table.column_names == ["queue_name", "n"]
    assert table.schema.field("queue_name").type == pa.string()
    assert sum(table.column("n").to_pylist()) == 30


def test_bad_sql_is_one_line_and_exit_1(bin_path, fixture_lake):
    lake, _ = fixture_lake
    result = run_ctrlake("sql", "--lake", lake, "SELECT nope FROM contacts", check=False)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0], stderr
    assert "panicked" not in stderr and "backtrace" not in stderr.lower()


def test_shell_runs_statements_from_stdin(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    script = "SELECT count(*) AS n\n  FROM contacts;\nSELECT broken(;\nSELECT 41 + 1 AS answer;\n"
    result = run_ctrlake("sql", "--lake", lake, input=script.encode(), env={"HOME": str(tmp_path)})
    cells = [c.strip() for line in result.stdout.decode().splitlines() for c in line.split("|")]
    assert "33" in cells and "42" in cells, result.stdout.decode()
    errors = [l for l in result.stderr.decode().splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "Expected" in errors[0], result.stderr.decode()
    assert (tmp_path / ".ctrlake_history").exists()


def test_report_rejects_bad_arguments(bin_path, fixture_lake):
    lake, _ = fixture_lake
    for args, needle in [
        (["report", "queues", "--date", "2026-03-02", "--tz", "Asia/Tokio"], "Asia/Tokio"),
        (["report", "intervals", "--date", "2026-03-02", "--minutes", "7"], "divisor of 60"),
        (["report", "queues", "--from", "2026-03-05", "--to", "2026-03-01"], "before"),
        (["report", "queues", "--date", "someday"], "someday"),
    ]:
        result = run_ctrlake(*args, "--lake", lake, check=False)
        assert result.returncode != 0, args
        assert needle in result.stderr.decode(), (args, result.stderr.decode())
