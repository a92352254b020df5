"""The topology: all of it, filtered, and what changed since a version."""

from __future__ import annotations

from typing import Any

import msgspec

from gestalt.engine.paths.base import (
    ENTITY_COLUMNS,
    Params,
    PathError,
    Result,
    entity_row,
    filter_of,
    path,
    to_builtins,
)
from gestalt.engine.runtime import Engine


@path("world.infra.topology", "Get current infrastructure topology", columns=ENTITY_COLUMNS)
async def _topology(engine: Engine, params: Params) -> Result:
    return to_builtins(engine.topology())


@path("world.infra.topology.filter", "Filter topology by kind/namespace/label",
      columns=ENTITY_COLUMNS, params=("kinds", "namespaces", "labels", "sources"))
async def _topology_filter(engine: Engine, params: Params) -> Result:
    entities, _ = filter_of(engine, params).apply(engine.store.entities.values(), ())
    return [entity_row(e) for e in sorted(entities, key=lambda e: (e.kind.value, e.name))]


@path("world.infra.topology.diff", "Get topology changes since a version",
      params=("since",))
async def _topology_diff(engine: Engine, params: Params) -> Result:
    try:
        since = int(params.get("since", "0"))
    except ValueError as exc:
        raise PathError(400, "since must be a topology version (an integer)") from exc
    return topology_diff(engine, since)


def topology_diff(engine: Engine, since: int) -> dict[str, Any]:
    deltas = engine.store.deltas_since(since)
    if deltas is None:
        return {"from": since, "to": engine.store.version, "reset": True,
                "topology": to_builtins(engine.topology())}
    upserts: dict[str, Any] = {}
    removals: dict[str, None] = {}
    edge_upserts: dict[str, Any] = {}
    edge_removals: dict[str, None] = {}
    for delta in deltas:
        for e in delta.upserts:
            upserts[e.id] = e
            removals.pop(e.id, None)
        for eid in delta.removals:
            upserts.pop(eid, None)
            removals[eid] = None
        for c in delta.edge_upserts:
            edge_upserts[c.id] = c
            edge_removals.pop(c.id, None)
        for cid in delta.edge_removals:
            edge_upserts.pop(cid, None)
            edge_removals[cid] = None
    return {
        "from": since,
        "to": engine.store.version,
        "reset": False,
        "upserts": msgspec.to_builtins(list(upserts.values())),
        "removals": list(removals),
        "edge_upserts": msgspec.to_builtins(list(edge_upserts.values())),
        "edge_removals": list(edge_removals),
    }
