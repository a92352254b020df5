"""Memory under churn: pods replaced all day long leave nothing behind in the engine.

The synthetic source replaces pods (new ids, new edges) while the alert evaluation runs in
steps and metrics frames go to history, as in a served engine. After a warm-up, every
structure the engine keeps must hold as many items as before (the graph's size is steady)
and nothing may remember an entity that is gone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gestalt.engine.counters import COUNTERS
from gestalt.engine.runtime import Engine
from gestalt.model import Delta
from gestalt.model.config import Config, ServerConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticSource, SyntheticWorld

# Sizes of items that follow the graph's size, which the synthetic world keeps steady.
STEADY = ("entities", "connections", "edge_index", "contributions", "owners", "raw_edges",
          "edge_refs", "resolved_edges", "names")


async def churn(engine: Engine, source: SyntheticSource, changes: int) -> None:
    sink = engine.hub.sink(source.name)
    for i in range(changes):
        source.step(sink)
        if i % 25 == 0:
            frame = engine.store.flush_metrics()
            if frame is not None:
                engine.changes.metrics(frame)
            await asyncio.sleep(0)  # the alert evaluation's steps run between changes


async def evaluate_forever(engine: Engine) -> None:
    while True:
        await engine.alert_manager.evaluate_in_steps()
        await asyncio.sleep(0)


async def test_replaced_pods_leave_nothing_behind(tmp_path: Path) -> None:
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
    await engine.start()
    config = SyntheticCollector(entities=2500, edges=5000, churn_per_second=50, seed=7)
    source = SyntheticSource(config)
    source.world = SyntheticWorld(config)
    source.report(engine.hub.sink(source.name))
    removed: set[str] = set()

    def note_removals(delta: Delta) -> None:
        removed.update(delta.removals)

    engine.store.subscribe(note_removals)
    evaluation = asyncio.create_task(evaluate_forever(engine))
    try:
        await churn(engine, source, 300)
        warm = engine.footprint()
        await churn(engine, source, 3000)
        after = engine.footprint()
    finally:
        evaluation.cancel()
        await asyncio.gather(evaluation, return_exceptions=True)
        await engine.stop()

    gone = removed - engine.store.entities.keys()
    assert len(gone) > 500  # the churn did replace pods
    assert {k: after[k] for k in STEADY} == {k: warm[k] for k in STEADY}
    assert after["raw_edges"] == after["connections"]
    # No more series sampled than after the warm-up though hundreds of pods were replaced
    # (entities' own and those derived from them, such as their cost).
    assert after["sample_index"] <= warm["sample_index"] * 1.05
    assert not [eid for eid in gone if eid in COUNTERS]
    assert after["pending_metrics"] <= after["entities"]
