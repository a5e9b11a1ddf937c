"""`ctrlake schema --format athena` matches `--format json` and projects the dt partition."""

from __future__ import annotations

import re

from conftest import run_ctrlake

COLUMN = re.compile(r"^\s*`([^`]+)`\s+(.+?),?\s*$")


def athena_ddl(*extra) -> str:
    return run_ctrlake("schema", "--format", "athena", *extra).stdout.decode()


def parse_ddl(ddl: str):
    head, _, rest = ddl.partition("PARTITIONED BY")
    body = head[head.index("(") + 1:head.rindex(")")]
    columns = []
    for line in body.splitlines():
        m = COLUMN.match(line)
        if m:
            columns.append((m.group(1), m.group(2)))
    props = dict(re.findall(r"'([^']+)'\s*=\s*'([^']*)'", rest))
    return columns, rest, props


def test_athena_columns_match_json(schema_columns):
    columns, _, _ = parse_ddl(athena_ddl())
    assert columns == [(c["name"], c["athena_type"]) for c in schema_columns]
    assert "dt" not in [name for name, _ in columns]


def test_athena_partition_projection():
    ddl = athena_ddl("--table", "ctr_test", "--location", "s3://my-bucket/lake/ctr/")
    assert "CREATE EXTERNAL TABLE" in ddl and "`ctr_test`" in ddl
    _, rest, props = parse_ddl(ddl)
    assert re.search(r"PARTITIONED BY\s*\(\s*`dt`\s+string\s*\)", ddl)
    assert "STORED AS PARQUET" in ddl
    assert "LOCATION 's3://my-bucket/lake/ctr/'" in ddl
    assert props["projection.enabled"] == "true"
    assert props["projection.dt.type"] == "date"
    assert props["projection.dt.format"] == "yyyy-MM-dd"
    assert props["projection.dt.range"].endswith(",NOW")
    assert props["projection.dt.interval"] == "1"
    assert props["projection.dt.interval.unit"] == "DAYS"
    assert props["storage.location.template"] == "s3://my-bucket/lake/ctr/dt=${dt}/"


def test_json_schema_shape(schema_columns):
    for c in schema_columns:
        assert set(c) >= {"name", "arrow_type", "athena_type", "nullable", "source"}
        if c["arrow_type"].startswith("Timestamp"):
            assert c["arrow_type"] == 'Timestamp(ms, "UTC")', c
            assert c["athena_type"] == "timestamp"
    by_name = {c["name"]: c for c in schema_columns}
    assert by_name["contact_id"]["nullable"] is False
    assert by_name["initiation_timestamp"]["nullable"] is False
    assert by_name["attributes"]["athena_type"] == "map<string,string>"
    assert by_name["tags"]["athena_type"] == "map<string,string>"
