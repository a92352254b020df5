"""`/mcp` without paying for it at start: the MCP SDK and its schemas (about 40 MB of a
server's memory) are imported when the first request arrives, not when the server starts.

The SDK's session manager runs in an anyio task group that must be entered and left by one
task, so it lives in a task of its own, started by the first request and stopped by `run()`'s
exit (the app's lifespan, or `gestalt serve`, which runs without one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from gestalt.engine.runtime import Engine


class McpMount:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._asgi: Any = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        asgi = self._asgi or await self._start()
        await asgi(scope, receive, send)

    async def _start(self) -> Any:
        async with self._lock:
            if self._asgi is None:
                from gestalt.api.mcp import HttpEndpoint

                endpoint = HttpEndpoint(self.engine)
                ready = asyncio.Event()

                async def serve() -> None:
                    async with endpoint.run():
                        ready.set()
                        await self._stop.wait()

                self._task = asyncio.create_task(serve(), name="mcp-sessions")
                waiting = asyncio.create_task(ready.wait())
                await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if not ready.is_set():
                    self._task.result()  # it ended before it was ready: say why
                self._asgi = endpoint.asgi
        return self._asgi

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """While the server runs; on exit, the sessions end (if any were started)."""
        try:
            yield
        finally:
            self._stop.set()
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
