"""A real Prometheus (Debian's `prometheus`) on a free loopback port scraping a small
exporter, for the Prometheus source's tests and benchmarks.

The exporter serves cAdvisor, kube-state-metrics and node-exporter style series for
`pods` pods (one container each) with known values: CPU counters grow at a known rate so
that `rate()` has a known answer.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.daemons import free_port, start_until_ready
from tests.support.services import require_service

NAMESPACE = "shop"
CPU_CORES_PER_POD = 0.25  # container_cpu_usage_seconds_total grows this much per second
MEMORY_BYTES = 64 * 1024 * 1024
MEMORY_LIMIT = 256 * 1024 * 1024
RX_BYTES_PER_SEC = 2000.0
RESTARTS = 3
ERROR_RATIO = 0.05
NODE_IDLE_PER_SEC = 0.75  # one idle CPU second per wall second * 0.75: 25% busy


def container_id(index: int) -> str:
    return hashlib.sha256(f"container-{index}".encode()).hexdigest()


def pod_name(index: int) -> str:
    return f"web-{index}"


class Exporter:
    """A /metrics endpoint in a thread; values follow the constants above."""

    def __init__(self, pods: int = 3) -> None:
        self.pods = pods
        self.started = time.time()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def exposition(self) -> str:
        elapsed = time.time() - self.started
        lines = []
        for i in range(self.pods):
            pod = f'namespace="{NAMESPACE}",pod="{pod_name(i)}"'
            cid = f'{pod},container="app",id="/kubepods/burstable/pod{i}/{container_id(i)}"'
            lines += [
                f"container_cpu_usage_seconds_total{{{cid}}} {CPU_CORES_PER_POD * elapsed}",
                f"container_memory_working_set_bytes{{{cid}}} {MEMORY_BYTES}",
                f"container_spec_memory_limit_bytes{{{cid}}} {MEMORY_LIMIT}",
                f'container_network_receive_bytes_total{{{pod},interface="eth0"}} '
                f"{RX_BYTES_PER_SEC * elapsed}",
                f'kube_pod_container_status_restarts_total{{{pod},container="app"}} {RESTARTS}',
                f"app_error_ratio{{{pod}}} {ERROR_RATIO}",
            ]
        lines.append(f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {NODE_IDLE_PER_SEC * elapsed}')
        lines.append("node_memory_MemAvailable_bytes 1073741824")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class PrometheusServer:
    def __init__(self, binary: str, targets: list[str], *, scrape_interval: str = "1s") -> None:
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gestalt-prom-"))
        (self.root / "prometheus.yml").write_text(
            "global:\n"
            f"  scrape_interval: {scrape_interval}\n"
            f"  evaluation_interval: {scrape_interval}\n"
            "scrape_configs:\n"
            "  - job_name: test\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = start_until_ready(
            "prometheus", [self.binary, f"--config.file={self.root / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            self.root / "prometheus.log", f"{self.url}/-/ready", timeout)

    def wait_for_series(self, promql: str, count: int, timeout: float = 30.0) -> None:
        """Until `promql` returns `count` series (scraped at least twice for rate())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
            if len(reply.json()["data"]["result"]) >= count:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{promql} did not return {count} series in {timeout}s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self) -> str:
        path = self.root / "prometheus.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    require_service("Prometheus", binary is not None,
                    "no prometheus on PATH (scripts/services.sh installs Debian's prometheus)")
    assert binary is not None
    return binary


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def prometheus(exporter: Exporter) -> Iterator[PrometheusServer]:
    server = PrometheusServer(prometheus_binary(), [f"127.0.0.1:{exporter.port}"])
    try:
        server.start()
        # Two scrapes, so that rate() over the counters has an answer.
        server.wait_for_series("rate(container_cpu_usage_seconds_total[1m])", exporter.pods)
        yield server
    finally:
        server.close()
