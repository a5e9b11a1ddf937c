"""Hardening through the real binary: read-only SQL with a memory limit, sources that cannot be
read, records the queries cannot handle, duplicate keys, re-ingested sources, temporary files,
odd lake paths and bad lake files (issue 17). Inputs are in fixtures/hostile/ (see its README).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import (
    CTR_FILES,
    FIXTURES,
    ctrlake_bin,
    dead_letter_files,
    ingest,
    parquet_files,
    read_dead_letters,
    read_lake,
    run_ctrlake,
)

HOSTILE = FIXTURES / "hostile"


def sql(lake, query, *extra, check=True):
    return run_ctrlake("sql", "--lake", lake, *extra, query, check=check)


def scalar(lake, query) -> str:
    out = sql(lake, query, "--format", "csv").stdout.decode().splitlines()
    return out[1]


@pytest.fixture
def small_lake(tmp_path) -> Path:
    lake = tmp_path / "lake"
    ingest(CTR_FILES, lake)
    return lake


# --- Security -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1 AS x) TO '{out}'",
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO ctr_raw SELECT * FROM ctr_raw",
        "CREATE TABLE t AS SELECT 1",
        "DROP VIEW contacts",
        "SET datafusion.execution.batch_size = 1",
        "SELECT * FROM '/etc/passwd'",
    ],
)
def test_sql_is_read_only_by_default(small_lake, tmp_path, statement):
    out = tmp_path / "written.csv"
    before = sorted(p.name for p in parquet_files(small_lake))
    proc = sql(small_lake, statement.format(out=out), check=False)
    assert proc.returncode == 1, proc.stdout
    assert not out.exists()
    assert sorted(p.name for p in parquet_files(small_lake)) == before
    stderr = proc.stderr.decode()
    if not statement.startswith("SELECT"):
        assert "read-only" in stderr and "--allow-write" in stderr, stderr


def test_the_owner_can_allow_writes(small_lake, tmp_path):
    out = tmp_path / "export.csv"
    sql(small_lake, f"COPY (SELECT 42 AS answer) TO '{out}'", "--allow-write")
    assert out.read_text().splitlines() == ["answer", "42"]


def test_a_query_over_its_memory_limit_stops_with_a_clear_error(small_lake):
    started = time.monotonic()
    cross = (
        "SELECT a.raw_json, b.raw_json, c.contact_id "
        "FROM ctr_raw a, ctr_raw b, ctr_raw c, ctr_raw d, ctr_raw e"
    )
    proc = sql(small_lake, cross, "--memory-limit", "64MB", check=False)
    assert proc.returncode == 1
    assert "exceeded the memory limit of 64 MB" in proc.stderr.decode()
    # The same through the environment, as a shared host's profile would set it.
    proc = run_ctrlake(
        "sql", "--lake", small_lake, cross, env={"CTRLAKE_MEMORY_LIMIT": "32MB"}, check=False
    )
    assert "exceeded the memory limit of 32 MB" in proc.stderr.decode()
    assert time.monotonic() - started < 60
    proc = sql(small_lake, "SELECT 1", "--memory-limit", "lots", check=False)
    assert proc.returncode == 2 and "not a size like 2GB" in proc.stderr.decode()


# --- Ingest must not stop or lie ------------------------------------------------------------


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can reach (pytest's own temporary folders are private to
    their owner), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ctrlake-hardening-", dir="/tmp"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        for child in path.rglob("*"):
            if not child.is_symlink():
                child.chmod(0o777 if child.is_dir() else 0o666)
        shutil.rmtree(path)


def run_as_nobody(binary: Path, args) -> subprocess.CompletedProcess:
    """Runs `binary` as an unprivileged user when the tests run as root (root reads every
    file, so a permission error needs another user)."""
    command = [str(binary), *map(str, args)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is needed to drop root's privileges")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, timeout=120)


def test_unreadable_and_missing_sources_are_dead_lettered_and_the_rest_ingested(shared_dir):
    work = shared_dir
    binary = work / "ctrlake"
    shutil.copy(ctrlake_bin(), binary)
    binary.chmod(0o755)
    first, second = CTR_FILES[0], CTR_FILES[1]
    readable = work / "first.ndjson"
    shutil.copy(first, readable)
    unreadable = work / "locked.ndjson"
    shutil.copy(first, unreadable)
    unreadable.chmod(0)
    later = work / "second.ndjson"
    shutil.copy(second, later)
    for path in (readable, later):
        path.chmod(0o644)
    lake = work / "lake"
    proc = run_as_nobody(
        binary,
        ["ingest", "files", readable, unreadable, work / "missing.ndjson",
         str(work / "nomatch-*.gz"), later, "--lake", lake, "--quiet"],
    )
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 2, stdout + stderr
    assert "ingested 5 source(s)" in stdout
    expected = sum(1 for line in first.read_text().splitlines() if line.strip()) + sum(
        1 for line in second.read_text().splitlines() if line.strip()
    )
    table = read_lake(lake)
    assert table.num_rows == expected
    letters = read_dead_letters(lake)
    assert sorted(d["reason"] for d in letters) == ["unreadable_source"] * 3
    by_uri = {d["source_uri"]: d["detail"] for d in letters}
    assert "Permission denied" in by_uri[unreadable.as_uri()]
    assert "no such file" in by_uri[(work / "missing.ndjson").as_uri()]
    for path in ("locked.ndjson", "missing.ndjson", "nomatch-*.gz"):
        assert path in stderr


def test_implausible_years_and_integers_are_dead_lettered(tmp_path):
    lake = tmp_path / "lake"
    summary = ingest(
        [HOSTILE / "implausible_years.ndjson", HOSTILE / "implausible_integers.ndjson"], lake
    )
    assert summary["records written"] == 4
    assert summary["dead_letter_reasons"] == {"bad_timestamp": 4, "bad_integer": 4}
    details = [d["detail"] for d in read_dead_letters(lake)]
    assert any("9999-12-31T23:59:59Z" in d and "2017 to 2099" in d for d in details), details
    assert any("9223372036854775807" in d and "plausible maximum" in d for d in details), details
    ids = sorted(read_lake(lake).column("contact_id").to_pylist())
    assert ids == [f"00000000-0000-4000-8000-000000H0000{i}" for i in range(1, 5)]
    # Every report over the whole lake still works.
    assert scalar(lake, "SELECT count(*) FROM queue_daily WHERE threshold_s = 20") == "1"
    assert int(scalar(lake, "SELECT count(*) FROM queue_intervals")) > 0


def test_partitions_and_values_from_elsewhere_do_not_break_reports(tmp_path):
    """A lake written by another tool (or an older ctrlake) can hold partitions and values no
    CTR has: reports skip the partitions and ignore the values instead of failing or running
    for ever."""
    lake = tmp_path / "lake"
    ingest([HOSTILE / "implausible_years.ndjson"], lake)
    [good] = parquet_files(lake)
    for dt in ("9999-12-31", "1970-01-01", "0000-01-01"):
        folder = lake / "ctr" / f"dt={dt}"
        folder.mkdir()
        shutil.copy(good, folder / good.name)
    table = pq.read_table(good)
    huge = pa.array([2**63 - 1] * table.num_rows, pa.int64())
    for column in ("queue_duration", "agent_interaction_duration"):
        table = table.set_column(table.schema.get_field_index(column), column, huge)
    pq.write_table(table, good.parent / "from-elsewhere.parquet")
    daily = sql(lake, "SELECT * FROM queue_daily WHERE threshold_s = 20", "--format", "csv")
    rows = daily.stdout.decode().splitlines()
    assert len(rows) == 2, rows
    proc = run_ctrlake(
        "report", "queues", "--lake", lake, "--date", "2026-03-08", "--format", "csv"
    )
    header, row = proc.stdout.decode().splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    # The copy's versions tie with the originals; whichever wins, its huge durations are
    # ignored instead of overflowing.
    for column in ("avg_queue_answer_time_s", "avg_agent_interaction_s"):
        assert values[column] == "" or 0 <= float(values[column]) <= 200, values
    intervals = sql(lake, "SELECT count(*) AS n FROM queue_intervals", "--format", "csv")
    assert int(intervals.stdout.decode().splitlines()[1]) < 1000
    proc = run_ctrlake(
        "report", "queues", "--lake", lake, "--from", "1970-01-01", "--to", "2026-03-08",
        check=False,
    )
    assert proc.returncode == 1 and "from 2016-12-31 to 2100-01-01" in proc.stderr.decode()


def test_a_key_given_twice_keeps_its_last_value_and_duckdb_reads_the_lake(tmp_path):
    lake = tmp_path / "lake"
    summary = ingest([HOSTILE / "duplicate_keys.ndjson"], lake)
    assert summary["records written"] == 2
    con = duckdb.connect()
    rows = con.execute(
        "SELECT contact_id, attributes, tags, queue_name, queue_duration "
        "FROM read_parquet(?, hive_partitioning = true) ORDER BY contact_id",
        [str(lake / "ctr" / "*" / "*.parquet")],
    ).fetchall()
    con.execute(
        "SELECT * FROM read_parquet(?, hive_partitioning = true)",
        [str(lake / "ctr" / "*" / "*.parquet")],
    ).fetchall()
    first, second = rows
    assert dict(first[1]) == {"greetingPlayed": "false", "lang": "ja"}
    assert list(first[1].keys()) == ["greetingPlayed", "lang"]
    assert dict(second[2]) == {"t": "2"}
    assert (second[3], second[4]) == ("Second", 5)


def test_reingesting_a_grown_file_replaces_its_earlier_files(tmp_path):
    source = tmp_path / "growing.ndjson"
    run_ctrlake("gen", "--contacts", "100", "--days", "2", "--out", source)
    lake = tmp_path / "lake"
    first = ingest([source], lake)
    with open(source, "ab") as grown:
        grown.write(
            run_ctrlake("gen", "--contacts", "100", "--days", "2", "--seed", "9").stdout
        )
    second = ingest([source], lake)
    assert second["records read"] > first["records read"]
    assert second["earlier files removed"] >= 1
    assert read_lake(lake).num_rows == second["records written"]
    assert scalar(lake, "SELECT count(*) FROM ctr_raw") == str(second["records written"])
    # Re-running the same bytes rewrites the same files and removes nothing.
    before = sorted(p.name for p in parquet_files(lake))
    third = ingest([source], lake)
    assert "earlier files removed" not in third
    assert sorted(p.name for p in parquet_files(lake)) == before


def test_zero_padding_after_a_gzip_member_is_not_a_record(tmp_path):
    data = (HOSTILE / "zero_padded.json.gz").read_bytes()
    assert data.endswith(b"\0" * 4096)
    assert gzip.decompress(data[:-4096]).count(b"\n") == 2
    summary = ingest([HOSTILE / "zero_padded.json.gz"], tmp_path / "lake")
    assert summary["_returncode"] == 0
    assert summary["records written"] == 2
    assert summary["records dead-lettered"] == 0


@pytest.mark.parametrize("compressed", [False, True])
def test_a_record_over_the_largest_chunk_is_one_too_large_dead_letter(tmp_path, compressed):
    """64 MiB is the most a chunk grows to; a longer record is read past, not split."""
    lines = CTR_FILES[0].read_text().splitlines()
    huge = json.loads(lines[0])
    huge["ContactId"] = "huge-record"
    huge["Attributes"] = {"dump": "{x}\n" * (17 << 20)}  # 68 MiB of JSON-escaped text
    huge_line = json.dumps(huge, separators=(",", ":"))
    text = f"{lines[0]}\n{huge_line}\n{lines[-1]}\n".encode()
    source = tmp_path / ("big.ndjson.gz" if compressed else "big.ndjson")
    source.write_bytes(gzip.compress(text, compresslevel=1) if compressed else text)
    lake = tmp_path / "lake"
    summary = ingest([source], lake)
    assert summary["records read"] == 3
    assert summary["records written"] == 2
    assert summary["dead_letter_reasons"] == {"too_large": 1}
    [letter] = read_dead_letters(lake)
    start = len(lines[0]) + 1
    assert letter["source_offset"] == start
    assert f"bytes {start}..{start + len(huge_line)} of the source" in letter["detail"]
    assert letter["length"] == 1 << 20
    assert text[start:].startswith(letter["record"].encode()[:1000])


# --- Files others read ----------------------------------------------------------------------


def test_temporary_files_are_hidden_and_stale_ones_removed(small_lake):
    partition = sorted((small_lake / "ctr").glob("dt=*"))[0]
    ours = partition / ".x.parquet.999999999-0.tmp"  # no process has this id
    ours.write_bytes(b"PAR1 half a file")
    legacy = partition / "y.parquet#1"
    legacy.write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(legacy, (an_hour_ago, an_hour_ago))
    summary = ingest([CTR_FILES[0]], small_lake)
    assert summary["stale temporaries"] == 2
    assert not ours.exists() and not legacy.exists()
    # Nothing a write leaves behind is visible to other engines while it is in progress:
    # names start with '.' and end in '.tmp'.
    hidden = partition / ".z.parquet.1-0.tmp"
    hidden.write_bytes(b"not parquet")
    try:
        assert read_lake(small_lake).num_rows > 0
        con = duckdb.connect()
        con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
            [str(small_lake / "ctr" / "*" / "*.parquet")],
        ).fetchall()
        sql(small_lake, "SELECT count(*) FROM ctr_raw")
    finally:
        hidden.unlink()


def test_a_lake_path_with_url_characters_is_one_directory(tmp_path):
    name = "lake %20 #1 ?x"
    lake = tmp_path / name
    summary = ingest(CTR_FILES, lake)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert scalar(lake, "SELECT count(*) FROM ctr_raw") == str(summary["records written"])
    url = lake.resolve().as_uri()
    assert scalar(url, "SELECT count(*) FROM ctr_raw") == str(summary["records written"])
    run_ctrlake("report", "queues", "--lake", lake, "--date", "2026-03-02")


def test_a_corrupt_or_foreign_file_in_a_partition_is_named(small_lake):
    partition = sorted((small_lake / "ctr").glob("dt=*"))[0]
    junk = partition / "junk.parquet"
    junk.write_bytes(b"\x00" * 100 + b"not parquet at all")
    dt = partition.name.removeprefix("dt=")
    proc = run_ctrlake("report", "queues", "--lake", small_lake, "--date", dt, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 1
    assert str(junk) in stderr and "not a readable Parquet file" in stderr, stderr
    junk.unlink()
    foreign = partition / "foreign.parquet"
    pq.write_table(pa.table({"contact_id": ["a"], "x": [1]}), foreign)
    proc = sql(small_lake, "SELECT count(*) FROM contacts", check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 1
    assert str(foreign) in stderr and "it has no column" in stderr, stderr
