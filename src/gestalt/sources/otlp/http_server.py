"""OTLP/HTTP: `POST /v1/traces` and `/v1/metrics`, protobuf or JSON, optionally gzip.

A bare ASGI app (no framework: two routes, and every byte of the body is counted before
it is kept) served by uvicorn on a socket the source binds itself, so that a port in use
is a clean error instead of uvicorn's `sys.exit`. Before a body is read, the sender must
present the token (401) and be within its rate (429, see `admission`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from typing import Any

import uvicorn
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gestalt.sources.otlp.admission import Admission
from gestalt.sources.otlp.decode import (
    PayloadError,
    TooLarge,
    decompress,
    error_body,
    media_type,
    parse,
    response,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# Takes a decoded export request and the sender's IP (None when unknown), returns the
# response message (maybe a partial success).
Handler = Callable[[Any, str | None], Message]

_GRPC_INVALID_ARGUMENT = 3
_GRPC_RESOURCE_EXHAUSTED = 8


class _ClientGone(Exception):
    pass


class OtlpHttpApp:
    def __init__(
        self,
        *,
        on_traces: Handler,
        on_metrics: Handler,
        max_body_bytes: int,
        max_decompressed_bytes: int,
        admission: Admission | None = None,
    ) -> None:
        self._routes: dict[str, tuple[type[Message], Handler]] = {
            "/v1/traces": (ExportTraceServiceRequest, on_traces),
            "/v1/metrics": (ExportMetricsServiceRequest, on_metrics),
        }
        self._max_body = max_body_bytes
        self._max_decompressed = max_decompressed_bytes
        self._admission = admission or Admission(token=None, rate=float("inf"))
        self.rejected_requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        route = self._routes.get(scope["path"])
        if route is None:
            await _plain(send, 404, "not found: OTLP/HTTP serves /v1/traces and /v1/metrics")
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "method not allowed: use POST", [(b"allow", b"POST")])
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        client = scope.get("client")
        sender = str(client[0]) if client else None
        if not self._admission.authorized(headers.get(b"authorization")):
            self.rejected_requests += 1
            await _plain(send, 401, "authentication required: send 'Authorization: Bearer "
                         "<token>' (collectors.otel.token)", [(b"www-authenticate", b"Bearer")])
            return
        try:
            media = media_type(headers.get(b"content-type", b"").decode("latin-1"))
        except PayloadError as exc:
            self.rejected_requests += 1
            await _plain(send, exc.status, exc.reason)
            return
        if not self._admission.allowed(sender):
            self.rejected_requests += 1
            retry = str(self._admission.retry_after()).encode()
            await _reply(send, 429, media, error_body(
                f"over {self._admission.rate:g} requests per second from {sender}; retry "
                "later", _GRPC_RESOURCE_EXHAUSTED, media), [(b"retry-after", retry)])
            return
        message_type, handler = route
        try:
            body = await self._read_body(headers, receive)
            data = decompress(
                body, headers.get(b"content-encoding", b"").decode("latin-1"),
                self._max_decompressed)
            request = parse(data, media, message_type)
        except _ClientGone:
            return
        except PayloadError as exc:
            self.rejected_requests += 1
            code = _GRPC_RESOURCE_EXHAUSTED if exc.status == 413 else _GRPC_INVALID_ARGUMENT
            await _reply(send, exc.status, media, error_body(exc.reason, code, media))
            return
        await _reply(send, 200, media, response(handler(request, sender), media))

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise TooLarge(f"body over {self._max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise TooLarge(f"body over {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _reply(send: Send, status: int, media: str, body: bytes,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", media.encode()),
                    (b"content-length", str(len(body)).encode()), *(extra or [])],
    })
    await send({"type": "http.response.body", "body": body})


async def _plain(
    send: Send, status: int, reason: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = reason.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()), *(extra or [])],
    })
    await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets on every address `host` names (`localhost`: 127.0.0.1 and
    ::1, as an SDK's default endpoint may dial either), all on one port. OSError (port in
    use, bad address) goes to the caller; an extra address the machine lacks (IPv6 off)
    is skipped."""
    addresses = list(dict.fromkeys(
        (family, str(address[0])) for family, *_, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)))
    sockets: list[socket.socket] = []
    try:
        for family, ip in addresses:
            try:
                sockets.append(_listen(family, ip, sockets[0].getsockname()[1]
                                       if sockets else port))
            except OSError as exc:
                if not sockets or exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    raise
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listen(family: socket.AddressFamily, ip: str, port: int) -> socket.socket:
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it a response's body waits ~40 ms behind its headers (Nagle, delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((ip, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Signals belong to the application hosting the source, not to this receiver.
        yield


class HttpReceiver:
    """uvicorn serving the app on already bound sockets, inside the caller's loop."""

    def __init__(
        self, app: OtlpHttpApp, sockets: list[socket.socket], *, max_concurrent: int,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """`tls`: (certificate file, key file) to serve HTTPS."""
        config = uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_level="warning",
            limit_concurrency=max_concurrent,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        config.load()  # reads the TLS files now: a bad one is an error at start
        self._server = _Server(config)
        self._sockets = sockets
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self._sockets[0].getsockname()[1]
        return port

    def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=self._sockets),
                                         name="otlp-http")

    @property
    def failed(self) -> bool:
        return self._task is not None and self._task.done()

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for sock in self._sockets:
            sock.close()
