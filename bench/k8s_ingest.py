"""Kubernetes source ingest rate: watch event lines -> decoded, slimmed, graph updated,
sink called, on one core (no network: the lines are what kubesim sends for a 10,000-pod
cluster under pod churn).

    python bench/k8s_ingest.py [--pods 10000] [--events 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import psutil
from benchlib import write_result

from gestalt.model import Connection, Entity, Event, SourceState
from gestalt.model.config import KubernetesCollector
from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sim.scenarios import STAMP_ANNOTATION, build_cluster
from gestalt.sources.kubernetes import KubernetesSource
from gestalt.sources.kubernetes.api import KINDS, _event_decoder, _full

PODS = STORED[("", "pods")]


class CountingSink:
    def __init__(self) -> None:
        self.calls = 0

    def snapshot(self, entities: Iterable[Entity], connections: Iterable[Connection] = (), *,
                 observed_at: float | None = None) -> None:
        self.calls += 1

    def upsert(self, entities: Iterable[Entity] = (), connections: Iterable[Connection] = (), *,
               observed_at: float | None = None) -> None:
        self.calls += 1

    def remove(self, entity_ids: Iterable[str] = (), connection_ids: Iterable[str] = (), *,
               observed_at: float | None = None) -> None:
        self.calls += 1

    def event(self, event: Event) -> None:
        pass

    def metrics(self, entity_id: str, values: Mapping[str, Any], observed_at: float) -> None:
        pass

    def status(self, state: SourceState, reason: str = "") -> None:
        pass


def run(pods: int, events: int) -> dict[str, Any]:
    sim = KubeSim()
    build_cluster(sim, nodes=max(3, pods // 100), namespaces=20, pods=pods)
    kinds = {k.kind: k for k in KINDS}
    source = KubernetesSource(KubernetesCollector())
    sink = CountingSink()
    source.start(sink, "bench")
    listed = {}
    for kind in KINDS:
        resource = next(r for r in STORED.values() if r.kind == kind.kind)
        listed[kind] = [orjson.loads(orjson.dumps(o)) for o in sim.store.items(resource)]
    started = time.perf_counter()
    for kind, objects in listed.items():
        source.listed(kind, None, source.prepare(kind, objects))
    initial = time.perf_counter() - started
    all_pods = list(sim.store.items(PODS))
    lines = []
    for i in range(events):
        pod = orjson.loads(orjson.dumps(all_pods[i % len(all_pods)]))
        pod["metadata"].setdefault("annotations", {})[STAMP_ANNOTATION] = str(i)
        pod["metadata"]["resourceVersion"] = str(10**7 + i)
        lines.append(orjson.dumps({"type": "MODIFIED", "object": pod}))
    pod_kind = kinds["Pod"]
    started = time.perf_counter()
    cpu_started = time.process_time()
    for line in lines:
        event = _event_decoder.decode(line)
        source.changed(pod_kind, event.type, _full(pod_kind, event.object))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"pods": pods, "events": events,
            "events_per_second_wall": round(events / wall),
            "events_per_second_cpu": round(events / cpu),
            "microseconds_per_event": round(wall / events * 1e6, 1),
            "bytes_per_event": round(sum(len(x) for x in lines) / len(lines)),
            "lists_to_first_snapshot_seconds": round(initial, 3),
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "sink_calls": sink.calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    write_result("k8s_ingest", run(args.pods, args.events))


if __name__ == "__main__":
    main()
