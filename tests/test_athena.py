"""queries/athena/: Athena (Trino) SQL parsed by sqlglot's Trino dialect, transpiled to DuckDB
and run over lakes ctrlake wrote, against what ctrlake itself computes."""

from __future__ import annotations

import duckdb
import sqlglot

from conftest import CTR_FILES, FIREHOSE_FILES, REPO, ingest, run_ctrlake

ATHENA = REPO / "queries" / "athena"


def duckdb_over(lake) -> duckdb.DuckDBPyConnection:
    """DuckDB with `ctr` as the Glue table sees the lake: every Parquet file, dt from the path."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW ctr AS SELECT * FROM read_parquet("
                f"'{lake}/ctr/*/*.parquet', hive_partitioning = true)")
    return con


def run_athena(con, name: str):
    for statement in sqlglot.transpile((ATHENA / name).read_text(), read="trino", write="duckdb"):
        con.execute(statement)


def newest_versions_by_ctrlake(lake) -> set[tuple]:
    out = run_ctrlake(
        "sql", "--lake", lake, "--format", "csv",
        "SELECT contact_id, source_uri, coalesce(CAST(source_offset AS VARCHAR), '') AS o, "
        "coalesce(source_sequence_number, '') AS s, "
        "CAST(last_update_timestamp AS BIGINT) AS ms FROM contacts",
    ).stdout.decode().splitlines()[1:]
    return {tuple(line.split(",")) for line in out}


def test_the_athena_contacts_view_picks_ctrlakes_versions(tmp_path):
    # Fixtures with updates and duplicates, the Firehose archives (the same CTRs again from
    # other sources), and a generated week with late updates.
    generated = tmp_path / "gen.ndjson"
    run_ctrlake("gen", "--contacts", "2000", "--days", "3", "--out", generated)
    lake = tmp_path / "lake"
    ingest([*CTR_FILES, *FIREHOSE_FILES, generated], lake)
    con = duckdb_over(lake)
    run_athena(con, "contacts.sql")
    rows = con.execute(
        "SELECT contact_id, source_uri, coalesce(CAST(source_offset AS VARCHAR), ''), "
        "coalesce(source_sequence_number, ''), CAST(epoch_ms(last_update_timestamp) AS VARCHAR), "
        "version_rank FROM contacts").fetchall()
    assert {r[5] for r in rows} == {1}
    athena = {tuple(r[:5]) for r in rows}
    assert len(athena) == len(rows), "one row per contact"
    assert athena == newest_versions_by_ctrlake(lake)
    versions = con.execute("SELECT count(*) FROM ctr").fetchall()[0][0]
    assert versions > len(rows), "the lake holds older versions the view drops"
