"""The hub: snapshots, merges, endpoint links, staleness, metric coalescing."""

from __future__ import annotations

from gestalt.engine.hub import Hub
from gestalt.engine.links import endpoint_candidates
from gestalt.engine.store import Store
from gestalt.model import (
    Connection,
    ConnectionKind,
    Delta,
    Entity,
    EntityKind,
    EntityStatus,
    Health,
    SourceState,
    ids,
)
from gestalt.model.entities import EMPTY_LIST


def ent(eid: str, kind: EntityKind = EntityKind.CONTAINER, **kw: object) -> Entity:
    kw.setdefault("status", EntityStatus.RUNNING)
    kw.setdefault("name", eid.split(":")[-1])
    return Entity(id=eid, kind=kind, **kw)  # type: ignore[arg-type]


def make() -> tuple[Hub, Store, list[Delta]]:
    store = Store(ring_size=100)
    deltas: list[Delta] = []
    store.subscribe(deltas.append)
    hub = Hub(store)
    return hub, store, deltas


def test_same_snapshot_twice_changes_nothing() -> None:
    hub, store, deltas = make()
    sink = hub.sink("a")
    sink.snapshot([ent("c:1"), ent("c:2")], [Connection(source_id="c:1", target_id="c:2",
                                                        kind=ConnectionKind.NETWORK)])
    assert store.version == 1 and len(store.entities) == 2 and len(store.connections) == 1
    sink.snapshot([ent("c:1"), ent("c:2")], [Connection(source_id="c:1", target_id="c:2",
                                                        kind=ConnectionKind.NETWORK)])
    assert store.version == 1
    assert len(deltas) == 1


def test_snapshot_removes_what_the_source_no_longer_sees_with_its_edges() -> None:
    hub, store, deltas = make()
    sink = hub.sink("a")
    sink.snapshot([ent("c:1"), ent("c:2")], [Connection(source_id="c:1", target_id="c:2",
                                                        kind=ConnectionKind.NETWORK)])
    sink.snapshot([ent("c:1")])
    assert set(store.entities) == {"c:1"}
    assert store.connections == {}
    assert deltas[-1].removals == ["c:2"]
    assert deltas[-1].edge_removals == ["network:c:1->c:2"]


def test_one_source_removing_does_not_remove_what_another_still_sees() -> None:
    hub, store, _ = make()
    hub.sink("docker").snapshot([ent("container:abc", attrs={"image": "x"})])
    hub.sink("kubernetes").snapshot([ent("container:abc", namespace="shop")])
    merged = store.entities["container:abc"]
    assert merged.sources == ["docker", "kubernetes"]
    assert merged.namespace == "shop"
    hub.sink("docker").snapshot([])
    assert "container:abc" in store.entities
    assert store.entities["container:abc"].sources == ["kubernetes"]


def test_the_first_source_keeps_the_name() -> None:
    hub, store, _ = make()
    hub.sink("docker").snapshot([ent("container:abc")])
    hub.sink("otlp").snapshot([ent("container:abc", name="checkout",
                                   custom_metrics={"error_rate": 0.1})])
    merged = store.entities["container:abc"]
    assert merged.name == "abc" and merged.custom_metrics == {"error_rate": 0.1}


def test_fields_merge_labels_combine() -> None:
    hub, store, _ = make()
    hub.sink("a").snapshot([ent("x:1", labels={"app": "web"}, attrs={"image": "nginx"})])
    hub.sink("b").snapshot([ent("x:1", labels={"tier": "front"}, attrs={"restart_count": 2})])
    merged = store.entities["x:1"]
    assert merged.labels == {"app": "web", "tier": "front"}
    assert merged.attrs == {"image": "nginx", "restart_count": 2}
    assert set(hub.contributions("x:1")) == {"a", "b"}


def test_edges_wait_for_both_ends() -> None:
    hub, store, _ = make()
    hub.sink("a").snapshot([ent("p:1")], [Connection(source_id="p:1", target_id="p:2",
                                                     kind=ConnectionKind.OWNS)])
    assert store.connections == {}
    hub.sink("b").snapshot([ent("p:2")])
    assert list(store.connections) == ["owns:p:1->p:2"]
    hub.sink("b").snapshot([])
    assert store.connections == {}


def test_endpoint_reference_resolves_to_socket_owner_then_ip_then_wildcard() -> None:
    hub, store, _ = make()
    subject = ent("nats-subject:s/orders", EntityKind.NATS_SUBJECT)
    edge = Connection(source_id=ids.endpoint("127.0.0.1", 50000), target_id=subject.id,
                      kind=ConnectionKind.NATS, requests_per_sec=5.0)
    hub.sink("nats").snapshot([subject], [edge])
    assert store.connections == {}  # nobody owns that socket yet
    proc = ent("process:h/42", EntityKind.PROCESS, endpoints=["127.0.0.1:50000"])
    hub.sink("host").snapshot([proc])
    (conn,) = store.connections.values()
    assert (conn.source_id, conn.target_id) == ("process:h/42", subject.id)
    assert conn.id == "nats:process:h/42->nats-subject:s/orders"
    assert conn.requests_per_sec == 5.0
    # The process goes away: the edge hides again, and comes back for a container by IP.
    hub.sink("host").snapshot([])
    assert store.connections == {}
    hub.sink("docker").snapshot([ent("container:c1", endpoints=["127.0.0.1"])])
    (conn,) = store.connections.values()
    assert conn.source_id == "container:c1"


def test_a_container_ip_is_the_containers_not_a_host_wildcard_listeners() -> None:
    hub, store, _ = make()
    hub.sink("host").snapshot([ent("process:h/7", EntityKind.PROCESS, endpoints=["0.0.0.0:80"]),
                               ent("process:h/8", EntityKind.PROCESS)])
    hub.sink("docker").snapshot([ent("container:c1", endpoints=["172.17.0.5"])])
    hub.sink("edges").snapshot([], [
        Connection(source_id="process:h/8", target_id=ids.endpoint("172.17.0.5", 80),
                   kind=ConnectionKind.NETWORK),
        Connection(source_id="process:h/8", target_id=ids.endpoint("192.0.2.2", 80),
                   kind=ConnectionKind.NETWORK)])
    assert {c.target_id for c in store.connections.values()} == {"container:c1", "process:h/7"}


def test_an_edge_two_sources_see_carries_what_each_knows() -> None:
    hub, store, _ = make()
    hub.sink("host").snapshot([ent("process:h/8", EntityKind.PROCESS,
                                   endpoints=["127.0.0.1:50000"])])
    hub.sink("postgres").snapshot(
        [ent("database:pg/db", EntityKind.DATABASE)],
        [Connection(source_id=ids.endpoint("127.0.0.1", 50000), target_id="database:pg/db",
                    kind=ConnectionKind.NETWORK, attrs={"user": "app", "protocol": "pg"})])
    hub.sink("otlp").snapshot([], [Connection(
        source_id="process:h/8", target_id="database:pg/db", kind=ConnectionKind.NETWORK,
        requests_per_sec=12.5, latency_ms=3.0, attrs={"requests": 25, "protocol": "sql"})])
    (edge,) = store.connections.values()
    assert (edge.requests_per_sec, edge.latency_ms) == (12.5, 3.0)
    # Attributes combined; in a conflict the source earlier in precedence wins (otlp
    # precedes postgres in the registry), whichever reported first.
    assert edge.attrs == {"user": "app", "protocol": "sql", "requests": 25}
    assert hub.connection_sources(edge.id) in (["postgres", "otlp"], ["otlp", "postgres"])
    hub.sink("otlp").snapshot([], [])
    (edge,) = store.connections.values()
    assert edge.requests_per_sec is None and edge.attrs == {"user": "app", "protocol": "pg"}


def test_endpoint_candidates() -> None:
    assert endpoint_candidates("10.0.0.5:80") == ["10.0.0.5:80", "10.0.0.5", "0.0.0.0:80",
                                                  "[::]:80"]
    assert endpoint_candidates("[::1]:4222") == ["[::1]:4222", "::1", "0.0.0.0:4222",
                                                 "[::]:4222"]
    assert endpoint_candidates("10.0.0.5") == ["10.0.0.5"]


def test_source_down_marks_its_entities_stale_and_unknown_then_recovers() -> None:
    hub, store, deltas = make()
    sink = hub.sink("docker")
    sink.snapshot([ent("c:1")])
    sink.status(SourceState.OK)
    assert store.entities["c:1"].health_status is Health.OK
    sink.status(SourceState.DOWN, "socket gone")
    stale = store.entities["c:1"]
    assert stale.stale and stale.health_status is Health.UNKNOWN
    assert deltas[-1].upserts[0].stale
    sink.status(SourceState.STARTING)
    assert store.entities["c:1"].stale
    sink.status(SourceState.OK)
    assert not store.entities["c:1"].stale
    assert hub.statuses["docker"].state is SourceState.OK


def test_metric_only_change_is_coalesced_without_a_version() -> None:
    hub, store, _ = make()
    sink = hub.sink("docker")
    sink.snapshot([ent("c:1", memory_limit=1000, memory_bytes=100)])
    sink.status(SourceState.OK)
    version = store.version
    store.flush_metrics()
    sink.metrics("c:1", {"cpu_percent": 12.5, "memory_bytes": 200}, 1.0)
    sink.metrics("c:1", {"cpu_percent": 13.5}, 2.0)
    assert store.version == version
    assert store.entities["c:1"].cpu_percent == 13.5
    frame = store.flush_metrics()
    assert frame is not None and frame.version == version
    values = frame.values
    assert values["c:1"]["cpu_percent"] == 13.5 and values["c:1"]["memory_bytes"] == 200
    assert frame.observed_at == 2.0
    assert store.flush_metrics() is None


def test_metric_crossing_a_threshold_is_a_structural_change() -> None:
    hub, store, deltas = make()
    sink = hub.sink("docker")
    sink.snapshot([ent("c:1", memory_limit=1000, memory_bytes=100)])
    sink.status(SourceState.OK)
    version = store.version
    sink.metrics("c:1", {"memory_bytes": 990}, 1.0)
    assert store.version == version + 1
    assert deltas[-1].upserts[0].health_status is Health.CRITICAL
    assert "memory at or above 95%" in deltas[-1].upserts[0].health_reasons


def test_metrics_for_an_entity_another_source_describes() -> None:
    hub, store, _ = make()
    hub.sink("kubernetes").snapshot([ent("pod:c/ns/web", EntityKind.POD)])
    hub.sink("prometheus").metrics("pod:c/ns/web", {"error_rate": 0.25}, 1.0)
    assert store.entities["pod:c/ns/web"].custom_metrics == {"error_rate": 0.25}
    assert store.entities["pod:c/ns/web"].sources == ["kubernetes"]


def test_events_are_attributed_to_their_source() -> None:
    from gestalt.model import Event

    hub, _, _ = make()
    seen: list[Event] = []
    hub.on_event(seen.append)
    hub.sink("docker").event(Event(id="e1", type="Warning", reason="die", message="x",
                                   entity_id="c:1", entity_kind=EntityKind.CONTAINER,
                                   entity_name="c", timestamp=1.0))
    assert seen[0].source == "docker"


def test_entities_of_a_simulated_source_are_marked() -> None:
    store = Store()
    hub = Hub(store, simulated=frozenset({"kubernetes"}))
    hub.sink("kubernetes").snapshot([ent("pod:kubesim/a/b", EntityKind.POD)])
    hub.sink("docker").snapshot([ent("container:1")])
    assert store.entities["pod:kubesim/a/b"].attrs["simulated"] is True
    assert "simulated" not in store.entities["container:1"].attrs


def test_merged_entities_without_health_reasons_share_the_one_empty_list() -> None:
    """A new empty list kept by every merged entity was 0.5 MB at 10,000 entities."""
    hub, store, _ = make()
    sink = hub.sink("docker")
    sink.status(SourceState.OK)
    sink.snapshot([ent(f"container:{i:012x}") for i in range(3)], [])
    sink.snapshot([ent(f"container:{i:012x}") for i in range(4)], [])
    quiet = [e for e in store.entities.values() if not e.health_reasons]
    assert len(quiet) == 4 and all(e.health_reasons is EMPTY_LIST for e in quiet)
    assert EMPTY_LIST == []
