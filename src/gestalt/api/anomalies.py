"""`/api/infra/anomalies`: what is unusual, each series' expected band (the sparklines draw
it), and saying that an anomaly is expected (a deploy, a batch job) for a while; and
`/api/infra/cost`, what the UI colours by cost and waste."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import msgspec
from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gestalt.api.timetravel import moment
from gestalt.engine.anomaly.expected import MAX_MINUTES, expected_event
from gestalt.engine.cost import Report, rates_at, unit_row
from gestalt.engine.moments import state_at
from gestalt.engine.runtime import Engine

_encoder = msgspec.json.Encoder()


class Expect(BaseModel):
    """Mute one series (or all of an entity's) for `minutes`; recorded in the feed."""

    entity_id: str = Field(max_length=1000)
    series: str | None = Field(default=None, max_length=500)
    minutes: float = Field(gt=0, le=MAX_MINUTES)
    reason: str = Field(default="", max_length=500)


def _json(value: object, status_code: int = 200) -> Response:
    return Response(_encoder.encode(value), status_code=status_code,
                    media_type="application/json")


def anomalies_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api/infra/anomalies", tags=["health"])
    detector = engine.anomalies

    @router.get("")
    async def get_anomalies() -> Response:
        """Unusual now, what users said to expect, and how many series learn."""
        return _json({"anomalies": [a.document() for a in detector.current()],
                      "expected": [{"entity_id": m.subject_id, "series": m.series,
                                    "until": m.until, "reason": m.reason, "at": m.at}
                                   for m in detector.mutes],
                      "series": detector.counts()})

    @router.get("/series/{entity_id:path}")
    async def get_series(entity_id: Annotated[str, PathParam(max_length=1000)]) -> Response:
        """An entity's series: state (learning, normal, unusual), last value, expected band."""
        if entity_id not in engine.store.entities and entity_id not in engine.store.connections:
            raise HTTPException(404, f"no entity {entity_id!r}")
        return _json({"entity_id": entity_id, "series": detector.series_of(entity_id)})

    @router.post("/expected", status_code=201)
    async def expect(body: Expect) -> Response:
        """Say an anomaly is expected: it stays listed, marked, but no longer makes the
        entity unusual or an alert fire, until the time is up. Recorded as an event."""
        entity = engine.store.entities.get(body.entity_id)
        if entity is None:
            raise HTTPException(404, f"no entity {body.entity_id!r}")
        now = time.time()
        reason = body.reason.strip() or "expected"
        mute = detector.mute(entity.id, body.series, now + body.minutes * 60, reason)
        # The event is the record a restart reads the mute back from (anomaly/expected.py).
        engine.changes.event(expected_event(entity, body.series, body.minutes, reason, now))
        return _json({"entity_id": mute.subject_id, "series": mute.series,
                      "until": mute.until, "reason": mute.reason}, status_code=201)

    return router


def _cost_now(report: Report, top: int) -> bytes:
    return msgspec.json.encode({
        "currency": report.currency, "totals": report.totals,
        "entities": {u.id: {"cost": u.cost_per_hour, "waste": u.waste_per_hour}
                     for u in report.units},
        "nodes": {n.id: {"cost": n.cost_per_hour, "idle": n.idle_per_hour}
                  for n in report.nodes},
        "top": [unit_row(u) for u in report.dearest(top)]})


def cost_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api/infra", tags=["health"])

    @router.get("/cost")
    async def get_cost(top: Annotated[int, Query(ge=1, le=1000)] = 10,
                       at: str | None = None) -> Response:
        """Cost per hour now (engine/cost.py): totals, each pod's and container's cost and
        waste (the UI's "by cost" and "by waste" colours), nodes with their idle share, and
        the top spenders. With `at`: as recorded then (`recorded_at`, the record it comes
        from; null with no totals when nothing was recorded then)."""
        if at is not None:
            return await _cost_at(moment(at), top)
        report = await engine.cost.book.report()
        # 30,000 units at 110,000 entities: the answer is made beside the loop too.
        body = await asyncio.to_thread(_cost_now, report, top)
        return Response(body, media_type="application/json")

    async def _cost_at(when: float, top: int) -> Response:
        currency = engine.config.cost.currency
        rates = await rates_at(engine.history, when, engine.cost.spacing)
        if rates is None:
            return _json({"at": when, "recorded_at": None, "currency": currency,
                          "totals": None, "entities": {}, "nodes": {}, "top": []})
        dearest = sorted(rates.units.items(), key=lambda item: -item[1]["cost_per_hour"])[:top]
        entities = (await state_at(engine, when)).entities if dearest else {}
        rows = []
        for eid, values in dearest:
            entity = entities.get(eid)
            rows.append({"id": eid, "kind": entity.kind.value if entity else None,
                         "name": entity.name if entity else eid,
                         "namespace": entity.namespace if entity else None, **values})
        return _json({
            "at": when, "recorded_at": rates.recorded_at, "currency": currency,
            "totals": rates.totals,
            "entities": {eid: {"cost": v["cost_per_hour"], "waste": v["waste_per_hour"]}
                         for eid, v in rates.units.items()},
            "nodes": {nid: {"cost": v["cost_per_hour"], "idle": v["idle_per_hour"]}
                      for nid, v in rates.nodes.items()},
            "top": rows})

    return router
