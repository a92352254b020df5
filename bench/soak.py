"""Memory under sustained churn: `gestalt serve` with the synthetic source at 5,000 entities
and 10,000 edges, 50 changes a second (a fifth of them replace a pod: new ids, new edges),
two SSE clients reading everything and one slow client (cut to `resync` when it lags).

The server runs with tracemalloc on (PYTHONTRACEMALLOC=1, one frame) so `/metrics` gives
its traced Python heap beside the item count of each engine structure; RSS comes from the
OS. Every sample goes to `bench/results/soak.json` as a plot-ready series. After the
warm-up (a third of the run, at most 10 minutes), RSS and the traced heap must stay flat
within 5%: the mean of the last minute against the mean of the first minute after the
warm-up.

    python bench/soak.py [--minutes 30] [--interval 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from typing import Any

import httpx
import psutil
from benchlib import command_line, gestalt_serve, write_result
from prometheus_client.parser import text_string_to_metric_families

ENTITIES, EDGES, CHURN = 5000, 10000, 50
FLAT_WITHIN = 0.05
SLOW_READ_BYTES, SLOW_READ_EVERY = 1024, 1.0  # the slow client: 1 KB/s, well behind


async def sse_client(port: int, *, slow: bool, read: list[int]) -> None:
    """A topology stream reader; `slow` reads a little every half second through a small
    receive buffer, so the server's queue for it fills."""
    sock = socket.socket()
    if slow:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    # The stream reader's limit is what it buffers before it stops reading the socket.
    reader, writer = await asyncio.open_connection(
        sock=sock, limit=SLOW_READ_BYTES if slow else 1 << 24)
    writer.write(b"GET /api/infra/topology/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Accept: text/event-stream\r\n\r\n")
    await writer.drain()
    try:
        while True:
            chunk = await reader.read(SLOW_READ_BYTES if slow else 1 << 16)
            if not chunk:
                return
            read[0] += len(chunk)
            if slow:
                await asyncio.sleep(SLOW_READ_EVERY)
    finally:
        writer.close()


def wait_for_graph(url: str) -> None:
    while httpx.get(f"{url}/api/infra/topology?kinds=namespace", timeout=30).json()[
            "summary"]["total"] == 0:
        time.sleep(0.5)


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == "gestalt_engine_items":
                values[sample.labels["structure"]] = sample.value
            elif family.name in ("gestalt_python_traced_bytes", "gestalt_connections",
                                 "gestalt_topology_version"):
                values[family.name] = sample.value
            elif sample.name == "gestalt_sse_resyncs_total":
                values["sse_resyncs"] = sample.value
    return values


def flatness(series: list[dict[str, Any]], key: str, start: float) -> dict[str, float]:
    """Growth of `key` after the warm-up: the mean of the last minute against the mean of
    the first minute after `start`, and the least-squares slope per minute."""
    after = [(s["t_s"], s[key]) for s in series if s["t_s"] >= start]
    if len(after) < 2:
        return {}
    end = after[-1][0]
    first = [v for t, v in after if t < after[0][0] + 60] or [after[0][1]]
    last = [v for t, v in after if t > end - 60] or [after[-1][1]]
    mean_first, mean_last = sum(first) / len(first), sum(last) / len(last)
    n = len(after)
    mean_t = sum(t for t, _ in after) / n
    mean_v = sum(v for _, v in after) / n
    var = sum((t - mean_t) ** 2 for t, _ in after) or 1.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in after) / var * 60
    values = [v for _, v in after]
    return {
        "first_minute": round(mean_first, 2),
        "last_minute": round(mean_last, 2),
        "growth": round(mean_last / mean_first - 1, 4),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "slope_per_minute": round(slope, 3),
        "flat": abs(mean_last / mean_first - 1) <= FLAT_WITHIN,
    }


async def soak(url: str, pid: int, minutes: float, interval: float) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    process = psutil.Process(pid)
    await asyncio.to_thread(wait_for_graph, url)
    counters = [[0], [0], [0]]
    clients = [asyncio.create_task(sse_client(port, slow=i == 2, read=counters[i]))
               for i in range(3)]
    series: list[dict[str, Any]] = []
    started = time.monotonic()
    cpu_before = process.cpu_times()
    try:
        while (elapsed := time.monotonic() - started) < minutes * 60:
            scraped = await asyncio.to_thread(scrape, url)
            sample = {
                "t_s": round(elapsed, 1),
                "rss_mb": round(process.memory_info().rss / 2**20, 2),
                "traced_mb": round(scraped.pop("gestalt_python_traced_bytes", 0) / 2**20, 2),
                "version": int(scraped.pop("gestalt_topology_version", 0)),
                "read_kb": [round(c[0] / 1024) for c in counters],
                **{k: int(v) for k, v in scraped.items()},
            }
            series.append(sample)
            print(f"{sample['t_s']:7.0f}s rss {sample['rss_mb']:6.1f} MB traced "
                  f"{sample['traced_mb']:6.1f} MB entities {sample.get('entities')} edges "
                  f"{sample.get('connections')} raw {sample.get('raw_edges')} "
                  f"resyncs {sample.get('sse_resyncs')}", flush=True)
            for task in clients:
                if task.done():
                    raise RuntimeError(f"an SSE client ended: {task.exception()!r}")
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started - elapsed)))
    finally:
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    cpu_after = process.cpu_times()
    warm_up = min(600.0, minutes * 60 / 3)
    structures = sorted(k for k in series[-1] if k not in (
        "t_s", "rss_mb", "traced_mb", "version", "read_kb"))
    return {
        "minutes": minutes,
        "entities": ENTITIES, "edges": EDGES, "churn_per_second": CHURN,
        "clients": {"full": 2, "slow": 1},
        "warm_up_s": warm_up,
        "rss_mb": flatness(series, "rss_mb", warm_up),
        "traced_mb": flatness(series, "traced_mb", warm_up),
        "structures": {k: {"after_warm_up": next(s.get(k) for s in series
                                                 if s["t_s"] >= warm_up),
                           "end": series[-1].get(k)} for k in structures},
        "server_cpu_percent": round(
            100 * ((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system))
            / (time.monotonic() - started), 1),
        "load_average": os.getloadavg(),
        "target_growth": FLAT_WITHIN,
        "series": series,
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")


def main() -> None:
    args = command_line(__doc__, options)
    os.environ["PYTHONTRACEMALLOC"] = "1"  # inherited by the server
    collectors = (f"synthetic: {{enabled: true, entities: {ENTITIES}, edges: {EDGES}, "
                  f"churn_per_second: {CHURN}}}")
    with gestalt_serve(collectors) as (url, pid):
        result = asyncio.run(soak(url, pid, args.minutes, args.interval))
    write_result("soak", result)


if __name__ == "__main__":
    main()
