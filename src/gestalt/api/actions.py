"""`/api/actions`: chaos actions and experiments over HTTP (engine/actions does the work).

- `GET /api/actions`: whether actions are on and what they may touch (no secrets);
- `POST /api/actions`: one action (`{"action", "target", "replicas"?, "dry_run"?,
  "experiment"?}`), with the operator token in `X-Gestalt-Operator-Token`;
- `GET /api/actions/audit`: the audit log, newest first;
- `POST /api/actions/experiments/preview` (`{"target"}`): the blast radius, nothing done;
- `POST /api/actions/experiments`: run one (as `POST /api/actions`), `GET
  /api/actions/experiments/{id}/report`: its report from history.

A browser request from another origin never reaches here (api/security.py refuses it);
that refusal is audited too, through the middleware's `on_refused`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Scope

from gestalt.engine.actions import ActionRequest, Actions, Caller, Experiments, Refused
from gestalt.engine.runtime import Engine

TOKEN_HEADER = "x-gestalt-operator-token"
_encoder = msgspec.json.Encoder()


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    action: str = ""
    target: Annotated[str, msgspec.Meta(max_length=500)] = ""
    replicas: int | None = None
    dry_run: bool = False
    experiment: Annotated[str, msgspec.Meta(max_length=64, pattern="^[0-9a-f]*$")] = ""


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(_encoder.encode(value), status_code=status_code,
                    media_type="application/json")


def build(engine: Engine) -> tuple[Actions, Experiments]:
    config = engine.config
    actions = Actions(config.actions, Path(config.server.data_dir), engine.changes.event)
    return actions, Experiments(actions, engine.store, engine.history)


def audit_refusal(actions: Actions) -> Any:
    """The security middleware's `on_refused`: a refused request aimed at an action is
    audited like any other refusal."""
    def refused(scope: Scope, reason: str) -> None:
        path = str(scope.get("path", ""))
        if scope.get("method") != "POST" or not path.startswith("/api/actions") or \
                path.endswith("/preview"):
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        client = scope.get("client")
        actions.refused_unread(client=f"{client[0]}" if client else "",
                               origin=headers.get("origin", ""),
                               token=headers.get(TOKEN_HEADER), path=path, reason=reason)

    return refused


def mount(app: FastAPI, engine: Engine, actions: Actions, experiments: Experiments) -> None:
    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.get("/api/actions", tags=["actions"])
    async def describe() -> Response:
        return _json(actions.describe())

    async def read_audited(request: Request) -> tuple[_Body, Caller]:
        try:
            return await _read(request, engine)
        except Refused as exc:  # a request we could not read is a request all the same
            audit_refusal(actions)(request.scope, exc.message)
            raise

    @app.post("/api/actions", tags=["actions"])
    async def act(request: Request) -> Response:
        body, caller = await read_audited(request)
        entry = await actions.perform(_action(body), caller)
        return _json(entry)

    @app.get("/api/actions/audit", tags=["actions"])
    async def audit(limit: Annotated[int, Query(ge=1, le=10000)] = 100,
                    experiment: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        return _json(actions.audit.entries(limit=limit, experiment=experiment))

    @app.post("/api/actions/experiments/preview", tags=["actions"])
    async def preview(request: Request) -> Response:
        body, _caller = await _read(request, engine)
        return _json(experiments.preview(body.target))

    @app.post("/api/actions/experiments", tags=["actions"])
    async def run(request: Request) -> Response:
        body, caller = await read_audited(request)
        return _json(await experiments.run(_action(body), caller))

    @app.get("/api/actions/experiments/{experiment}/report", tags=["actions"])
    async def report(experiment: str) -> Response:
        await engine.history.flushed()
        return _json(await experiments.report(experiment))


def _action(body: _Body) -> ActionRequest:
    return ActionRequest(action=body.action, target=body.target, replicas=body.replicas,
                         dry_run=body.dry_run, experiment=body.experiment)


async def _read(request: Request, engine: Engine) -> tuple[_Body, Caller]:
    raw = await request.body()  # at most MAX_BODY bytes (security.BodyLimit)
    try:
        body = msgspec.json.decode(raw or b"{}", type=_Body)
    except msgspec.ValidationError as exc:
        raise Refused(400, f"bad request body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise Refused(400, "the request body is not JSON") from exc
    origin = request.headers.get("origin")
    allowed = {o.rstrip("/") for o in engine.config.server.allowed_origins}
    origin_ok = origin is None or origin.rstrip("/") in allowed or \
        urlsplit(origin).netloc == request.headers.get("host", "")  # "null" is refused
    client = request.client.host if request.client else ""
    return body, Caller(token=request.headers.get(TOKEN_HEADER), client=client,
                        origin=origin or "", origin_allowed=origin_ok)
