"""`ctrlake compact` on a lake of many small files: fewer files, the same rows and every KPI
report cell for cell, files other engines read."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from conftest import CTR_FILES, ingest, parquet_files, run_ctrlake

REPORTS = [
    ["report", "queues", "--from", "2026-03-01", "--to", "2026-03-04", "--tz", "Asia/Tokyo"],
    ["report", "agents", "--from", "2026-03-01", "--to", "2026-03-04", "--tz", "Asia/Tokyo"],
    ["report", "intervals", "--date", "2026-03-02", "--tz", "Asia/Tokyo", "--minutes", "15"],
]


def many_small_files(tmp_path):
    """A generated day cut into 16 sources plus the fixtures: many files per partition."""
    generated = tmp_path / "gen.ndjson"
    run_ctrlake("gen", "--contacts", "3000", "--days", "2", "--out", generated)
    lines = generated.read_bytes().splitlines(keepends=True)
    parts = []
    for i in range(16):
        part = tmp_path / f"part-{i:02d}.ndjson"
        part.write_bytes(b"".join(lines[i::16]))
        parts.append(part)
    lake = tmp_path / "lake"
    ingest([*parts, *CTR_FILES], lake)
    return lake


def reports(lake) -> list[bytes]:
    return [run_ctrlake(*r, "--lake", lake, "--format", "csv").stdout for r in REPORTS]


def count(lake, table) -> int:
    out = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                      f"SELECT count(*) AS n FROM {table}").stdout.decode()
    return int(out.splitlines()[1])


def test_compaction_leaves_reports_and_rows_unchanged_in_few_files(tmp_path):
    lake = many_small_files(tmp_path)
    files_before = len(parquet_files(lake))
    before = reports(lake)
    rows, contacts = count(lake, "ctr_raw"), count(lake, "contacts")
    assert all(len(r.splitlines()) > 2 for r in before), "the reports have rows to compare"

    out = run_ctrlake("compact", "--lake", lake).stdout.decode()
    assert "0 duplicate rows removed" in out, out
    files = parquet_files(lake)
    days = {f.parent.name for f in files}
    assert len(files) == len(days) < files_before / 4, (len(files), files_before)
    assert all(f.name.startswith("compacted-") for f in files if len(list(f.parent.iterdir())) > 1)
    assert reports(lake) == before, "every report cell for cell"
    assert (count(lake, "ctr_raw"), count(lake, "contacts")) == (rows, contacts)

    # Other engines read the new files: pyarrow and DuckDB count the same rows.
    assert sum(pq.read_metadata(f).num_rows for f in files) == rows
    glob = str(lake / "ctr" / "*" / "*.parquet")
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall() == [(rows,)]

    # A second run finds nothing to do and changes nothing.
    again = run_ctrlake("compact", "--lake", lake).stdout.decode()
    assert again.startswith("compacted 0 of"), again
    assert sorted(parquet_files(lake)) == sorted(files)


def test_compact_selects_partitions_and_refuses_bad_arguments(tmp_path):
    lake = many_small_files(tmp_path)
    before = {f.parent.name: 0 for f in parquet_files(lake)}
    for f in parquet_files(lake):
        before[f.parent.name] += 1
    run_ctrlake("compact", "--lake", lake, "--dt", "2026-03-02", "--quiet")
    after = {}
    for f in parquet_files(lake):
        after[f.parent.name] = after.get(f.parent.name, 0) + 1
    assert after["dt=2026-03-02"] == 1
    assert {k: v for k, v in after.items() if k != "dt=2026-03-02"} == \
        {k: v for k, v in before.items() if k != "dt=2026-03-02"}, "other days untouched"

    young = run_ctrlake("compact", "--lake", lake, "--older-than", "1h").stdout.decode()
    assert young.startswith("compacted 0 of"), young

    for bad, message in (
        (["--from", "2026-03-05", "--to", "2026-03-01"], "--from 2026-03-05 is after --to"),
        (["--older-than", "soon"], "is not a duration"),
        (["--compression", "lz4"], "expected zstd"),
    ):
        proc = run_ctrlake("compact", "--lake", lake, *bad, check=False)
        assert proc.returncode != 0, bad
        assert message in proc.stderr.decode(), proc.stderr.decode()
    missing = run_ctrlake("compact", "--lake", tmp_path / "nothing", check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode().count("No such file") == 1, missing.stderr.decode()
