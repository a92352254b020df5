"""Spans land on the entities the other sources report. Two processes instrumented with the
real OpenTelemetry SDK, one on this host and one in a Docker container, call each other
over HTTP; the host one queries the real PostgreSQL (its DSN says `localhost`, the
PostgreSQL source's says 127.0.0.1) and publishes to the real NATS server (`localhost`
again, where the NATS source dials 127.0.0.1); both call an uninstrumented busybox httpd,
the host one by its IP, the containerised one by its container name. One engine runs the
host, Docker, PostgreSQL, NATS and OTLP sources: every traced edge must end on an entity
one of those sources reports, and nothing the spans named by address may be left over."""

from __future__ import annotations

from pathlib import Path

import pytest

from gestalt.engine.paths import resolve
from gestalt.model import ConnectionKind, ids
from tests.integration.otlp_support import running_mesh
from tests.support.docker import Objects
from tests.support.nats_server import NatsServer, nats_server  # noqa: F401  (fixture)
from tests.support.postgres import (  # noqa: F401  (fixture)
    BENCH_USER,
    PgCluster,
    postgres_cluster,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


async def test_traced_edges_end_on_the_entities_other_sources_report(
    tmp_path: Path, objects: Objects, postgres_cluster: PgCluster,  # noqa: F811
    nats_server: NatsServer,  # noqa: F811
) -> None:
    async with running_mesh(tmp_path, objects, postgres_cluster, nats_server,
                            traces=True) as mesh:
        engine, store = mesh.engine, mesh.engine.store
        front, back, plain = mesh.front_id, mesh.back_id, mesh.plain_id
        wanted = {
            (front, back, ConnectionKind.HTTP),  # paired spans: process -> container
            (back, front, ConnectionKind.HTTP),  # and back, through the gateway
            (front, plain, ConnectionKind.HTTP),  # unanswered: the peer by its IP
            (back, plain, ConnectionKind.HTTP),  # unanswered: the peer by container name
            (front, mesh.database_id, ConnectionKind.NETWORK),  # `localhost` = 127.0.0.1
            (front, mesh.subject_id, ConnectionKind.NATS),
        }

        def traced() -> set[tuple[str, str, ConnectionKind]]:
            return {(c.source_id, c.target_id, c.kind) for c in store.connections.values()
                    if "otlp" in engine.hub.connection_sources(c.id)}

        await eventually(lambda: traced() >= wanted, timeout=60, interval=0.2,
                         what=f"the traced edges {sorted(wanted)}")

        def located() -> list[str]:
            return [e.id for e in store.entities.values() if e.locator is not None]

        # Every traced edge ends on an entity another source reports; nothing is left
        # standing for an address (no external peer, no database or subject by address).
        assert traced() == wanted, traced() - wanted
        assert located() == []
        owners = {eid: set(store.entities[eid].sources) for eid in
                  (front, back, plain, mesh.database_id, mesh.subject_id)}
        assert owners == {front: {"host", "otlp"}, back: {"docker", "otlp"}, plain: {"docker"},
                          mesh.database_id: {"postgres"}, mesh.subject_id: {"nats"}}
        from_otlp_only = [e.id for e in store.entities.values() if e.sources == ["otlp"]]
        assert from_otlp_only == []
        # The database edge is the one the PostgreSQL source sees for the client socket too:
        # one edge, with the session's facts and the spans' figures.
        db_edge = store.connections[ids.connection("network", front, mesh.database_id)]
        assert set(engine.hub.connection_sources(db_edge.id)) >= {"postgres", "otlp"}
        assert db_edge.attrs["user"] == BENCH_USER and db_edge.attrs["requests"] > 0
        assert db_edge.requests_per_sec and db_edge.requests_per_sec > 0
        back_entity = store.entities[back]
        assert back_entity.name == f"{objects.prefix}-back"  # Docker's name, not the span's
        assert back_entity.attrs["service.name"] == "back"
        assert back_entity.custom_metrics["requests_per_sec"] > 0
        # The services export duration histograms too: spans measure these edges, so the
        # histograms add no second edge (and no second count) to any of them.
        assert not [c.id for c in store.connections.values()
                    if c.attrs.get("signal") == "metrics"]


async def test_metrics_land_on_the_entities_and_make_edges_without_spans(
    tmp_path: Path, objects: Objects, postgres_cluster: PgCluster,  # noqa: F811
    nats_server: NatsServer,  # noqa: F811
) -> None:
    """The same services with the metrics SDK only: the HTTP duration histograms are the
    edges' rate, errors and latency, the rest custom metrics of the real entities."""
    async with running_mesh(tmp_path, objects, postgres_cluster, nats_server,
                            traces=False) as mesh:
        engine, store = mesh.engine, mesh.engine.store
        front, back, plain = mesh.front_id, mesh.back_id, mesh.plain_id
        wanted = {(front, back), (back, front), (front, plain), (back, plain)}

        def measured() -> set[tuple[str, str]]:
            return {(c.source_id, c.target_id) for c in store.connections.values()
                    if c.attrs.get("signal") == "metrics"}

        await eventually(lambda: measured() >= wanted, timeout=60, interval=0.2,
                         what=f"edges from the duration histograms {sorted(wanted)}")
        assert measured() == wanted
        assert [e.id for e in store.entities.values() if e.locator is not None] == []
        edge_id = ids.connection("http", front, back)
        edge = await eventually(
            lambda: (c := store.connections.get(edge_id)) and c.attrs["requests"] >= 30 and c,
            timeout=30, what="30 requests measured on the edge")
        assert "otlp" in engine.hub.connection_sources(edge.id)
        assert edge.error_rate == 0
        # The callee's server histogram counts the same calls (front is its only caller):
        # the two rates agree, give or take where each export's window falls.
        served = store.entities[back].custom_metrics["requests_per_sec"]
        assert 0.5 < edge.requests_per_sec / served < 2, (edge.requests_per_sec, served)
        # Local calls: well under a second, even on a busy machine (to within the buckets).
        assert 0 < edge.attrs["latency_p50_ms"] <= edge.attrs["latency_p99_ms"]
        assert edge.attrs["latency_p50_ms"] < 1000

        def custom(entity_id: str) -> dict[str, float]:
            entity = store.entities.get(entity_id)
            return entity.custom_metrics if entity is not None else {}

        done = 'mesh.work.done.rate{route="/work"}'
        await eventually(lambda: all(done in custom(e) and "mesh.queue.depth" in custom(e)
                                     for e in (front, back)),
                         timeout=30, what="the counters on both entities")
        back_entity = store.entities[back]
        assert set(back_entity.sources) == {"docker", "otlp"}  # Docker's container
        # Its counter of served calls and its server histogram count the same requests.
        metrics = back_entity.custom_metrics
        assert 0.5 < metrics[done] / metrics["requests_per_sec"] < 2, metrics
        assert metrics["mesh.queue.depth"] >= 1
        assert set(store.entities[front].sources) == {"host", "otlp"}

        _, rows = await resolve(engine, "world.infra.metrics.custom",
                                {"metric": "mesh.work.done.rate"})
        assert {(r["id"], r["labels"]) for r in rows} >= {
            (front, 'route="/work"'), (back, 'route="/work"')}
        assert all(r["metric"] == "mesh.work.done.rate" and r["value"] > 0 for r in rows)
