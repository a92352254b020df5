"""Starting a real server binary for a test and waiting until it says it is ready."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def start_until_ready(
    name: str, argv: list[str], log_path: Path, ready_url: str, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """Run `argv` with its output in `log_path`; return once `ready_url` answers 200.
    Raises RuntimeError with the log's tail when it exits or is not ready in time."""
    log = open(log_path, "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_tail(log_path)}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling readiness, with the deadline above
    proc.kill()
    raise RuntimeError(f"{name} not ready in {timeout}s: {log_tail(log_path)}")


def log_tail(path: Path, size: int = 2000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""
