"""Encoding the whole topology (what a new SSE client or GET /api/infra/topology gets) at
10,000 entities and 20,000 edges. Target: < 10 ms. Measured with the encode cache off."""

from __future__ import annotations

import asyncio
import tempfile
import time

from benchlib import summary_ms, write_result

from gestalt.engine.runtime import Engine
from gestalt.engine.scoring import summarize
from gestalt.model import SourceState
from gestalt.model.config import Config, ServerConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld

RUNS = 60


async def measure() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Config(server=ServerConfig(data_dir=tmp)), sources=[])
        await engine.start()
        try:
            world = SyntheticWorld(SyntheticCollector(entities=10_000, edges=20_000))
            sink = engine.hub.sink("synthetic")
            sink.snapshot(world.entities.values(), world.connections.values())
            sink.status(SourceState.OK)
            full, summary_only, afresh = [], [], []
            size = 0
            for _ in range(RUNS):
                engine.store.generation += 1  # defeat the cache: measure a real encode
                started = time.perf_counter()
                body = engine.topology_json()
                full.append(time.perf_counter() - started)
                size = len(body)
                started = time.perf_counter()
                engine.summary()  # what a snapshot includes: kept current by the store
                summary_only.append(time.perf_counter() - started)
                started = time.perf_counter()
                summarize(engine.store.entities.values())
                afresh.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(RUNS):
                engine.topology_json()
            cached = (time.perf_counter() - started) / RUNS
            return {
                "entities": len(engine.store.entities),
                "edges": len(engine.store.connections),
                "bytes": size,
                "encode_with_summary": summary_ms(full),
                "summary_only": summary_ms(summary_only),
                "summary_afresh": summary_ms(afresh),
                "cached_ms": round(cached * 1000, 4),
                "target_ms": 10,
            }
        finally:
            await engine.stop()


def main() -> None:
    write_result("snapshot_encode", asyncio.run(measure()))


if __name__ == "__main__":
    main()
