"""A moment's change (`?at=&since=`) applied to the topology held, as the browser applies it
(web/src/state/graph.ts applyChange)."""

from __future__ import annotations

from typing import Any


def merged(topology: dict[str, Any], change: dict[str, Any]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entities and connections by id after `change`."""
    entities = {e["id"]: e for e in topology["entities"]}
    edges = {c["id"]: c for c in topology["connections"]}
    for eid in change["removals"]:
        del entities[eid]
    entities.update((e["id"], e) for e in change["upserts"])
    for cid in change["edge_removals"]:
        del edges[cid]
    edges.update((c["id"], c) for c in change["edge_upserts"])
    return entities, edges
