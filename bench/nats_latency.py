"""Publish -> flow-rate visible: from a new publisher's first message to the first snapshot
holding a publisher -> subject edge with a rate, at the default poll interval and a fast one."""

from __future__ import annotations

import asyncio
import statistics
import time

import nats
from benchlib import command_line
from nats_support import nats_server, varz, write

from gestalt.model import ids
from gestalt.model.config import NatsCollector
from gestalt.sources.nats import NatsSource

TRIALS = 5


class FirstRateSink:
    """Records when each subject first gets a publisher edge with a rate."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def snapshot(self, entities, connections=(), *, observed_at=None):  # type: ignore[no-untyped-def]
        for c in connections:
            if c.source_id.startswith("endpoint:") and (c.requests_per_sec or 0) > 0:
                self.seen.setdefault(c.target_id, time.monotonic())

    def upsert(self, *a, **k): ...  # type: ignore[no-untyped-def]
    def remove(self, *a, **k): ...  # type: ignore[no-untyped-def]
    def event(self, event): ...  # type: ignore[no-untyped-def]
    def metrics(self, *a, **k): ...  # type: ignore[no-untyped-def]
    def status(self, *a, **k): ...  # type: ignore[no-untyped-def]


async def trials(url: str, monitor_url: str, interval: float) -> list[float]:
    sink = FirstRateSink()
    config = NatsCollector(url=url, monitor_url=monitor_url, poll_interval=interval,
                           subjects=["lat.>"])
    source = NatsSource(config)
    task = asyncio.create_task(source.run(sink))
    for _ in range(200):  # the sampler subscribes within a poll or two
        if source.sampler.connected:
            break
        await asyncio.sleep(0.05)
    server = await asyncio.to_thread(varz, monitor_url)
    name = server.get("server_name") or server["server_id"]
    latencies = []
    for trial in range(TRIALS):
        subject = f"lat.{interval}.{trial}"
        nc = await nats.connect(url)
        started = time.monotonic()
        target = ids.nats_subject(name, subject)
        while target not in sink.seen:
            await nc.publish(subject, b"x" * 100)  # 100 msgs/s
            await asyncio.sleep(0.01)
        latencies.append(sink.seen[target] - started)
        await nc.close()
    task.cancel()
    return latencies


def main() -> None:
    command_line(__doc__)
    result = {}
    with nats_server() as (url, monitor_url):
        for interval in (2.0, 0.5):
            lat = asyncio.run(trials(url, monitor_url, interval))
            result[f"poll_{interval}s"] = {
                "median_s": round(statistics.median(lat), 2),
                "max_s": round(max(lat), 2),
                "trials": [round(x, 2) for x in lat],
            }
    write("nats_latency", {"rate_msgs_per_s": 100, **result})


if __name__ == "__main__":
    main()
