"""Ingest benchmark: ctrlake vs DuckDB on the same generated CTR file, in the same run.

Only ratios measured in one run mean anything (machines of one kind differ by 2x), so every
figure printed here comes from this run: the same input file (page cache warmed first), the
same thread count, wall time and peak RSS of each engine measured as a child process.

Usage (through scripts/bench-ingest.sh, which builds the release binary and the venv):
    python scripts/bench_ingest.py --ctrlake target/release/ctrlake --work /tmp/ctrlake-bench
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The columns DuckDB reads and writes: the ~33 flat KPI columns of the peers' measurement,
# with nested objects flattened, so both engines produce a comparable typed table.
DUCKDB_COLUMNS = {
    "ContactId": "VARCHAR",
    "InitialContactId": "VARCHAR",
    "PreviousContactId": "VARCHAR",
    "NextContactId": "VARCHAR",
    "Channel": "VARCHAR",
    "InitiationMethod": "VARCHAR",
    "InitiationTimestamp": "TIMESTAMP",
    "ConnectedToSystemTimestamp": "TIMESTAMP",
    "DisconnectTimestamp": "TIMESTAMP",
    "LastUpdateTimestamp": "TIMESTAMP",
    "TransferCompletedTimestamp": "TIMESTAMP",
    "DisconnectReason": "VARCHAR",
    "AgentConnectionAttempts": "BIGINT",
    "CustomerEndpoint": "STRUCT(Address VARCHAR, Type VARCHAR)",
    "TransferredToEndpoint": "STRUCT(Address VARCHAR, Type VARCHAR)",
    "Queue": "STRUCT(Name VARCHAR, ARN VARCHAR, EnqueueTimestamp TIMESTAMP, DequeueTimestamp TIMESTAMP, Duration BIGINT)",
    "Agent": "STRUCT(Username VARCHAR, ARN VARCHAR, ConnectedToAgentTimestamp TIMESTAMP, AgentInteractionDuration BIGINT, CustomerHoldDuration BIGINT, AfterContactWorkDuration BIGINT, AgentPauseDuration BIGINT, NumberOfHolds BIGINT, LongestHoldDuration BIGINT, RoutingProfile STRUCT(Name VARCHAR))",
    "Attributes": "MAP(VARCHAR, VARCHAR)",
}

DUCKDB_SELECT = """
    ContactId AS contact_id, InitialContactId AS initial_contact_id,
    PreviousContactId AS previous_contact_id, NextContactId AS next_contact_id,
    Channel AS channel, InitiationMethod AS initiation_method,
    InitiationTimestamp AS initiation_timestamp,
    ConnectedToSystemTimestamp AS connected_to_system_timestamp,
    DisconnectTimestamp AS disconnect_timestamp, LastUpdateTimestamp AS last_update_timestamp,
    TransferCompletedTimestamp AS transfer_completed_timestamp,
    DisconnectReason AS disconnect_reason, AgentConnectionAttempts AS agent_connection_attempts,
    CustomerEndpoint.Address AS customer_endpoint_address,
    TransferredToEndpoint.Address AS transferred_to_endpoint_address,
    Queue.Name AS queue_name, Queue.ARN AS queue_arn,
    Queue.EnqueueTimestamp AS queue_enqueue_timestamp,
    Queue.DequeueTimestamp AS queue_dequeue_timestamp, Queue.Duration AS queue_duration,
    Agent.Username AS agent_username, Agent.ARN AS agent_arn,
    Agent.ConnectedToAgentTimestamp AS agent_connected_to_agent_timestamp,
    Agent.AgentInteractionDuration AS agent_interaction_duration,
    Agent.CustomerHoldDuration AS agent_customer_hold_duration,
    Agent.AfterContactWorkDuration AS agent_after_contact_work_duration,
    Agent.AgentPauseDuration AS agent_pause_duration,
    Agent.NumberOfHolds AS agent_number_of_holds,
    Agent.LongestHoldDuration AS agent_longest_hold_duration,
    Agent.RoutingProfile.Name AS agent_routing_profile_name,
    Attributes AS attributes,
    strftime(InitiationTimestamp, '%Y-%m-%d') AS dt
"""


def run_rss(argv, cpus=None):
    """Runs a command under wait4 to get its own peak RSS, optionally pinned to `cpus`;
    returns (wall s, peak RSS bytes, stdout text)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-out-{os.getpid()}.txt"
    err_path = out_path.with_suffix(".err")
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    started = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, preexec_fn=preexec)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    text = out_path.read_text()
    errors = err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(map(str, argv))[:300]}\n{text[-2000:]}\n{errors[-3000:]}")
    return wall, usage.ru_maxrss * 1024, text


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--work", default="/tmp/ctrlake-bench")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of both engines, alternating; prints every run's ratio and the median")
    parser.add_argument("--variants", action="store_true",
                        help="also measure --raw-json full and other compressions")
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"ctr-{args.contacts}-{args.days}d.ndjson"
    if not data.exists():
        print(f"generating {args.contacts} contacts into {data} (once) ...", flush=True)
        tmp = data.with_suffix(".partial")
        subprocess.run([args.ctrlake, "gen", "--contacts", str(args.contacts), "--seed", "42",
                        "--days", str(args.days), "--start", "2026-03-01", "--out", str(tmp)],
                       check=True)
        tmp.rename(data)
    size = data.stat().st_size
    warm(data)

    def ctrlake(label, *extra):
        lake = work / "lake-ctrlake"
        shutil.rmtree(lake, ignore_errors=True)
        wall, rss, out = run_rss([args.ctrlake, "ingest", "files", str(data), "--lake", str(lake),
                                  "--threads", str(args.threads), "--quiet", *extra])
        records = int(re.search(r"records read\s+(\d+)", out).group(1))
        written = int(re.search(r"records written\s+(\d+)", out).group(1))
        parquet = dir_size(lake / "ctr")
        return dict(engine=label, wall=wall, rss=rss, records=records, written=written,
                    parquet=parquet)

    def duckdb():
        out_dir = work / "lake-duckdb"
        shutil.rmtree(out_dir, ignore_errors=True)
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
        sql = (f"COPY (SELECT {DUCKDB_SELECT} FROM read_json('{data}', "
               f"format='newline_delimited', columns={columns}, maximum_object_size=2097152)) "
               f"TO '{out_dir}' (FORMAT parquet, PARTITION_BY (dt), COMPRESSION zstd)")
        script = "\n".join([
            "import duckdb",
            "con = duckdb.connect()",
            f"con.execute('SET threads={args.threads}')",
            "con.execute('SET preserve_insertion_order=false')",
            f"con.execute({sql!r})",
            f"print('records', con.execute(\"SELECT count(*) FROM read_parquet('{out_dir}/*/*.parquet')\").fetchone()[0])",
        ])
        wall, rss, out = run_rss([sys.executable, "-c", script])
        records = int(re.search(r"records (\d+)", out).group(1))
        return dict(engine="duckdb read_json -> COPY PARTITION_BY", wall=wall, rss=rss,
                    records=records, written=records, parquet=dir_size(out_dir))

    # Alternating runs: DuckDB's own time varies by ~20% from run to run on this machine, so a
    # single ratio says little; each pair is measured back to back.
    pairs = [(ctrlake("ctrlake (zstd:1, raw_json unmapped)"), duckdb()) for _ in range(args.repeat)]
    results = [engine for pair in pairs for engine in pair]
    if args.variants:
        results.append(ctrlake("ctrlake --raw-json full", "--raw-json", "full"))
        results.append(ctrlake("ctrlake --compression zstd:3", "--compression", "zstd:3"))
        results.append(ctrlake("ctrlake --compression snappy", "--compression", "snappy"))

    mb = 1e6
    print(f"\ninput: {data} ({size / mb:.0f} MB NDJSON), threads={args.threads}")
    print(f"{'engine':<40} {'wall s':>8} {'records/s':>11} {'MB/s':>8} {'peak RSS MB':>12} {'Parquet MB':>11}")
    for r in results:
        print(f"{r['engine']:<40} {r['wall']:>8.2f} {r['records'] / r['wall']:>11.0f} "
              f"{size / mb / r['wall']:>8.0f} {r['rss'] / mb:>12.0f} {r['parquet'] / mb:>11.1f}")
    ratios = [(ours["records"] / ours["wall"]) / (theirs["records"] / theirs["wall"])
              for ours, theirs in pairs]
    ratio = statistics.median(ratios)
    print(f"\nratio ctrlake/duckdb records/s: {ratio:.2f}x"
          + (f" (median of {len(ratios)}: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else "")
          + f"   peak RSS ctrlake {max(o['rss'] for o, _ in pairs) / mb:.0f} MB"
          f" vs duckdb {max(t['rss'] for _, t in pairs) / mb:.0f} MB")
    print(json.dumps({"ratio_records_per_s": round(ratio, 3), "ratios": [round(r, 3) for r in ratios],
                      "results": results}))


if __name__ == "__main__":
    main()
