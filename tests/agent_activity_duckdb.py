"""DuckDB running ctrlake's agent activity SQL (queries/agent_*.sql) itself, for the
cross-check in test_agent_events.py and the agent activity benchmark.

The files are run as ctrlake runs them: the three views (agent_status_spans,
agent_contact_spans, agent_activities) each computed once into a table, then
agent_activity.sql over them. They are translated only where the dialects differ:
placeholders bound as literals, `first_value(x ORDER BY ..)` as DuckDB's `arg_max`, a
timestamp to epoch milliseconds as `epoch_ms(ts)` and back as `epoch_ms(ms)`, and
ctrlake's `local_date(ts, zone)` as a macro with its meaning (the calendar date in `zone` of
the UTC timestamp `ts`). `contacts` is the newest version of each contact, by the rule of
queries/contacts.sql.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "queries"
VIEWS = ["agent_configs", "agent_status_spans", "agent_contact_spans", "agent_activities",
         "queue_waiting_spans"]


def translate(sql: str, params: dict[str, str]) -> str:
    """ctrlake's SQL as DuckDB SQL with `params` bound."""
    sql = re.sub(r"CAST\(([^()]*timestamp[^()]*(?:\([^()]*\))?[^()]*) AS BIGINT\)",
                 r"epoch_ms(\1)", sql)
    sql = re.sub(r"first_value\((\w+) ORDER BY ([^)]*)\)",
                 lambda m: f"arg_max({m.group(1)}, "
                           f"({', '.join(p.split()[0] for p in m.group(2).split(','))}))",
                 sql)
    sql = sql.replace("to_timestamp_millis(", "epoch_ms(")
    for name, value in sorted(params.items(), key=lambda kv: -len(kv[0])):
        sql = sql.replace(f"${name}", f"'{value}'")
    return sql


def window_params(tz: str, first: datetime.date, last: datetime.date,
                  group_by: str = "agent") -> dict[str, str]:
    """The parameters ctrlake binds for the local days `first`..`last` in `tz`: the UTC
    partitions from the day before the window's first instant to the day after its last."""
    zone = ZoneInfo(tz)
    start = datetime.datetime.combine(first, datetime.time(), zone).astimezone(datetime.UTC)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(),
                                    zone).astimezone(datetime.UTC) - datetime.timedelta(
        milliseconds=1)
    return {"tz": tz, "from_date": first.isoformat(), "to_date": last.isoformat(),
            "dt_scan_from": (start.date() - datetime.timedelta(days=1)).isoformat(),
            "events_dt_to": (end.date() + datetime.timedelta(days=1)).isoformat(),
            "group_by": group_by}


def connect(lake):
    """DuckDB over the lake's agent events and CTRs, with ctrlake's tables and functions."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, folder in (("agent_events_raw", "agent_events"), ("ctr_raw", "ctr")):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
                    f"'{lake}/{folder}/*/*.parquet', hive_partitioning = true, "
                    "hive_types = {'dt': VARCHAR}, union_by_name = true)")
    con.execute("CREATE VIEW contacts AS SELECT * EXCLUDE (rank) FROM (SELECT *, "
                "row_number() OVER (PARTITION BY contact_id ORDER BY last_update_timestamp "
                "DESC, arrival_timestamp DESC) AS rank FROM ctr_raw) WHERE rank = 1")
    con.execute("CREATE MACRO local_date(ts, zone) AS "
                "CAST(timezone(zone, timezone('UTC', CAST(ts AS TIMESTAMP))) AS DATE)")
    return con


def agent_activity(con, params: dict[str, str]):
    """Runs the views and the report for the window of `params`; returns (column names,
    rows) of agent_activity.sql."""
    zone = ZoneInfo(params["tz"])
    first = datetime.date.fromisoformat(params["from_date"])
    last = datetime.date.fromisoformat(params["to_date"])
    days = []
    day = first
    while day <= last:
        start = datetime.datetime.combine(day, datetime.time(), zone)
        end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
        days.append(f"(DATE '{day}', {int(start.timestamp() * 1000)}, "
                    f"{int(end.timestamp() * 1000)})")
        day += datetime.timedelta(days=1)
    con.execute("CREATE OR REPLACE TABLE local_days (date DATE, start_ms BIGINT, end_ms BIGINT)")
    con.execute(f"INSERT INTO local_days VALUES {', '.join(days)}")
    for view in VIEWS:
        sql = translate((QUERIES / f"{view}.sql").read_text(), params)
        con.execute(f"CREATE OR REPLACE TABLE {view} AS {sql}")
    result = con.execute(translate((QUERIES / "agent_activity.sql").read_text(), params))
    return [d[0] for d in result.description], result.fetchall()
