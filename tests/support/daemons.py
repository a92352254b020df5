"""Starting a real server process and waiting until it says it is ready: the one way the
tests (`tests/support`, `tests/e2e`) and the benchmarks (`bench/`) do it.

- `free_port`: a port nothing listens on now, on loopback (or another local address).
- `start_until_ready`: run a command with its output in a log file and return once a URL
  answers 200; if it exits or is not ready in time, fail with the log's tail.
- `stop`: SIGTERM, wait, then SIGKILL.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_until_ready(
    name: str,
    argv: list[str],
    log_path: Path,
    ready_url: str,
    timeout: float = 30.0,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Run `argv` with its output (stdout and stderr) in `log_path`; return once
    `ready_url` answers 200. Raises RuntimeError with the log's tail when it exits or is
    not ready in time."""
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None, cwd=cwd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}): {log_tail(log_path)}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling readiness, with the deadline above
    stop(proc)
    raise RuntimeError(f"{name} not ready in {timeout}s: {log_tail(log_path)}")


def stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(10)


def log_tail(path: Path, size: int = 2000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""
