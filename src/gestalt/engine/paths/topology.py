"""The topology: all of it, filtered, and what changed since a version."""

from __future__ import annotations

from typing import Any

import msgspec

from gestalt.engine.moments import BadMoment, state_at
from gestalt.engine.past import OutsideRetention, diff, iso, parse_moment
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


@path("world.infra.topology.diff", "Get topology changes since a version, or between "
      "two times (from, to)", params=("since", "from", "to"))
async def _topology_diff(engine: Engine, params: Params) -> Result:
    if "from" in params or "to" in params:
        return await _diff_between(engine, params.get("from"), params.get("to"))
    try:
        since = int(params.get("since", "0"))
    except ValueError as exc:
        raise PathError(400, "since must be a topology version (an integer)") from exc
    return topology_diff(engine, since)


async def _diff_between(engine: Engine, start: str | None, end: str | None) -> Result:
    if start is None or end is None:
        raise PathError(400, "pass both from and to (RFC 3339 or epoch seconds)")
    try:
        t1, t2 = parse_moment(start, name="from"), parse_moment(end, name="to")
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc
    if t1 > t2:
        raise PathError(400, f"from ({iso(t1)}) is after to ({iso(t2)})")
    try:
        return diff(await state_at(engine, t1), await state_at(engine, t2))
    except OutsideRetention as exc:
        raise PathError(404, str(exc)) from exc
    except BadMoment as exc:
        raise PathError(400, str(exc)) from exc


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
