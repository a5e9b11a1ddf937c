"""Kinesis consumer benchmark against a local Kinesis API (ferrokinesis) on 127.0.0.1.

Measured in one run, each figure from this run:
- drain: N generated CTRs already in a 4-shard stream, `ctrlake ingest kinesis
  --until-caught-up` as a child process: wall, records/s, peak RSS; and, for comparison, how
  fast this script put them (the local server's side);
- freshness: a consumer running with a 1 s (then 10 s) flush interval while records trickle in;
  marker records are put one at a time and `ctrlake sql` is polled until each is visible
  (put -> visible, including the query's own time); files written per hour per shard at that
  rate, extrapolated from the run.

Usage (through scripts/bench-kinesis.sh, which builds the release binaries and the venv):
    python scripts/bench_kinesis.py --ctrlake target/release/ctrlake \
        --local-kinesis target/release/examples/local_kinesis --work /tmp/ctrlake-kinesis-bench
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import boto3

from bench_common import run_rss

ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def put_all(client, stream, lines):
    batch, size = [], 0
    for line in lines:
        if batch and (len(batch) == 500 or size + len(line) > 600_000):
            put_batch(client, stream, batch)
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        put_batch(client, stream, batch)


def put_batch(client, stream, batch):
    entries = []
    for line in batch:
        key = json.loads(line).get("ContactId") or "no-id"
        entries.append({"Data": line, "PartitionKey": key})
    result = client.put_records(StreamName=stream, Records=entries)
    if result["FailedRecordCount"]:
        raise SystemExit("the local server refused records")


def create_stream(client, name, shards):
    client.create_stream(StreamName=name, ShardCount=shards)
    for _ in range(200):
        summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise SystemExit(f"stream {name} not active")


def freshness(args, client, endpoint, work, lines, interval):
    stream = f"fresh-{interval}"
    create_stream(client, stream, 4)
    lake = work / f"lake-{stream}"
    consumer = subprocess.Popen(
        [args.ctrlake, "ingest", "kinesis", "--stream", stream, "--lake", str(lake),
         "--endpoint-url", endpoint, "--flush-interval", f"{interval}s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
    )
    started = time.monotonic()
    latencies = []
    try:
        feed = iter(lines)
        for marker in range(args.markers):
            # Background traffic: ~50 records/s around each marker.
            put_all(client, stream, [next(feed) for _ in range(25)])
            record = json.loads(next(feed))
            record["ContactId"] = f"marker-{interval}-{marker}"
            put_at = time.monotonic()
            put_all(client, stream, [json.dumps(record)])
            deadline = put_at + interval + 30
            while time.monotonic() < deadline:
                proc = subprocess.run(
                    [args.ctrlake, "sql", "--lake", str(lake), "--format", "csv",
                     f"SELECT count(*) AS n FROM ctr_raw WHERE contact_id = '{record['ContactId']}'"],
                    capture_output=True, env=ENV,
                )
                if proc.returncode == 0 and proc.stdout.decode().splitlines()[1:] == ["1"]:
                    latencies.append(time.monotonic() - put_at)
                    break
                time.sleep(0.1)
            else:
                raise SystemExit(f"marker {record['ContactId']} not visible within {interval + 30} s")
    finally:
        consumer.terminate()
        consumer.wait(timeout=60)
    elapsed = time.monotonic() - started
    files = list((lake / "ctr").rglob("*.parquet"))
    per_hour_per_shard = len(files) / 4 / elapsed * 3600
    return latencies, per_hour_per_shard, len(files), elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--local-kinesis", required=True)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--markers", type=int, default=5)
    parser.add_argument("--work", default="/tmp/ctrlake-kinesis-bench")
    parser.add_argument("--drain-only", action="store_true",
                        help="measure the drain (records/s, peak RSS) and skip the freshness runs")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # ~1.17 CTRs per contact (updates, transfers): enough contacts for the record count.
    source = work / "ctr.ndjson"
    subprocess.run([args.ctrlake, "gen", "--contacts", str(int(args.records / 1.17) + 1),
                    "--days", "7", "--out", str(source)], check=True, capture_output=True)
    lines = source.read_bytes().splitlines()[: args.records]
    server = subprocess.Popen([args.local_kinesis], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        endpoint = server.stdout.readline().decode().strip().removeprefix("listening on ")
        client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        create_stream(client, "drain", 4)
        started = time.monotonic()
        put_all(client, "drain", lines)
        put_wall = time.monotonic() - started
        wall, rss, _ = run_rss([args.ctrlake, "ingest", "kinesis", "--stream", "drain",
                                "--lake", str(work / "lake-drain"), "--endpoint-url", endpoint,
                                "--until-caught-up", "--quiet"], env=ENV)
        mb = 1024 * 1024
        print(f"{len(lines)} CTRs ({sum(map(len, lines)) / 1e6:.0f} MB) in a 4-shard local stream")
        print(f"  put by boto3 (the producer side)    {put_wall:7.2f} s  {len(lines) / put_wall:10.0f} records/s")
        print(f"  drained by ctrlake ingest kinesis   {wall:7.2f} s  {len(lines) / wall:10.0f} records/s"
              f"   peak RSS {rss / mb:.0f} MB")
        rest = lines[:]
        for interval in () if args.drain_only else (1, 10):
            latencies, per_hour, files, elapsed = freshness(args, client, endpoint, work, rest, interval)
            print(f"  flush interval {interval:>2} s: put -> visible to ctrlake sql "
                  f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
                  f"({len(latencies)} markers; includes the query, ~0.2 s); "
                  f"{files} files in {elapsed:.0f} s = {per_hour:.0f} files/hour/shard")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
