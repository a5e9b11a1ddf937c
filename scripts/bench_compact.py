"""Compaction benchmark: a day of N generated contacts (1M by default) written as many small
files, the way a stream writes it (consecutive records per file, like one shard's flushes),
then `ctrlake compact`: files before and after, rows/s, peak RSS, and the day's queue report
before and after (median of 3 runs each, and checked identical cell for cell).

Usage (through scripts/bench-compact.sh, which builds the release binary):
    python scripts/bench_compact.py --ctrlake target/release/ctrlake [--contacts N] [--files N]
"""

import argparse
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench_common import run_rss


def timed(argv):
    started = time.monotonic()
    out = subprocess.run(argv, check=True, capture_output=True).stdout
    return time.monotonic() - started, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=3_000)
    parser.add_argument("--work", default="/tmp/ctrlake-compact-bench")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "parts").mkdir(parents=True)
    source = work / "day.ndjson"
    subprocess.run([args.ctrlake, "gen", "--contacts", str(args.contacts), "--days", "1",
                    "--out", str(source)], check=True, capture_output=True)
    # Consecutive records per file, as a shard's flushes are.
    subprocess.run(["split", "-n", f"l/{args.files}", "-a", "5", str(source),
                    str(work / "parts" / "part-")], check=True)
    source.unlink()
    lake = work / "lake"
    subprocess.run([args.ctrlake, "ingest", "files", str(work / "parts"), "--lake", str(lake),
                    "--quiet"], check=True, capture_output=True)
    shutil.rmtree(work / "parts")
    day = "2026-03-01"
    files_before = len(list((lake / "ctr" / f"dt={day}").glob("*.parquet")))
    report = [args.ctrlake, "report", "queues", "--lake", str(lake), "--date", day, "--format", "csv"]
    before = [timed(report) for _ in range(3)]
    wall, rss, out = run_rss([args.ctrlake, "compact", "--lake", str(lake), "--dt", day])
    files_after = len(list((lake / "ctr" / f"dt={day}").glob("*.parquet")))
    after = [timed(report) for _ in range(3)]
    assert all(out == before[0][1] for _, out in before + after), "the report changed"
    rows = int(subprocess.run(
        [args.ctrlake, "sql", "--lake", str(lake), "--date", day, "--format", "csv",
         f"SELECT count(*) FROM ctr_raw WHERE dt = '{day}'"],
        check=True, capture_output=True).stdout.decode().splitlines()[1])
    mb = 1024 * 1024
    print(f"a day of {args.contacts} contacts ({rows} CTRs) in {files_before} files")
    print(f"  ctrlake compact --dt {day}: {files_before} -> {files_after} files in {wall:.1f} s "
          f"({rows / wall:.0f} rows/s), peak RSS {rss / mb:.0f} MB")
    print(f"  report queues --date {day}: median {statistics.median(t for t, _ in before):.2f} s "
          f"before, {statistics.median(t for t, _ in after):.2f} s after (same CSV)")
    print(f"  {out.strip()}")


if __name__ == "__main__":
    main()
