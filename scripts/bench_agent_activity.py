"""Agent activity benchmark: ingest of a generated day of agent events, and
`ctrlake report agent-activity` against DuckDB running the same SQL on the same files.

The day: `ctrlake gen --contacts N --days 1 --agent-events` (the generator's 324 agents on
shifts, each handled contact's states, missed offers, breaks, heartbeats every quiet 120 s),
ingested with its CTRs by `ingest files` (wall time, records/s, peak RSS of the process).

The report: `report agent-activity --date 2026-03-02 --tz Asia/Tokyo` (median of --repeat runs,
peak RSS). DuckDB runs queries/agent_activity.sql itself, translated only where the dialects
differ (printed below: placeholders bound as literals, `first_value(x ORDER BY ..)` as DuckDB's
`arg_max`, a timestamp to epoch ms as `epoch_ms`), over the same Parquet files, with
`local_days` and a de-duplicated `contacts` view (newest version per contact) created alike;
both outputs are then compared cell by cell.

Usage (through scripts/bench-agent-activity.sh, which builds the release binary):
    python scripts/bench_agent_activity.py --ctrlake target/release/ctrlake [--contacts N]
"""

import argparse
import csv
import io
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))
from athena_duckdb import cell  # noqa: E402  (the cell format of ctrlake's CSV)
from bench_common import run_rss  # noqa: E402

DATE = "2026-03-02"
TZ = "Asia/Tokyo"
# The window's parameters as ctrlake binds them for one Tokyo day.
PARAMS = {"tz": TZ, "from_date": DATE, "to_date": DATE, "dt_scan_from": "2026-02-28",
          "events_dt_to": "2026-03-03", "group_by": "agent"}
DAY_START_MS, DAY_END_MS = 1772377200000, 1772463600000  # 2026-03-02 and -03 00:00 +09:00


def duckdb_sql() -> str:
    sql = (REPO / "queries" / "agent_activity.sql").read_text()
    sql = re.sub(r"CAST\(([^()]*(?:\([^()]*\))?[^()]*) AS BIGINT\)", r"epoch_ms(\1)", sql)
    sql = re.sub(r"first_value\((\w+) ORDER BY ([^)]*)\)",
                 lambda m: f"arg_max({m.group(1)}, ({', '.join(p.split()[0] for p in m.group(2).split(','))}))",
                 sql)
    for name, value in sorted(PARAMS.items(), key=lambda kv: -len(kv[0])):
        sql = sql.replace(f"${name}", f"'{value}'")
    return sql


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--contacts", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import duckdb

    work = Path(tempfile.mkdtemp(prefix="ctrlake-agent-bench-"))
    try:
        ctr, events = work / "ctr.ndjson", work / "agent-events.ndjson"
        wall, _, _ = run_rss([args.ctrlake, "gen", "--contacts", str(args.contacts), "--days",
                              "1", "--start", DATE, "--out", str(ctr), "--agent-events",
                              str(events)])
        lines = sum(1 for _ in open(events, "rb"))
        print(f"generated {args.contacts} contacts and {lines} agent events "
              f"({events.stat().st_size / 1e6:.0f} MB of JSON) in {wall:.1f} s")
        lake = work / "lake"
        wall, peak, _ = run_rss([args.ctrlake, "ingest", "files", str(events), "--lake",
                                 str(lake), "--quiet"])
        print(f"ingest of the agent events: {wall:.2f} s, {lines / wall:,.0f} events/s, "
              f"peak RSS {peak / 1e6:.0f} MB")
        run_rss([args.ctrlake, "ingest", "files", str(ctr), "--lake", str(lake), "--quiet"])
        size = sum(p.stat().st_size for p in (lake / "agent_events").rglob("*.parquet"))
        print(f"agent_events in the lake: {size / 1e6:.1f} MB of Parquet")

        report = [args.ctrlake, "report", "agent-activity", "--lake", str(lake), "--date", DATE,
                  "--tz", TZ, "--format", "csv"]
        runs = [run_rss(report) for _ in range(args.repeat)]
        ours = runs[-1][2]
        print(f"ctrlake report agent-activity: median {statistics.median(r[0] for r in runs):.2f} s, "
              f"peak RSS {max(r[1] for r in runs) / 1e6:.0f} MB ({ours.count(chr(10)) - 1} rows)")

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW agent_events_raw AS SELECT * FROM read_parquet("
                    f"'{lake}/agent_events/*/*.parquet', hive_partitioning = true, "
                    "hive_types = {'dt': VARCHAR})")
        con.execute(f"CREATE VIEW ctr_raw AS SELECT * FROM read_parquet("
                    f"'{lake}/ctr/*/*.parquet', hive_partitioning = true, "
                    "hive_types = {'dt': VARCHAR})")
        con.execute("CREATE VIEW contacts AS SELECT * EXCLUDE (rank) FROM (SELECT *, "
                    "row_number() OVER (PARTITION BY contact_id ORDER BY last_update_timestamp "
                    "DESC, arrival_timestamp DESC) AS rank FROM ctr_raw) WHERE rank = 1")
        con.execute(f"CREATE TABLE local_days AS SELECT DATE '{DATE}' AS date, "
                    f"{DAY_START_MS}::BIGINT AS start_ms, {DAY_END_MS}::BIGINT AS end_ms")
        sql = duckdb_sql()
        times = []
        for _ in range(args.repeat):
            started = time.monotonic()
            result = con.execute(sql)
            names = [d[0] for d in result.description]
            rows = result.fetchall()
            times.append(time.monotonic() - started)
        print(f"DuckDB {duckdb.__version__}, the same SQL: median {statistics.median(times):.2f} s "
              f"(in-process, {len(rows)} rows)")
        print(f"ratio (ctrlake process / DuckDB query): "
              f"{statistics.median(r[0] for r in runs) / statistics.median(times):.2f}x")

        duck = [[cell(v) for v in row] for row in rows]
        mine = list(csv.reader(io.StringIO(ours)))[1:]
        # DuckDB's result keeps the SQL's grp/agents columns; ctrlake drops agents per agent.
        keep = [i for i, n in enumerate(names) if n != "agents"]
        duck = [[row[i] for i in keep] for row in duck]
        differing = sum(a != b for x, y in zip(duck, mine) for a, b in zip(x, y))
        differing += abs(len(duck) - len(mine)) * len(keep)
        print(f"differing cells between the two outputs: {differing}")
        shown = 0
        for x, y in zip(duck, mine):
            if x != y and shown < 3:
                print("  DuckDB :", ",".join(x))
                print("  ctrlake:", ",".join(y))
                shown += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
