"""Experiments: an action with a preview before it and a report after it, built from what
history recorded (so the report is the same whether asked a minute or a week later).

- preview: the target as the map shows it and its blast radius (engine/alerts/blast.py,
  the same as an alert's), nothing done;
- run: the action, audited under a new experiment id, with the blast radius and the
  topology version at the start kept in the audit row; a later action under the same id
  (scale back, uncordon, unpause) belongs to it;
- report: from history's deltas after that version: time to detect (the first moment the
  target or anything in its blast radius turned warning or critical), time to recover (the
  first moment after that when all of them were back to ok), and per affected entity its
  worst state and when it went bad and came back; the feed entries of the window; the
  moment to open on the timeline.
"""

from __future__ import annotations

import uuid
from typing import Any

from gestalt.engine.actions.policy import Refused
from gestalt.engine.actions.service import ActionRequest, Actions, Caller
from gestalt.engine.alerts.blast import blast_radius
from gestalt.engine.history import History
from gestalt.engine.store import Store
from gestalt.model import Health

BAD = (Health.WARNING, Health.CRITICAL)


class Experiments:
    def __init__(self, actions: Actions, store: Store, history: History) -> None:
        self.actions, self.store, self.history = actions, store, history

    def preview(self, target: str) -> dict[str, Any]:
        entity = self.store.entities.get(target)
        if entity is None:
            raise Refused(404, f"no entity {target!r} on the map")
        radius = blast_radius(self.store, target)
        return {"target": _row(self.store, target),
                "blast_radius": [_row(self.store, eid) for eid in radius]}

    async def run(self, request: ActionRequest, caller: Caller) -> dict[str, Any]:
        preview = self.preview(request.target)
        request.experiment = request.experiment or uuid.uuid4().hex[:12]
        caller.extra = {**caller.extra, "version": self.store.version,
                        "blast_radius": [r["id"] for r in preview["blast_radius"]]}
        entry = await self.actions.perform(request, caller)
        return {"experiment": request.experiment, "preview": preview, "entry": entry}

    async def report(self, experiment: str) -> dict[str, Any]:
        entries = list(reversed(self.actions.audit.entries(experiment=experiment, limit=1000)))
        done = [e for e in entries if e["outcome"] == "done"]
        if not done:
            raise Refused(404, f"no experiment {experiment!r} with an action done")
        first = done[0]
        started = float(first["params"].get("started_at", first["at"]))
        watched = {first["target"], *first["params"].get("blast_radius", [])}
        since = int(first["params"].get("version", 0))
        health: dict[str, Health] = {}
        affected: dict[str, dict[str, Any]] = {}
        detected = recovered = None
        for delta in await self.history.deltas(since=since, limit=100_000):
            for entity in delta.upserts:
                if entity.id not in watched:
                    continue
                before = health.get(entity.id, Health.OK)
                health[entity.id] = entity.health_status
                if entity.health_status in BAD:
                    row = affected.setdefault(entity.id, {
                        "id": entity.id, "name": entity.name, "kind": entity.kind.value,
                        "worst": entity.health_status.value, "bad_at": delta.timestamp,
                        "ok_at": None, "reasons": list(entity.health_reasons)})
                    if entity.health_status.rank > Health(row["worst"]).rank:
                        row["worst"] = entity.health_status.value
                    if detected is None:
                        detected = delta.timestamp
                elif before in BAD and entity.id in affected:
                    affected[entity.id]["ok_at"] = delta.timestamp
            for eid in delta.removals:
                if eid in watched:
                    health.pop(eid, None)
                    affected.setdefault(eid, {"id": eid, "name": eid.rsplit("/", 1)[-1],
                                              "kind": eid.split(":", 1)[0], "worst": "removed",
                                              "bad_at": delta.timestamp, "ok_at": None,
                                              "reasons": []})
            if detected is not None and recovered is None and \
                    not any(h in BAD for h in health.values()):
                recovered = delta.timestamp
        events = await self.history.events(since=started, limit=500)
        return {
            "experiment": experiment, "action": first["action"], "target": first["target"],
            "started_at": started, "detected_at": detected, "recovered_at": recovered,
            "time_to_detect": None if detected is None else detected - started,
            "time_to_recover": None if recovered is None or detected is None
            else recovered - detected,
            "affected": list(affected.values()), "actions": entries,
            "events": [{"at": e.timestamp, "entity_id": e.entity_id, "reason": e.reason,
                        "message": e.message} for e in reversed(events)
                       if e.entity_id in watched or e.source == "actions"],
            "timeline_at": started}


def _row(store: Store, entity_id: str) -> dict[str, Any]:
    entity = store.entities.get(entity_id)
    if entity is None:
        return {"id": entity_id}
    return {"id": entity_id, "name": entity.name, "kind": entity.kind.value,
            "namespace": entity.namespace, "health": entity.health_status.value}
