"""Delta fan-out to many SSE clients of one `gestalt serve`: latency from the source's
observation (`observed_at`) to a client reading the frame, p50/p99, for 100 and 1,000
clients, with the server's RSS and CPU. Clients are raw asyncio sockets in this process;
a sample of them parses frames, the rest only drain (as a browser would, cheaply)."""

from __future__ import annotations

import asyncio
import re
import resource
import time

import psutil
from benchlib import command_line, gestalt_serve, summary_ms, write_result

CHURN_PER_SECOND = 20
SECONDS = 10
SAMPLED = 25
OBSERVED = re.compile(rb'"observed_at":([0-9.]+)')


async def client(port: int, sample: bool, latencies: list[float], stop: asyncio.Event,
                 connected: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    writer.write(b"GET /api/infra/topology/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Accept: text/event-stream\r\n\r\n")
    await writer.drain()
    buffer = b""
    got_snapshot = False
    try:
        while not stop.is_set():
            chunk = await reader.read(1 << 16)
            if not chunk:
                return
            if not got_snapshot:
                # The snapshot ends at the first blank line after its data line.
                buffer += chunk
                if b"event: snapshot" in buffer and b"\n\n" in buffer.split(
                        b"event: snapshot", 1)[1]:
                    got_snapshot = True
                    connected.append(1)
                    buffer = b""
                continue
            if not sample:
                continue
            now = time.time()
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if b"event: delta" in frame:
                    match = OBSERVED.search(frame)
                    if match:
                        latencies.append(now - float(match.group(1)))
    finally:
        writer.close()


async def run(clients: int) -> dict[str, object]:
    collectors = (f"synthetic: {{enabled: true, entities: 1000, edges: 2000, "
                  f"churn_per_second: {CHURN_PER_SECOND}}}")
    with gestalt_serve(collectors) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        server = psutil.Process(pid)
        latencies: list[float] = []
        stop = asyncio.Event()
        connected: list[int] = []
        tasks = [asyncio.create_task(client(port, i < SAMPLED, latencies, stop, connected))
                 for i in range(clients)]
        deadline = time.monotonic() + 180  # a busy 2-core machine takes a while
        while len(connected) < clients:  # noqa: ASYNC110 (a benchmark's own bounded wait)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(connected)} of {clients} clients connected")
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # let every snapshot go out before measuring
        latencies.clear()
        server.cpu_percent()
        await asyncio.sleep(SECONDS)
        cpu = server.cpu_percent()
        rss = server.memory_info().rss
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"clients": clients, "connected": len(connected),
                "delta_latency": summary_ms(latencies),
                "server_rss_mb": round(rss / 2**20, 1), "server_cpu_percent": cpu}


def main() -> None:
    command_line(__doc__)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = [asyncio.run(run(n)) for n in (100, 1000)]
    write_result("sse_fanout", {"churn_per_second": CHURN_PER_SECOND, "entities": 1000,
                                "runs": results})


if __name__ == "__main__":
    main()
