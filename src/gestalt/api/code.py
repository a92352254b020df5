"""`/api/code/*`: Code Mode's answers (the `world.code.*` paths) and the scan button.

`POST /api/code/scan` takes no body: it asks the code source to read the repositories the
configuration names, nothing else, and answers each one's summary and per-file warnings.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from gestalt.engine.paths import resolve
from gestalt.engine.paths.code import scan_code
from gestalt.engine.runtime import Engine


def code_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api/code", tags=["code"])

    async def answer(name: str, request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k != "token"}
        _spec, result = await resolve(engine, f"world.code.{name}", params)
        return _json({"result": result})

    @router.get("/modules")
    async def modules(request: Request) -> Response:
        """Modules (filters: repository, language, package, limit)."""
        return await answer("modules", request)

    @router.get("/imports")
    async def imports(request: Request) -> Response:
        """Static imports (filters: repository, importer, imported, limit)."""
        return await answer("imports", request)

    @router.get("/runs_as")
    async def runs_as(request: Request) -> Response:
        """What runs the code, with the evidence (filters: entity, repository)."""
        return await answer("runs_as", request)

    @router.post("/scan")
    async def scan() -> Response:
        """Read the configured repositories again; one summary each, warnings included."""
        return _json({"result": await scan_code(engine)})

    return router


def _json(value: Any) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json")
