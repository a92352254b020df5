"""PrometheusSource against Debian's real Prometheus scraping a small exporter."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.changelog import Entry
from gestalt.engine.runtime import Engine
from gestalt.model import MetricsFrame, SourceState, ids
from gestalt.model.config import Config, OtelCollector, PostgresCollector
from gestalt.sources.base import SourceError
from gestalt.sources.postgres import PostgresSource
from gestalt.sources.prometheus import PrometheusSource
from tests.support.postgres import DATABASE, PgCluster, postgres_cluster  # noqa: F401
from tests.support.prometheus import (  # noqa: F401  (fixtures)
    CPU_CORES_PER_POD,
    ERROR_RATIO,
    MEMORY_BYTES,
    MEMORY_LIMIT,
    NAMESPACE,
    NODE_IDLE_PER_SEC,
    RESTARTS,
    RX_BYTES_PER_SEC,
    Exporter,
    PrometheusServer,
    container_id,
    exporter,
    pod_name,
    prometheus,
)
from tests.support.sinks import RecordingSink

pytestmark = pytest.mark.integration


def _config(endpoint: str, **overrides: Any) -> OtelCollector:
    # The default queries, with rate() windows a test can fill: rate() over a range that
    # is not yet full of samples reads low (Prometheus divides by the whole range).
    queries = {name: promql.replace("[1m]", "[4s]")
               for name, promql in OtelCollector().prometheus_queries.items()}
    queries["error_rate"] = "app_error_ratio"
    return msgspec.structs.replace(
        OtelCollector(prometheus_endpoint=endpoint, prometheus_queries=queries,
                      prometheus_interval=0.5, prometheus_timeout=2.0),
        **overrides)


def _latest(sink: RecordingSink) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for entity_id, values, _ in sink.metric_samples:
        merged.setdefault(entity_id, {}).update(values)
    return merged


def _alive(task: asyncio.Task[None]) -> bool:
    """True while the source runs; its error as soon as it stopped."""
    if task.done():
        task.result()
        raise AssertionError("the source returned")
    return True


@contextlib.asynccontextmanager
async def running(source: Any) -> AsyncIterator[tuple[RecordingSink, asyncio.Task[None]]]:
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        yield sink, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, SourceError):
            await task


async def test_series_fill_container_pod_and_node_metrics(
    prometheus: PrometheusServer, exporter: Exporter  # noqa: F811
) -> None:
    source = PrometheusSource(_config(prometheus.url))
    containers = [ids.container(container_id(i)) for i in range(exporter.pods)]
    pods = [ids.k8s("pod", "default", NAMESPACE, pod_name(i)) for i in range(exporter.pods)]
    node = ids.host_node(socket.gethostname())
    async with running(source) as (sink, task):
        # Rates settle once Prometheus holds a full range of samples.
        latest = await sink.wait_for(
            lambda: _alive(task) and (m := _latest(sink)) and all(
                m.get(c, {}).get("cpu_percent") == pytest.approx(CPU_CORES_PER_POD * 100, rel=0.1)
                for c in containers) and all(
                m.get(p, {}).get("network_rx_rate") == pytest.approx(RX_BYTES_PER_SEC, rel=0.1)
                for p in pods) and node in m and m,
            timeout=30, what="settled metrics on every container, pod and the node")
    for container in containers:
        values = latest[container]
        assert values["memory_bytes"] == MEMORY_BYTES
        assert values["memory_limit"] == MEMORY_LIMIT
    for pod in pods:
        values = latest[pod]
        assert values["restarts"] == RESTARTS
        assert values["error_rate"] == pytest.approx(ERROR_RATIO)
    assert latest[node]["node_cpu_percent"] == pytest.approx(
        100 * (1 - NODE_IDLE_PER_SEC), abs=3)
    assert sink.state == SourceState.OK


async def test_a_rejected_query_degrades_and_the_others_still_report(
    prometheus: PrometheusServer, exporter: Exporter  # noqa: F811
) -> None:
    queries = {"memory_bytes": "container_memory_working_set_bytes", "broken": "sum(("}
    source = PrometheusSource(_config(prometheus.url, prometheus_queries=queries))
    async with running(source) as (sink, task):
        await sink.wait_for(lambda: _alive(task) and sink.state == SourceState.DEGRADED,
                            timeout=15,
                            what="a degraded status")
        latest = _latest(sink)
    assert sink.statuses[-1][1].startswith("broken: HTTP 400")
    assert latest[ids.container(container_id(0))]["memory_bytes"] == MEMORY_BYTES


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real listener that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


async def test_a_silent_prometheus_times_out_and_raises(silent_server: str) -> None:
    source = PrometheusSource(_config(silent_server, prometheus_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(SourceError, match="no answer in 0.3s"):
        await asyncio.wait_for(source.run(RecordingSink()), 15)
    assert time.monotonic() - started < 10


async def test_killing_prometheus_marks_only_that_source_down(
    prometheus: PrometheusServer, postgres_cluster: PgCluster, tmp_path: Path  # noqa: F811
) -> None:
    config = Config()
    config.server.data_dir = str(tmp_path)
    postgres = PostgresSource(PostgresCollector(enabled=True, dsns=[postgres_cluster.dsn()],
                                                poll_interval=0.3))
    engine = Engine(config, sources=[PrometheusSource(_config(prometheus.url)), postgres])
    flushed: list[set[str]] = []

    def read(entry: Entry) -> None:
        if isinstance(entry.change, MetricsFrame):
            flushed.append(set(entry.change.values))

    engine.changes.subscribe(read)
    db_id = ids.database("postgresql", f"127.0.0.1:{postgres_cluster.port}", DATABASE)
    await engine.start()
    try:
        statuses = engine.hub.statuses
        await _until(lambda: statuses["prometheus"].state == SourceState.OK
                     and statuses["postgres"].state == SourceState.OK, "both sources ok")
        prometheus.kill()
        await _until(lambda: statuses["prometheus"].state == SourceState.DOWN,
                     "prometheus marked down")
        flushed.clear()
        await _until(lambda: any(db_id in batch for batch in flushed),
                     "database metrics still flowing", timeout=20)
        assert statuses["postgres"].state == SourceState.OK
        assert not engine.store.entities[db_id].stale
        assert "unreachable" in statuses["prometheus"].reason
    finally:
        await engine.stop()


async def _until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
