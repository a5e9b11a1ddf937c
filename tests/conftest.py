"""Shared helpers for the ctrlake compatibility suite (pyarrow, DuckDB, moto S3).

The binary under test is `$CTRLAKE_BIN`, default `$CARGO_TARGET_DIR/debug/ctrlake` with
CARGO_TARGET_DIR defaulting to `$HOME/.cache/ctrlake-target`. Every lake lives under pytest's
tmp_path; nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
CTR_FILES = sorted((FIXTURES / "ctr").glob("*.ndjson"))
FIREHOSE_FILES = [
    FIXTURES / "firehose" / name
    for name in ("concatenated.json", "concatenated.json.gz", "trailing-newline.json")
]
MALFORMED_EXPECTED = json.loads((FIXTURES / "malformed" / "expected.json").read_text())
FIREHOSE_EXPECTED = json.loads((FIXTURES / "firehose" / "expected.json").read_text())

# Bounded so a hung binary fails the test instead of the whole run.
RUN_TIMEOUT_S = 120


def ctrlake_bin() -> Path:
    explicit = os.environ.get("CTRLAKE_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "ctrlake-target")
    return Path(target) / "debug" / "ctrlake"


@pytest.fixture(scope="session")
def bin_path() -> Path:
    path = ctrlake_bin()
    if not path.is_file():
        pytest.fail(
            f"ctrlake binary not found at {path}; build it with "
            "`CARGO_TARGET_DIR=$HOME/.cache/ctrlake-target cargo build -p ctrlake-cli` "
            "or set CTRLAKE_BIN"
        )
    return path


def run_ctrlake(*args, env=None, stdin=None, input=None, check=True) -> subprocess.CompletedProcess:
    """Runs the binary with `args`; `env` entries are added to a copy of os.environ."""
    full_env = os.environ.copy()
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [str(ctrlake_bin()), *map(str, args)],
        stdin=stdin,
        input=input,
        capture_output=True,
        env=full_env,
        timeout=RUN_TIMEOUT_S,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ctrlake {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout.decode(errors='replace')}\n"
            f"stderr:\n{proc.stderr.decode(errors='replace')}"
        )
    return proc


def ingest(inputs, lake, *extra, env=None, stdin=None, input=None, check=True) -> dict:
    """`ctrlake ingest files INPUTS --lake LAKE --quiet EXTRA`; returns the parsed summary."""
    proc = run_ctrlake(
        "ingest", "files", *inputs, "--lake", lake, "--quiet", *extra,
        env=env, stdin=stdin, input=input, check=check,
    )
    summary = parse_summary(proc.stdout.decode())
    summary["_returncode"] = proc.returncode
    summary["_stdout"] = proc.stdout.decode()
    summary["_stderr"] = proc.stderr.decode(errors="replace")
    return summary


_SUMMARY_LINE = re.compile(r"^(\s+)([a-z_][a-z0-9_ -]*?)\s{2,}(\d+)\b")


def parse_summary(stdout: str) -> dict:
    """Parses the ingest summary.

    Top-level lines ("  records read   69") become keys like "records read"; the per-reason lines
    indented under "records dead-lettered" go into summary["dead_letter_reasons"].
    """
    out: dict = {"dead_letter_reasons": {}}
    in_reasons = False
    for line in stdout.splitlines():
        m = _SUMMARY_LINE.match(line)
        if not m:
            continue
        indent, key, value = len(m.group(1)), m.group(2).strip(), int(m.group(3))
        if indent <= 2:
            out[key] = value
            in_reasons = key == "records dead-lettered"
        elif in_reasons:
            out["dead_letter_reasons"][key] = value
    return out


def parquet_files(lake: Path) -> list[Path]:
    return sorted((Path(lake) / "ctr").glob("dt=*/*.parquet"))


def dead_letter_files(lake: Path) -> list[Path]:
    return sorted((Path(lake) / "_dead_letter").glob("*.ndjson"))


def read_lake(lake: Path) -> pa.Table:
    """The whole ctr table with `dt` taken from the Hive partition directories."""
    ctr = Path(lake) / "ctr"
    if not ctr.exists() or not parquet_files(lake):
        return None
    return ds.dataset(str(ctr), format="parquet", partitioning="hive").to_table()


def read_dead_letters(lake: Path) -> list[dict]:
    out = []
    for path in dead_letter_files(lake):
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(json.loads(line))
    return sorted(
        out,
        key=lambda d: (d["source_uri"], d.get("source_offset") or 0,
                       d.get("source_sequence_number") or ""),
    )


def dead_letter_bytes(entry: dict) -> bytes:
    if "record_base64" in entry and entry["record_base64"] is not None:
        return base64.b64decode(entry["record_base64"])
    return entry["record"].encode("utf-8")


def source_bytes(path: Path) -> bytes:
    """The decompressed bytes of a source file (offsets are counted in these)."""
    data = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        data = gzip.decompress(data)
    return data


def file_uri(path: Path) -> str:
    return Path(path).resolve().as_uri()


def lines_with_offsets(path: Path):
    """(offset, line bytes without the newline) for every line of an NDJSON file."""
    data = Path(path).read_bytes()
    offset = 0
    for raw in data.split(b"\n"):
        if raw:
            yield offset, raw
        offset += len(raw) + 1


def hash_tree(root: Path) -> dict:
    """relative path -> sha256 of every file below root."""
    import hashlib

    root = Path(root)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def iso_to_ms(text: str) -> int:
    """ISO-8601 UTC timestamp (as Connect writes them) -> epoch milliseconds."""
    parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return (parsed - _EPOCH) // _dt.timedelta(milliseconds=1)


def ts_ms(value) -> int | None:
    """A pyarrow timestamp scalar's Python value -> epoch milliseconds."""
    if value is None:
        return None
    return (value - _EPOCH) // _dt.timedelta(milliseconds=1)


@pytest.fixture(scope="session")
def schema_columns(bin_path) -> list[dict]:
    proc = run_ctrlake("schema", "--format", "json")
    return json.loads(proc.stdout)["columns"]


@pytest.fixture(scope="session")
def fixture_lake(bin_path, tmp_path_factory) -> tuple[Path, dict]:
    """All scenario fixtures plus the Firehose archives, ingested once into a local lake."""
    lake = tmp_path_factory.mktemp("fixture_lake")
    summary = ingest([*CTR_FILES, *FIREHOSE_FILES], lake)
    return lake, summary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_env(endpoint: str) -> dict:
    """What the binaries need to reach the moto S3 server at `endpoint` (and nothing else)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def wait_until_ready(proc, probe, log: Path, what: str, seconds: float):
    """Calls `probe()` until it returns true (an exception counts as not yet); fails the test
    with the server's log when `proc` exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited early ({proc.returncode}):\n{log.read_text()}")
        try:
            if probe():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {seconds:.0f} s:\n{log.read_text()}")
        time.sleep(0.2)


def stop_process(proc):
    """Terminates `proc`, killing it when it does not end within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """A moto S3 server on 127.0.0.1:<free port> for the session; killed at the end."""
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists():
        found = shutil.which("moto_server")
        if not found:
            pytest.fail("moto_server not found (install moto[server])")
        moto = Path(found)
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    # Never route the loopback probe through a proxy configured in the environment.
    no_proxy_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def answers():
        with no_proxy_opener.open(endpoint + "/", timeout=1) as resp:
            resp.read()
        return True

    try:
        wait_until_ready(proc, answers, log, "moto_server", 30)
        yield endpoint
    finally:
        stop_process(proc)


class MotoIam:
    """A moto server that enforces IAM: each request must be signed by a user's key, and
    the user's policy must allow the action on the resource (moto checks actions and resource
    ARNs, not conditions). `admin` is a client allowed everything."""

    def __init__(self, endpoint: str):
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self._config = Config(s3={"addressing_style": "path"}, proxies={})
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1",
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        # The server lets exactly these three requests through unsigned.
        iam = boto3.client("iam", **setup)
        self._admin_key = self._user(iam, "admin", {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        self.iam = self.client("iam", self._admin_key)

    @staticmethod
    def _user(iam, name: str, policy: dict) -> dict:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        return iam.create_access_key(UserName=name)["AccessKey"]

    def client(self, service: str, key: dict | None = None):
        import boto3

        key = key or self._admin_key
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"], config=self._config)

    def admin_credentials(self) -> dict:
        """The environment's credentials of the user allowed everything."""
        return {"AWS_ACCESS_KEY_ID": self._admin_key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": self._admin_key["SecretAccessKey"]}

    def env_for(self, name: str, policy: dict) -> dict:
        """The environment of a binary running as a new user `name` with `policy`.

        One allowance is added: moto authorizes a multi-object delete (DeleteObjects, the only
        delete object_store sends) as s3:DeleteObject on the bucket's ARN, where AWS checks
        s3:DeleteObject on each key. A policy that may delete objects in a bucket gets that
        bucket ARN too, so moto does not deny what AWS allows."""
        buckets = {
            resource.split("/", 1)[0]
            for statement in policy["Statement"]
            if "s3:DeleteObject" in statement["Action"]
            for resource in (statement["Resource"] if isinstance(statement["Resource"], list)
                             else [statement["Resource"]])
        }
        if buckets:
            policy = {**policy, "Statement": [*policy["Statement"], {
                "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": sorted(buckets)}]}
        key = self._user(self.iam, name, policy)
        return {**s3_env(self.endpoint), "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture(scope="session")
def moto_iam(tmp_path_factory):
    """A moto server on 127.0.0.1 that enforces IAM policies (see MotoIam)."""
    moto = Path(sys.executable).parent / "moto_server"
    port = free_port()
    log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with open(log, "wb") as log_file:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log_file, stderr=subprocess.STDOUT, env=env)

    def listening():
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    try:
        wait_until_ready(proc, listening, log, "moto_server (IAM)", 30)
        yield MotoIam(f"http://127.0.0.1:{port}")
    finally:
        stop_process(proc)


def template_s3_policy(template: dict, name: str, bucket: str) -> dict:
    """The S3 statements of infra/template.yaml's role or managed policy `name`, with the lake
    bucket resolved to `bucket`: what the deployed function or consumer may do in S3."""
    resource = template["Resources"][name]["Properties"]
    document = (resource["Policies"][0]["PolicyDocument"] if "Policies" in resource
                else resource["PolicyDocument"])
    arn = f"arn:aws:s3:::{bucket}"

    def resolve(value):
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict) and "Fn::Sub" in value:
            return value["Fn::Sub"].replace("${LakeBucket.Arn}", arn).replace(
                "${LakeBucket}", bucket)
        if isinstance(value, dict) and value.get("Fn::GetAtt") == ["LakeBucket", "Arn"]:
            return arn
        return value

    statements = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        if all(a.startswith("s3:") for a in actions):
            statements.append({**statement, "Resource": resolve(statement["Resource"])})
    assert statements, f"{name} has S3 statements"
    return {"Version": "2012-10-17", "Statement": statements}


def load_template() -> dict:
    import yaml

    return yaml.safe_load((REPO / "infra" / "template.yaml").read_text())
