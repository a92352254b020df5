"""`world.infra.k8s.*`: what the Kubernetes source sees."""

from __future__ import annotations

from gestalt.engine.paths.base import (
    Handler,
    Params,
    Result,
    entities_of,
    entity_row,
    event_row,
    limit_of,
    path,
)
from gestalt.engine.runtime import Engine
from gestalt.model import EntityKind


def _k8s_list(kind: EntityKind, *extra: str) -> Handler:
    async def handler(engine: Engine, params: Params) -> Result:
        return [entity_row(e, *extra) for e in entities_of(engine, kind, "kubernetes")]

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
    events = await engine.history.events(limit=limit_of(params), source="kubernetes")
    return [event_row(e) for e in events]
