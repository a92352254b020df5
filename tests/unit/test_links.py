"""Located entities in the hub: a span's database, subject or peer, known only by the
address it dialled, lands on the entity the PostgreSQL, NATS, Docker, Kubernetes or host
source reports at that place, whichever spelling of the address the span used."""

from __future__ import annotations

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus, ids
from gestalt.sources.otlp.servicegraph import ServiceGraph
from gestalt.sources.otlp.spans import records, service_of
from tests.fixtures.otlp.payloads import CLIENT, PRODUCER, new_ids, resource_spans, span

NOW = 1_800_000_000.0
HOST = "h1"
NODE = ids.host_node(HOST)
CONTAINER = "container:" + "c0ffee" * 2
POD = ids.k8s("pod", "c1", "shop", "web-0")
PROCESS_RESOURCE = {"service.name": "checkout", "host.name": HOST, "process.pid": 10}
CALLER = ids.process(HOST, 10)
DB = ids.database("postgresql", "127.0.0.1:5432", "shop")


def entity(eid: str, kind: EntityKind, name: str, **fields: object) -> Entity:
    return Entity(id=eid, kind=kind, name=name, status=EntityStatus.RUNNING,
                  **fields)  # type: ignore[arg-type]


def make() -> tuple[Hub, Store]:
    store = Store(ring_size=100)
    return Hub(store, local_host=HOST), store


def traced(hub: Hub, *calls: tuple[dict[str, str | int], int, dict[str, str | int]]) -> None:
    """What the OTLP source reports for spans (resource, span kind, span attributes), each
    one unanswered: databases, subjects and peers known only by the address dialled."""
    graph = ServiceGraph(pairing_wait=1)
    for resource, kind, attrs in calls:
        trace, span_id, _ = new_ids()
        group = resource_spans(resource, [span(kind, trace_id=trace, span_id=span_id,
                                                end_s=NOW - 1, attrs=attrs)])
        graph.ingest(service_of(resource), records(group), NOW)
    entities, connections = graph.snapshot(NOW + 2)
    hub.sink("otlp").snapshot(entities, connections)


def edges(store: Store) -> set[tuple[str, str]]:
    return {(c.source_id, c.target_id) for c in store.connections.values()}


def db_span(host: str, port: int = 5432, **extra: str | int) -> dict[str, str | int]:
    return {"db.system": "postgresql", "db.namespace": "shop", "server.address": host,
            "server.port": port, **extra}


def postgres(hub: Hub, address: str = "127.0.0.1:5432") -> None:
    """The PostgreSQL source's database, named by the DSN it polls."""
    hub.sink("postgres").snapshot([entity(
        ids.database("postgresql", address, "shop"), EntityKind.DATABASE, "shop",
        attrs={"db.system": "postgresql", "address": address})])


def host(hub: Hub, *processes: tuple[int, list[str]]) -> None:
    hub.sink("host").snapshot([
        entity(NODE, EntityKind.NODE, HOST),
        *(entity(ids.process(HOST, pid), EntityKind.PROCESS, f"p{pid}", endpoints=sockets)
          for pid, sockets in processes)])


def test_localhost_and_127_0_0_1_are_one_database_and_the_span_entity_hides() -> None:
    hub, store = make()
    host(hub, (10, ["127.0.0.1:40000"]), (20, ["127.0.0.1:5432"]))
    postgres(hub)
    traced(hub, (PROCESS_RESOURCE, CLIENT, db_span("localhost")),
           (PROCESS_RESOURCE, CLIENT, db_span("127.0.0.1")),
           (PROCESS_RESOURCE, CLIENT, db_span("::1")))
    assert edges(store) == {(CALLER, DB)}
    assert not [e for e in store.entities.values() if e.locator is not None]
    # The PostgreSQL source stops seeing it: the span's own database shows, with the edge.
    hub.sink("postgres").snapshot([])
    located = {e.id for e in store.entities.values() if e.kind is EntityKind.DATABASE}
    assert located == {ids.database("postgresql", "localhost:5432@node:host/h1", "shop"),
                       ids.database("postgresql", "127.0.0.1:5432@node:host/h1", "shop"),
                       ids.database("postgresql", "[::1]:5432@node:host/h1", "shop")}
    assert {target for _, target in edges(store)} == located
    postgres(hub)  # and back: one database again
    assert edges(store) == {(CALLER, DB)}
    assert DB in store.entities and len(store.entities) == 4


def test_a_containers_localhost_is_not_the_hosts() -> None:
    hub, store = make()
    host(hub, (10, ["127.0.0.1:40000"]))
    postgres(hub)
    in_container = {"service.name": "worker", "container.id": CONTAINER.split(":")[1]}
    hub.sink("docker").snapshot([entity(CONTAINER, EntityKind.CONTAINER, "worker",
                                        endpoints=["172.17.0.5"])])
    traced(hub, (in_container, CLIENT, db_span("localhost")))
    (edge,) = edges(store)
    assert edge[0] == CONTAINER and edge[1] != DB
    assert store.entities[edge[1]].locator is not None  # its own database, unresolved


def test_a_database_behind_a_kubernetes_service_by_name_cluster_ip_or_pod_ip() -> None:
    hub, store = make()
    service = ids.k8s("service", "c1", "shop", "db")
    db_pod = ids.k8s("pod", "c1", "shop", "db-0")
    hub.sink("kubernetes").snapshot(
        [entity(service, EntityKind.SERVICE, "db", namespace="shop",
                endpoints=["10.96.0.10", "10.96.0.10:5432"]),
         entity(db_pod, EntityKind.POD, "db-0", namespace="shop", endpoints=["10.1.0.7"]),
         entity(POD, EntityKind.POD, "web-0", namespace="shop", endpoints=["10.1.0.9"])],
        [Connection(source_id=service, target_id=db_pod, kind=ConnectionKind.NETWORK)])
    # Gestalt polls it by its service's DNS name.
    dsn_address = "db.shop.svc.cluster.local:5432"
    postgres(hub, dsn_address)
    db = ids.database("postgresql", dsn_address, "shop")
    web = {"service.name": "web", "k8s.pod.name": "web-0", "k8s.namespace.name": "shop",
           "k8s.cluster.name": "c1"}
    for address in ("db", "db.shop", "db.shop.svc.cluster.local", "10.96.0.10", "10.1.0.7",
                    "db-0.db.shop.svc.cluster.local"):
        traced(hub, (web, CLIENT, db_span(address)))
        assert {e for e in edges(store) if e[0] == POD} == {(POD, db)}, address


def test_peers_by_container_ip_and_name_and_service_cluster_ip() -> None:
    hub, store = make()
    host(hub, (10, ["127.0.0.1:40000"]), (30, ["0.0.0.0:8080"]))
    web = "container:" + "ab" * 6
    hub.sink("docker").snapshot([
        entity(web, EntityKind.CONTAINER, "web", endpoints=["172.17.0.6"]),
        entity(CONTAINER, EntityKind.CONTAINER, "worker", endpoints=["172.17.0.5"])])
    worker = {"service.name": "worker", "container.id": CONTAINER.split(":")[1]}
    traced(hub,
           (PROCESS_RESOURCE, CLIENT, {"server.address": "172.17.0.6", "server.port": 80}),
           (worker, CLIENT, {"server.address": "web", "server.port": 80}),
           # The container reaches a host process through the bridge's gateway.
           (worker, CLIENT, {"server.address": "172.17.0.1", "server.port": 8080}),
           (PROCESS_RESOURCE, CLIENT, {"server.address": "localhost", "server.port": 8080}))
    assert edges(store) == {(CALLER, web), (CONTAINER, web),
                            (CONTAINER, ids.process(HOST, 30)),
                            (CALLER, ids.process(HOST, 30))}
    # Nobody there: the peer shows as the span named it.
    traced(hub, (PROCESS_RESOURCE, CLIENT, {"server.address": "10.9.9.9", "server.port": 1}))
    assert edges(store) == {(CALLER, ids.service("external", "10.9.9.9:1"))}


def test_subjects_land_on_the_nats_sources_subject_from_any_address() -> None:
    hub, store = make()
    host(hub, (10, ["127.0.0.1:40000"]), (40, ["0.0.0.0:4222"]))
    server, subject = ids.nats_server("srv"), ids.nats_subject("srv", "orders")
    hub.sink("nats").snapshot([
        entity(server, EntityKind.NATS_SERVER, "srv", attrs={"address": "0.0.0.0:4222"}),
        entity(subject, EntityKind.NATS_SUBJECT, "orders")])
    hub.sink("docker").snapshot([entity(CONTAINER, EntityKind.CONTAINER, "worker",
                                        endpoints=["172.17.0.5"])])
    worker = {"service.name": "worker", "container.id": CONTAINER.split(":")[1]}
    publish = {"messaging.system": "nats", "messaging.destination.name": "orders",
               "server.port": 4222}
    traced(hub, (PROCESS_RESOURCE, PRODUCER, {**publish, "server.address": "localhost"}),
           (worker, PRODUCER, {**publish, "server.address": "172.17.0.1"}),
           (PROCESS_RESOURCE, PRODUCER, {**publish, "server.address": HOST}))
    assert edges(store) == {(CALLER, subject), (CONTAINER, subject)}
    # A subject the NATS source does not list (yet): the span's own, named by address.
    traced(hub, (PROCESS_RESOURCE, PRODUCER, {**publish, "messaging.destination.name": "x",
                                               "server.address": "localhost"}))
    assert edges(store) == {(CALLER, ids.nats_subject("localhost:4222@node:host/h1", "x"))}
