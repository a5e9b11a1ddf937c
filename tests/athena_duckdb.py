"""DuckDB standing in for Athena, for the tests of queries/athena/ and its bench.

There is no Trino here, so DuckDB runs the Athena files after sqlglot has transpiled them from
Trino SQL, with two rules that make it see what Athena sees: the table `ctr` has the Glue
table's types (timestamps without a zone holding UTC, `dt` a string), and the session zone is
UTC, as Athena's is. DuckDB lacks two Trino functions the queries use, so they are defined with
Trino's meaning:
- `with_timezone(ts, zone)`: the wall-clock timestamp `ts` in `zone`, as an instant;
- `at_timezone(instant, zone)`: the instant shown in `zone`. Trino keeps the zone with the
  value; here it becomes that zone's wall clock, which is all the queries take from it (its
  date, its position in an interval, or the displayed interval start).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

REPO = Path(__file__).resolve().parent.parent
ATHENA = REPO / "queries" / "athena"

TRINO_FUNCTIONS = """
CREATE MACRO with_timezone(ts, zone) AS timezone(zone, CAST(ts AS TIMESTAMP));
CREATE MACRO at_timezone(instant, zone) AS timezone(zone, CAST(instant AS TIMESTAMPTZ));
"""


def duckdb_over(lake) -> duckdb.DuckDBPyConnection:
    """DuckDB with `ctr` as Athena sees the Glue table: every Parquet file of the lake, `dt`
    from the path as a string, timestamps as zone-less UTC."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(TRINO_FUNCTIONS)
    files = (f"read_parquet('{lake}/ctr/*/*.parquet', hive_partitioning = true, "
             "hive_types = {'dt': VARCHAR})")
    columns = con.execute(f"DESCRIBE SELECT * FROM {files}").fetchall()
    select = ", ".join(
        f'CAST("{name}" AS TIMESTAMP) AS "{name}"' if kind == "TIMESTAMP WITH TIME ZONE"
        else f'"{name}"'
        for name, kind, *_ in columns
    )
    con.execute(f"CREATE VIEW ctr AS SELECT {select} FROM {files}")
    return con


def run_athena(con, name: str):
    for statement in sqlglot.transpile((ATHENA / name).read_text(), read="trino", write="duckdb"):
        con.execute(statement)


def with_parameters(name: str, thresholds=(20, 60), **values) -> str:
    """The Athena file `name` as DuckDB SQL, with the `params` CTE's values and the
    `sl_thresholds` rows replaced as an analyst would edit them."""
    tree = sqlglot.parse_one((ATHENA / name).read_text(), read="trino")
    ctes = {cte.alias: cte for cte in tree.find_all(exp.CTE)}
    projections = ctes["params"].this.expressions
    assert {p.alias for p in projections} == set(values), "every parameter is set by the test"
    for projection in projections:
        value = values[projection.alias]
        if isinstance(value, bool):
            literal = exp.Boolean(this=value)
        elif isinstance(value, int):
            literal = exp.Literal.number(value)
        elif projection.alias.endswith("_date"):
            literal = exp.cast(exp.Literal.string(value), "DATE")
        else:
            literal = exp.Literal.string(value)
        projection.set("this", literal)
    if "sl_thresholds" in ctes:
        rows = ", ".join(str(t) for t in thresholds)
        ctes["sl_thresholds"].set(
            "this", sqlglot.parse_one(f"VALUES {rows}", read="trino"))
    return tree.sql(dialect="duckdb")


def cell(value) -> str:
    """A value as ctrlake's CSV writes it: empty for null, decimals with their scale."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.3f}"
    return str(value)


def athena_rows(con, sql: str) -> list[dict]:
    result = con.execute(sql)
    names = [d[0] for d in result.description]
    return [{k: cell(v) for k, v in zip(names, row)} for row in result.fetchall()]
