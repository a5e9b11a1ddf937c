"""`ctrlake ingest kinesis` through the real binary against a real Kinesis API on 127.0.0.1
(ferrokinesis, started from the `local_kinesis` example that `cargo test` builds), with records
put by boto3: the lake equals what `ingest files` makes of the same records, SIGTERM flushes and
exits 0, and kill -9 at random moments leaves every record exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pyarrow.dataset as ds
import pytest
from botocore.config import Config

from conftest import (
    CTR_FILES,
    FIXTURES,
    ctrlake_bin,
    ingest,
    load_template,
    read_dead_letters,
    read_lake,
    run_ctrlake,
    s3_env,
    template_s3_policy,
)

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def local_kinesis_bin() -> Path:
    return ctrlake_bin().parent / "examples" / "local_kinesis"


@pytest.fixture(scope="module")
def kinesis_endpoint():
    binary = local_kinesis_bin()
    if not binary.is_file():
        pytest.fail(f"{binary} not found: `cargo test --workspace` builds it")
    proc = subprocess.Popen(
        [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.removeprefix("listening on ")
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def kinesis_client(endpoint):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 3}),
    )


def create_stream(client, name, shards):
    client.create_stream(StreamName=name, ShardCount=shards)
    for _ in range(200):
        status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if status["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise AssertionError(f"stream {name} did not become active")


def put(client, stream, lines):
    """Puts `lines` in order (partition key: the contact id); returns their sequence numbers."""
    placed = []
    batches, batch, size = [], [], 0
    for line in lines:
        # PutRecords takes 500 records; the emulator caps a request body near 1 MB.
        if batch and (len(batch) == 500 or size + len(line) > 600_000):
            batches.append(batch)
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        batches.append(batch)
    for batch in batches:
        entries = []
        for line in batch:
            try:
                key = json.loads(line)["ContactId"] or "no-id"
            except Exception:
                key = "no-id"
            entries.append({"Data": line, "PartitionKey": str(key)})
        result = client.put_records(StreamName=stream, Records=entries)
        assert result["FailedRecordCount"] == 0
        placed.extend((r["ShardId"], r["SequenceNumber"]) for r in result["Records"])
    return placed


BAD = [
    b"not json at all",
    b'{"ContactId":"bad-year","InitiationTimestamp":"9999-12-31T00:00:00Z","LastUpdateTimestamp":"2026-03-02T00:00:00Z"}',
    b'{"ContactId":"cut","InitiationTimestamp":"2026-03-02T00:00:00Z",',
]


def stream_lines(tmp_path) -> list[bytes]:
    lines = []
    for path in CTR_FILES:
        lines.extend(line for line in path.read_bytes().splitlines() if line.strip())
    generated = tmp_path / "generated.ndjson"
    run_ctrlake("gen", "--contacts", "600", "--days", "2", "--start", "2026-03-02",
                "--seed", "5", "--out", generated)
    lines.extend(line for line in generated.read_bytes().splitlines() if line.strip())
    for i, bad in enumerate(BAD):
        lines.insert(37 * i + 3, bad)
    return lines


def consume(endpoint, stream, lake, *extra, check=True):
    return run_ctrlake(
        "ingest", "kinesis", "--stream", stream, "--lake", lake, "--endpoint-url", endpoint,
        *extra, env=AWS_ENV, check=check,
    )


def assert_exactly_once(lake, placed, lines):
    """Every good record in exactly one row, every bad one in exactly one dead letter."""
    good = {p for p, line in zip(placed, lines) if line not in BAD}
    bad = {p for p, line in zip(placed, lines) if line in BAD}
    table = read_lake(lake)
    rows = list(zip(
        (uri.rsplit("/", 1)[1] for uri in table.column("source_uri").to_pylist()),
        table.column("source_sequence_number").to_pylist(),
    ))
    assert len(rows) == len(set(rows)), "a record in two rows"
    assert set(rows) == good
    letters = [(d["source_uri"].rsplit("/", 1)[1], d["source_sequence_number"])
               for d in read_dead_letters(lake)]
    assert len(letters) == len(set(letters)) and set(letters) == bad


def test_the_stream_makes_the_lake_and_reports_that_ingest_files_makes(kinesis_endpoint, tmp_path):
    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "ctr-e2e", 4)
    lines = stream_lines(tmp_path)
    placed = put(client, "ctr-e2e", lines)
    assert len({shard for shard, _ in placed}) == 4
    lake = tmp_path / "lake-stream"
    proc = consume(kinesis_endpoint, "ctr-e2e", lake, "--until-caught-up",
                   "--flush-interval", "1s", "--quiet")
    assert f"records read {len(lines):>20}".split() == \
        next(l for l in proc.stdout.decode().splitlines() if "records read" in l).split()
    assert_exactly_once(lake, placed, lines)
    source = tmp_path / "same-records.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    files_lake = tmp_path / "lake-files"
    ingest([source], files_lake)
    for report in (
        ["report", "queues", "--from", "2026-03-01", "--to", "2026-03-04", "--tz", "Asia/Tokyo"],
        ["report", "agents", "--from", "2026-03-01", "--to", "2026-03-04", "--tz", "Asia/Tokyo"],
        ["report", "intervals", "--date", "2026-03-02", "--tz", "Asia/Tokyo", "--minutes", "30"],
    ):
        from_stream = run_ctrlake(*report, "--lake", lake, "--format", "csv").stdout
        from_files = run_ctrlake(*report, "--lake", files_lake, "--format", "csv").stdout
        assert from_stream == from_files, report
        assert from_stream.count(b"\n") > 2


def test_the_consumer_policy_of_the_template_suffices_for_an_s3_lake(
        kinesis_endpoint, moto_iam, tmp_path):
    # The consumer runs as a user holding only the ConsumerPolicy's S3 statements, against a
    # moto S3 that enforces them: a first run (no checkpoints yet), then a second that resumes.
    bucket = "ctrlake-consumer"
    moto_iam.client("s3").create_bucket(Bucket=bucket)
    policy = template_s3_policy(load_template(), "ConsumerPolicy", bucket)
    env = moto_iam.env_for("consumer", policy)
    lake = f"s3://{bucket}/lake"
    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "ctr-iam", 2)
    lines = stream_lines(tmp_path)
    half = len(lines) // 2
    for part in (lines[:half], lines[half:]):
        put(client, "ctr-iam", part)
        run_ctrlake("ingest", "kinesis", "--stream", "ctr-iam", "--lake", lake,
                    "--endpoint-url", kinesis_endpoint, "--until-caught-up", "--quiet", env=env)
    admin = moto_iam.client("s3")
    keys = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sum(k.startswith("lake/_checkpoints/kinesis/ctr-iam/") for k in keys) == 2
    assert any(k.startswith("lake/_dead_letter/") for k in keys)
    reader = {**s3_env(moto_iam.endpoint), **moto_iam.admin_credentials()}
    rows = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                       "SELECT count(*) AS n FROM ctr_raw", env=reader).stdout.decode()
    assert int(rows.splitlines()[1]) == len([line for line in lines if line not in BAD])


def test_sigterm_flushes_checkpoints_and_exits_0(kinesis_endpoint, tmp_path):
    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "ctr-term", 2)
    lines = stream_lines(tmp_path)
    placed = put(client, "ctr-term", lines)
    lake = tmp_path / "lake"
    env = {**os.environ, **AWS_ENV}
    # A long flush interval: nothing is flushed before the signal.
    proc = subprocess.Popen(
        [str(ctrlake_bin()), "ingest", "kinesis", "--stream", "ctr-term", "--lake", str(lake),
         "--endpoint-url", kinesis_endpoint, "--flush-interval", "10m"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    time.sleep(2)
    assert proc.poll() is None, proc.stderr.read()
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert time.monotonic() - sent < 5
    assert b"stopping" in err
    assert_exactly_once(lake, placed, lines)
    for shard in {s for s, _ in placed}:
        checkpoint = json.loads(
            (lake / "_checkpoints" / "kinesis" / "ctr-term" / f"{shard}.json").read_text()
        )
        assert checkpoint["pending"] == []


def test_kill_9_at_random_moments_leaves_every_record_exactly_once(kinesis_endpoint, tmp_path):
    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "ctr-kill", 3)
    lines = stream_lines(tmp_path)
    first, rest = lines[: len(lines) // 3], lines[len(lines) // 3 :]
    placed = put(client, "ctr-kill", first)
    produced: list = []
    rounds = 24
    slices = [rest[i::rounds] for i in range(rounds)]
    lake = tmp_path / "lake"
    env = {**os.environ, **AWS_ENV}
    chance = random.Random(20261206)
    checkpoints = lake / "_checkpoints" / "kinesis" / "ctr-kill"

    def flushing() -> bool:
        """A flush has listed its files and not yet moved its checkpoint."""
        for path in checkpoints.glob("*.json") if checkpoints.exists() else []:
            try:
                if json.loads(path.read_text())["pending"]:
                    return True
            except (OSError, ValueError, KeyError):
                pass
        return False

    kills = mid_flush = 0
    for round_ in range(rounds):
        proc = subprocess.Popen(
            [str(ctrlake_bin()), "ingest", "kinesis", "--stream", "ctr-kill", "--lake", str(lake),
             "--endpoint-url", kinesis_endpoint, "--flush-interval", "50ms",
             "--flush-bytes", "4KB", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        # The producer keeps writing while the consumer runs.
        for start in range(0, len(slices[round_]), 10):
            produced_now = put(client, "ctr-kill", slices[round_][start : start + 10])
            produced.extend(zip(produced_now, slices[round_][start : start + 10]))
        if round_ % 2:
            # At a random moment: reading, encoding, writing, idle.
            time.sleep(chance.uniform(0.05, 0.6))
        else:
            # Between a flush's file writes and its checkpoint, a window of a millisecond or
            # two: freeze the process at random instants and kill it when a frozen one is
            # inside a flush (bounded: 3 s of tries).
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(chance.uniform(0, 0.004))
                proc.send_signal(signal.SIGSTOP)
                if flushing():
                    mid_flush += 1
                    break
                proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait(timeout=10)
    assert kills >= 20
    assert mid_flush >= 3, "too few kills landed inside a flush to prove anything"
    final = consume(kinesis_endpoint, "ctr-kill", lake, "--until-caught-up", "--quiet")
    assert final.returncode == 0
    assert_exactly_once(
        lake, placed + [p for p, _ in produced], first + [line for _, line in produced]
    )


def test_metrics_endpoint_counts_what_was_consumed(kinesis_endpoint, tmp_path):
    import re
    import urllib.request

    from conftest import free_port

    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "ctr-metrics", 2)
    lines = stream_lines(tmp_path)
    put(client, "ctr-metrics", lines)
    port = free_port()
    env = {**os.environ, **AWS_ENV}
    proc = subprocess.Popen(
        [str(ctrlake_bin()), "ingest", "kinesis", "--stream", "ctr-metrics",
         "--lake", str(tmp_path / "lake"), "--endpoint-url", kinesis_endpoint,
         "--flush-interval", "200ms", "--metrics-addr", f"127.0.0.1:{port}", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def total(text, name):
        return sum(int(v) for v in re.findall(rf"^ctrlake_kinesis_{name}\{{[^}}]*\}} (\d+)$",
                                               text, re.M))

    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    assert "openmetrics-text" in response.headers["Content-Type"]
                    text = response.read().decode()
                if total(text, "records_total") == len(lines):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert total(text, "records_total") == len(lines), text
        assert total(text, "dead_letters_total") == len(BAD)
        assert 'ctrlake_kinesis_checkpoint_age_seconds{stream="ctr-metrics",shard="shardId-000000000000"}' in text
        assert "ctrlake_kinesis_millis_behind_latest{" in text
        # A second consumer cannot take the same port: it says so and exits 1.
        taken = consume(kinesis_endpoint, "ctr-metrics", tmp_path / "other",
                        "--metrics-addr", f"127.0.0.1:{port}", "--until-caught-up", check=False)
        assert taken.returncode == 1
        assert f"serving metrics on 127.0.0.1:{port}" in taken.stderr.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_agent_events_on_a_stream_land_in_their_table_once_each(kinesis_endpoint, tmp_path):
    # The agent event stream is its own Kinesis stream; the same consumer reads it.
    events = (FIXTURES / "agent-events" / "aws-examples.ndjson").read_bytes().splitlines()
    client = kinesis_client(kinesis_endpoint)
    create_stream(client, "agent-events", 1)
    put(client, "agent-events", events + events[:2])  # two redelivered
    lake = tmp_path / "lake"
    consume(kinesis_endpoint, "agent-events", lake, "--until-caught-up", "--quiet")
    table = ds.dataset(lake / "agent_events", format="parquet", partitioning="hive").to_table()
    ids = sorted(table.column("event_id").to_pylist())
    assert ids == sorted([f"EventId-{i}" for i in range(1, 6)] + ["EventId-1", "EventId-2"])
    assert set(table.column("source_uri").to_pylist()) == {"kinesis://agent-events/shardId-000000000000"}
    assert len(set(table.column("source_sequence_number").to_pylist())) == 7
    assert not (lake / "ctr").exists()
