"""Message sampling overhead at 50,000 msgs/s: CPU the sampling subscription costs
Gestalt's process, and how many of the messages it counted (a publisher in a child process
sends 100-byte messages in 10 ms batches)."""

from __future__ import annotations

import asyncio
import time

from benchlib import command_line
from nats_support import child, nats_server, write

from gestalt.model.config import NatsCollector
from gestalt.sources.nats.sampler import Sampler

RATE, SECONDS = 50_000, 10.0


async def measure(url: str) -> dict:
    ready = asyncio.Event()
    sampler = Sampler(NatsCollector(url=url, subjects=["load.>"]), client_name="bench-sampler",
                      on_connection=lambda up, why: ready.set())
    task = asyncio.create_task(sampler.run())
    await asyncio.wait_for(ready.wait(), 30)
    viewer = sampler.listen(["load.>"])  # a message-view viewer, as the API would have
    idle_c0, idle_t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(2.0)
    idle_cpu = (time.process_time() - idle_c0) / (time.perf_counter() - idle_t0)
    sampler.take()
    publisher = child("blast", url, "load.stream", str(RATE), str(SECONDS))
    c0, t0 = time.process_time(), time.perf_counter()
    counted = 0
    while publisher.poll() is None:
        await asyncio.sleep(0.5)
        counts, _ = sampler.take()
        counted += sum(m for m, _ in counts.values())
    await asyncio.sleep(1.0)  # let the last messages in
    counts, _ = sampler.take()
    counted += sum(m for m, _ in counts.values())
    busy_cpu = (time.process_time() - c0) / (time.perf_counter() - t0)
    task.cancel()
    return {
        "published": int(RATE * SECONDS),
        "counted": counted,
        "counted_fraction": round(counted / (RATE * SECONDS), 4),
        "samples_to_viewer": viewer.queue.qsize() + viewer.dropped,
        "cpu_cores_idle": round(idle_cpu, 3),
        "cpu_cores_at_50k_msgs_per_s": round(busy_cpu, 3),
        "cpu_us_per_message": round((busy_cpu - idle_cpu) / RATE * 1e6, 2),
    }


def main() -> None:
    command_line(__doc__)
    with nats_server() as (url, _):
        result = asyncio.run(measure(url))
    write("nats_sampling", {"rate_msgs_per_s": RATE, "seconds": SECONDS, **result})


if __name__ == "__main__":
    main()
