"""Athena scan benchmark: what the Athena KPI queries read from a month of contacts, measured
as the bytes DuckDB reads running them (transpiled by sqlglot, as tests/test_athena.py does)
over the same lake. Like Athena, DuckDB reads only the column chunks a query needs, of the
partitions its dt filter leaves, plus the files' footers, so its bytes read stand in for
Athena's "data scanned" (Athena bills it at a minimum of 10 MB per query).

Also prints the volumes the deployment's costs follow from: Kinesis records and bytes, and the
lake's size per million contacts.

Usage (through scripts/bench-athena-scan.sh, which builds the release binary):
    python scripts/bench_athena_scan.py --ctrlake target/release/ctrlake [--contacts N] [--days D]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from athena_duckdb import duckdb_over, run_athena, with_parameters  # noqa: E402

MB = 1_000_000


def bytes_read(con, sql: str, profile: Path) -> int:
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute(sql).fetchall()
    con.execute("PRAGMA disable_profiling")
    return json.loads(profile.read_text())["io"]["total_bytes_read"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tz", default="Asia/Tokyo")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ctrlake-athena-scan-"))
    try:
        lake = work / "lake"
        gen = subprocess.Popen([args.ctrlake, "gen", "--contacts", str(args.contacts),
                                "--days", str(args.days), "--start", "2026-03-01"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ingest = subprocess.run([args.ctrlake, "ingest", "files", "-", "--lake", str(lake),
                                 "--quiet"], stdin=gen.stdout, capture_output=True, check=True)
        gen.stdout.close()
        generated = gen.stderr.read().decode()
        if gen.wait() != 0:
            sys.exit(f"gen failed: {generated}")
        summary = ingest.stdout.decode()
        records = int(next(line.split()[2] for line in summary.splitlines()
                           if line.strip().startswith("records read")))
        json_bytes = int(next(line.split()[2] for line in summary.splitlines()
                              if line.strip().startswith("bytes read")))
        lake_bytes = sum(p.stat().st_size for p in (lake / "ctr").rglob("*.parquet"))
        per_million = MB / args.contacts
        print(f"{args.contacts} contacts over {args.days} days: {records} CTR records, "
              f"{json_bytes / MB:.0f} MB of JSON, lake {lake_bytes / MB:.1f} MB")
        print(f"per million contacts: {records * per_million / MB:.2f} M Kinesis records, "
              f"{json_bytes * per_million / 1e9:.2f} GB of JSON "
              f"({json_bytes / records:.0f} B a record), "
              f"{lake_bytes * per_million / MB:.0f} MB of Parquet")

        con = duckdb_over(lake)
        run_athena(con, "contacts.sql")
        profile = work / "profile.json"
        middle = f"2026-03-{min(15, args.days):02d}"
        week_end = f"2026-03-{min(21, args.days):02d}"
        everything = bytes_read(con, "SELECT * FROM ctr", profile)
        print(f"\nbytes DuckDB reads (= Athena's data scanned), report zone {args.tz}:")
        print(f"  {'SELECT * FROM ctr (whole lake)':44} {everything / MB:9.2f} MB")
        queue = {"sl_inclusive": False, "all_queues": False, "by_channel": False}
        runs = [
            ("queue_daily, one day", "queue_daily.sql", middle, middle, queue),
            ("queue_daily, one week", "queue_daily.sql", middle, week_end, queue),
            ("queue_intervals (15 min), one day", "queue_intervals.sql", middle, middle,
             {**queue, "minutes": 15}),
            ("agent_daily, one day", "agent_daily.sql", middle, middle, {"group_by": "agent"}),
        ]
        for label, file, from_date, to_date, extra in runs:
            sql = with_parameters(file, tz=args.tz, from_date=from_date, to_date=to_date,
                                  lookback_days=1, **extra)
            read = bytes_read(con, sql, profile)
            billed = max(read, 10 * MB)
            print(f"  {label:44} {read / MB:9.2f} MB  "
                  f"(billed {billed / MB:.0f} MB, ${billed / 1e12 * 5:.5f} at $5/TB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
