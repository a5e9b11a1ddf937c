"""A backfill is reproducible: same inputs -> same file names and bytes, whatever the lake's
history or the thread count."""

from __future__ import annotations

import re

import pyarrow.parquet as pq
import pytest

from conftest import hash_tree, ingest, parquet_files, run_ctrlake

CHUNK = 4 * 1024 * 1024
NAME = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{16})-(?P<start>\d{12})-(?P<end>\d{12})\.parquet$")


@pytest.fixture(scope="module")
def big_input(bin_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "backfill.ndjson"
    run_ctrlake("gen", "--contacts", 20000, "--seed", 7, "--days", 3, "--start", "2026-03-01",
                "--out", path)
    size = path.stat().st_size
    assert size > 4 * CHUNK, f"input of {size} bytes is not several 4 MiB chunks"
    return path


@pytest.fixture(scope="module")
def first_run(big_input, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake_a")
    summary = ingest([big_input], lake, "--threads", 2)
    return lake, summary, hash_tree(lake)


def test_first_run_shape(first_run, big_input):
    lake, summary, hashes = first_run
    assert summary["records dead-lettered"] == 0
    assert summary["records written"] == summary["records read"] > 20000
    files = parquet_files(lake)
    assert len(files) >= 3, "several output files expected"
    assert set(hashes) == {str(f.relative_to(lake)) for f in files}
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert total == summary["records written"]
    for f in files:
        m = NAME.match(f.name)
        assert m, f.name
        assert m.group("stem") == big_input.name
        assert int(m.group("start")) < int(m.group("end")) <= big_input.stat().st_size
    # no temporary or partial files left behind
    assert not [p for p in lake.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]


def test_rerun_same_lake_is_identical(first_run, big_input):
    lake, _, hashes = first_run
    summary = ingest([big_input], lake, "--threads", 2)
    assert summary["records written"] > 20000
    assert hash_tree(lake) == hashes


def test_fresh_lake_is_identical(first_run, big_input, tmp_path):
    _, _, hashes = first_run
    lake = tmp_path / "lake_b"
    ingest([big_input], lake, "--threads", 2)
    assert hash_tree(lake) == hashes


def test_thread_count_does_not_matter(first_run, big_input, tmp_path):
    _, _, hashes = first_run
    lake = tmp_path / "lake_c"
    ingest([big_input], lake, "--threads", 1)
    assert hash_tree(lake) == hashes
