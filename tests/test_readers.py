"""pyarrow and DuckDB read the lake as Athena would: Hive partitions, types, metadata, order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from conftest import (
    CTR_FILES,
    FIREHOSE_EXPECTED,
    FIXTURES,
    ingest,
    iso_to_ms,
    lines_with_offsets,
    parquet_files,
    read_lake,
    ts_ms,
)

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
DT_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def expected_valid_records() -> int:
    ctr_lines = sum(1 for f in CTR_FILES for _ in lines_with_offsets(f))
    firehose_good = sum(len(e["good_contact_ids"]) for e in FIREHOSE_EXPECTED)
    return ctr_lines + firehose_good


def timestamp_columns(schema_columns) -> list[str]:
    return [c["name"] for c in schema_columns if c["arrow_type"].startswith("Timestamp")]


def test_summary_counts(fixture_lake):
    lake, summary = fixture_lake
    assert summary["_returncode"] == 0
    valid = expected_valid_records()
    dead = sum(len(e["dead_letters"]) for e in FIREHOSE_EXPECTED)
    assert summary["records written"] == valid == 49
    assert summary["records dead-lettered"] == dead
    assert summary["records read"] == valid + dead
    assert summary["dead_letter_reasons"] == {"truncated": dead}


def test_pyarrow_hive_partitioning(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    dataset = ds.dataset(str(lake / "ctr"), format="parquet", partitioning="hive")
    assert "dt" in dataset.schema.names
    assert dataset.partitioning is not None
    assert "dt" in dataset.partitioning.schema.names
    table = dataset.to_table()
    assert table.num_rows == expected_valid_records()
    # The partition value equals the directory and the UTC date of initiation_timestamp.
    for frag in dataset.get_fragments():
        dirname = Path(frag.path).parent.name
        m = DT_DIR.match(dirname)
        assert m, dirname
        rows = frag.to_table(schema=dataset.schema)
        assert set(rows.column("dt").to_pylist()) == {m.group(1)}
        days = {v.date().isoformat() for v in rows.column("initiation_timestamp").to_pylist()}
        assert days == {m.group(1)}, frag.path
    # Every column of the schema command, in that order, then the partition column.
    assert table.column_names == [c["name"] for c in schema_columns] + ["dt"]


def test_duckdb_hive_partitioning(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    con = duckdb.connect()
    glob = f"{lake}/ctr/*/*.parquet"
    rel = f"read_parquet('{glob}', hive_partitioning=true)"
    described = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
    assert "dt" in described
    for name in timestamp_columns(schema_columns):
        assert described[name] == "TIMESTAMP WITH TIME ZONE", (name, described[name])
    for c in schema_columns:
        if c["arrow_type"] == "Int64":
            assert described[c["name"]] == "BIGINT", c["name"]
        elif c["arrow_type"] == "Utf8":
            assert described[c["name"]] == "VARCHAR", c["name"]
        elif c["athena_type"] == "map<string,string>":
            assert described[c["name"]] == "MAP(VARCHAR, VARCHAR)", c["name"]
    count = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
    assert count == expected_valid_records()
    bad = con.execute(
        f"SELECT count(*) FROM {rel} "
        "WHERE CAST(dt AS VARCHAR) <> strftime(initiation_timestamp AT TIME ZONE 'UTC', '%Y-%m-%d')"
    ).fetchone()[0]
    assert bad == 0
    days = [r[0] for r in con.execute(f"SELECT DISTINCT CAST(dt AS VARCHAR) FROM {rel} ORDER BY 1").fetchall()]
    # 2026-03-05 is the empty day; 2022-01-05 is the real sample.
    assert days == [
        "2022-01-05", "2026-03-01", "2026-03-02", "2026-03-03",
        "2026-03-04", "2026-03-06", "2026-03-07",
    ]
    # Millisecond precision survives (fixture 13 line 1), read without the ARROW:schema hint.
    ms = con.execute(
        f"SELECT epoch_ms(last_update_timestamp), epoch_ms(initiation_timestamp) FROM {rel} "
        "WHERE contact_id = '00000000-0000-4000-8000-000000001301' ORDER BY 1"
    ).fetchall()
    assert ms == [
        (iso_to_ms("2026-03-06T01:15:45Z"), iso_to_ms("2026-03-06T01:10:00.123Z")),
        (iso_to_ms("2026-03-06T01:15:45.250Z"), iso_to_ms("2026-03-06T01:10:00.123Z")),
    ]


def test_column_names_snake_case(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    names = [c["name"] for c in schema_columns]
    assert len(names) == len(set(names))
    for name in names:
        assert SNAKE.match(name), name
    for f in parquet_files(lake):
        for name in pq.ParquetFile(f).schema_arrow.names:
            assert SNAKE.match(name), (f, name)


def test_dt_not_stored_in_files(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    files = parquet_files(lake)
    assert files
    for f in files:
        pf = pq.ParquetFile(f)
        assert "dt" not in pf.schema_arrow.names, f
        assert "dt" not in [pf.schema.column(i).name for i in range(len(pf.schema))], f
        assert pf.schema_arrow.names == [c["name"] for c in schema_columns], f


def test_arrow_readers_get_the_lake_schema_types(fixture_lake, schema_columns):
    """The Arrow schema stored in each file is the lake's (`ctrlake schema`): text is `string`
    although the writer gathers its longest text columns as string views."""
    lake, _ = fixture_lake
    plain = {"Utf8": pa.string(), "Int64": pa.int64()}
    for f in parquet_files(lake):
        stored = pq.ParquetFile(f).schema_arrow
        for column in schema_columns:
            field = stored.field(column["name"])
            if column["arrow_type"] in plain:
                assert field.type == plain[column["arrow_type"]], (f, field)
        assert stored.field("raw_json").type == pa.string(), f


def test_timestamp_logical_types(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    wanted = set(timestamp_columns(schema_columns))
    assert {"initiation_timestamp", "last_update_timestamp", "arrival_timestamp"} <= wanted
    for f in parquet_files(lake):
        schema = pq.ParquetFile(f).schema
        seen = set()
        for i in range(len(schema)):
            col = schema.column(i)
            if col.path.split(".")[0] not in wanted:
                continue
            seen.add(col.path)
            assert col.physical_type == "INT64", (f, col.path)
            lt = col.logical_type
            assert lt.type == "TIMESTAMP", (f, col.path, lt)
            info = json.loads(lt.to_json())
            assert info["timeUnit"] == "milliseconds", (f, col.path, info)
            assert info["isAdjustedToUTC"] is True, (f, col.path, info)
        assert seen == wanted, f


def test_integer_columns_are_int64(fixture_lake, schema_columns):
    lake, _ = fixture_lake
    ints = {c["name"] for c in schema_columns if c["arrow_type"] == "Int64"}
    f = parquet_files(lake)[0]
    schema = pq.ParquetFile(f).schema
    for i in range(len(schema)):
        col = schema.column(i)
        if col.path in ints:
            assert col.physical_type == "INT64", col.path
            # plain INT64 or INT(64, signed); never a timestamp or a narrower int
            assert col.logical_type.type in ("NONE", "INT"), (col.path, col.logical_type)


def test_millisecond_values(fixture_lake):
    lake, _ = fixture_lake
    table = read_lake(lake)
    rows = [
        r for r in table.to_pylist() if r["contact_id"] == "00000000-0000-4000-8000-000000001301"
    ]
    assert len(rows) == 2
    newest = max(rows, key=lambda r: r["last_update_timestamp"])
    assert ts_ms(newest["last_update_timestamp"]) == iso_to_ms("2026-03-06T01:15:45.250Z")
    assert ts_ms(newest["initiation_timestamp"]) == iso_to_ms("2026-03-06T01:10:00.123Z")
    assert ts_ms(newest["queue_enqueue_timestamp"]) == iso_to_ms("2026-03-06T01:10:20.480Z")
    assert ts_ms(newest["agent_connected_to_agent_timestamp"]) == iso_to_ms(
        "2026-03-06T01:10:44.910Z"
    )
    assert newest["attributes"] is not None
    assert dict(newest["attributes"])["postCallSurvey"] == "completed"


def test_row_counts_per_source(fixture_lake):
    lake, _ = fixture_lake
    table = read_lake(lake)
    counts: dict = {}
    for uri in table.column("source_uri").to_pylist():
        counts[uri] = counts.get(uri, 0) + 1
    expected = {f.resolve().as_uri(): sum(1 for _ in lines_with_offsets(f)) for f in CTR_FILES}
    for e in FIREHOSE_EXPECTED:
        expected[(FIXTURES / "firehose" / e["file"]).resolve().as_uri()] = len(e["good_contact_ids"])
    assert counts == expected
    # Firehose: exactly the expected good contact ids, in file order by offset.
    for e in FIREHOSE_EXPECTED:
        uri = (FIXTURES / "firehose" / e["file"]).resolve().as_uri()
        rows = sorted(
            (r for r in table.select(["source_uri", "source_offset", "contact_id"]).to_pylist()
             if r["source_uri"] == uri),
            key=lambda r: r["source_offset"],
        )
        assert [r["contact_id"] for r in rows] == e["good_contact_ids"], e["file"]


# Columns whose min/max prunes nothing are written without statistics (writer.rs): ids,
# phone numbers, free-form text, ARNs and the attribute/tag maps.
UNIQUE_TEXT = {"contact_id", "initial_contact_id", "previous_contact_id", "next_contact_id",
               "related_contact_id", "customer_endpoint_address", "recording_location",
               "raw_json", "source_sequence_number"}


def has_statistics(path):
    top = path.split(".")[0]
    return not (top in UNIQUE_TEXT or top.endswith("_arn") or top in {"attributes", "tags"})


def test_statistics_and_compression(fixture_lake):
    lake, _ = fixture_lake
    for f in parquet_files(lake):
        md = pq.ParquetFile(f).metadata
        assert md.num_row_groups >= 1
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for i in range(rg.num_columns):
                col = rg.column(i)
                assert col.compression == "ZSTD", (f, col.path_in_schema, col.compression)
                if not has_statistics(col.path_in_schema):
                    assert not col.is_stats_set, (f, col.path_in_schema)
                    continue
                assert col.is_stats_set, (f, col.path_in_schema)
                stats = col.statistics
                assert stats.has_null_count, (f, col.path_in_schema)
                # Statistics.num_values counts the non-null values.
                if stats.num_values > 0:
                    assert stats.has_min_max, (f, col.path_in_schema)
                else:
                    assert stats.null_count > 0, (f, col.path_in_schema)


def test_initiation_timestamp_statistics_match_values(fixture_lake):
    lake, _ = fixture_lake
    for f in parquet_files(lake):
        pf = pq.ParquetFile(f)
        idx = pf.schema_arrow.get_field_index("initiation_timestamp")
        values = pf.read(columns=["initiation_timestamp"]).column(0).to_pylist()
        stats = pf.metadata.row_group(0).column(idx).statistics
        if pf.metadata.num_row_groups == 1:
            assert stats.min == min(values) and stats.max == max(values), f


def test_rows_sorted_by_initiation_timestamp(fixture_lake):
    lake, _ = fixture_lake
    for f in parquet_files(lake):
        values = pq.read_table(f, columns=["initiation_timestamp"]).column(0).cast(pa.int64())
        values = values.to_pylist()
        assert values == sorted(values), f


def test_snappy_compression_option(bin_path, tmp_path):
    lake = tmp_path / "lake"
    ingest([CTR_FILES[0], CTR_FILES[4]], lake, "--compression", "snappy")
    files = parquet_files(lake)
    assert files
    for f in files:
        rg = pq.ParquetFile(f).metadata.row_group(0)
        assert {rg.column(i).compression for i in range(rg.num_columns)} == {"SNAPPY"}


def test_duckdb_reads_the_id_bloom_filters(fixture_lake):
    """DuckDB (as Athena) can skip a file by its bloom filter on an id: never one that holds it."""
    lake, _ = fixture_lake
    con = duckdb.connect()
    files = parquet_files(lake)
    absent = "ffffffff-0000-4000-8000-00000000dead"
    for column in ("contact_id", "initial_contact_id"):
        excluded_absent = 0
        for f in files:
            ids = {r[0] for r in con.execute(
                f"SELECT DISTINCT {column} FROM read_parquet('{f}') WHERE {column} IS NOT NULL"
            ).fetchall()}
            for value in ids:
                probe = con.execute(
                    "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, ?, ?)",
                    [str(f), column, value],
                ).fetchall()
                assert probe and not any(row[0] for row in probe), (f, column, value)
            probe = con.execute(
                "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, ?, ?)",
                [str(f), column, absent],
            ).fetchall()
            excluded_absent += all(row[0] for row in probe)
        # 1% false positives per file: an id in no file is ruled out by nearly every file.
        assert excluded_absent >= 0.9 * len(files), (column, excluded_absent, len(files))
    # Columns without a filter are never ruled out.
    probe = con.execute(
        "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, 'queue_name', ?)",
        [str(files[0]), absent],
    ).fetchall()
    assert probe and not any(row[0] for row in probe)
