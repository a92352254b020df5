"""Time travel over HTTP: the replay stream, the timeline, snapshots and exports.

`?at=` on the live routes (app.py) goes through `moment` and engine/moments.py; errors are
one line: an unparsable time or `from` after `to` is a 400, a moment outside retention a
404 that names the oldest moment kept (`{"error", "oldest"}`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response, StreamingResponse

from gestalt.api.exports import FORMATS, export_view, file_name, site_name
from gestalt.api.snapshots import build_snapshot
from gestalt.api.sse import HEARTBEAT_FRAME, HEARTBEAT_SECONDS, Broadcaster, sse_frame
from gestalt.api.streams import RETRY, SSE_HEADERS, until_closed
from gestalt.engine.filters import TopologyFilter
from gestalt.engine.moments import FUTURE_SLACK, BadMoment, state_at, topology_at
from gestalt.engine.past import (
    change_times,
    iso,
    parse_moment,
    read_deltas,
    runs,
    sample_frames,
)
from gestalt.engine.runtime import Engine
from gestalt.model import MetricsFrame
from gestalt.model.changes import encode

MAX_SPEED = 10_000.0
REPLAY_PAGE = 500
MAX_TIMELINE_CHANGES = 20_000

_encoder = msgspec.json.Encoder()
Multi = Annotated[list[str] | None, Query(max_length=100)]


def moment(text: str, name: str = "at", *, past: bool = False) -> float:
    """The moment `text` names; `past`: one that has a past to answer (not in the future),
    refused naming the parameter, which matters when a request passes two."""
    try:
        when = parse_moment(text, name=name)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    if past and when > time.time() + FUTURE_SLACK:
        raise HTTPException(400, f"{name}: {iso(when)} is in the future "
                                 f"(now is {iso(time.time())})")
    return when


def window(start: str, end: str, *, names: tuple[str, str] = ("from", "to")) -> tuple[float, float]:
    t1, t2 = moment(start, names[0]), moment(end, names[1])
    if t1 > t2:
        raise HTTPException(400, f"{names[0]} ({iso(t1)}) is after {names[1]} ({iso(t2)})")
    return t1, t2


def _json(value: Any) -> Response:
    return Response(_encoder.encode(value), media_type="application/json")


def shown_now(engine: Engine) -> float:
    """The moment the live map shows: now, or the snapshot file's moment when this server
    shows one (`serve --open-snapshot`)."""
    return float(engine.snapshot["at"]) if engine.snapshot is not None else time.time()


def attachment(body: bytes, media: str, name: str) -> Response:
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def past_routes(engine: Engine, broadcaster: Broadcaster,
                topology_filter: Any) -> APIRouter:
    router = APIRouter()
    site = site_name(engine.config.agent.site)

    @router.get("/api/infra/timeline", tags=["history"])
    async def get_timeline(since: str | None = None, until: str | None = None,
                           buckets: Annotated[int, Query(ge=1, le=2000)] = 200) -> Response:
        """What the time slider draws: the retained range, runs (the gaps between are
        downtime), when the topology changed, event density, alert spans, history usage."""
        history = engine.history
        now = time.time()
        start = moment(since, "since") if since else (history.oldest or now)
        end = moment(until, "until") if until else now
        if start > end:
            raise HTTPException(400, f"since ({iso(start)}) is after until ({iso(end)})")
        kept = await history.read(runs)
        changes = await history.read(lambda c: change_times(c, start, end,
                                                            MAX_TIMELINE_CHANGES))
        width = max((end - start) / buckets, 1e-3)
        density = await history.read(lambda c: c.execute(
            "SELECT CAST((ts - ?) / ? AS INTEGER) AS b, COUNT(*), "
            "SUM(severity IN ('error', 'critical')) FROM events WHERE ts >= ? AND ts <= ? "
            "GROUP BY b ORDER BY b", (start, width, start, end)).fetchall())
        spans = await history.read(lambda c: c.execute(
            "SELECT id, MIN(CASE WHEN state = 'firing' THEN ts END), "
            "MAX(CASE WHEN state = 'resolved' THEN ts END), MAX(body) FROM alert_log "
            "WHERE ts <= ? GROUP BY id HAVING MIN(CASE WHEN state = 'firing' THEN ts END) "
            "IS NOT NULL", (end,)).fetchall())
        alerts = []
        for aid, fired, resolved, body in spans:
            if resolved is not None and resolved < start:
                continue
            alert = msgspec.json.decode(body)
            alerts.append({"id": aid, "from": fired, "to": resolved,
                           "severity": alert.get("severity"), "message": alert.get("message"),
                           "entity_id": alert.get("entity_id")})
        return _json({
            "since": start, "until": end, "now": now, "oldest": history.oldest,
            "runs": [{"version": v, "from": s, "to": e, "kind": k} for v, s, e, k in kept],
            "changes": [{"version": v, "at": t} for v, t in changes],
            "bucket_seconds": width,
            "events": [{"at": start + b * width, "count": n, "errors": errors or 0}
                       for b, n, errors in density],
            "alerts": alerts,
            "usage": history.usage(),
        })

    @router.get("/api/infra/snapshot", tags=["history"])
    async def get_snapshot(
        at: str | None = None,
        window_minutes: Annotated[float, Query(ge=0, le=24 * 60)] = 10.0,
    ) -> Response:
        """A self-contained file of one moment: the topology, metric samples and events
        of a window around it, alerts, and the snapshot schema. Open it with
        `gestalt serve --open-snapshot FILE`."""
        when = moment(at) if at else shown_now(engine)
        document = await build_snapshot(engine, when, window_minutes * 60)
        return attachment(_encoder.encode(document), "application/json",
                          file_name(site, when, "-snapshot.json"))

    @router.get("/api/infra/export", tags=["history"])
    async def get_export(
        format: Annotated[str, Query(description="json, graphml, dot or mermaid")] = "json",
        at: str | None = None,
        kinds: Multi = None, namespaces: Multi = None, labels: Multi = None,
        sources: Multi = None,
    ) -> Response:
        """The current view (or the one at `at`), filtered as the topology route, as JSON
        (the topology document), GraphML, DOT or Mermaid. Secrets are metadata only, as
        everywhere."""
        if format not in FORMATS:
            raise HTTPException(400, f"format: expected one of {', '.join(FORMATS)}, "
                                     f"got {format!r}")
        flt: TopologyFilter = topology_filter(engine, kinds, namespaces, labels, sources)
        when = shown_now(engine) if at is None else moment(at)
        if at is not None:
            document = await topology_at(engine, when)
            entities, connections = document["entities"], document["connections"]
        else:
            entities = list(engine.store.entities.values())
            connections = list(engine.store.connections.values())
            document = {"version": engine.store.version, "timestamp": engine.store.timestamp}
        if not flt.empty:
            entities, connections = flt.apply(entities, connections)
        body, media, ext = export_view(format, document, entities, connections)
        return attachment(body, media, file_name(site, when, f".{ext}"))

    return router


def replay_stream(engine: Engine, broadcaster: Broadcaster, start: float,
                  speed: float) -> StreamingResponse:
    if not 0 <= speed <= MAX_SPEED:
        raise HTTPException(400, f"speed: expected 0 (as fast as possible) to {MAX_SPEED:g}, "
                                 f"got {speed:g}")
    return StreamingResponse(until_closed(broadcaster, _replay(engine, start, speed)),
                             media_type="text/event-stream", headers=SSE_HEADERS)


async def first_state(engine: Engine, start: float) -> Any:
    """The state a replay starts from; raised errors become 4xx before the stream opens."""
    try:
        return await state_at(engine, start)
    except BadMoment as exc:
        raise HTTPException(400, str(exc)) from exc


async def _replay(engine: Engine, start: float, speed: float) -> AsyncIterator[bytes]:
    """`snapshot` at `start`, then each recorded `delta` (id = version) and the recorded
    metric samples as `metrics` frames, in time order and paced by `speed`, each with its
    recorded time; at the start of each later run a `snapshot` of it (Gestalt restarted,
    or history resumed), and `end` after the last recorded change (samples recorded
    after the stream began are not waited for)."""
    history = engine.history
    state = await state_at(engine, start)
    until = time.time()
    yield RETRY
    yield sse_frame("snapshot", _encoder.encode(await topology_at(engine, start, state=state)),
                    frame_id=state.version)
    later = [r for r in await history.read(runs) if r[1] > start]
    version, clock = state.version, start
    began = time.monotonic()
    samples: list[tuple[float, dict[str, dict[str, Any]]]] = []
    sampled = start  # samples up to here are read (into `samples`) or sent

    async def pace(at: float) -> AsyncIterator[bytes]:
        """Wait until `at` is due at this speed, with heartbeats meanwhile."""
        if speed > 0:
            due = began + (at - start) / speed
            while (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(min(wait, HEARTBEAT_SECONDS))
                if due - time.monotonic() > 0:
                    yield HEARTBEAT_FRAME

    async def metrics_until(moment: float) -> AsyncIterator[bytes]:
        """The recorded metrics frames up to `moment`, each when it is due."""
        nonlocal sampled, samples
        while True:
            if not samples and sampled < min(moment, until):
                samples = await history.read(partial(sample_frames, after=sampled, until=until))
                sampled = samples[-1][0] if samples else until
            if not samples or samples[0][0] > moment:
                return
            ts, values = samples.pop(0)
            async for beat in pace(ts):
                yield beat
            yield sse_frame("metrics", encode(MetricsFrame(version=version, timestamp=ts,
                                                           values=values)))

    while True:
        page = await history.read(partial(read_deltas, since=version, limit=REPLAY_PAGE,
                                          past=history.past))
        if not page:
            break
        for delta in page:
            async for frame in metrics_until(delta.timestamp):
                yield frame
            while later and delta.version > later[0][0]:
                run_start = later.pop(0)[1]
                run_state = await state_at(engine, run_start)
                if run_state.version >= delta.version:
                    continue
                doc = await topology_at(engine, run_start, state=run_state)
                yield sse_frame("snapshot", _encoder.encode(doc), frame_id=run_state.version)
            async for beat in pace(delta.timestamp):
                yield beat
            yield sse_frame("delta", encode(delta), frame_id=delta.version)
            version, clock = delta.version, delta.timestamp
    async for frame in metrics_until(until):
        yield frame
    yield sse_frame("end", _encoder.encode({"version": version, "timestamp": clock}))
