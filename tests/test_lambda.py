"""The Lambda function (`bootstrap`) end to end: cargo-lambda's local Lambda runtime emulator
invokes it with Kinesis events shaped like AWS's examples, and it writes to a moto S3 server on
127.0.0.1; pyarrow and `ctrlake sql` read what it wrote."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    CTR_FILES,
    REPO,
    RUN_TIMEOUT_S,
    free_port,
    load_template,
    run_ctrlake,
    s3_env,
    stop_process,
    template_s3_policy,
    wait_until_ready,
)

BUCKET = "ctrlake-lambda"
STREAM_ARN = "arn:aws:kinesis:us-east-1:111122223333:stream/connect-ctr"
CARGO_LAMBDA = Path(sys.executable).parent / "cargo-lambda"


def bootstrap_bin(name: str = "bootstrap") -> Path:
    """A function's binary: `bootstrap` (ingest) or `compact`."""
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "ctrlake-target")
    path = Path(target) / "debug" / name
    if not path.is_file():
        pytest.fail(f"{path} not found: build it with `cargo build -p ctrlake-lambda`")
    return path


def sequence(shard: int, n: int) -> str:
    """A 56-digit sequence number, as Kinesis writes them."""
    return f"4959033827149025660855969253836157109592157598913{shard:02d}{n:05d}"


def kinesis_event(records: list[tuple[int, int, bytes]]) -> dict:
    """An event of (shard, number, data) records in the shape of AWS's Kinesis example."""
    out = []
    for shard, n, data in records:
        seq = sequence(shard, n)
        out.append({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "contact",
                "sequenceNumber": seq,
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": 1772413277.123,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"shardId-{shard:012d}:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::111122223333:role/ctrlake-ingest",
            "awsRegion": "us-east-1",
            "eventSourceARN": STREAM_ARN,
        })
    return {"Records": out}


def fixture_records() -> list[tuple[int, int, bytes]]:
    """Every fixture CTR over two shards, two bad records, and the first contact's later
    version ahead of its first one."""
    lines = [line for path in CTR_FILES for line in path.read_text().splitlines() if line.strip()]
    first = json.loads(lines[0])
    later = dict(first, LastUpdateTimestamp="2026-03-02T02:00:00Z")
    data = [json.dumps(later).encode()] + [line.encode() for line in lines]
    data.insert(3, b"not json at all")
    data.insert(7, b'{"ContactId":"bad-ts","InitiationTimestamp":"9999-12-31T00:00:00Z"}')
    counters = {0: 0, 1: 0}
    records = []
    for i, payload in enumerate(data):
        shard = i % 2
        counters[shard] += 1
        records.append((shard, counters[shard], payload))
    return records


@pytest.fixture(scope="module")
def s3(moto_endpoint):
    client = boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, proxies={}),
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """cargo-lambda's runtime API emulator on 127.0.0.1 (the function is started by the tests)."""
    port = free_port()
    log = tmp_path_factory.mktemp("cargo-lambda") / "watch.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(CARGO_LAMBDA), "lambda", "watch", "--only-lambda-apis",
             "-A", "127.0.0.1", "-P", str(port)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )

    def listening():
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    try:
        wait_until_ready(proc, listening, log, "cargo lambda watch", 60)
        yield port
    finally:
        stop_process(proc)


class Function:
    """A built function (`bootstrap` by default) serving the emulator's invocations, with
    `CTRLAKE_LAKE=lake`; `aws_env` replaces the moto endpoint's environment (credentials)."""

    def __init__(self, port: int, endpoint: str, lake: str, tmp_path: Path,
                 binary: str = "bootstrap", aws_env: dict | None = None):
        self.log = tmp_path / f"function-{time.monotonic_ns()}.log"
        self.out = open(self.log, "wb")
        env = {
            **os.environ, **(aws_env or s3_env(endpoint)),
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "CTRLAKE_LAKE": lake,
        }
        self.proc = subprocess.Popen([str(bootstrap_bin(binary))], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        self.port = port
        self.tmp_path = tmp_path

    def invoke(self, event: dict, fails: bool = False) -> tuple[dict | str, dict]:
        """The function's response (its error text when it `fails`) and its log line for this
        invocation."""
        before = len(self.log_lines())
        event_file = self.tmp_path / f"event-{time.monotonic_ns()}.json"
        event_file.write_text(json.dumps(event))
        proc = subprocess.run(
            [str(CARGO_LAMBDA), "lambda", "invoke", "--data-file", str(event_file),
             "-A", "127.0.0.1", "-P", str(self.port)],
            cwd=REPO, capture_output=True, timeout=RUN_TIMEOUT_S,
        )
        lines = self.log_lines()[before:]
        assert len(lines) == 1, self.log.read_text()
        if fails:
            assert proc.returncode != 0, proc.stdout.decode()
            return proc.stderr.decode(), lines[0]
        assert proc.returncode == 0, proc.stderr.decode() + self.log.read_text()
        return json.loads(proc.stdout), lines[0]

    def log_lines(self) -> list[dict]:
        self.out.flush()
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if line.startswith("{")]

    def stop(self):
        stop_process(self.proc)
        self.out.close()


@pytest.fixture
def function(emulator, moto_endpoint, tmp_path, request):
    started = []

    def start(lake: str, **options) -> Function:
        started.append(Function(emulator, moto_endpoint, lake, tmp_path, **options))
        return started[-1]

    yield start
    for f in started:
        f.stop()


def objects(s3, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def sql(moto_endpoint, lake: str, query: str, format: str = "csv") -> str:
    return run_ctrlake("sql", "--lake", lake, "--format", format, query,
                       env=s3_env(moto_endpoint)).stdout.decode()


def test_a_two_shard_batch_lands_in_s3_once_each(s3, function, moto_endpoint, tmp_path):
    lake = f"s3://{BUCKET}/once"
    records = fixture_records()
    response, log = function(lake).invoke(kinesis_event(records))
    assert response == {"batchItemFailures": []}
    assert (log["records"], log["dead_letters"], log["failed_shards"]) == (len(records), 2, 0)
    assert [s["shard"] for s in log["shards"]] == ["shardId-000000000000", "shardId-000000000001"]

    parquet = {k: v for k, v in objects(s3, "once/ctr/").items() if k.endswith(".parquet")}
    assert parquet, "no Parquet file written"
    placed = []
    for key, body in parquet.items():
        path = tmp_path / key.replace("/", "_")
        path.write_bytes(body)
        table = pq.read_table(path)
        placed += list(zip(table.column("source_uri").to_pylist(),
                           table.column("source_sequence_number").to_pylist()))
    good = [(f"kinesis://connect-ctr/shardId-{shard:012d}", sequence(shard, n))
            for shard, n, data in records
            if data != b"not json at all" and b"bad-ts" not in data]
    assert sorted(placed) == sorted(good), "one row per good record, none twice"

    letters = [json.loads(line) for body in objects(s3, "once/_dead_letter/").values()
               for line in body.decode().splitlines()]
    assert sorted(l["reason"] for l in letters) == ["bad_timestamp", "invalid_json"]
    assert all(len(l["source_sequence_number"]) == 56 for l in letters)

    # The later version, which arrived first, is the contact's newest in the view.
    first_id = json.loads(records[0][2])["ContactId"]
    newest = sql(moto_endpoint, lake,
                 f"SELECT last_update_timestamp FROM contacts WHERE contact_id = '{first_id}'")
    assert newest.splitlines()[1].startswith("2026-03-02T02:00:00"), newest


def test_retried_and_bisected_batches_leave_contacts_unchanged(s3, function, moto_endpoint):
    lake = f"s3://{BUCKET}/retried"
    records = fixture_records()
    f = function(lake)
    f.invoke(kinesis_event(records))
    view = "SELECT * EXCLUDE (source_uri, source_sequence_number, source_offset, arrival_timestamp) " \
           "FROM contacts ORDER BY contact_id"
    contacts = sql(moto_endpoint, lake, view, "json")
    raw = sql(moto_endpoint, lake, "SELECT count(*) AS n FROM ctr_raw")
    keys = sorted(objects(s3, "retried/").keys())

    # Lambda retries the same batch: the same files, nothing more.
    response, _ = f.invoke(kinesis_event(records))
    assert response == {"batchItemFailures": []}
    assert sorted(objects(s3, "retried/").keys()) == keys
    assert sql(moto_endpoint, lake, "SELECT count(*) AS n FROM ctr_raw") == raw

    # Lambda bisects it: other names, rows twice in ctr_raw, the view unchanged.
    half = len(records) // 2
    for part in (records[:half], records[half:]):
        response, _ = f.invoke(kinesis_event(part))
        assert response == {"batchItemFailures": []}
    doubled = int(sql(moto_endpoint, lake, "SELECT count(*) AS n FROM ctr_raw").splitlines()[1])
    assert doubled == 2 * int(raw.splitlines()[1])
    assert sql(moto_endpoint, lake, view, "json") == contacts

    # Compaction removes the copies: ctr_raw as after the first batch, the view unchanged.
    run_ctrlake("compact", "--lake", lake, env=s3_env(moto_endpoint))
    assert sql(moto_endpoint, lake, "SELECT count(*) AS n FROM ctr_raw") == raw
    assert sql(moto_endpoint, lake, view, "json") == contacts
    assert all("/compacted-" in key for key in objects(s3, "retried/ctr/"))


def test_the_templates_roles_let_the_functions_do_their_work_and_no_more(function, moto_iam):
    # Each function runs as a user holding only its role's S3 statements from
    # infra/template.yaml, against a moto S3 that enforces them, on the stack's lake prefix.
    bucket = "ctrlake-iam"
    admin = moto_iam.client("s3")
    admin.create_bucket(Bucket=bucket)
    template = load_template()
    lake = f"s3://{bucket}/lake"
    ingest_env = moto_iam.env_for("ingest", template_s3_policy(template, "IngestRole", bucket))
    compact_env = moto_iam.env_for("compact", template_s3_policy(template, "CompactRole", bucket))

    ingest = function(lake, aws_env=ingest_env)
    events = (REPO / "fixtures" / "agent-events" / "aws-examples.ndjson").read_bytes()
    ctrs = fixture_records()
    agent_events = [(2, n, line) for n, line in enumerate(events.splitlines(), start=1)]
    # Agent events in the middle, so that the bisected halves split them too.
    records = ctrs[: len(ctrs) // 2] + agent_events + ctrs[len(ctrs) // 2:]
    half = len(records) // 2
    for batch in (records, records[:half], records[half:]):  # then bisected: copies to compact
        response, log = ingest.invoke(kinesis_event(batch))
        assert response == {"batchItemFailures": []}, log
    keys = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("lake/ctr/") for k in keys)
    assert any(k.startswith("lake/agent_events/") for k in keys)
    assert any(k.startswith("lake/_dead_letter/") for k in keys)
    def raw_rows() -> int:
        out = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                          "SELECT count(*) AS n FROM ctr_raw",
                          env={**s3_env(moto_iam.endpoint), **moto_iam.admin_credentials()})
        return int(out.stdout.decode().splitlines()[1])

    doubled = raw_rows()

    def agent_rows() -> str:
        out = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                          "SELECT count(*) AS n, count(DISTINCT event_id) AS d "
                          "FROM agent_events_raw",
                          env={**s3_env(moto_iam.endpoint), **moto_iam.admin_credentials()})
        return out.stdout.decode().splitlines()[1]

    assert agent_rows() == "10,5", "each agent event twice: the full batch and its halves"

    ingest.stop()  # one function at a time takes the emulator's invocations
    compact = function(lake, binary="compact", aws_env=compact_env)
    days = sorted({k.split("/")[2].removeprefix("dt=") for k in keys
                   if k.startswith(("lake/ctr/", "lake/agent_events/"))})
    # A mistyped request fails the invocation and touches nothing.
    error, log = compact.invoke({"dt": "2026-13-01"}, fails=True)
    assert "request is not valid" in log["error"] and "request is not valid" in error, log
    response, log = compact.invoke({"from": days[0], "to": days[-1], "older_than_seconds": 0})
    assert log["error"] is None and log["files_after"] < log["files_before"], log
    after = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket, Prefix="lake/ctr/")["Contents"]]
    assert all("/compacted-" in k for k in after), after
    events_after = [o["Key"] for o in admin.list_objects_v2(
        Bucket=bucket, Prefix="lake/agent_events/")["Contents"]]
    assert any("/compacted-" in k for k in events_after), events_after
    assert agent_rows() == "5,5", "compaction removed the bisected copies"
    assert raw_rows() * 2 == doubled, "compaction removed the bisected batches' copies"

    # The server does enforce the roles: ingest cannot read, compaction cannot touch dead letters.
    reader = moto_iam.client("s3", {"AccessKeyId": ingest_env["AWS_ACCESS_KEY_ID"],
                                    "SecretAccessKey": ingest_env["AWS_SECRET_ACCESS_KEY"]})
    with pytest.raises(ClientError, match="AccessDenied"):
        reader.get_object(Bucket=bucket, Key=after[0])
    dead = next(k for k in keys if k.startswith("lake/_dead_letter/"))
    deleter = moto_iam.client("s3", {"AccessKeyId": compact_env["AWS_ACCESS_KEY_ID"],
                                     "SecretAccessKey": compact_env["AWS_SECRET_ACCESS_KEY"]})
    with pytest.raises(ClientError, match="AccessDenied"):
        deleter.delete_object(Bucket=bucket, Key=dead)


def test_a_failed_write_is_retried_from_each_shards_first_record(s3, function):
    records = fixture_records()
    response, log = function("s3://no-such-bucket/lake").invoke(kinesis_event(records))
    assert response == {"batchItemFailures": [
        {"itemIdentifier": sequence(0, 1)},
        {"itemIdentifier": sequence(1, 1)},
    ]}
    assert log["failed_shards"] == 2
    assert all("no-such-bucket" in s["error"] or "NoSuchBucket" in s["error"]
               for s in log["shards"]), log


def test_an_invalid_configuration_fails_the_init_phase_with_one_line(moto_endpoint):
    env = {**os.environ, **s3_env(moto_endpoint), "CTRLAKE_LAKE": f"s3://{BUCKET}/x",
           "CTRLAKE_COMPRESSION": "lz4", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}
    proc = subprocess.run([str(bootstrap_bin())], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "ctrlake-lambda: invalid configuration: CTRLAKE_COMPRESSION=lz4: expected zstd, "
        "zstd:LEVEL or snappy"
    ]
