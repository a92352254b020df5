"""The service graph on its own: pairing, expiry, direct edges, windows and bounds."""

from __future__ import annotations

import math

import pytest

from gestalt.model import ConnectionKind, EntityKind, Locator, ids
from gestalt.sources.otlp.grpc_server import sender_ip
from gestalt.sources.otlp.servicegraph import ServiceGraph
from gestalt.sources.otlp.spans import records, service_of
from gestalt.sources.otlp.window import WindowStats
from tests.fixtures.otlp.payloads import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    new_ids,
    resource_spans,
)
from tests.fixtures.otlp.payloads import span as make_span

NOW = 1_800_000_000.0
A = {"service.name": "checkout", "host.name": "h1", "process.pid": 10}
B = {"service.name": "inventory", "host.name": "h1", "process.pid": 20}
A_ID, B_ID = ids.process("h1", 10), ids.process("h1", 20)


def span(kind: int, **fields: object) -> object:
    fields.setdefault("end_s", NOW - 1)
    return make_span(kind, **fields)  # type: ignore[arg-type]


def feed(graph: ServiceGraph, resource: dict[str, str | int], *spans: object,
         now: float = NOW) -> None:
    group = resource_spans(resource, spans)  # type: ignore[arg-type]
    graph.ingest(service_of({kv.key: kv.value.string_value or kv.value.int_value
                             for kv in group.resource.attributes}), records(group), now)


def test_client_and_server_spans_pair_in_either_order() -> None:
    graph = ServiceGraph()
    for i in range(10):
        trace, client_id, server_id = new_ids()
        client = span(CLIENT, trace_id=trace, span_id=client_id, duration_ms=20, end_s=NOW - 1,
                      error=i == 0)
        server = span(SERVER, trace_id=trace, span_id=server_id, parent_id=client_id,
                      duration_ms=15, end_s=NOW - 1)
        pair = [(A, client), (B, server)]
        for resource, item in pair if i % 2 else reversed(pair):
            feed(graph, resource, item)
    entities, connections = graph.snapshot(NOW)
    (edge,) = connections
    assert (edge.source_id, edge.target_id, edge.kind) == (A_ID, B_ID, ConnectionKind.HTTP)
    assert edge.attrs["requests"] == 10 and edge.error_rate == pytest.approx(0.1)
    assert edge.latency_ms == pytest.approx(20, rel=0.01)  # the caller's view
    assert {e.id for e in entities} == {A_ID, B_ID}
    assert graph.pending == 0


def test_grpc_db_and_nats_edges() -> None:
    graph = ServiceGraph()
    trace, client_id, server_id = new_ids()
    feed(graph, A, span(CLIENT, trace_id=trace, span_id=client_id,
                        attrs={"rpc.system": "grpc"}))
    feed(graph, B, span(SERVER, trace_id=trace, span_id=server_id, parent_id=client_id))
    db_attrs = {"db.system": "postgresql", "db.namespace": "shop",
                "server.address": "10.0.0.7", "server.port": 5432}
    feed(graph, B, span(CLIENT, trace_id=trace, span_id=new_ids()[1], attrs=db_attrs))
    nats = {"messaging.system": "nats", "messaging.destination.name": "orders.created",
            "server.address": "nats", "server.port": 4222}
    feed(graph, A, span(PRODUCER, trace_id=trace, span_id=new_ids()[1], attrs=nats))
    feed(graph, B, span(CONSUMER, trace_id=trace, span_id=new_ids()[1], attrs=nats))
    entities, connections = graph.snapshot(NOW)
    db = ids.database("postgresql", "10.0.0.7:5432", "shop")
    # A short name is relative to the dialler (its DNS search path): qualified by its host.
    subject = ids.nats_subject("nats:4222@node:host/h1", "orders.created")
    assert {(c.source_id, c.target_id, c.kind) for c in connections} == {
        (A_ID, B_ID, ConnectionKind.GRPC),
        (B_ID, db, ConnectionKind.NETWORK),
        (A_ID, subject, ConnectionKind.NATS),
        (subject, B_ID, ConnectionKind.NATS),
    }
    by_id = {e.id: e for e in entities}
    assert by_id[db].kind == EntityKind.DATABASE
    assert by_id[subject].kind == EntityKind.NATS_SUBJECT
    # Both found only by address: located, for the hub to resolve.
    assert by_id[db].locator == Locator(host="10.0.0.7", port=5432, scope="node:host/h1",
                                        system="postgresql", name="shop")
    assert by_id[subject].locator == Locator(host="nats", port=4222, scope="node:host/h1",
                                             system="nats", name="orders.created")


def test_unanswered_client_spans_expire_to_the_peer() -> None:
    graph = ServiceGraph(pairing_wait=5)
    trace, client_id, _ = new_ids()
    feed(graph, A, span(CLIENT, trace_id=trace, span_id=client_id,
                        attrs={"server.address": "10.1.2.3", "server.port": 8080}))
    feed(graph, A, span(CLIENT, trace_id=trace, span_id=new_ids()[1],
                        attrs={"peer.service": "payments"}))
    feed(graph, A, span(CLIENT, trace_id=trace, span_id=new_ids()[1],
                        attrs={"server.address": "inventory", "server.port": 80,
                               "network.peer.address": "10.1.2.4"}))
    assert graph.snapshot(NOW)[1] == []  # still waiting for the server spans
    entities, connections = graph.snapshot(NOW + 6)
    by_ip = ids.service("external", "10.1.2.3:8080")
    by_name = ids.service("external", "inventory:80@node:host/h1")
    assert {c.target_id for c in connections} == {
        by_ip, by_name, ids.service("external", "payments")}
    located = {e.id: e.locator for e in entities}
    assert located[by_ip] == Locator(host="10.1.2.3", port=8080, scope="node:host/h1")
    # The socket the span records is more precise than the name it dialled.
    assert located[by_name] == Locator(host="10.1.2.4", port=80, scope="node:host/h1")
    assert located[ids.service("external", "payments")] is None
    assert graph.counters.expired == 3


def test_resources_map_to_pods_containers_processes_then_services() -> None:
    pod = service_of({"service.name": "web", "k8s.pod.name": "web-1",
                      "k8s.namespace.name": "shop", "container.id": "ab" * 32})
    assert pod.entity_id == ids.k8s("pod", "default", "shop", "web-1")
    assert pod.kind == EntityKind.POD
    container = service_of({"service.name": "web", "container.id": "ab" * 32})
    assert container.entity_id == ids.container("ab" * 32)
    process = service_of({"service.name": "web", "host.name": "h", "process.pid": 7})
    assert process.entity_id == ids.process("h", 7)
    plain = service_of({"service.name": "web", "service.namespace": "shop"})
    assert (plain.entity_id, plain.kind) == (ids.service("shop", "web"), EntityKind.SERVICE)
    host = service_of({"host.name": "h", "os.type": "linux"})  # a collector's host metrics
    assert (host.entity_id, host.kind, host.name) == (ids.host_node("h"), EntityKind.NODE, "h")
    # Each one's network: where `localhost` and short names in its spans point.
    assert (pod.scope, container.scope, process.scope, plain.scope) == (
        pod.entity_id, container.entity_id, ids.host_node("h"), None)
    # Exported over loopback, a resource that names no host runs on the receiver's host.
    local = service_of({"service.name": "web"}, sent_from="here")
    assert (local.entity_id, local.scope) == (ids.service("default", "web"), "node:host/here")
    assert service_of({"service.name": "web", "host.name": "h"}, "here").scope == "node:host/h"


def test_grpc_peer_strings() -> None:
    assert sender_ip("ipv4:127.0.0.1:50412") == "127.0.0.1"
    assert sender_ip("ipv6:[::1]:50412") == "::1"
    assert sender_ip("unix:/tmp/socket") is None


def test_pairing_store_is_bounded() -> None:
    graph = ServiceGraph(max_pending=5)
    for _ in range(8):
        trace, client_id, _ = new_ids()
        feed(graph, A, span(CLIENT, trace_id=trace, span_id=client_id))
    assert graph.pending == 5
    assert graph.counters.dropped_spans == 3


def test_window_rate_percentiles_and_decay() -> None:
    stats = WindowStats(60)
    durations = [float(d) for d in range(1, 101)]  # 1..100 ms
    for i, duration in enumerate(durations):
        stats.add(NOW - 20 + i * 0.1, duration, error=i % 4 == 0)  # 10 per second for 10 s
    summary = stats.summary(NOW - 10, export_delay=10)
    assert summary is not None
    assert summary.requests_per_sec == pytest.approx(100 / 9.9)
    assert summary.error_rate == pytest.approx(0.25)
    assert summary.p50_ms == pytest.approx(50, rel=0.01)
    assert summary.p99_ms == pytest.approx(99, rel=0.01)
    # Silence: the rate decays once the export delay has passed, and the window empties.
    later = stats.summary(NOW + 30, export_delay=10)
    assert later is not None and later.requests_per_sec < summary.requests_per_sec / 2
    assert stats.prune(NOW + 60) and stats.summary(NOW + 60, export_delay=10) is None
    assert not math.isnan(later.p50_ms)
