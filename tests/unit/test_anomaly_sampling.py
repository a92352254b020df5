"""The anomaly sampler shares the event loop with the streams: a pass over a large graph
must let other tasks run between its steps, never hold the loop for the whole pass (a
federated site's changes waited for it, bench/federation.py's p99)."""

from __future__ import annotations

import asyncio

from gestalt.engine import memory
from gestalt.engine.anomaly import Detector, sampling
from gestalt.engine.store import Store
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld
from tests.support.wait import eventually


async def test_a_pass_over_a_large_graph_lets_other_tasks_run_between_its_steps() -> None:
    world = SyntheticWorld(SyntheticCollector(enabled=True, entities=3000, edges=3000, seed=4))
    store = Store()
    store.apply(upserts=world.entities.values(), edge_upserts=world.connections.values())
    detector = Detector()
    subjects = len(store.entities) + len(store.connections)
    seen: list[int] = []  # how many subjects the detector knew, each time another task ran

    async def other_task() -> None:
        while True:
            seen.append(len(detector.by_subject))
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    runner = asyncio.create_task(sampling.run(detector, store, 0.0))
    try:
        await eventually(lambda: detector.last_pass is not None, what="the first pass")
    finally:
        runner.cancel()
        other.cancel()
        await asyncio.gather(runner, other, return_exceptions=True)
    assert 0 < len(detector.by_subject) <= subjects
    # The other task ran in the middle of the first pass, more than once.
    partial = {n for n in seen if 0 < n < len(detector.by_subject)}
    assert len(partial) >= 2, sorted(set(seen))


async def test_each_pass_gives_the_memory_it_freed_back_to_the_system() -> None:
    """A pass makes and drops a float or two per series: glibc kept ~6 MB of them at
    10,000 entities until something trimmed (bench/server_rss.py's steady state)."""
    glibc = memory.release()  # False where there is no malloc_trim: nothing to give back
    world = SyntheticWorld(SyntheticCollector(enabled=True, entities=200, edges=200, seed=4))
    store = Store()
    store.apply(upserts=world.entities.values(), edge_upserts=world.connections.values())
    detector = Detector()
    before = memory.trims
    runner = asyncio.create_task(sampling.run(detector, store, 0.0))
    try:
        await eventually(lambda: detector.last_pass is not None
                         and (memory.trims > before or not glibc),
                         what="a pass and a release after it")
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert detector.last_pass is not None
    assert (memory.trims > before) is glibc
