"""Report benchmark: `ctrlake report` vs DuckDB on the same Parquet lake, in the same run.

Only ratios measured in one run mean anything (machines of one kind differ by 2x), so every
figure printed here comes from this run: the same lake (page cache warmed first), the same
threads (both engines are also pinned to the same `--threads` CPUs when the machine has more),
wall time and peak RSS of each engine measured as a child process with os.wait4.

DuckDB runs the cross-check SQL of tests/test_kpi_crosscheck.py (written from kpis.md, not
from ctrlake's queries), `SET threads=N`, and writes its CSV with COPY, as ctrlake writes its
CSV with --out. Its main figure reads the partitions ctrlake's window needs (dt from the day
before the window to 8 days after it: the window in any time zone plus the 7-day callback
look-up); `--whole-lake` adds DuckDB reading every partition. Both outputs are then compared
cell by cell and the number of differing cells is printed.

Data (cached in --work, default /tmp/ctrlake-bench; the 1M NDJSON is the one bench_ingest.py
generates, so it is reused):
  1M contacts, 30 days, seed 42 (~3.7 GB NDJSON, kept) -> lake-reports-1000000-30d
  10M contacts, 30 days, seed 42 (--big; ~37 GB NDJSON, deleted after ingest) -> lake-reports-10000000-30d

Usage (through scripts/bench-reports.sh, which builds the release binary and the venv):
    python scripts/bench_reports.py --ctrlake target/release/ctrlake [--big] [--repeat 3]
"""

import argparse
import csv
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import test_kpi_crosscheck as xc  # noqa: E402  (the SQL builders; no pytest needed)
from bench_ingest import dir_size, run_rss  # noqa: E402  (same measurement as the ingest bench)

TZ = "Asia/Tokyo"
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
DAY = dt.date(2026, 3, 2)
MB = 1e6


def warm(path):
    for f in sorted(Path(path).rglob("*.parquet")):
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


def prepare_lake(args, contacts, days, keep_json):
    """Generates (once) and ingests (once) a data set; returns the lake directory."""
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    lake = work / f"lake-reports-{contacts}-{days}d"
    done = lake / ".complete"
    if done.exists():
        return lake
    data = work / f"ctr-{contacts}-{days}d.ndjson"  # same name as bench_ingest.py
    if not data.exists():
        free = shutil.disk_usage(work).free
        need = contacts * 3_800  # ~3.7 KB of NDJSON per contact
        if free < need * 1.2:
            sys.exit(f"not enough disk in {work} for {contacts} contacts: {free / 1e9:.0f} GB free, "
                     f"~{need / 1e9:.0f} GB needed")
        print(f"generating {contacts} contacts, {days} days into {data} (once) ...", flush=True)
        tmp = data.with_suffix(".partial")
        subprocess.run([args.ctrlake, "gen", "--contacts", str(contacts), "--seed", "42",
                        "--days", str(days), "--start", "2026-03-01", "--out", str(tmp)],
                       check=True)
        tmp.rename(data)
    print(f"ingesting {data} into {lake} (once) ...", flush=True)
    shutil.rmtree(lake, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([args.ctrlake, "ingest", "files", str(data), "--lake", str(lake),
                    "--threads", str(args.threads), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"  ingested in {time.perf_counter() - started:.1f} s, "
          f"{dir_size(lake / 'ctr') / MB:.0f} MB of Parquet", flush=True)
    done.write_text(json.dumps({"contacts": contacts, "days": days, "seed": 42}))
    if not keep_json:
        data.unlink()
        print(f"  deleted {data} (only the lake is kept)", flush=True)
    return lake


def reports(lake, threads):
    """(label, ctrlake argv tail, DuckDB SQL pruned, DuckDB SQL whole lake) per report."""
    prune = (WEEK[0] - dt.timedelta(days=1), WEEK[1] + dt.timedelta(days=8))
    prune_day = (DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=8))
    week = ["--from", WEEK[0].isoformat(), "--to", WEEK[1].isoformat(), "--tz", TZ]
    return [
        ("queues, 1 week", ["queues", *week],
         xc.queue_daily_sql(lake, TZ, *WEEK, dt_range=prune),
         xc.queue_daily_sql(lake, TZ, *WEEK)),
        ("intervals 15 min, 1 day", ["intervals", "--date", DAY.isoformat(), "--tz", TZ,
                                     "--minutes", "15"],
         xc.queue_intervals_sql(lake, TZ, DAY, DAY, 15, dt_range=prune_day),
         xc.queue_intervals_sql(lake, TZ, DAY, DAY, 15)),
        ("agents, 1 week", ["agents", *week],
         xc.agent_daily_sql(lake, TZ, *WEEK, dt_range=prune),
         xc.agent_daily_sql(lake, TZ, *WEEK)),
    ]


DUCKDB_CHILD = """
import sys, time, duckdb
sql, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER)")
print(f"query_s {time.perf_counter() - started:.4f}")
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--work", default="/tmp/ctrlake-bench")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine and report (median)")
    parser.add_argument("--big", action="store_true", help="also the 10M-contact lake (~37 GB NDJSON once)")
    parser.add_argument("--whole-lake", action="store_true",
                        help="also time DuckDB reading every partition (no dt pruning)")
    parser.add_argument("--only", choices=["queues", "intervals", "agents"], action="append",
                        help="restrict to these reports")
    args = parser.parse_args()

    cpus = None
    if (os.cpu_count() or 1) > args.threads:
        cpus = set(sorted(os.sched_getaffinity(0))[: args.threads])
    sets = [(1_000_000, 30, True)]
    if args.big:
        sets.append((10_000_000, 30, False))
    out_dir = Path(args.work) / "report-out"
    out_dir.mkdir(parents=True, exist_ok=True)

    results = []
    for contacts, days, keep_json in sets:
        lake = prepare_lake(args, contacts, days, keep_json)
        rows_in_lake = None
        warm(lake)
        for label, cmd, sql, sql_whole in reports(lake, args.threads):
            if args.only and cmd[0] not in args.only:
                continue
            engines = [
                ("ctrlake", lambda out: [args.ctrlake, "report", *cmd, "--lake", str(lake),
                                         "--format", "csv", "--out", str(out)]),
                ("duckdb", lambda out, s=sql: [sys.executable, "-c", DUCKDB_CHILD, s, str(out),
                                               str(args.threads)]),
            ]
            if args.whole_lake:
                engines.append(("duckdb whole lake",
                                lambda out, s=sql_whole: [sys.executable, "-c", DUCKDB_CHILD, s,
                                                          str(out), str(args.threads)]))
            timings = {name: [] for name, _ in engines}
            outputs = {}
            for _ in range(args.repeat):  # engines alternate, so drift hits both alike
                for name, argv in engines:
                    out = out_dir / f"{name.replace(' ', '-')}.csv"
                    wall, rss, text = run_rss(argv(out), cpus)
                    query_s = float(text.split()[1]) if text.startswith("query_s") else None
                    timings[name].append((wall, rss, query_s))
                    outputs[name] = out.read_text(encoding="utf-8")
            # Cross-check the outputs (DuckDB's CSV is the reference).
            parsed = list(csv.reader(io.StringIO(outputs["duckdb"])))
            problems = xc.compare_report(outputs["ctrlake"], parsed[0], parsed[1:])
            for name, runs in timings.items():
                results.append(dict(
                    contacts=contacts, report=label, engine=name,
                    wall=statistics.median(r[0] for r in runs),
                    wall_min=min(r[0] for r in runs),
                    rss=max(r[1] for r in runs),
                    query_s=(statistics.median(r[2] for r in runs) if runs[0][2] is not None else None),
                    rows=len(parsed) - 1, differences=len(problems)))
            if problems:
                print(f"!! {contacts} {label}: ctrlake and DuckDB differ:\n" + "\n".join(problems)[:3000])

    print(f"\nthreads={args.threads}{' (pinned to CPUs ' + str(sorted(cpus)) + ')' if cpus else ''}, "
          f"median of {args.repeat} runs, page cache warm; DuckDB wall includes Python start "
          f"+ import (its in-process query time in 'query s')")
    print(f"{'contacts':>9} {'report':<24} {'engine':<18} {'wall s':>7} {'min s':>7} {'query s':>8} "
          f"{'peak RSS MB':>11} {'rows':>6} {'diff':>5}")
    for r in results:
        q = f"{r['query_s']:.2f}" if r["query_s"] is not None else "-"
        print(f"{r['contacts']:>9} {r['report']:<24} {r['engine']:<18} {r['wall']:>7.2f} "
              f"{r['wall_min']:>7.2f} {q:>8} {r['rss'] / MB:>11.0f} {r['rows']:>6} {r['differences']:>5}")
    print("\nratio ctrlake / DuckDB (same partitions): < 1 means ctrlake is faster / smaller")
    summary = []
    for r in results:
        if r["engine"] != "ctrlake":
            continue
        d = next(x for x in results if x["contacts"] == r["contacts"] and x["report"] == r["report"]
                 and x["engine"] == "duckdb")
        ratio = dict(contacts=r["contacts"], report=r["report"],
                     wall_ratio=round(r["wall"] / d["wall"], 3),
                     wall_ratio_vs_query=round(r["wall"] / d["query_s"], 3) if d["query_s"] else None,
                     rss_ratio=round(r["rss"] / d["rss"], 3))
        summary.append(ratio)
        versus_query = ratio["wall_ratio_vs_query"]
        versus_query = f"{versus_query:.2f}x" if versus_query is not None else "n/a"
        print(f"{r['contacts']:>9} {r['report']:<24} wall {ratio['wall_ratio']:.2f}x "
              f"(vs DuckDB query time {versus_query})   "
              f"peak RSS {ratio['rss_ratio']:.2f}x")
    print(json.dumps({"ratios": summary, "results": results}))


if __name__ == "__main__":
    main()
