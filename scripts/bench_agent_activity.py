"""Agent activity benchmark: ingest of a generated day of agent events, and
`ctrlake report agent-activity` against DuckDB running the same SQL on the same files.

The day: `ctrlake gen --contacts N --agents A --days 1 --agent-events` (by default 90,000
contacts answered by 1,000 agents on shifts, about a million events: each handled contact's
states, missed offers, breaks, heartbeats every quiet 120 s), ingested with its CTRs by `ingest files` (wall time, records/s, peak RSS of the process).

The report: `report agent-activity --date 2026-03-02 --tz Asia/Tokyo` (median of --repeat runs,
peak RSS). DuckDB runs the same SQL files the same way (the three views computed into tables,
then queries/agent_activity.sql; translated only where the dialects differ, see
tests/agent_activity_duckdb.py) over the same Parquet files; both outputs are then compared
cell by cell.

Usage (through scripts/bench-agent-activity.sh, which builds the release binary):
    python scripts/bench_agent_activity.py --ctrlake target/release/ctrlake \
        [--contacts N] [--agents N] [--repeat N]
"""

import argparse
import csv
import datetime
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))
import agent_activity_duckdb  # noqa: E402  (ctrlake's agent SQL run by DuckDB)
from athena_duckdb import cell  # noqa: E402  (the cell format of ctrlake's CSV)
from bench_common import run_rss  # noqa: E402

DATE = "2026-03-02"
TZ = "Asia/Tokyo"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--contacts", type=int, default=90_000)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import duckdb

    work = Path(tempfile.mkdtemp(prefix="ctrlake-agent-bench-"))
    try:
        ctr, events = work / "ctr.ndjson", work / "agent-events.ndjson"
        wall, _, _ = run_rss([args.ctrlake, "gen", "--contacts", str(args.contacts), "--days",
                              "1", "--start", DATE, "--out", str(ctr), "--agent-events",
                              str(events), "--agents", str(args.agents)])
        lines = sum(1 for _ in open(events, "rb"))
        print(f"generated {args.contacts} contacts for {args.agents} agents and {lines} agent events "
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

        con = agent_activity_duckdb.connect(lake)
        params = agent_activity_duckdb.window_params(TZ, datetime.date.fromisoformat(DATE),
                                                     datetime.date.fromisoformat(DATE))
        times = []
        for _ in range(args.repeat):
            started = time.monotonic()
            names, rows = agent_activity_duckdb.agent_activity(con, params)
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
