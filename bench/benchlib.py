"""Shared by the core benchmarks: percentiles, results files, a served engine."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The one way tests and benchmarks start a server and wait for it (tests/support/daemons.py).
sys.path.insert(0, str(ROOT))
from tests.support.daemons import free_port, start_until_ready, stop  # noqa: E402


class _DocstringAndDefaults(argparse.RawDescriptionHelpFormatter,
                            argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written (its lists and command lines), each option's default."""


def command_line(doc: str | None,
                 configure: Callable[[argparse.ArgumentParser], object] | None = None, *,
                 epilog: str | None = None) -> argparse.Namespace:
    """A benchmark's command line, parsed from sys.argv before anything starts: `--help`
    shows `doc` (the script's docstring, its lines kept) and `epilog` (the environment
    variables it reads), `configure` adds the script's own options, and anything else
    is an error (exit 2): a mistyped option must not run minutes of load. Options are
    spelt out: argparse would take `--ful` for `--full` (a 10 x 10,000 run)."""
    parser = argparse.ArgumentParser(description=doc, epilog=epilog, allow_abbrev=False,
                                     formatter_class=_DocstringAndDefaults)
    if configure is not None:
        configure(parser)
    return parser.parse_args()


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


def synthetic_agent_config(tmp: Path, index: int, url: str, *, entities: int, churn: float,
                           **agent: float) -> Path:
    """A `gestalt agent` config for site `site<index>`: a synthetic source of `entities`
    entities and as many edges at `churn` changes/s, publishing to `url`; `agent` adds to
    the agent's section (keyframe_interval, publish_timeout)."""
    site = f"site{index}"
    path = tmp / f"{site}.yaml"
    path.write_text(yaml.safe_dump({
        "server": {"data_dir": str(tmp / site)},
        "agent": {"site": site, "url": url, **agent},
        "collectors": {name: {"enabled": False}
                       for name in ("host", "docker", "kubernetes", "nats", "otel")}
        | {"synthetic": {"enabled": True, "entities": entities, "edges": entities,
                         "churn_per_second": churn, "seed": index + 2, "cluster": site}}}))
    return path


def stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stops `procs` together: each is told to end at once (and to go on first, should a
    bench have paused it), then waited for as `stop` does."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    for proc in procs:
        stop(proc)


@contextlib.contextmanager
def gestalt_serve(collectors: str, *, server: str = "",
                  ready_timeout: float = 60) -> Iterator[tuple[str, int]]:
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
        url = f"http://127.0.0.1:{port}"
        proc = start_until_ready(
            "gestalt serve",
            [sys.executable, "-m", "gestalt.cli", "serve", "-c", str(config), "--port",
             str(port), "--log-level", "warning"],
            Path(tmp) / "gestalt.log", f"{url}/readyz", ready_timeout)
        try:
            yield url, proc.pid
        finally:
            stop(proc)
