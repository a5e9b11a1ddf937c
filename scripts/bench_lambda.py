"""Lambda function benchmark: one batch of N generated CTRs (10,000 by default) through
cargo-lambda's runtime emulator into the release `bootstrap`, writing to a local lake.

Prints the binary's size, the first invocation after start (cold: process start, init, the
batch) and warm invocations (wall of `cargo lambda invoke`, and the handler's own
duration_ms), and the function's peak RSS (VmHWM polled, see bench_common).

Usage (through scripts/bench-lambda.sh, which builds the release binaries and the venv):
    python scripts/bench_lambda.py --bootstrap target/release/bootstrap \
        --ctrlake target/release/ctrlake --cargo-lambda .venv/bin/cargo-lambda
"""

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path

from bench_common import PeakRss, free_port

REPO = Path(__file__).resolve().parent.parent


def event(lines):
    records = []
    for n, line in enumerate(lines):
        seq = f"49590338271490256608559692538361571095921575989136{n:06d}"
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "k", "sequenceNumber": seq,
                        "data": base64.b64encode(line).decode(),
                        "approximateArrivalTimestamp": 1772413277.123},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::111122223333:role/bench", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:111122223333:stream/bench",
        })
    return {"Records": records}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ctrlake", required=True)
    parser.add_argument("--cargo-lambda", required=True)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--work", default="/tmp/ctrlake-lambda-bench")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = work / "ctr.ndjson"
    subprocess.run([args.ctrlake, "gen", "--contacts", str(args.records), "--days", "1",
                    "--out", str(source)], check=True, capture_output=True)
    lines = source.read_bytes().splitlines()[: args.records]
    event_file = work / "event.json"
    event_file.write_text(json.dumps(event(lines)))
    port = free_port()
    emulator = subprocess.Popen(
        [args.cargo_lambda, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    function = None
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        log = work / "function.log"
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_VERSION": "1",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
               "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
               "AWS_LAMBDA_FUNCTION_NAME": "_", "CTRLAKE_LAKE": str(work / "lake")}

        def invoke():
            started = time.monotonic()
            subprocess.run([args.cargo_lambda, "lambda", "invoke", "--data-file", str(event_file),
                            "-A", "127.0.0.1", "-P", str(port)], cwd=REPO, check=True,
                           capture_output=True, timeout=300)
            return time.monotonic() - started

        with open(log, "wb") as out:
            started = time.monotonic()
            function = subprocess.Popen([args.bootstrap], env=env, stdout=out, stderr=subprocess.STDOUT)
            rss = PeakRss(function)
            invoke()
            cold = time.monotonic() - started
            warm = [invoke() for _ in range(args.warm)]
        handler = [json.loads(line)["duration_ms"] for line in log.read_text().splitlines()
                   if line.startswith("{")]
        function.terminate()
        function.wait(timeout=10)
        peak = rss.stop()
        size = Path(args.bootstrap).stat().st_size
        mb = 1024 * 1024
        total = sum(map(len, lines))
        print(f"bootstrap (release) {size / mb:.1f} MB; batch of {len(lines)} CTRs, "
              f"{total / 1e6:.1f} MB ({total / len(lines):.0f} B each)")
        print(f"  cold: process start to first response   {cold * 1000:7.0f} ms "
              f"(handler {handler[0]} ms)")
        print(f"  warm: invoke wall median                 {statistics.median(warm) * 1000:7.0f} ms "
              f"(handler median {statistics.median(handler[1:])} ms; the emulator and "
              f"`cargo lambda invoke` add the rest)")
        print(f"  peak RSS of the function                 {peak / mb:7.0f} MB")
    finally:
        if function and function.poll() is None:
            function.kill()
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
