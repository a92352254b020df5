"""Hub ingest rate on one core: observations (entities, edges, metrics) per second.

Three workloads on a 10,000-entity, 20,000-edge world: the initial snapshot, a repeated
snapshot with 10% of the entities changed (a polling source), and single-entity upserts
as a watch source sends them (status flips and metric changes mixed).
"""

from __future__ import annotations

import os
import time

import msgspec
from benchlib import command_line, write_result

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import EntityStatus
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld


def main() -> None:
    command_line(__doc__)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    world = SyntheticWorld(SyntheticCollector(entities=10_000, edges=20_000))
    entities = list(world.entities.values())
    edges = list(world.connections.values())
    hub = Hub(Store())
    sink = hub.sink("bench")

    started = time.perf_counter()
    sink.snapshot(entities, edges)
    initial = time.perf_counter() - started

    changed = list(entities)
    repeated = []
    for round_ in range(5):
        for i in range(round_, len(changed), 10):
            e = changed[i]
            changed[i] = msgspec.structs.replace(e, cpu_percent=float((round_ * 7 + i) % 100))
        started = time.perf_counter()
        sink.snapshot(changed, edges)
        repeated.append(time.perf_counter() - started)

    pods = [e for e in changed if e.kind.value == "pod"]
    updates = []
    for i in range(50_000):
        pod = pods[i % len(pods)]
        if i % 5 == 0:
            status = EntityStatus.PENDING if i % 10 == 0 else EntityStatus.RUNNING
            updates.append(msgspec.structs.replace(pod, status=status))
        else:
            updates.append(msgspec.structs.replace(pod, cpu_percent=float(i % 97)))
    started = time.perf_counter()
    for entity in updates:
        sink.upsert([entity])
    single = time.perf_counter() - started

    observations = len(entities) + len(edges)
    write_result("hub_ingest", {
        "entities": len(entities),
        "edges": len(edges),
        "initial_snapshot_s": round(initial, 3),
        "initial_snapshot_obs_per_s": round(observations / initial),
        "repeated_snapshot_10pct_changed_s": round(min(repeated), 3),
        "repeated_snapshot_obs_per_s": round(observations / min(repeated)),
        "single_upserts_per_s": round(len(updates) / single),
        "topology_version": hub.store.version,
    })


if __name__ == "__main__":
    main()
