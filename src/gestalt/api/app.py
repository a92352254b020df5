"""The FastAPI application: REST, SSE, the path registry, operations endpoints, the web UI.

Hot paths return pre-encoded JSON bytes (msgspec) instead of going through FastAPI's
response models: a 10,000-entity topology is encoded once per change, not per request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import gestalt
from gestalt.api.actions import audit_refusal
from gestalt.api.actions import build as build_actions
from gestalt.api.actions import mount as mount_actions
from gestalt.api.anomalies import anomalies_router, cost_router
from gestalt.api.code import code_router
from gestalt.api.exports import site_name
from gestalt.api.mcp_mount import McpMount
from gestalt.api.metrics import engine_registry, exposition
from gestalt.api.security import BodyLimit, SecurityMiddleware
from gestalt.api.sse import Broadcaster, sse_frame
from gestalt.api.static import WebUi
from gestalt.api.streams import (
    RETRY,
    SSE_HEADERS,
    event_resume,
    event_stream,
    topology_stream,
    until_closed,
)
from gestalt.api.timetravel import first_state, moment, past_routes, replay_stream, window
from gestalt.engine.alerts import select_alerts
from gestalt.engine.filters import TopologyFilter, parse_kinds, split_values
from gestalt.engine.health import CHECKS
from gestalt.engine.moments import (
    BadMoment,
    alerts_then,
    change_json_at,
    entity_at,
    health_at,
    state_at,
    topology_json_at,
)
from gestalt.engine.past import OutsideRetention, diff
from gestalt.engine.paths import REGISTRY, PathError, nats_messages, resolve, topology_diff
from gestalt.engine.runtime import Engine
from gestalt.engine.scoring import overall_status, summarize
from gestalt.model import Event, Topology

WEB_ROOT = Path(gestalt.__file__).parent / "web"
MAX_QUERY_VALUES = 100

_encoder = msgspec.json.Encoder()


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(_encoder.encode(value), status_code=status_code,
                    media_type="application/json")


Multi = Annotated[list[str] | None, Query(max_length=MAX_QUERY_VALUES)]


def create_app(engine: Engine, *, manage_engine: bool = True) -> FastAPI:
    """The app for `engine`; when `manage_engine`, the app's lifespan starts and stops it.
    Its SSE broadcaster (`app.state.broadcaster`) follows the engine's change log from now."""
    broadcaster = Broadcaster(max_frames=engine.config.server.client_queue_frames)
    broadcaster.follow(engine)
    mcp = McpMount(engine)  # the MCP SDK is imported by the first request to /mcp

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_engine:
            await engine.start()
        try:
            async with mcp.run():
                yield
        finally:
            actions.audit.close()
            if manage_engine:
                await engine.stop()

    app = FastAPI(
        title="Gestalt Live",
        version=gestalt.__version__,
        description="A live map of a running system: topology, events, metrics and health.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.broadcaster = broadcaster
    app.state.mcp = mcp
    actions, experiments = build_actions(engine)
    app.state.actions = actions
    # Added first, so it runs inside SecurityMiddleware: a stranger's body gets a 401 or 403.
    app.add_middleware(BodyLimit, on_refused=audit_refusal(actions))
    app.add_middleware(SecurityMiddleware, config=engine.config.server,
                       on_refused=audit_refusal(actions))
    mount_actions(app, engine, actions, experiments)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own reply copies each field's `input` back: all of a 4,000-character
        # string to say it is too long. Where and why is enough.
        return JSONResponse({"detail": [{key: error[key] for key in ("loc", "msg", "type")}
                                        for error in exc.errors()]}, status_code=422)

    @app.exception_handler(PathError)
    async def _path_error(_request: Request, exc: PathError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(OutsideRetention)
    async def _outside(_request: Request, exc: OutsideRetention) -> JSONResponse:
        return JSONResponse({"error": str(exc), "oldest": exc.oldest}, status_code=404)

    @app.exception_handler(BadMoment)
    async def _bad_moment(_request: Request, exc: BadMoment) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    # -- topology ----------------------------------------------------------------------
    @app.get("/api/infra/topology", tags=["topology"])
    async def get_topology(
        kinds: Multi = None, namespaces: Multi = None, labels: Multi = None,
        sources: Multi = None, at: str | None = None, since: str | None = None,
    ) -> Response:
        """The current topology, optionally filtered (comma-separated or repeated values);
        with `at` (RFC 3339 or epoch seconds), as it was then. With `since` too (a moment),
        only what changed from the topology at `since` to the one at `at`: `upserts`,
        `removals`, `edge_upserts`, `edge_removals` (the fields of a delta), with `version`,
        `since_version`, `summary` and `gap` of a whole answer. A client that holds the
        map at `since` (scrubbing the timeline) applies those instead of a whole topology."""
        flt = _topology_filter(engine, kinds, namespaces, labels, sources)
        if since is not None:
            if at is None:
                raise HTTPException(400, "since: pass at=<time> too (the moment to change to)")
            return Response(await change_json_at(engine, moment(at, past=True),
                                                 moment(since, "since", past=True), flt),
                            media_type="application/json")
        if at is not None:
            return Response(await topology_json_at(engine, moment(at), flt),
                            media_type="application/json")
        if flt.empty:
            return Response(engine.topology_json(), media_type="application/json")
        entities, connections = flt.apply(engine.store.entities.values(),
                                           engine.store.connections.values())
        topology = Topology(version=engine.store.version, timestamp=engine.store.timestamp,
                            entities=entities, connections=connections,
                            summary=summarize(entities), sources=engine.source_statuses())
        return _json(topology)

    @app.get("/api/infra/topology/stream", tags=["topology"])
    async def stream_topology(
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id: str | None = None,
        from_: Annotated[str | None, Query(alias="from")] = None,
        speed: float = 1.0,
    ) -> StreamingResponse:
        """SSE: `snapshot`, then `delta` (id = `<log id>:<version>`), `metrics`, `sources`,
        `resync`.
        With `from`: a replay of history from that moment, paced by `speed` (0: as fast
        as possible), the same frames with their recorded times, then `end`."""
        if from_ is not None:
            start = moment(from_, "from")
            await first_state(engine, start)  # outside retention: 404 before streaming
            return replay_stream(engine, broadcaster, start, speed)
        resume = last_event_id_header or last_event_id
        return StreamingResponse(topology_stream(engine, broadcaster, resume),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/api/infra/topology/diff", tags=["topology"])
    async def get_topology_diff(
        since: Annotated[int | None, Query(ge=0)] = None,
        from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None,
    ) -> Response:
        """Changes since a version, merged (`reset` with a full topology when too old); or,
        with `from` and `to` (times), what appeared, disappeared and changed (field by
        field) between two moments."""
        if from_ is not None or to is not None:
            if from_ is None or to is None:
                raise HTTPException(400, "pass both from and to (RFC 3339 or epoch seconds)")
            t1, t2 = window(from_, to)
            return _json(diff(await state_at(engine, t1), await state_at(engine, t2)))
        if since is None:
            raise HTTPException(400, "pass since=<version>, or from=<time>&to=<time>")
        return _json(topology_diff(engine, since))

    @app.get("/api/infra/entities/{entity_id:path}", tags=["topology"])
    async def get_entity(entity_id: str, at: str | None = None) -> Response:
        if at is not None:
            past = await entity_at(engine, entity_id, moment(at))
            if past is None:
                raise HTTPException(404, f"no entity {entity_id!r} at {at}")
            return _json(past)
        entity = engine.store.entities.get(entity_id)
        if entity is None:
            raise HTTPException(404, f"no entity {entity_id!r}")
        store = engine.store
        edges = [store.connections[c] for c in store.edges_of(entity_id)]
        events = await engine.history.events(limit=20, entity_id=entity_id)
        return _json({
            "entity": entity,
            "incoming": [c for c in edges if c.target_id == entity_id],
            "outgoing": [c for c in edges if c.source_id == entity_id],
            "events": events,
            "contributions": engine.hub.contributions(entity_id),
        })

    # -- events ------------------------------------------------------------------------
    @app.get("/api/infra/events", tags=["events"])
    async def get_events(
        limit: Annotated[int, Query(ge=1, le=10000)] = 100,
        since: str | None = None,
        until: str | None = None,
        entity_id: Annotated[str | None, Query(max_length=1000)] = None,
        severity: Annotated[str | None, Query(pattern="^(info|warning|error|critical)$")] = None,
    ) -> Response:
        """Events, newest first, from history (so they survive restarts); `since` and
        `until` are RFC 3339 or epoch seconds."""
        start, end = _range(since, until)
        events = await engine.history.events(limit=limit, since=start, until=end,
                                             entity_id=entity_id, severity=severity)
        return _json({"events": events})

    @app.get("/api/infra/events/stream", tags=["events"])
    async def stream_events(
        kinds: Multi = None,
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id: str | None = None,
    ) -> StreamingResponse:
        """SSE: the last 50 events, then each new one (`event: event`, id = `<log id>:<seq>`;
        a `Last-Event-ID` of this log replays what came after it)."""
        try:
            wanted = parse_kinds(kinds)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

        def accepts(event: Event) -> bool:
            return not wanted or event.entity_kind.value in wanted

        resume = event_resume(engine, last_event_id_header or last_event_id)
        return StreamingResponse(event_stream(engine, broadcaster, resume, accepts),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/api/infra/nats/messages/stream", tags=["events"])
    async def stream_nats_messages(subjects: Multi = None) -> StreamingResponse:
        """SSE of sampled NATS messages (`event: message`): subject, size, header names;
        payload and headers only for subjects allow-listed in collectors.nats."""
        wanted = sorted(split_values(subjects))
        if not wanted:
            raise HTTPException(400, "pass subjects=<subject>[,<subject>...]")
        messages = nats_messages(engine, wanted)

        async def frames() -> AsyncIterator[bytes]:
            yield RETRY
            try:
                async for sample in messages:
                    yield sse_frame("message", _encoder.encode(sample))
            finally:
                await messages.aclose()

        return StreamingResponse(until_closed(broadcaster, frames()),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    # -- metrics, health, alerts, config ------------------------------------------------
    @app.get("/api/infra/metrics/{entity_id:path}", tags=["metrics"])
    async def get_metrics(
        entity_id: Annotated[str, PathParam(max_length=1000)],
        metrics: Multi = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Response:
        """Metric history of one entity: `{series: {name: [[ts, value], ...]}}`; by
        default the last hour (before `until` when given)."""
        start, end = _range(since, until)
        if entity_id not in engine.store.entities and entity_id != "topology" and end is None:
            raise HTTPException(404, f"no entity {entity_id!r}")
        names = sorted(split_values(metrics)) or None
        if start is None:
            start = (end if end is not None else time.time()) - 3600
        series = await engine.history.metric_series(entity_id, names, start, end)
        return _json({"entity_id": entity_id, "series": series})

    @app.get("/api/infra/health", tags=["health"])
    async def get_health(at: str | None = None) -> Response:
        """The health summary now (or `at` a past moment), and history's usage."""
        if at is not None:
            return _json({**await health_at(engine, moment(at)),
                          "history": engine.history.usage()})
        summary = engine.summary()
        return _json({"overall": summary.overall, "status": overall_status(summary),
                      "summary": summary, "sources": engine.source_statuses(),
                      "history": engine.history.usage()})

    @app.get("/api/infra/alerts", tags=["health"])
    async def get_alerts(state: Annotated[str, Query(
            description="active (pending, firing and unknown: the default), pending, "
                        "firing, unknown, resolved (within alerts.resolved_retention) "
                        "or all")] = "active", at: str | None = None) -> Response:
        """Alerts in one state, newest first: the active ones unless `state` says otherwise;
        with `at`, as they stood then. Changes also reach the event stream as
        AlertFiring/AlertResolved events."""
        alerts = await alerts_then(engine, moment(at)) if at is not None else engine.alerts()
        try:
            return _json({"alerts": select_alerts(alerts, state)})
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @app.get("/api/infra/alerts/notifications", tags=["health"])
    async def get_notifications(limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> Response:
        """The notification log, newest first: every delivery attempt and its outcome."""
        lines = await engine.history.notifications(limit=limit)
        keys = ("timestamp", "receiver", "alert_id", "state", "severity", "outcome", "detail")
        return _json({"notifications": [dict(zip(keys, line, strict=True)) for line in lines]})

    @app.get("/api/infra/config", tags=["ui"])
    async def get_ui_config() -> Response:
        """What the web UI needs from the configuration, and the health checks' titles
        (an alert's `rule` is a check id: the UI shows "Replicas unavailable", not
        `unavailable_replicas`)."""
        return _json({"visualization": engine.config.visualization,
                      "checks": {c.id: c.title for c in CHECKS},
                      "version": gestalt.__version__,
                      # What exported files are named after (the PNG is named in the UI).
                      "site": site_name(engine.config.agent.site),
                      "snapshot": engine.snapshot})

    app.include_router(code_router(engine))

    # -- paths -------------------------------------------------------------------------
    @app.get("/api/paths", tags=["paths"])
    async def list_paths() -> Response:
        return _json({"paths": [
            {"path": s.path, "description": s.description, "source": s.source,
             "params": list(s.params), "enabled": s.source is None or s.source in engine.sources}
            for s in REGISTRY.values()
        ]})

    @app.get("/api/paths/{name}", tags=["paths"])
    async def get_path(name: str, request: Request) -> Response:
        """Answer one `world.infra.*` path; query parameters are the path's parameters."""
        params = {k: v for k, v in request.query_params.items() if k != "token"}
        spec, result = await resolve(engine, name, params)
        return _json({"path": spec.path, "columns": list(spec.columns), "result": result})

    # -- operations --------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> Response:
        """The process is up."""
        return _json({"status": "ok"})

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        """The engine runs and every enabled source has started (ok, degraded or down)."""
        starting = [s.name for s in engine.source_statuses() if s.state == "starting"]
        ready = engine.started and not starting
        body = {"ready": ready, "starting": starting, "version": engine.store.version}
        return _json(body, status_code=200 if ready else 503)

    registry = engine_registry(engine, broadcaster)

    @app.get("/metrics", tags=["operations"])
    async def prometheus_metrics() -> Response:
        """Gestalt's own numbers in the Prometheus exposition format."""
        return exposition(registry)

    app.include_router(past_routes(engine, broadcaster, _topology_filter))
    app.include_router(anomalies_router(engine))
    app.include_router(cost_router(engine))
    # The paths for AI assistants (api/mcp.py), behind the same middleware as the rest.
    app.router.routes.append(Route("/mcp", mcp, methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))
    _mount_web(app)
    return app


def _range(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    start = moment(since, "since") if since is not None else None
    end = moment(until, "until") if until is not None else None
    if start is not None and end is not None and start > end:
        raise HTTPException(400, "since is after until")
    return start, end


def _topology_filter(
    engine: Engine, kinds: list[str] | None, namespaces: list[str] | None,
    labels: list[str] | None, sources: list[str] | None,
) -> TopologyFilter:
    try:
        return TopologyFilter.parse(kinds=kinds, namespaces=namespaces, labels=labels,
                                    sources=sources, known_sources=engine.source_names())
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Gestalt Live</title>
<body style="font-family:system-ui;background:#0b0f17;color:#d7dde8;padding:3em">
<h1>Gestalt Live</h1><p>The web UI is not built. <code>make run</code> builds it;
the API is live: <a style="color:#7cc4ff" href="/docs">/docs</a>,
<a style="color:#7cc4ff" href="/api/infra/topology">/api/infra/topology</a>.</p>"""


def _mount_web(app: FastAPI) -> None:
    if (WEB_ROOT / "index.html").is_file():
        app.mount("/", WebUi(directory=WEB_ROOT, html=True), name="web")
        return

    @app.get("/", include_in_schema=False)
    async def not_built() -> HTMLResponse:
        return HTMLResponse(_NOT_BUILT)
