"""What the bench scripts share: a child's own peak RSS, free loopback ports."""

import socket
import subprocess
import threading
import time
from pathlib import Path


def peak_rss(pid):
    """The process's peak RSS so far (VmHWM, bytes), or None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


class PeakRss:
    """Polls a running process's VmHWM every 20 ms in a thread: `.peak` in bytes.

    Not wait4's ru_maxrss: a child's ru_maxrss counts the pages it shared with its parent
    between fork and exec, so a bench script holding its input in memory would report its own
    size (an earlier bench_kinesis.py reported 1.26 GB that way)."""

    def __init__(self, proc):
        self.proc = proc
        self.peak = 0
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self):
        while self.proc.poll() is None:
            self.peak = max(self.peak, peak_rss(self.proc.pid) or 0)
            time.sleep(0.02)

    def stop(self):
        self.thread.join(timeout=5)
        return self.peak


def run_rss(argv, env=None, cwd=None):
    """Runs a command to its end; returns (wall s, peak RSS bytes, stdout text)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    watch = PeakRss(proc)
    out, err = proc.communicate()
    wall = time.monotonic() - started
    peak = watch.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{out.decode()}\n{err.decode()}")
    return wall, peak, out.decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
