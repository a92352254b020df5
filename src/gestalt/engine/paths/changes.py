"""`world.infra.changes.*`: what changed around an alert (or an entity, or a moment).

The first question on call is "what changed?". This answer gathers, for the alert's
entity and its blast radius, within a window around the moment it started: the events
(from history, so they survive restarts), the topology changes that touched those
entities (from the store's delta ring: what the browser saw), and the anomalies the
engine flagged on their series.
"""

from __future__ import annotations

import time
from typing import Any

from gestalt.engine.paths.base import (
    Params,
    PathError,
    Result,
    event_row,
    moment_of,
    path,
    to_builtins,
)
from gestalt.engine.runtime import Engine
from gestalt.model import Delta

MAX_WINDOW_MINUTES = 24 * 60
# At most this many of each kind of change: the answer is for reading, not a dump.
MAX_ITEMS = 200


@path("world.infra.changes.around",
      "What changed around an alert (alert=<id>), an entity (entity=<id>) or a moment "
      "(moment=<RFC 3339 or epoch seconds>): events, topology changes and anomalies of the "
      "entity and its blast radius, within `minutes` (default 15) before and after",
      params=("alert", "entity", "moment", "minutes"))
async def _changes_around(engine: Engine, params: Params) -> Result:
    minutes = _number(params, "minutes", 15.0)
    if not 0 < minutes <= MAX_WINDOW_MINUTES:
        raise PathError(400, f"minutes must be between 0 and {MAX_WINDOW_MINUTES}")
    subject, moment, alert = _subject(engine, params)
    start, end = moment - minutes * 60, moment + minutes * 60
    entities = [subject] if subject else []
    if alert is not None:
        entities += [e for e in alert.get("blast_radius", []) if e not in entities]
    wanted = set(entities)

    events = await engine.history.events(limit=1000, since=start)
    rows = [{**event_row(e), "entity_id": e.entity_id} for e in events
            if e.timestamp <= end and (not wanted or e.entity_id in wanted)][:MAX_ITEMS]
    changes, ring_covers = _topology_changes(engine, start, end, wanted)
    anomalies = [a for a in _anomalies(engine, start, end)
                 if not wanted or a.get("entity_id") in wanted][:MAX_ITEMS]
    notes = []
    if not ring_covers:
        notes.append("topology changes before the oldest delta still in memory are not "
                     "listed (server.delta_ring_size)")
    return {"subject": subject, "alert": alert, "window": {"from": start, "to": end},
            "entities": entities, "events": rows, "topology_changes": changes,
            "anomalies": anomalies, "notes": notes}


def _number(params: Params, name: str, default: float) -> float:
    try:
        return float(params.get(name, default))
    except ValueError as exc:
        raise PathError(400, f"{name} must be a number") from exc


def _subject(engine: Engine, params: Params) -> tuple[str | None, float, dict[str, Any] | None]:
    """(entity id, the moment, the alert as a document) that the question is about."""
    if "alert" in params:
        found = next((a for a in engine.alerts() if a.id == params["alert"]), None)
        if found is None:
            raise PathError(404, f"no alert {params['alert']!r} (world.infra.health.alerts "
                                 "state=all lists them)")
        return found.entity_id, moment_of(params, "moment", found.started_at), \
            to_builtins(found)
    entity = params.get("entity")
    if entity is None and "moment" not in params:
        raise PathError(400, "pass alert=<id>, entity=<id> or moment=<time>")
    return entity, moment_of(params, "moment", time.time()), None


def _topology_changes(engine: Engine, start: float, end: float, wanted: set[str]
                      ) -> tuple[list[dict[str, Any]], bool]:
    """Changes to the wanted entities (all, when none is named) within [start, end], and
    whether the in-memory ring reaches back to `start`."""
    deltas: list[Delta] = engine.store.recent()
    covers = not deltas or deltas[0].timestamp <= start or deltas[0].version <= 1
    rows: list[dict[str, Any]] = []
    for delta in deltas:
        if not start <= delta.timestamp <= end:
            continue
        for entity in delta.upserts:
            if not wanted or entity.id in wanted:
                rows.append({"time": delta.timestamp, "what": "changed", "object": entity.id,
                             "detail": f"{entity.status.value}, health "
                                       f"{entity.health_status.value}", "version": delta.version})
        for eid in delta.removals:
            if not wanted or eid in wanted:
                rows.append({"time": delta.timestamp, "what": "removed", "object": eid,
                             "detail": "", "version": delta.version})
        for conn in delta.edge_upserts:
            if not wanted or conn.source_id in wanted or conn.target_id in wanted:
                rows.append({"time": delta.timestamp, "what": "connection",
                             "object": conn.id, "detail": conn.kind.value,
                             "version": delta.version})
    return rows[-MAX_ITEMS:], covers


def _anomalies(engine: Engine, start: float, end: float) -> list[dict[str, Any]]:
    """Anomalies that overlapped the window, when the engine detects them."""
    detector = getattr(engine, "anomalies", None)
    if detector is None:
        return []
    found: list[dict[str, Any]] = detector.overlapping(start, end)
    return found
