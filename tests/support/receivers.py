"""Loopback HTTP receivers that play Slack, PagerDuty or a webhook, with scripted trouble.

A `Loopback` answers each POST with the next scripted reply (status and headers), then
with `ok` once the script is used up, and records every request with the status it got.
`down()` closes the socket (connection refused) and `up()` opens it again on the same
port, for "a receiver that is down for a while".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.daemons import free_port


@dataclass
class Received:
    body: Any
    status: int
    at: float  # monotonic
    headers: dict[str, str] = field(default_factory=dict)


class Loopback:
    def __init__(self, script: Iterable[tuple[int, dict[str, str]]] = (), *, ok: int = 200,
                 start: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.ok = ok
        self.script = list(script)
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        if start:
            self.up()

    def reply_with(self, *script: tuple[int, dict[str, str]], ok: int | None = None) -> None:
        with self._lock:
            self.script = list(script)
            if ok is not None:
                self.ok = ok

    def accepted(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.status < 300]

    def up(self) -> None:
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with loopback._lock:
                    status, headers = loopback.script.pop(0) if loopback.script else \
                        (loopback.ok, {})
                    loopback.requests.append(Received(body, status, time.monotonic(),
                                                      dict(self.headers)))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                reply = b'{"status":"success"}' if status < 300 else b'{"error":"scripted"}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
