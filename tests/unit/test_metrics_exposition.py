"""`/metrics` (api/metrics.py) is read on the hub's event loop at every scrape: it reads
what the engine keeps current, and never walks the map (110,000 entities on a federated
hub at the issue's scale)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from gestalt.api.metrics import engine_registry
from gestalt.api.sse import Broadcaster
from gestalt.engine.runtime import Engine
from gestalt.model import Entity, EntityKind, EntityStatus, SourceState
from gestalt.model.config import Config, ServerConfig


class Unwalkable(dict[str, Any]):
    """The store's entities, readable by key and by size but not as a whole."""

    def _walked(self, *_: object) -> Iterator[Any]:
        raise AssertionError("/metrics walked every entity")

    __iter__ = values = items = keys = _walked  # type: ignore[assignment]


def test_counts_by_kind_are_read_without_walking_the_map(tmp_path: Path) -> None:
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
    sink = engine.hub.sink("manual")
    sink.status(SourceState.OK)
    pods = [Entity(id=f"pod:c/ns/p{i}", kind=EntityKind.POD, name=f"p{i}", namespace="ns",
                   status=EntityStatus.RUNNING) for i in range(3)]
    node = Entity(id="node:c/n1", kind=EntityKind.NODE, name="n1", status=EntityStatus.RUNNING)
    sink.snapshot([*pods, node])
    sink.remove([pods[0].id])
    engine.store.entities = Unwalkable(engine.store.entities)

    exposition = generate_latest(engine_registry(engine, Broadcaster())).decode()

    assert 'gestalt_entities{kind="pod"} 2.0' in exposition
    assert 'gestalt_entities{kind="node"} 1.0' in exposition
