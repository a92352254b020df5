"""Encoding the whole topology (what a new SSE client or GET /api/infra/topology gets) at
10,000 entities and 20,000 edges. Target: < 10 ms.

The store keeps its JSON in blocks of 250 items (engine/blocks.py): a stream's
snapshot is those blocks as they are (`stream_parts`), a REST answer joins them
(`encode_with_summary`, the figure the target is for); `after_one_change` is the same
after a pod was replaced (its blocks encoded again), `all_blocks_afresh` with every block
stale (the first reader after a source's first snapshot)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from benchlib import command_line, summary_ms, write_result

from gestalt.engine.runtime import Engine
from gestalt.engine.scoring import summarize
from gestalt.model import EntityKind, SourceState
from gestalt.model.config import Config, ServerConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld

RUNS = 60


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


async def measure() -> dict[str, object]:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Config(server=ServerConfig(data_dir=tmp)), sources=[])
        await engine.start()
        try:
            world = SyntheticWorld(SyntheticCollector(entities=10_000, edges=20_000))
            sink = engine.hub.sink("synthetic")
            sink.snapshot(world.entities.values(), world.connections.values())
            sink.status(SourceState.OK)
            # History records that first snapshot (a keyframe of every body) in its writer
            # thread: measured while it runs, every figure is mostly waiting for the GIL.
            await engine.history.flushed()
            store = engine.store
            pods = [e for e in world.entities.values() if e.kind is EntityKind.POD]
            full, parts, changed, cold, summary_only, afresh = [], [], [], [], [], []
            for run in range(RUNS):
                # What a snapshot includes: kept current by the store.
                summary_only.append(_timed(engine.summary))
                afresh.append(_timed(lambda: summarize(store.entities.values())))
                full.append(_timed(engine.topology_json))
                parts.append(_timed(engine.topology_parts))
                # One pod replaced (one gone, another come), as churn does.
                store.apply(removals=[pods[run].id], upserts=[pods[-1 - run]])
                await engine.history.flushed()
                changed.append(_timed(engine.topology_json))
                for blocks in (store.entity_json, store.connection_json):
                    blocks._json = [None] * len(blocks._json)  # every block stale
                cold.append(_timed(engine.topology_json))
            return {
                "entities": len(store.entities),
                "edges": len(store.connections),
                "bytes": len(engine.topology_json()),
                "parts": len(engine.topology_parts()),
                "encode_with_summary": summary_ms(full),
                "stream_parts": summary_ms(parts),
                "after_one_change": summary_ms(changed),
                "all_blocks_afresh": summary_ms(cold),
                "summary_only": summary_ms(summary_only),
                "summary_afresh": summary_ms(afresh),
                "target_ms": 10,
                "load_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
            }
        finally:
            await engine.stop()


def main() -> None:
    command_line(__doc__)
    write_result("snapshot_encode", asyncio.run(measure()))


if __name__ == "__main__":
    main()
