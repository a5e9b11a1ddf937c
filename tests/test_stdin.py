"""`-` reads a stream from stdin; rows say source_uri "stdin"."""

from __future__ import annotations

import json
import subprocess

from conftest import (
    CTR_FILES,
    FIXTURES,
    RUN_TIMEOUT_S,
    ctrlake_bin,
    dead_letter_files,
    lines_with_offsets,
    parquet_files,
    parse_summary,
    read_dead_letters,
    read_lake,
)


def pipe_into_ingest(path, lake):
    """`cat path | ctrlake ingest files - --lake lake` with a real pipe."""
    cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    try:
        proc = subprocess.run(
            [str(ctrlake_bin()), "ingest", "files", "-", "--lake", str(lake), "--quiet"],
            stdin=cat.stdout,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
    finally:
        cat.stdout.close()
        cat.wait(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return parse_summary(proc.stdout.decode())


def file_by_name(name):
    return next(p for p in CTR_FILES if p.name == name)


def test_stdin_rows(bin_path, tmp_path):
    path = file_by_name("05-agent-transfer.ndjson")
    lake = tmp_path / "lake"
    summary = pipe_into_ingest(path, lake)
    lines = list(lines_with_offsets(path))
    assert summary["records written"] == len(lines) == 2
    assert summary["records dead-lettered"] == 0
    table = read_lake(lake)
    rows = sorted(table.to_pylist(), key=lambda r: r["source_offset"])
    assert [r["source_uri"] for r in rows] == ["stdin", "stdin"]
    assert [(r["source_offset"], r["contact_id"]) for r in rows] == [
        (off, json.loads(raw)["ContactId"]) for off, raw in lines
    ]


def test_two_stdin_streams_do_not_overwrite(bin_path, tmp_path):
    lake = tmp_path / "lake"
    a = file_by_name("01-inbound-answered.ndjson")
    b = file_by_name("02-abandoned-in-queue.ndjson")  # same dt=2026-03-02 as a
    pipe_into_ingest(a, lake)
    first = parquet_files(lake)
    assert len(first) == 1
    pipe_into_ingest(b, lake)
    both = parquet_files(lake)
    assert len(both) == 2 and first[0] in both
    table = read_lake(lake)
    assert sorted(table.column("contact_id").to_pylist()) == [
        "00000000-0000-4000-8000-000000000101",
        "00000000-0000-4000-8000-000000000201",
    ]
    assert set(table.column("source_uri").to_pylist()) == {"stdin"}
    # the same stream again replaces its own file instead of adding rows
    pipe_into_ingest(a, lake)
    assert parquet_files(lake) == both
    assert read_lake(lake).num_rows == 2


def test_stdin_dead_letters_say_stdin(bin_path, tmp_path):
    lake = tmp_path / "lake"
    summary = pipe_into_ingest(FIXTURES / "malformed" / "not_an_object.ndjson", lake)
    assert summary["records dead-lettered"] == 3
    letters = read_dead_letters(lake)
    assert [d["source_uri"] for d in letters] == ["stdin"] * 3
    assert [d["source_offset"] for d in letters] == [1124, 1132, 1143]
    assert len(dead_letter_files(lake)) == 1
