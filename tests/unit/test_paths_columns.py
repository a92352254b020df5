"""Every `world.infra.*` path's columns name fields that real entities carry.

Fed with what the sources really emit (tests/fixtures/captured, recorded by
scripts/capture-fixtures.py): a column no source fills shows "-" on every row, as
`world.infra.nats.subjects` did with `msg_rate` and `pending` while the entities said
`msgs_per_sec` and `queue_depth`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.paths import REGISTRY, resolve
from gestalt.engine.runtime import Engine
from gestalt.model import Connection, Entity, SourceState
from gestalt.model.config import Config, ServerConfig

CAPTURED = Path(__file__).parent.parent / "fixtures" / "captured"
# Rows that do not come from entities: history, alerts, sampled messages, a scan.
NOT_ENTITY_ROWS = {"world.infra.k8s.events", "world.infra.health.alerts",
                   "world.infra.health.history", "world.infra.nats.messages",
                   "world.infra.anomaly.current", "world.infra.anomaly.series",
                   # Cost rows are of running workloads priced, not entity fields.
                   "world.infra.cost.top", "world.infra.cost.namespaces",
                   "world.infra.cost.workloads", "world.infra.cost.sites",
                   "world.infra.cost.nodes",
                   "world.code.scan",  # a scan on demand: asks the source, not the map
                   # Git compared with a live cluster: checked against kubesim with a real
                   # repository in tests/integration/test_gitops_drift.py (columns_filled).
                   "world.infra.gitops.drift", "world.infra.gitops.objects",
                   "world.infra.gitops.repositories", "world.infra.gitops.errors"}
PATHS = sorted(name for name, spec in REGISTRY.items()
               if spec.columns and name not in NOT_ENTITY_ROWS)


class _Named:
    """Stands for an enabled source: the paths only ask whether it is there."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, sink: Any) -> None:  # never started
        raise AssertionError("not run")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    data = tmp_path_factory.mktemp("data")
    files = sorted(CAPTURED.glob("*.json"))
    assert files, "no captured output: run scripts/capture-fixtures.py"
    captures = [json.loads(f.read_text()) for f in files]
    engine = Engine(Config(server=ServerConfig(data_dir=str(data))),
                    sources=[_Named(c["source"]) for c in captures])  # type: ignore[list-item]
    for capture in captures:
        sink = engine.hub.sink(capture["source"])
        sink.snapshot(msgspec.convert(capture["entities"], list[Entity]),
                      msgspec.convert(capture["connections"], list[Connection]))
        sink.status(SourceState.OK)
    return engine


@pytest.mark.parametrize("name", PATHS)
async def test_every_column_is_filled_by_real_entities(engine: Engine, name: str) -> None:
    spec, result = await resolve(engine, name, {})
    rows = result if isinstance(result, list) else result.get("entities", [])
    assert rows, f"{name}: no rows from the captured entities"
    empty = [c for c in spec.columns if all(row.get(c) is None for row in rows)]
    assert not empty, f"{name}: columns {empty} are empty in every row; rows have {sorted(rows[0])}"


async def test_counts_are_whole_numbers(engine: Engine) -> None:
    _, rows = await resolve(engine, "world.infra.nats.subjects", {})
    assert isinstance(rows, list)
    assert all(type(row["subscribers"]) is int for row in rows), rows
