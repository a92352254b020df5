"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, with
a generated config that groups by alertname and sends each group to a loopback webhook.
Clustering is off (no gossip port), state lives in a temporary directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import free_port, log_tail, start_until_ready, stop
from tests.support.services import require_service

BINARY = "prometheus-alertmanager"


class Alertmanager:
    def __init__(self, binary: str, webhook_url: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gestalt-am-"))
        # Short waits so a test sees a group within a second or two; send_resolved so the
        # webhook hears the end of an incident too.
        (self.root / "alertmanager.yml").write_text(
            "route:\n"
            "  receiver: loopback\n"
            "  group_by: [alertname]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: loopback\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_url}\n"
            "        send_resolved: true\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = start_until_ready(
            "alertmanager", [self.binary, f"--config.file={self.root / 'alertmanager.yml'}",
             f"--storage.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=warn"],
            self.root / "alertmanager.log", f"{self.url}/-/ready", timeout)

    def log_tail(self) -> str:
        return log_tail(self.root / "alertmanager.log")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, grace=10)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    binary = shutil.which(BINARY)
    require_service("Alertmanager", binary is not None,
                    f"no {BINARY} on PATH (scripts/services.d/alertmanager.sh installs it)")
    assert binary is not None
    return binary


@pytest.fixture
def alertmanager_for() -> Iterator[object]:
    """A factory: `alertmanager_for(binary, webhook_url)` starts one; all stop at the end."""
    started: list[Alertmanager] = []

    def start(binary: str, webhook_url: str) -> Alertmanager:
        manager = Alertmanager(binary, webhook_url)
        started.append(manager)
        manager.start()
        return manager

    yield start
    for manager in started:
        manager.stop()
