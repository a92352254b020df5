"""`world.infra.docker.*`: containers, networks and their stats as the Docker source sees them."""

from __future__ import annotations

from gestalt.engine.paths.base import Params, Result, entities_of, entity_row, path
from gestalt.engine.runtime import Engine
from gestalt.model import EntityKind


@path("world.infra.docker.containers", "List Docker containers", source="docker",
      columns=("name", "short_id", "image", "status", "reason", "health", "cpu_percent",
               "memory_bytes"))
async def _docker_containers(engine: Engine, params: Params) -> Result:
    rows = []
    for e in entities_of(engine, EntityKind.CONTAINER, "docker"):
        # reason: why it is not running (Completed, Stopped, Error, OOMKilled, StartError).
        row = entity_row(e, "image", "reason", "cpu_percent", "memory_bytes", "restart_count")
        row["short_id"] = e.id.split(":", 1)[1]
        rows.append(row)
    return rows


@path("world.infra.docker.networks", "List Docker networks", source="docker",
      columns=("name", "driver", "containers", "id"))
async def _docker_networks(engine: Engine, params: Params) -> Result:
    rows = []
    for e in entities_of(engine, EntityKind.NETWORK, "docker"):
        row = entity_row(e, "driver")
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
        for e in entities_of(engine, EntityKind.CONTAINER, "docker")
    ]
