"""Span -> edge-metric visible: from posting the client and server halves of a request
(OTLP/HTTP) to the first snapshot that counts it, for a new edge (shown at once) and for
a known edge (its figures refresh every flush interval), at the default flush interval
(1 s) and a fast one (0.1 s)."""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import msgspec
from benchlib import ROOT, command_line, summary_ms, write_result

sys.path.insert(0, str(ROOT))
from tests.fixtures.otlp.payloads import call_pairs  # noqa: E402
from tests.fixtures.otlp.receiver import CountingSink  # noqa: E402

from gestalt.model import ConnectionKind, ids  # noqa: E402
from gestalt.model.config import OtelCollector  # noqa: E402
from gestalt.sources.otlp import OtlpSource  # noqa: E402

TRIALS = 30


class EdgeSink(CountingSink):
    """Notes when each edge first appears with a request on it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple[str, int], float] = {}  # (edge, requests) -> first seen
        self.changed = asyncio.Event()

    def snapshot(self, entities, connections=(), *, observed_at=None):  # type: ignore[no-untyped-def]
        for c in connections:
            self.seen.setdefault((c.id, int(c.attrs.get("requests", 0))), time.perf_counter())
        self.changed.set()

    async def wait(self, key: tuple[str, int], deadline: float) -> float:
        while key not in self.seen:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())
        return self.seen[key]


async def trial_set(flush_interval: float) -> tuple[list[float], list[float]]:
    config = msgspec.structs.replace(OtelCollector(otlp_endpoint=None,
                                                   otlp_http_endpoint="127.0.0.1:0"),
                                     flush_interval=flush_interval)
    source = OtlpSource(config)
    sink = EdgeSink()
    task = asyncio.create_task(source.run(sink))
    await asyncio.wait_for(source.ready.wait(), 20)
    new_edge, known_edge = [], []
    headers = {"Content-Type": "application/x-protobuf"}
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{source.http_port}/v1/traces"
        for i in range(TRIALS):
            caller = {"service.name": f"a{i}", "service.namespace": "bench"}
            callee = {"service.name": f"b{i}", "service.namespace": "bench"}
            edge = ids.connection(ConnectionKind.HTTP.value, ids.service("bench", f"a{i}"),
                                  ids.service("bench", f"b{i}"))
            for requests, latencies in ((1, new_edge), (2, known_edge)):
                bodies = [m.SerializeToString() for m in call_pairs(1, caller, callee)]
                started = time.perf_counter()
                for body in bodies:
                    (await client.post(url, content=body, headers=headers)).raise_for_status()
                latencies.append(await sink.wait((edge, requests), started + 10) - started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return new_edge, known_edge


def main() -> None:
    command_line(__doc__)
    result = {}
    for interval in (1.0, 0.1):
        new_edge, known_edge = asyncio.run(trial_set(interval))
        result[f"flush_{interval}s"] = {"new_edge": summary_ms(new_edge),
                                        "known_edge": summary_ms(known_edge)}
    result["note"] = ("posting both halves -> first snapshot with the edge; the SDK's own "
                      "batching delay (default 5 s, BatchSpanProcessor) comes on top")
    write_result("otlp_latency", result)


if __name__ == "__main__":
    main()
