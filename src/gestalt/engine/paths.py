"""The `world.infra.*` path registry of the product plan: each path registered once.

The same registry answers `GET /api/paths/{path}` and `gestalt query PATH`. A path's
handler returns rows (a list of flat dicts, shown as a table by the CLI) or a document
(a dict). Paths that belong to a source answer a clear error when it is not enabled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gestalt.engine.alerts import select_alerts
from gestalt.engine.filters import TopologyFilter, parse_kinds, split_values
from gestalt.engine.health import overall_status, summarize
from gestalt.engine.registry import SPECS
from gestalt.engine.runtime import TOPOLOGY_SERIES, Engine
from gestalt.model import Entity, EntityKind, Health

Params = Mapping[str, str]
Result = list[dict[str, Any]] | dict[str, Any]
Handler = Callable[[Engine, Params], Awaitable[Result]]


class PathError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PathSpec:
    path: str
    description: str
    handler: Handler
    source: str | None = None
    columns: tuple[str, ...] = ()
    params: tuple[str, ...] = field(default=())


REGISTRY: dict[str, PathSpec] = {}


def path(
    name: str,
    description: str,
    *,
    source: str | None = None,
    columns: tuple[str, ...] = (),
    params: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"path {name} registered twice")
        REGISTRY[name] = PathSpec(name, description, handler, source, columns, params)
        return handler

    return register


def check_request(name: str, params: Params) -> PathSpec:
    """The path's spec, if the path exists and takes these parameters (kinds among them
    known kinds); else PathError. Needs no engine: the CLI asks before collecting."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise PathError(404, f"unknown path {name!r}; `gestalt query --list` shows them all")
    unknown = set(params) - set(spec.params)
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise PathError(400, f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"{name} takes: {allowed}")
    try:
        parse_kinds([params["kinds"]] if "kinds" in params else None)
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc
    return spec


async def resolve(engine: Engine, name: str, params: Params) -> tuple[PathSpec, Result]:
    spec = check_request(name, params)
    if spec.source is not None and spec.source not in engine.sources:
        key = SPECS[spec.source].key if spec.source in SPECS else spec.source
        raise PathError(409, f"source {spec.source} is not enabled ({key})")
    return spec, await spec.handler(engine, params)


# -- helpers -----------------------------------------------------------------------------

_ENTITY_COLUMNS = ("kind", "name", "namespace", "status", "health", "id")


def _row(entity: Entity, *extra: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": entity.id,
        "kind": entity.kind.value,
        "name": entity.name,
        "namespace": entity.namespace,
        "status": entity.status.value,
        "health": entity.health_status.value + (" (stale)" if entity.stale else ""),
        "score": entity.health,
    }
    for name in extra:
        row[name] = entity.attrs.get(name, getattr(entity, name, None))
    return row


def _of_kind(engine: Engine, kind: EntityKind, source: str | None = None) -> list[Entity]:
    entities = [e for e in engine.store.entities.values() if e.kind is kind]
    if source is not None:
        entities = [e for e in entities if source in e.sources]
    return sorted(entities, key=lambda e: (e.namespace or "", e.name))


def _filter(engine: Engine, params: Params) -> TopologyFilter:
    def values(name: str) -> list[str]:
        return [params[name]] if name in params else []

    try:
        return TopologyFilter.parse(kinds=values("kinds"), namespaces=values("namespaces"),
                                    labels=values("labels"), sources=values("sources"),
                                    known_sources=engine.source_names())
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc


def _to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


# -- topology ----------------------------------------------------------------------------

@path("world.infra.topology", "Get current infrastructure topology", columns=_ENTITY_COLUMNS)
async def _topology(engine: Engine, params: Params) -> Result:
    return _to_builtins(engine.topology())  # type: ignore[no-any-return]


@path("world.infra.topology.filter", "Filter topology by kind/namespace/label",
      columns=_ENTITY_COLUMNS, params=("kinds", "namespaces", "labels", "sources"))
async def _topology_filter(engine: Engine, params: Params) -> Result:
    entities, _ = _filter(engine, params).apply(engine.store.entities.values(), ())
    return [_row(e) for e in sorted(entities, key=lambda e: (e.kind.value, e.name))]


@path("world.infra.topology.diff", "Get topology changes since a version",
      params=("since",))
async def _topology_diff(engine: Engine, params: Params) -> Result:
    try:
        since = int(params.get("since", "0"))
    except ValueError as exc:
        raise PathError(400, "since must be a topology version (an integer)") from exc
    return topology_diff(engine, since)


def topology_diff(engine: Engine, since: int) -> dict[str, Any]:
    deltas = engine.store.deltas_since(since)
    if deltas is None:
        return {"from": since, "to": engine.store.version, "reset": True,
                "topology": _to_builtins(engine.topology())}
    upserts: dict[str, Any] = {}
    removals: dict[str, None] = {}
    edge_upserts: dict[str, Any] = {}
    edge_removals: dict[str, None] = {}
    for delta in deltas:
        for e in delta.upserts:
            upserts[e.id] = e
            removals.pop(e.id, None)
        for eid in delta.removals:
            upserts.pop(eid, None)
            removals[eid] = None
        for c in delta.edge_upserts:
            edge_upserts[c.id] = c
            edge_removals.pop(c.id, None)
        for cid in delta.edge_removals:
            edge_upserts.pop(cid, None)
            edge_removals[cid] = None
    return {
        "from": since,
        "to": engine.store.version,
        "reset": False,
        "upserts": _to_builtins(list(upserts.values())),
        "removals": list(removals),
        "edge_upserts": _to_builtins(list(edge_upserts.values())),
        "edge_removals": list(edge_removals),
    }


# -- Kubernetes --------------------------------------------------------------------------

def _k8s_list(kind: EntityKind, *extra: str) -> Handler:
    async def handler(engine: Engine, params: Params) -> Result:
        return [_row(e, *extra) for e in _of_kind(engine, kind, "kubernetes")]

    return handler


path("world.infra.k8s.namespaces", "List Kubernetes namespaces", source="kubernetes",
     columns=("name", "status", "health"))(_k8s_list(EntityKind.NAMESPACE))
path("world.infra.k8s.pods", "List pods with status and metrics", source="kubernetes",
     columns=("namespace", "name", "status", "health", "restart_count", "node", "cpu_percent",
              "memory_bytes"))(
    _k8s_list(EntityKind.POD, "restart_count", "node", "cpu_percent", "memory_bytes"))
path("world.infra.k8s.services", "List services with endpoints", source="kubernetes",
     columns=("namespace", "name", "type", "cluster_ip", "endpoints", "health"))(
    _k8s_list(EntityKind.SERVICE, "type", "cluster_ip", "endpoints"))
path("world.infra.k8s.deployments", "List deployments with rollout status", source="kubernetes",
     columns=("namespace", "name", "status", "replicas", "ready_replicas", "health"))(
    _k8s_list(EntityKind.DEPLOYMENT, "replicas", "ready_replicas"))


@path("world.infra.k8s.events", "Kubernetes events (newest first)", source="kubernetes",
      columns=("time", "type", "reason", "object", "message"), params=("limit",))
async def _k8s_events(engine: Engine, params: Params) -> Result:
    events = await engine.history.events(limit=_limit(params), source="kubernetes")
    return [_event_row(e) for e in events]


# -- Docker ------------------------------------------------------------------------------

@path("world.infra.docker.containers", "List Docker containers", source="docker",
      columns=("name", "short_id", "image", "status", "reason", "health", "cpu_percent",
               "memory_bytes"))
async def _docker_containers(engine: Engine, params: Params) -> Result:
    rows = []
    for e in _of_kind(engine, EntityKind.CONTAINER, "docker"):
        # reason: why it is not running (Completed, Stopped, Error, OOMKilled, StartError).
        row = _row(e, "image", "reason", "cpu_percent", "memory_bytes", "restart_count")
        row["short_id"] = e.id.split(":", 1)[1]
        rows.append(row)
    return rows


@path("world.infra.docker.networks", "List Docker networks", source="docker",
      columns=("name", "driver", "containers", "id"))
async def _docker_networks(engine: Engine, params: Params) -> Result:
    rows = []
    for e in _of_kind(engine, EntityKind.NETWORK, "docker"):
        row = _row(e, "driver")
        row["containers"] = sum(1 for c in engine.store.edges_of(e.id))
        rows.append(row)
    return rows


@path("world.infra.docker.stats", "Get container resource stats", source="docker",
      columns=("name", "cpu_percent", "memory_bytes", "memory_limit", "network_rx_rate",
               "network_tx_rate"))
async def _docker_stats(engine: Engine, params: Params) -> Result:
    return [
        {"id": e.id, "name": e.name, "cpu_percent": e.cpu_percent,
         "memory_bytes": e.memory_bytes, "memory_limit": e.memory_limit,
         "network_rx_rate": e.network_rx_rate, "network_tx_rate": e.network_tx_rate}
        for e in _of_kind(engine, EntityKind.CONTAINER, "docker")
    ]


# -- NATS --------------------------------------------------------------------------------

@path("world.infra.nats.subjects", "List NATS subjects", source="nats",
      columns=("name", "subscribers", "msgs_per_sec", "bytes_per_sec", "queue_depth", "health"))
async def _nats_subjects(engine: Engine, params: Params) -> Result:
    return [{**_row(e), **e.custom_metrics}
            for e in _of_kind(engine, EntityKind.NATS_SUBJECT, "nats")]


@path("world.infra.nats.streams", "List JetStream streams", source="nats",
      columns=("name", "subjects", "messages", "bytes", "consumers", "msgs_per_sec", "storage",
               "health"))
async def _nats_streams(engine: Engine, params: Params) -> Result:
    rows = []
    for e in _of_kind(engine, EntityKind.NATS_STREAM, "nats"):
        row = {**_row(e, "storage"), **e.custom_metrics}
        # "subjects": the stream's configured subjects; how many distinct ones it holds
        # is a count of its own.
        row["distinct_subjects"] = row.pop("subjects", None)
        row["subjects"] = e.attrs.get("subjects")
        rows.append(row)
    return rows


@path("world.infra.nats.messages", "Stream messages on subjects (sampled)", source="nats",
      columns=("timestamp", "subject", "size", "payload"),
      params=("subjects", "limit", "seconds"))
async def _nats_messages(engine: Engine, params: Params) -> Result:
    """What arrives within `seconds` (default 2, at most 10), at most `limit` messages.
    The live stream is GET /api/infra/nats/messages/stream."""
    subjects = sorted(split_values([params.get("subjects", "")]))
    if not subjects:
        raise PathError(400, "pass subjects=<subject>[,<subject>...] (wildcards allowed)")
    try:
        seconds = min(10.0, max(0.1, float(params.get("seconds", "2"))))
    except ValueError as exc:
        raise PathError(400, "seconds must be a number") from exc
    limit = _limit(params)
    samples: list[dict[str, Any]] = []
    stream = nats_messages(engine, subjects)
    try:
        async with asyncio.timeout(seconds):
            async for sample in stream:
                samples.append(sample)
                if len(samples) >= limit:
                    break
    except TimeoutError:
        pass
    finally:
        await stream.aclose()
    return samples


def nats_messages(engine: Engine, subjects: list[str]) -> AsyncGenerator[dict[str, Any], None]:
    source = engine.sources.get("nats")
    if source is None:
        raise PathError(409, "source nats is not enabled (collectors.nats.enabled)")
    return source.sampled_messages(subjects)  # type: ignore[attr-defined, no-any-return]


# -- metrics -----------------------------------------------------------------------------

def _metric_path(*fields: str) -> Handler:
    async def handler(engine: Engine, params: Params) -> Result:
        rows = []
        for e in engine.store.entities.values():
            values = {f: getattr(e, f) for f in fields}
            if all(v is None for v in values.values()):
                continue
            rows.append({"id": e.id, "kind": e.kind.value, "name": e.name, **values})
        rows.sort(key=lambda r: -(r[fields[0]] or 0))
        return rows[: _limit(params)]

    return handler


path("world.infra.metrics.cpu", "CPU utilization by entity", params=("limit",),
     columns=("kind", "name", "cpu_percent", "id"))(_metric_path("cpu_percent"))
path("world.infra.metrics.memory", "Memory utilization by entity", params=("limit",),
     columns=("kind", "name", "memory_bytes", "memory_limit", "id"))(
    _metric_path("memory_bytes", "memory_limit"))
path("world.infra.metrics.network", "Network I/O by entity", params=("limit",),
     columns=("kind", "name", "network_rx_rate", "network_tx_rate", "id"))(
    _metric_path("network_rx_rate", "network_tx_rate", "network_rx_bytes",
                 "network_tx_bytes"))


@path("world.infra.metrics.custom", "Custom metrics by label",
      columns=("kind", "name", "metric", "labels", "value", "id"),
      params=("labels", "metric", "limit"))
async def _metrics_custom(engine: Engine, params: Params) -> Result:
    """Every custom metric series: the sources' own (database, NATS...) and what OTLP
    metrics say, one row per series (`labels`: its attributes). `labels=` filters the
    entities by their labels, `metric=` takes a metric's name (all its series) or one
    series as written (`name{key="value"}`)."""
    flt = _filter(engine, {"labels": params["labels"]} if "labels" in params else {})
    wanted = params.get("metric")
    rows = []
    for e in engine.store.entities.values():
        if not e.custom_metrics or not flt.matches(e):
            continue
        for series, value in sorted(e.custom_metrics.items()):
            metric, labels = _series(series)
            if wanted is None or wanted in (metric, series):
                rows.append({"id": e.id, "kind": e.kind.value, "name": e.name,
                             "metric": metric, "labels": labels, "value": value})
    return rows[: _limit(params)]


def _series(key: str) -> tuple[str, str]:
    """`name{k="v"}` (a series of an OTLP metric) -> ("name", 'k="v"')."""
    metric, brace, labels = key.partition("{")
    return (metric, labels[:-1]) if brace and labels.endswith("}") else (key, "")


# -- health ------------------------------------------------------------------------------

@path("world.infra.health.score", "Calculate health score for entity (or everything)",
      params=("entity",))
async def _health_score(engine: Engine, params: Params) -> Result:
    entity_id = params.get("entity")
    if entity_id:
        entity = engine.store.entities.get(entity_id)
        if entity is None:
            raise PathError(404, f"no entity {entity_id!r}")
        return {"entity": entity.id, "score": entity.health,
                "status": entity.health_status.value, "reasons": entity.health_reasons}
    summary = summarize(engine.store.entities.values())
    return {"overall": summary.overall, "status": overall_status(summary).value,
            "summary": _to_builtins(summary)}


@path("world.infra.health.alerts",
      "Get alerts: the active ones (pending, firing, unknown) unless state= says "
      "pending, firing, unknown, resolved or all",
      columns=("severity", "state", "rule", "entity_name", "message"), params=("state",))
async def _health_alerts(engine: Engine, params: Params) -> Result:
    try:
        alerts = select_alerts(engine.alerts(), params.get("state", "active"))
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc
    return [_to_builtins(a) for a in alerts]


@path("world.infra.health.history", "Get health history (an entity's, or the topology's)",
      columns=("time", "score"), params=("entity", "since"))
async def _health_history(engine: Engine, params: Params) -> Result:
    entity_id = params.get("entity", TOPOLOGY_SERIES)
    try:
        since = float(params.get("since", time.time() - 3600))
    except ValueError as exc:
        raise PathError(400, "since must be epoch seconds") from exc
    series = await engine.history.metric_series(entity_id, ["health"], since)
    return [{"time": ts, "score": value} for ts, value in series.get("health", [])]



def _limit(params: Params, default: int = 100) -> int:
    try:
        limit = int(params.get("limit", default))
    except ValueError as exc:
        raise PathError(400, "limit must be an integer") from exc
    if not 1 <= limit <= 10000:
        raise PathError(400, "limit must be between 1 and 10000")
    return limit


def _event_row(event: Any) -> dict[str, Any]:
    return {"time": event.timestamp, "type": event.type, "reason": event.reason,
            "object": f"{event.entity_kind.value}/{event.entity_name}",
            "message": event.message, "severity": event.severity.value}


__all__ = ["REGISTRY", "PathError", "PathSpec", "Health", "check_request", "resolve",
           "topology_diff"]
