"""Poll cost per cycle with 1,000 client connections and 5,000 subscriptions:
fetching /varz, /connz?subs=detail (paged), /subsz, /jsz, /routez, and building the map."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from benchlib import command_line
from nats_support import child, nats_server, varz, wait, write

from gestalt.sources.nats import monitor
from gestalt.sources.nats.topology import TopologyBuilder

CONNECTIONS, SUBS_PER_CONNECTION, CYCLES = 1000, 5, 20


async def measure(monitor_url: str) -> dict:
    builder = TopologyBuilder()
    fetch_s, build_s, cpu_s = [], [], []
    async with httpx.AsyncClient(base_url=monitor_url, timeout=30) as http:
        for _ in range(CYCLES):
            t0, c0 = time.perf_counter(), time.process_time()
            poll = await monitor.poll(http)
            t1 = time.perf_counter()
            obs = builder.build(poll)
            t2, c2 = time.perf_counter(), time.process_time()
            fetch_s.append(t1 - t0)
            build_s.append(t2 - t1)
            cpu_s.append(c2 - c0)
    p95 = lambda xs: sorted(xs)[int(0.95 * (len(xs) - 1))]  # noqa: E731
    return {
        "connections_seen": len(poll.connz.connections),
        "subscriptions_seen": sum(len(c.subscriptions_list_detail) for c in poll.connz.connections),
        "entities": len(obs.entities),
        "edges": len(obs.connections),
        "fetch_ms_median": round(statistics.median(fetch_s) * 1000, 1),
        "fetch_ms_p95": round(p95(fetch_s) * 1000, 1),
        "build_ms_median": round(statistics.median(build_s) * 1000, 1),
        "build_ms_p95": round(p95(build_s) * 1000, 1),
        "gestalt_cpu_ms_per_cycle_median": round(statistics.median(cpu_s) * 1000, 1),
    }


def main() -> None:
    command_line(__doc__)
    with nats_server() as (url, monitor_url):
        load = child("hold", url, str(CONNECTIONS), str(SUBS_PER_CONNECTION))
        try:
            wait(lambda: varz(monitor_url)["connections"] >= CONNECTIONS, timeout=300)
            wait(lambda: varz(monitor_url, "/subsz")["num_subscriptions"]
                 >= CONNECTIONS * SUBS_PER_CONNECTION, timeout=120)
            result = asyncio.run(measure(monitor_url))
        finally:
            load.terminate()
            load.wait(10)
    write("nats_poll", {"connections": CONNECTIONS,
                        "subscriptions": CONNECTIONS * SUBS_PER_CONNECTION,
                        "cycles": CYCLES, **result})


if __name__ == "__main__":
    main()
