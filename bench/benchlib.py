"""Shared by the core benchmarks: percentiles, results files, a served engine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """Seconds in, milliseconds out: p50, p90, p99, max, n."""
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 3),
        "p90_ms": round(percentile(values, 90) * 1000, 3),
        "p99_ms": round(percentile(values, 99) * 1000, 3),
        "max_ms": round(max(values) * 1000, 3) if values else float("nan"),
        "n": len(values),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        **result,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gestalt_serve(collectors: str, *, server: str = "") -> Iterator[tuple[str, int]]:
    """A real `gestalt serve` process; yields (base URL, pid). `collectors` is YAML for the
    collectors section (everything not named is disabled)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gestalt-bench-") as tmp:
        defaults = {"host": False, "docker": False, "kubernetes": False, "nats": False,
                    "otel": False}
        lines = ["collectors:"]
        for name, enabled in defaults.items():
            if f"{name}:" not in collectors:
                lines.append(f"  {name}: {{enabled: {str(enabled).lower()}}}")
        lines.extend("  " + line for line in collectors.strip().splitlines())
        config = Path(tmp) / "gestalt.yaml"
        config.write_text(f"server: {{data_dir: {tmp}/data{server}}}\n" + "\n".join(lines) + "\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gestalt.cli", "serve", "-c", str(config), "--port", str(port),
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gestalt serve did not become ready")
                time.sleep(0.1)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
