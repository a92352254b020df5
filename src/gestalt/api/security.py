"""Secure defaults for the HTTP API.

- Token: when `server.token` is set, every request needs it (`Authorization: Bearer`,
  `?token=` for EventSource clients, or the cookie set when a valid `?token=` is seen, so a
  browser opened on `/?token=...` keeps working without the UI handling tokens).
- Host check: protects loopback binds from DNS rebinding; only names that reach this
  server are accepted (`localhost`, loopback addresses, the bind address).
- Origin check: a browser request from another origin is refused unless that origin is
  listed in `server.allowed_origins`. There is no wildcard CORS.
- Body limit (`BodyLimit`): what the routes take is a few fields, so a request body over
  MAX_BODY bytes is a 413 before any of it is parsed, or read past the limit: a route
  that declares a body model would otherwise read and parse whatever it is sent.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gestalt.model.config import ServerConfig, is_loopback

__all__ = ["COOKIE", "MAX_BODY", "OPEN_PATHS", "BodyLimit", "SecurityMiddleware", "is_loopback"]

COOKIE = "gestalt_token"
# Reachable without a token: liveness probes must work for orchestrators.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# The largest request body a route takes (an action, an experiment, an expected anomaly).
MAX_BODY = 4096
# Bodies BodyLimit leaves alone: the MCP SDK bounds its own messages (4 MB).
UNLIMITED_PATHS = frozenset({"/mcp"})


def _split_host(value: str) -> str:
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, config: ServerConfig,
                 on_refused: Callable[[Scope, str], None] | None = None) -> None:
        if config.token is not None and not config.token.strip():
            # The config refuses it too; here it must never quietly mean "no auth".
            raise ValueError("server.token is empty: leave it out for no token")
        self.app = app
        self.token = config.token
        self.bind = config.host
        self.allowed_origins = {o.rstrip("/") for o in config.allowed_origins}
        # Told of every refusal (the actions' audit log records those aimed at actions).
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._check_host(headers) or self._check_origin(headers)
        if problem:
            if self.on_refused is not None:
                self.on_refused(scope, problem)
            await JSONResponse({"error": problem}, status_code=403)(scope, receive, send)
            return
        set_cookie = False
        if self.token and scope["path"] not in OPEN_PATHS:
            presented, from_query = self._presented_token(scope, headers)
            if presented is None or not hmac.compare_digest(presented, self.token):
                if self.on_refused is not None:
                    self.on_refused(scope, "authentication required")
                response = JSONResponse(
                    {"error": "authentication required: send 'Authorization: Bearer <token>'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
            set_cookie = from_query

        if not set_cookie:
            await self.app(scope, receive, send)
            return

        cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_cookie(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"set-cookie", cookie))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _check_host(self, headers: Headers) -> str | None:
        host = headers.get("host")
        if host is None:
            return None  # HTTP/1.0 clients; nothing to rebind
        name = _split_host(host)
        if is_loopback(name) or name == self.bind or self.bind in ("0.0.0.0", "::"):
            return None
        if self.token and not is_loopback(self.bind):
            return None  # a token-protected public bind serves whatever name points at it
        return f"host {name!r} is not allowed (this server answers to localhost and {self.bind})"

    def _check_origin(self, headers: Headers) -> str | None:
        origin = headers.get("origin")
        if origin is None or origin == "null":
            return None
        if origin.rstrip("/") in self.allowed_origins:
            return None
        host = headers.get("host", "")
        if urlsplit(origin).netloc == host:
            return None  # same origin
        return f"origin {origin!r} is not allowed (server.allowed_origins)"

    def _presented_token(self, scope: Scope, headers: Headers) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = scope.get("query_string", b"").decode("latin-1")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "token" and value:
                return unquote(value), True
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE:
                return value, False
        return None, False


class BodyLimit:
    """A request body over `limit` bytes is refused with `413 {"error": "request body over
    <limit> bytes"}`: by its Content-Length, unread; a chunked one (no length said) once
    `limit` bytes have arrived, which are all that is held. `on_refused` is told, as for
    SecurityMiddleware (the actions' audit log records those aimed at actions)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY,
                 on_refused: Callable[[Scope, str], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")  # the server refuses one that is no number
        if length is not None and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        if length is None and "chunked" in headers.get("transfer-encoding", "").lower():
            held = await self._first(receive)
            if held is None:
                await self._refuse(scope, receive, send)
                return

            async def replay() -> Message:
                return held.pop(0) if held else await receive()

            receive = replay
        await self.app(scope, receive, send)

    async def _first(self, receive: Receive) -> list[Message] | None:
        """A chunked body's messages, if they end within `limit` bytes; None if not."""
        held: list[Message] = []
        size = 0
        while True:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                return held  # the client went away: the route hears it
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            if not message.get("more_body", False):
                return held

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = f"request body over {self.limit} bytes"
        if self.on_refused is not None:
            self.on_refused(scope, reason)
        await JSONResponse({"error": reason}, status_code=413)(scope, receive, send)
