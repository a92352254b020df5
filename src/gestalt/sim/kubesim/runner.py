"""Running kubesim: an API server on a loopback port, in this process's event loop.

    async with KubeSim() as sim:   # or: sim = KubeSim(); await sim.start(); ... await sim.stop()
        sim.url, sim.kubeconfig, sim.token
        sim.store, sim.controllers  # drive the cluster from Python
        sim.faults                  # blackhole(), pause_watches(), expire_watches(), throttle()
        sim.requests                # every request seen: verb, resource, Accept, User-Agent, user
        sim.service_account_token("gestalt", "gestalt")  # a token RBAC objects authorize
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import uvicorn
import yaml

from gestalt.sim.kubesim.controllers import Controllers
from gestalt.sim.kubesim.faults import Faults
from gestalt.sim.kubesim.rbac import Rbac, service_account_user
from gestalt.sim.kubesim.server import KubeSimApp, Request
from gestalt.sim.kubesim.store import Store
from gestalt.sim.kubesim.tls import self_signed

CONTEXT = "kubesim"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handling: kubesim lives inside other programs (tests,
    `gestalt demo`), whose own Ctrl-C handling must stay theirs."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class KubeSim:
    """One emulated API server. `tls=False` serves plain HTTP without authentication
    (kubectl never sends credentials over plain HTTP), for clients that cannot do TLS."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 tls: bool = True, rbac: Rbac | None = None, history: int = 20_000,
                 bookmark_interval: float = 5.0, kubeconfig_path: str | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.token = (token or secrets.token_urlsafe(24)) if tls else None
        self.store = Store(history=history)
        self.controllers = Controllers(self.store)
        self.faults = Faults(self.store)
        self.rbac = rbac or Rbac()
        self.app = KubeSimApp(self.store, self.faults, token=self.token, rbac=self.rbac,
                              bookmark_interval=bookmark_interval)
        self._kubeconfig_path = kubeconfig_path
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._ca = b""
        self.ca_file: str | None = None  # the server certificate, which is its own CA
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        for ns in ("default", "kube-system"):
            self.store.create({"kind": "Namespace", "metadata": {"name": ns},
                               "spec": {"finalizers": ["kubernetes"]},
                               "status": {"phase": "Active"}})

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def kubeconfig(self) -> str:
        assert self._kubeconfig_path, "start() first"
        return self._kubeconfig_path

    @property
    def requests(self) -> list[Request]:
        return self.app.requests

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.app.server_address = f"{self.host}:{self.port}"
        self._tmpdir = tempfile.TemporaryDirectory(prefix="kubesim-")
        tls: dict[str, Any] = {}
        if self.tls:
            cert, key = self_signed(self.host)
            self._ca = cert
            self.ca_file = self._write("tls.crt", cert)
            tls = {"ssl_certfile": self.ca_file,
                   "ssl_keyfile": self._write("tls.key", key)}
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, timeout_keep_alive=30, **tls)
        self._server = _EmbeddedServer(config)
        self.store.watching = True  # again, after a stop
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="kubesim")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises the start-up error
            await asyncio.sleep(0.01)
        if self._kubeconfig_path is None:
            self._kubeconfig_path = os.path.join(self._tmpdir.name, "kubeconfig")
        self.write_kubeconfig(self._kubeconfig_path)

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new bearer token for the service account `namespace/name`, authorized by the
        RBAC objects in the store (ClusterRoleBindings, RoleBindings), as a projected
        service-account token is on a real cluster. Several may be valid at once."""
        token = secrets.token_urlsafe(32)
        self.app.tokens[token] = service_account_user(namespace, name)
        return token

    def revoke(self, token: str) -> None:
        """The token stops working (it expired): requests with it get 401."""
        self.app.tokens.pop(token, None)

    def _write(self, name: str, data: bytes) -> str:
        assert self._tmpdir is not None
        path = os.path.join(self._tmpdir.name, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.faults.clear()
        self.store.close_watches()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    async def __aenter__(self) -> KubeSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def kubeconfig_dict(self, context: str = CONTEXT, *,
                        token: str | None = None) -> dict[str, Any]:
        """A kubeconfig for this server; `token`: another user's (a service account's)
        instead of the admin's."""
        cluster: dict[str, Any] = {"server": self.url}
        user: dict[str, Any] = {}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self._ca).decode()
            user["token"] = token or self.token
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": context, "cluster": cluster}],
                "users": [{"name": f"{context}-user", "user": user}],
                "contexts": [{"name": context, "context": {
                    "cluster": context, "user": f"{context}-user", "namespace": "default"}}],
                "current-context": context}

    def write_kubeconfig(self, path: str, context: str = CONTEXT, *,
                         token: str | None = None) -> str:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(self.kubeconfig_dict(context, token=token), f, sort_keys=False)
        return path

    @property
    def ca(self) -> bytes:
        """The server's certificate (its own CA), PEM."""
        return self._ca
