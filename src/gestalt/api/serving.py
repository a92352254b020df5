"""Serving the app: bind first, then start, then stop in order.

- `bind` opens the listening socket before anything else starts, so a port in use is one
  line at once, not a traceback after every source has started.
- `Server` is uvicorn's server with two changes for a long-running service: on shutdown it
  ends the SSE streams first (they never end by themselves, so uvicorn would wait out its
  graceful timeout and then cancel them mid-write, logging a traceback); and it does not
  re-raise the SIGTERM or SIGINT it caught, so the caller still cleans up what it started
  (the demo's NATS processes) and exits normally.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Generator

import uvicorn

from gestalt.api.sse import Broadcaster

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class BindError(Exception):
    """The address cannot be listened on; the message is one line for the user."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds it. Raises BindError.

    Its protocol is named (IPPROTO_TCP, not 0): asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on connections of such a socket. With Nagle on, every small answer
    after the first on a kept-alive connection waited for the client's delayed ACK, 40 ms:
    a scrubbed moment's change, /readyz, an SSE frame."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise BindError(f"cannot listen on {host}:{port}: {reason}") from exc
    return sock


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, broadcaster: Broadcaster) -> None:
        super().__init__(config)
        self.broadcaster = broadcaster
        self.stopped_by: int | None = None  # the signal that stopped it, if one did

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.broadcaster.close()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: object) -> None:
        self.stopped_by = sig
        super().handle_exit(sig, frame)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled on the main thread
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
