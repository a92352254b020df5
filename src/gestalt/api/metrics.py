"""`/metrics`: Gestalt's own numbers in the Prometheus exposition format.

A custom collector reads the engine's state at scrape time, so nothing is counted twice
and nothing is kept in a second registry that could drift.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gestalt.api.sse import Broadcaster
from gestalt.engine.collection import collection
from gestalt.engine.runtime import Engine
from gestalt.model import SourceState


class EngineCollector:
    def __init__(self, engine: Engine, broadcaster: Broadcaster) -> None:
        self.engine = engine
        self.broadcaster = broadcaster

    def collect(self) -> Iterator[Metric]:
        engine, broadcaster = self.engine, self.broadcaster
        entities = GaugeMetricFamily("gestalt_entities", "Entities on the map", labels=["kind"])
        # The store's summary keeps its counts by kind as entities come and go: counting
        # them here walked the whole map on the event loop at every scrape (110,000
        # entities on a federated hub).
        for kind, counted in sorted(engine.store.summary().by_kind.items()):
            entities.add_metric([kind], counted.count)
        yield entities
        yield GaugeMetricFamily("gestalt_connections", "Connections on the map",
                                value=len(engine.store.connections))
        yield GaugeMetricFamily("gestalt_topology_version", "Current topology version",
                                value=engine.store.version)
        clients = GaugeMetricFamily("gestalt_sse_clients", "Connected SSE clients",
                                    labels=["stream"])
        for kind in ("topology", "events"):
            clients.add_metric([kind], broadcaster.count(kind))
        yield clients
        yield CounterMetricFamily("gestalt_sse_resyncs", "Clients cut to resync for lagging",
                                  value=broadcaster.resyncs)
        yield CounterMetricFamily("gestalt_sse_frames", "Frames queued to SSE clients",
                                  value=broadcaster.frames_sent)
        yield CounterMetricFamily("gestalt_observations", "Observations received from sources",
                                  value=engine.hub.observations)
        up = GaugeMetricFamily("gestalt_source_up", "1 when the source is ok or degraded",
                               labels=["source", "state"])
        restarts = CounterMetricFamily("gestalt_source_restarts", "Source restarts",
                                       labels=["source"])
        for status in engine.source_statuses():
            live = status.state in (SourceState.OK, SourceState.DEGRADED)
            up.add_metric([status.name, status.state.value], 1.0 if live else 0.0)
            restarts.add_metric([status.name], engine.supervisor.restarts.get(status.name, 0))
        yield up
        yield restarts
        yield CounterMetricFamily("gestalt_history_write_errors", "Failed history writes",
                                  value=engine.history.write_errors)
        items = GaugeMetricFamily("gestalt_engine_items",
                                  "Items each engine structure holds (steady with the graph)",
                                  labels=["structure"])
        for structure, count in engine.footprint().items():
            items.add_metric([structure], count)
        yield items
        yield from _collector_metrics()
        if tracemalloc.is_tracing():  # PYTHONTRACEMALLOC=1: where memory goes, for soaks
            yield GaugeMetricFamily("gestalt_python_traced_bytes",
                                    "Python heap traced by tracemalloc",
                                    value=tracemalloc.get_traced_memory()[0])


def _collector_metrics() -> Iterator[Metric]:
    """The cyclic garbage collector's passes (counted where `gestalt serve` installed
    engine/collection.py): each one stops the event loop for its duration."""
    pauses = collection.pauses
    count = CounterMetricFamily("gestalt_gc_passes", "Garbage collector passes",
                                labels=["generation"])
    seconds = CounterMetricFamily("gestalt_gc_pause_seconds",
                                  "Time the garbage collector stopped the process",
                                  labels=["generation"])
    cpu = CounterMetricFamily("gestalt_gc_cpu_seconds",
                              "CPU time of the garbage collector's passes",
                              labels=["generation"])
    longest = GaugeMetricFamily("gestalt_gc_longest_pause_seconds",
                                "The garbage collector's longest pass", labels=["generation"])
    for generation in range(len(pauses.count)):
        label = [str(generation)]
        count.add_metric(label, pauses.count[generation])
        seconds.add_metric(label, pauses.seconds[generation])
        cpu.add_metric(label, pauses.cpu_seconds[generation])
        longest.add_metric(label, pauses.longest[generation])
    yield count
    yield seconds
    yield cpu
    yield longest
    yield GaugeMetricFamily("gestalt_gc_frozen_objects",
                            "Objects frozen out of the garbage collector's passes",
                            value=collection.frozen())
    yield CounterMetricFamily("gestalt_gc_freezes", "Times long-lived objects were frozen",
                              value=collection.freezes)
    yield CounterMetricFamily("gestalt_gc_settles",
                              "Full passes run after a bulk change (a site, a first list)",
                              value=collection.settles)


def engine_registry(engine: Engine, broadcaster: Broadcaster) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine, broadcaster))
    return registry


def exposition(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
