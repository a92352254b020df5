"""The synthetic source as the hub sees it."""

from __future__ import annotations

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import Delta
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticSource, SyntheticWorld


def test_first_report_is_one_fresh_delta() -> None:
    """Reported while the source is still starting, the world would be shown stale and
    then merged, scored and encoded a second time when the source turned OK."""
    store = Store(ring_size=10)
    deltas: list[Delta] = []
    store.subscribe(deltas.append)
    hub = Hub(store)
    config = SyntheticCollector(entities=300, edges=600, seed=5)
    source = SyntheticSource(config)
    source.world = SyntheticWorld(config)
    source.report(hub.sink(source.name))
    assert len(deltas) == 1
    assert len(deltas[0].upserts) == len(source.world.entities)
    assert not any(e.stale for e in store.entities.values())
