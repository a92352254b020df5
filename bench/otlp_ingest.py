"""Spans/s one core of OTLP/HTTP (protobuf) ingestion takes: a receiver process pinned to
one CPU, fed pre-encoded 512-span export requests (client and server halves that pair)
over keep-alive connections from this process on the other CPU(s)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import httpx
import psutil
from benchlib import ROOT, command_line, write_result

sys.path.insert(0, str(ROOT))
from tests.fixtures.otlp.payloads import call_pairs  # noqa: E402
from tests.fixtures.otlp.receiver import Receiver  # noqa: E402

SPANS_PER_REQUEST = 512
REQUESTS = 600
CONNECTIONS = 4
WARMUP = 40
# What an HTTP instrumentation puts on each span (semantic conventions).
ATTRS: dict[str, str | int | bool | float] = {
    "http.request.method": "GET", "url.path": "/api/orders/12345", "url.scheme": "http",
    "server.address": "orders.shop.svc", "server.port": 8080,
    "http.response.status_code": 200, "network.protocol.version": "1.1",
    "user_agent.original": "python-requests/2.32",
}


def payloads() -> list[bytes]:
    bodies = []
    for i in range(20):  # distinct traces, client halves then their server halves
        calls, serves = call_pairs(SPANS_PER_REQUEST, {"service.name": f"caller-{i % 5}"},
                                   {"service.name": f"callee-{i % 7}"}, attrs=ATTRS)
        bodies += [calls.SerializeToString(), serves.SerializeToString()]
    return bodies


async def send(url: str, bodies: list[bytes], count: int) -> float:
    headers = {"Content-Type": "application/x-protobuf"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(bodies[i % len(bodies)])

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            reply = await client.post(url, content=body, headers=headers)
            reply.raise_for_status()

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
        return time.perf_counter() - started


def main() -> None:
    command_line(__doc__)
    bodies = payloads()
    receiver = Receiver()
    try:
        process = psutil.Process(receiver.proc.pid)
        cpus = sorted(os.sched_getaffinity(0))
        process.cpu_affinity([cpus[-1]])  # the receiver gets one core
        if len(cpus) > 1:
            os.sched_setaffinity(0, cpus[:-1])  # and the load generator the others
        url = receiver.url + "/v1/traces"
        asyncio.run(send(url, bodies, WARMUP))
        cpu_before = sum(process.cpu_times()[:2])
        wall = asyncio.run(send(url, bodies, REQUESTS))
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        spans = REQUESTS * SPANS_PER_REQUEST
        write_result("otlp_ingest", {
            "spans": spans,
            "spans_per_request": SPANS_PER_REQUEST,
            "attributes_per_span": len(ATTRS),
            "body_bytes_avg": sum(map(len, bodies)) // len(bodies),
            "wall_s": round(wall, 3),
            "receiver_cpu_s": round(cpu, 3),
            "spans_per_s_wall": round(spans / wall),
            "spans_per_cpu_s": round(spans / cpu),
            "receiver_rss_mib": round(process.memory_info().rss / 2**20, 1),
            "note": "receiver pinned to one CPU; spans_per_cpu_s is the one-core capacity",
        })
    finally:
        receiver.close()


if __name__ == "__main__":
    main()
