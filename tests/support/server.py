"""A real uvicorn server on a free loopback port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from gestalt.api import create_app
from gestalt.engine.runtime import Engine
from tests.support.daemons import free_port


@contextlib.asynccontextmanager
async def running_server(
    engine: Engine, *, port: int | None = None, app: FastAPI | None = None
) -> AsyncIterator[str]:
    """Serve `engine` (started and stopped by the app's lifespan; `app` when the test
    holds it); yields the base URL."""
    port = port or free_port()
    config = uvicorn.Config(app or create_app(engine), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
