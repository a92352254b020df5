"""Kubernetes source ingest on one core, without network: list pages and watch event lines
as kubesim sends them for a 10,000-pod cluster go through the source's decoding, graph
and sink calls (the sink keeps nothing, so the memory measured is the source's own).

Reported: time from the list pages to the first snapshot, the source's resident memory
after it (and per entity), a relist of the unchanged cluster, and watch events per second
under pod churn.

    python bench/k8s_ingest.py [--pods 10000] [--events 20000]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import psutil
from benchlib import command_line, write_result

from gestalt.model import Connection, Entity, Event, SourceState
from gestalt.model.config import KubernetesCollector
from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sim.scenarios import STAMP_ANNOTATION, build_cluster
from gestalt.sources.kubernetes import KubernetesSource
from gestalt.sources.kubernetes.api import KINDS, Kind, _event_decoder, _full, decode_page

PODS = STORED[("", "pods")]
PAGE = 500


class CountingSink:
    def __init__(self) -> None:
        self.calls = 0
        self.entities = 0

    def snapshot(self, entities: Iterable[Entity], connections: Iterable[Connection] = (), *,
                 observed_at: float | None = None) -> None:
        self.calls += 1
        self.entities = sum(1 for _ in entities)

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

    def status(self, state: SourceState, reason: str = "", **_: object) -> None:
        pass


def list_pages(sim: KubeSim) -> dict[Kind, list[bytes]]:
    """Each kind's list as the response bodies a paged list gets (Secrets as metadata)."""
    pages: dict[Kind, list[bytes]] = {}
    for kind in KINDS:
        resource = next(r for r in STORED.values() if r.kind == kind.kind)
        objects = list(sim.store.items(resource))
        pages[kind] = []
        for start in range(0, max(len(objects), 1), PAGE):
            chunk = objects[start:start + PAGE]
            more = {"continue": "next"} if start + PAGE < len(objects) else {}
            if kind.metadata_only:
                body = {"kind": "PartialObjectMetadataList",
                        "metadata": {"resourceVersion": "1", **more},
                        "items": [{"metadata": o["metadata"]} for o in chunk]}
            else:
                body = {"kind": "List", "metadata": {"resourceVersion": "1", **more},
                        "items": chunk}
            pages[kind].append(orjson.dumps(body))
    return pages


def sync(source: KubernetesSource, pages: dict[Kind, list[bytes]]) -> None:
    """What the informers do with the pages, one kind after the other."""
    for kind, bodies in pages.items():
        kept: list[Any] = []
        for body in bodies:
            kept += source.prepare(kind, decode_page(kind, body)[0])
        source.listed(kind, None, kept)


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def run(pods: int, events: int) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sim = KubeSim()
    build_cluster(sim, nodes=max(3, pods // 100), namespaces=20, pods=pods)
    pages = list_pages(sim)
    all_pods = list(sim.store.items(PODS))
    lines = []
    for i in range(events):
        pod = orjson.loads(orjson.dumps(all_pods[i % len(all_pods)]))
        pod["metadata"].setdefault("annotations", {})[STAMP_ANNOTATION] = str(i)
        pod["metadata"]["resourceVersion"] = str(10**7 + i)
        lines.append(orjson.dumps({"type": "MODIFIED", "object": pod}))
    del sim, all_pods, pod
    source = KubernetesSource(KubernetesCollector())
    sink = CountingSink()
    source.start(sink, "bench")
    rss_before = rss()

    started = time.perf_counter()
    sync(source, pages)
    initial = time.perf_counter() - started
    rss_synced = rss()

    started = time.perf_counter()
    sync(source, pages)  # a relist that finds nothing changed
    relist = time.perf_counter() - started

    pod_kind = next(k for k in KINDS if k.kind == "Pod")
    started = time.perf_counter()
    cpu_started = time.process_time()
    for line in lines:
        event = _event_decoder.decode(line)
        source.changed(pod_kind, event.type, _full(pod_kind, event.object))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"pods": pods, "entities": sink.entities, "events": events,
            "events_per_second_wall": round(events / wall),
            "events_per_second_cpu": round(events / cpu),
            "microseconds_per_event": round(wall / events * 1e6, 1),
            "bytes_per_event": round(sum(len(x) for x in lines) / len(lines)),
            "lists_to_first_snapshot_seconds": round(initial, 3),
            "relist_unchanged_seconds": round(relist, 3),
            "source_rss_mb": round((rss_synced - rss_before) / 2**20, 1),
            "source_bytes_per_entity": round((rss_synced - rss_before) / sink.entities),
            "sink_calls": sink.calls}


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pods", type=int, default=10_000, help="pods of the cluster")
    parser.add_argument("--events", type=int, default=20_000,
                        help="watch events under pod churn")


def main() -> None:
    args = command_line(__doc__, options)
    write_result("k8s_ingest", run(args.pods, args.events))


if __name__ == "__main__":
    main()
