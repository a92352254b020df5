"""PrometheusSource: metrics the other sources lack, read from a Prometheus HTTP API.

Every `prometheus_interval` each configured PromQL query (metric name -> PromQL) runs as an
instant query; each series of the result is mapped to an entity by its labels and its
value reported with `sink.metrics` (entity fields such as `cpu_percent`, anything else
into `custom_metrics`, e.g. `error_rate`, which the health score reads). The source
describes no entity of its own: it enriches those the other sources see.

Label mapping, most specific first:
  a 64-hex container id in `container_id` or cAdvisor's `id` (a cgroup path) -> container;
  `namespace` + `pod` -> pod (cluster from the config);
  `node` -> Kubernetes node;
  `instance` (host:port of the scrape target) -> that host as a node (this machine when
  the host is loopback or our own name).
Several series on one entity are summed (e.g. a pod's interfaces).

Failure modes: Prometheus unreachable, or every query failing, raises `SourceError` (the
supervisor marks this source down, its last values stale, and retries). A slow query (its
own timeout), a rejected query or warnings make the cycle partial: values that came are
reported, the rest keep their last value, and the status is DEGRADED with the reasons.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import time
from dataclasses import dataclass, field

import httpx
import orjson

from gestalt.model import SourceState, ids
from gestalt.model.config import OtelCollector
from gestalt.sources.base import PermanentSourceError, Sink, SourceError
from gestalt.sources.polling import poll_every

_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
_INT_FIELDS = frozenset({"memory_bytes", "memory_limit", "network_rx_bytes", "network_tx_bytes"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "[::1]"})


class QueryFailed(Exception):
    """One query did not produce a result (slow, rejected, malformed answer)."""


@dataclass(slots=True)
class Cycle:
    """What one round of queries produced."""

    values: dict[str, dict[str, float]] = field(default_factory=dict)  # entity -> name -> v
    answered: set[str] = field(default_factory=set)  # metric names whose query succeeded
    problems: list[str] = field(default_factory=list)
    series: int = 0
    unmapped: int = 0


class PrometheusSource:
    name = "prometheus"

    def __init__(self, config: OtelCollector) -> None:
        self._config = config
        self._host = socket.gethostname()
        self._reported: dict[str, set[str]] = {}  # entity -> metric names sent last time
        self.last_cycle_seconds: float | None = None

    async def run(self, sink: Sink) -> None:
        endpoint = self._config.prometheus_endpoint
        if not endpoint:
            raise PermanentSourceError("collectors.otel.prometheus_endpoint is not set")
        if not self._config.prometheus_queries:
            raise PermanentSourceError("collectors.otel.prometheus_queries is empty")
        async with httpx.AsyncClient(
            base_url=endpoint,
            timeout=self._config.prometheus_timeout + 1.0,
        ) as client:
            await poll_every(self._config.prometheus_interval, lambda: self.poll(client, sink))

    async def poll(self, client: httpx.AsyncClient, sink: Sink) -> Cycle:
        started = time.monotonic()
        cycle = await self.query_all(client)
        observed_at = time.time()
        for entity_id in cycle.values.keys() | self._reported.keys():
            current = cycle.values.get(entity_id, {})
            previous = self._reported.get(entity_id, set())
            # A series gone from a query that answered clears its value; one whose query
            # failed this time keeps its last value.
            values: dict[str, float | None] = {
                **dict.fromkeys((previous & cycle.answered) - current.keys()), **current}
            if values:
                sink.metrics(entity_id, values, observed_at)
            kept = (previous - cycle.answered) | current.keys()
            if kept:
                self._reported[entity_id] = kept
            else:
                del self._reported[entity_id]
        self.last_cycle_seconds = time.monotonic() - started
        if cycle.problems:
            sink.status(SourceState.DEGRADED, "; ".join(cycle.problems)[:1000])
        else:
            sink.status(SourceState.OK, f"{cycle.series} series on {len(cycle.values)} entities")
        return cycle

    async def query_all(self, client: httpx.AsyncClient) -> Cycle:
        queries = self._config.prometheus_queries
        results = await asyncio.gather(
            *(self._query(client, promql) for promql in queries.values()),
            return_exceptions=True,
        )
        cycle = Cycle()
        unreachable: list[str] = []
        for name, result in zip(queries, results, strict=True):
            if isinstance(result, httpx.TimeoutException):
                cycle.problems.append(f"{name}: no answer in {self._config.prometheus_timeout}s")
            elif isinstance(result, httpx.TransportError):
                unreachable.append(f"{type(result).__name__}: {result}")
            elif isinstance(result, QueryFailed):
                cycle.problems.append(f"{name}: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                series, warnings = result
                cycle.answered.add(name)
                cycle.problems.extend(f"{name}: warning: {w}" for w in warnings)
                self._collect(cycle, name, series)
        if unreachable:
            raise SourceError(
                f"Prometheus at {self._config.prometheus_endpoint} unreachable: {unreachable[0]}")
        if not cycle.answered:
            raise SourceError("every Prometheus query failed: " + "; ".join(cycle.problems)[:500])
        for values in cycle.values.values():
            for name in _INT_FIELDS & values.keys():
                values[name] = int(values[name])
        return cycle

    async def _query(self, client: httpx.AsyncClient, promql: str
                     ) -> tuple[list[dict[str, object]], list[str]]:
        # Prometheus's own evaluation limit, in (float) seconds, before our client gives up.
        params = {"query": promql, "timeout": str(self._config.prometheus_timeout)}
        async with client.stream("GET", "/api/v1/query", params=params) as reply:
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > _MAX_RESPONSE_BYTES:
                    raise QueryFailed(f"answer over {_MAX_RESPONSE_BYTES} bytes")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise QueryFailed(f"HTTP {reply.status_code}, not JSON") from None
        if not isinstance(document, dict) or document.get("status") != "success":
            error = document.get("error") if isinstance(document, dict) else None
            raise QueryFailed(f"HTTP {reply.status_code}: {str(error)[:200]}")
        data = document.get("data") or {}
        if data.get("resultType") == "scalar":
            raise QueryFailed("a scalar has no labels to map to an entity")
        result = data.get("result")
        if not isinstance(result, list):
            raise QueryFailed("no result list in the answer")
        warnings = [str(w)[:200] for w in document.get("warnings") or []]
        return result, warnings

    def _collect(self, cycle: Cycle, name: str, series: list[dict[str, object]]) -> None:
        for item in series:
            cycle.series += 1
            labels = item.get("metric")
            value = item.get("value")
            if not isinstance(labels, dict) or not isinstance(value, list) or len(value) != 2:
                continue
            try:
                number = float(value[1])
            except (TypeError, ValueError):
                continue
            entity_id = self.entity_for(labels)
            if entity_id is None or not math.isfinite(number):
                cycle.unmapped += 1
                continue
            values = cycle.values.setdefault(entity_id, {})
            values[name] = values.get(name, 0.0) + number

    def entity_for(self, labels: dict[str, object]) -> str | None:
        def label(key: str) -> str:
            value = labels.get(key)
            return value if isinstance(value, str) else ""

        for key in ("container_id", "id"):
            found = _CONTAINER_ID.search(label(key))
            if found:
                return ids.container(found.group(0))
        cluster = self._config.cluster_name
        if label("namespace") and label("pod"):
            return ids.k8s("pod", cluster, label("namespace"), label("pod"))
        if label("node"):
            return ids.k8s("node", cluster, None, label("node"))
        instance = label("instance")
        if instance:
            host = instance.rsplit(":", 1)[0] if not instance.endswith("]") else instance
            host = host.strip("[]")
            if host in _LOOPBACK or host == self._host:
                return ids.host_node(self._host)
            return ids.host_node(host)
        return None

