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
