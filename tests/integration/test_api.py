"""The HTTP API against a real uvicorn server: REST, SSE resume and resync, security."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gestalt.api import create_app
from gestalt.engine.runtime import Engine
from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Event,
    Severity,
    SourceState,
)
from gestalt.model.config import Config, ServerConfig
from gestalt.sources.base import Sink
from tests.support.daemons import free_port
from tests.support.server import running_server
from tests.support.sse import Frame, TopologyMirror, frames
from tests.support.wait import eventually


def pod(i: int, **kw: object) -> Entity:
    kw.setdefault("status", EntityStatus.RUNNING)
    return Entity(id=f"pod:c/shop/web-{i}", kind=EntityKind.POD, name=f"web-{i}",
                  namespace="shop", labels={"app": "web"}, **kw)  # type: ignore[arg-type]


def make_engine(tmp_path: Path, **server: object) -> Engine:
    config = Config(server=ServerConfig(data_dir=str(tmp_path / "data"), **server))  # type: ignore[arg-type]
    return Engine(config, sources=[])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, Sink, str]]:
    engine = make_engine(tmp_path, metrics_interval=0.1)
    async with running_server(engine) as url:
        sink = engine.hub.sink("manual")
        sink.status(SourceState.OK)
        yield engine, sink, url


async def next_frame(stream: AsyncIterator[Frame], timeout: float = 5.0) -> Frame:
    return await asyncio.wait_for(anext(stream), timeout)


async def test_topology_with_filters_and_summary(served: tuple[Engine, Sink, str]) -> None:
    engine, sink, url = served
    node = Entity(id="node:c/n1", kind=EntityKind.NODE, name="n1", status=EntityStatus.RUNNING)
    sink.snapshot([pod(1), pod(2, status=EntityStatus.FAILED), node],
                  [Connection(source_id=pod(1).id, target_id=node.id,
                              kind=ConnectionKind.NETWORK)])
    async with httpx.AsyncClient(base_url=url) as client:
        doc = (await client.get("/api/infra/topology")).json()
        assert len(doc["entities"]) == 3 and len(doc["connections"]) == 1
        assert doc["summary"]["critical"] == 1 and doc["summary"]["healthy"] == 2
        assert doc["summary"]["by_kind"]["pod"]["count"] == 2
        assert {s["name"]: s["state"] for s in doc["sources"]}["manual"] == "ok"
        pods = (await client.get("/api/infra/topology", params={"kinds": "pod"})).json()
        assert {e["name"] for e in pods["entities"]} == {"web-1", "web-2"}
        assert pods["connections"] == []  # the node end is filtered out
        by_label = (await client.get("/api/infra/topology?labels=app=web&namespaces=shop"))
        assert len(by_label.json()["entities"]) == 2
        bad = await client.get("/api/infra/topology", params={"labels": "app"})
        assert bad.status_code == 400 and "key=value" in bad.text
        health = (await client.get("/api/infra/health")).json()
        assert health["status"] == "critical" and health["summary"]["total"] == 3
        detail = (await client.get(f"/api/infra/entities/{pod(1).id}")).json()
        assert detail["entity"]["name"] == "web-1"
        assert [c["target_id"] for c in detail["outgoing"]] == [node.id]
        assert list(detail["contributions"]) == ["manual"]
        assert (await client.get("/api/infra/entities/pod:c/none")).status_code == 404


async def test_stream_snapshot_then_deltas_with_versions(served: tuple[Engine, Sink, str]) -> None:
    engine, sink, url = served
    sink.snapshot([pod(1)])
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with client.stream("GET", "/api/infra/topology/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            stream = frames(response)
            first = await next_frame(stream)
            log_id = engine.store.log_id
            assert first.event == "snapshot" and first.id == f"{log_id}:{engine.store.version}"
            sink.upsert([pod(2)], observed_at=time.time())
            delta = await next_frame(stream)
            # (The metrics flusher, each second, may send web-1's first figures first.)
            while delta.event == "metrics":
                assert delta.id is None
                delta = await next_frame(stream)
            assert delta.event == "delta" and delta.id == f"{log_id}:{engine.store.version}"
            body = delta.json()
            assert [e["name"] for e in body["upserts"]] == ["web-2"]
            assert body["observed_at"] is not None
            sink.metrics(pod(2).id, {"cpu_percent": 12.0}, time.time())
            metrics = await next_frame(stream)
            # (A frame flushed before this value, e.g. web-1's or web-2's first health
            # score, may come first.)
            while (metrics.event != "metrics"
                   or "cpu_percent" not in metrics.json()["values"].get(pod(2).id, {})):
                assert metrics.event != "metrics" or metrics.id is None
                metrics = await next_frame(stream)
            assert metrics.id is None
            assert metrics.json()["values"][pod(2).id]["cpu_percent"] == 12.0


async def test_resume_with_last_event_id_ends_equal_to_a_fresh_get(
    served: tuple[Engine, Sink, str],
) -> None:
    engine, sink, url = served
    sink.snapshot([pod(i) for i in range(5)])
    mirror = TopologyMirror()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with client.stream("GET", "/api/infra/topology/stream") as response:
            first = await next_frame(frames(response))
            mirror.apply(first)
        # The id names this server's change log as well as the version.
        assert first.id == f"{engine.store.log_id}:{mirror.version}"
        # Disconnected: the world moves on.
        sink.remove([pod(0).id])
        sink.upsert([pod(7), pod(1, status=EntityStatus.PENDING)])
        target = engine.store.version
        headers = {"Last-Event-ID": f"{engine.store.log_id}:{mirror.version}"}
        async with client.stream("GET", "/api/infra/topology/stream", headers=headers) as resp:
            stream = frames(resp)
            while mirror.version < target:
                frame = await next_frame(stream)
                assert frame.event == "delta"  # replayed from the ring, not a snapshot
                mirror.apply(frame)
        fresh = (await client.get("/api/infra/topology")).json()
        assert mirror.gaps == 0
        assert mirror.entities == {e["id"]: e for e in fresh["entities"]}
        assert mirror.connections == {c["id"]: c for c in fresh["connections"]}
        # A Last-Event-ID from before the ring, from another change log (another server)
        # or without one gets a snapshot.
        for other in ("999999", f"{engine.store.log_id}:999999", f"elsewhere:{target - 1}"):
            async with client.stream("GET", "/api/infra/topology/stream",
                                     headers={"Last-Event-ID": other}) as resp:
                assert (await next_frame(frames(resp))).event == "snapshot", other


async def test_a_stalled_client_is_cut_to_resync_without_growing_memory(
    tmp_path: Path,
) -> None:
    engine = make_engine(tmp_path, client_queue_frames=8)
    app = create_app(engine)
    broadcaster = app.state.broadcaster
    async with running_server(engine, app=app) as url:
        sink = engine.hub.sink("manual")
        sink.snapshot([pod(0)])
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            async with client.stream("GET", "/api/infra/topology/stream") as response:
                stream = frames(response)
                assert (await next_frame(stream)).event == "snapshot"
                # Not reading: push far more than the queue holds, in bulky deltas.
                big = {f"k{j}": "x" * 200 for j in range(20)}
                for i in range(400):
                    sink.upsert([pod(i, annotations={**big, "i": str(i)})])
                    if i % 50 == 0:
                        await asyncio.sleep(0)
                (client_state,) = list(broadcaster._clients.values())
                assert client_state.queue.qsize() <= 8
                assert broadcaster.resyncs >= 1
                mirror = TopologyMirror()
                seen = []
                while mirror.version < engine.store.version:
                    frame = await next_frame(stream)
                    seen.append(frame.event)
                    mirror.apply(frame)
                assert "resync" in seen
                assert set(mirror.entities) == set(engine.store.entities)


async def test_events_list_and_stream(served: tuple[Engine, Sink, str]) -> None:
    engine, sink, url = served

    def event(i: int, kind: EntityKind = EntityKind.CONTAINER) -> Event:
        return Event(id=f"e{i}", type="Warning", reason="die", message=f"exit {i}",
                     entity_id=f"container:{i}", entity_kind=kind, entity_name=f"c{i}",
                     timestamp=time.time(), severity=Severity.WARNING)

    sink.event(event(1))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with client.stream("GET", "/api/infra/events/stream",
                                 params={"kinds": "container"}) as response:
            stream = frames(response)
            backlog = await next_frame(stream)
            assert backlog.event == "event" and backlog.json()["id"] == "e1"
            sink.event(event(2, EntityKind.POD))  # filtered out
            sink.event(event(3))
            live = await next_frame(stream)
            assert live.json()["id"] == "e3" and live.id == f"{engine.store.log_id}:3"
        # Resumed after e1 (this log): e3 only; with another log's id: the backlog afresh.
        for resume, expected in ((f"{engine.store.log_id}:1", "e3"), ("0123abcd:1", "e1")):
            async with client.stream("GET", "/api/infra/events/stream",
                                     params={"kinds": "container"},
                                     headers={"Last-Event-ID": resume}) as response:
                assert (await next_frame(frames(response))).json()["id"] == expected, resume
        await engine.history.flushed()
        listed = (await client.get("/api/infra/events", params={"limit": 2})).json()
        assert [e["id"] for e in listed["events"]] == ["e3", "e2"]
        assert (await client.get("/api/infra/events?severity=bogus")).status_code == 422
        assert (await client.get("/api/infra/events?limit=0")).status_code == 422


async def test_metrics_history_diff_paths_and_operations(
    served: tuple[Engine, Sink, str],
) -> None:
    engine, sink, url = served
    engine.history.sample_interval = 0
    sink.snapshot([pod(1)])
    version = engine.store.version
    sink.metrics(pod(1).id, {"cpu_percent": 42.0}, time.time())
    sink.upsert([pod(2)])
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async def series() -> dict:
            await engine.history.flushed()
            return (await client.get(f"/api/infra/metrics/{pod(1).id}",
                                     params={"metrics": "cpu_percent"})).json()["series"]

        got = await eventually(series, timeout=5, what="a cpu sample in history")
        assert got["cpu_percent"][-1][1] == 42.0
        diff = (await client.get("/api/infra/topology/diff", params={"since": version})).json()
        assert diff["reset"] is False and [e["name"] for e in diff["upserts"]] == ["web-2"]
        path = (await client.get("/api/paths/world.infra.metrics.cpu")).json()
        assert path["result"][0]["id"] == pod(1).id
        off = await client.get("/api/paths/world.infra.docker.containers")
        assert off.status_code == 409
        assert off.json()["error"] == ("source docker is not enabled "
                                       "(collectors.docker.enabled)")
        assert (await client.get("/api/paths/world.infra.nope")).status_code == 404
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        exposition = (await client.get("/metrics")).text
        assert 'gestalt_entities{kind="pod"} 2.0' in exposition
        assert 'gestalt_source_up{source="manual",state="ok"} 1.0' in exposition
        assert 'gestalt_gc_passes_total{generation="2"}' in exposition
        assert (await client.get("/docs")).status_code == 200
        assert "/api/infra/topology/stream" in (await client.get("/openapi.json")).text
        config = (await client.get("/api/infra/config")).json()
        assert config["visualization"]["max_entities"] == 1000
        assert config["checks"]["unavailable_replicas"] == "Replicas unavailable"


# Numbers float() reads that are no moment: not a number, infinite, or past year 9999
# (1e20 overflowed time_t, 9999999999999 is year 318857): each was a 500 from `iso`.
NOT_MOMENTS = ("nan", "inf", "-inf", "1e20", "9999999999999")


async def test_a_moment_that_is_no_time_is_a_400_naming_the_parameter(
        served: tuple[Engine, Sink, str]) -> None:
    """Every parameter that takes a moment refuses NaN, infinities and numbers beyond the
    years a date has in one line that names the parameter and the value, never a 500 (nor
    a 200 that quietly read them as no bound)."""
    _, _, url = served
    now = str(time.time())
    routes = [
        ("at", "/api/infra/topology", {}), ("at", "/api/infra/health", {}),
        ("at", "/api/infra/alerts", {}), ("at", "/api/infra/entities/pod:c/shop/web-1", {}),
        ("at", "/api/infra/snapshot", {}), ("at", "/api/infra/export", {"format": "json"}),
        ("at", "/api/infra/cost", {}),
        ("since", "/api/infra/topology", {"at": now}),
        ("from", "/api/infra/topology/diff", {"to": now}),
        ("to", "/api/infra/topology/diff", {"from": now}),
        ("from", "/api/infra/topology/stream", {}),
        ("since", "/api/infra/events", {}), ("until", "/api/infra/events", {}),
        ("since", "/api/infra/timeline", {}), ("until", "/api/infra/timeline", {}),
        ("since", "/api/infra/metrics/topology", {}),
        ("at", "/api/paths/world.infra.topology.filter", {}),
        ("since", "/api/paths/world.infra.health.history", {}),
        ("until", "/api/paths/world.infra.cost.range", {}),
        ("moment", "/api/paths/world.infra.changes.around", {}),
    ]
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for name, route, params in routes:
            for value in NOT_MOMENTS:
                reply = await client.get(route, params={**params, name: value})
                assert reply.status_code == 400, (route, name, value, reply.text)
                body = reply.json()
                message = body.get("error") or body.get("detail")
                assert message.startswith(f"{name}: ") and repr(value) in message, \
                    (route, message)
                assert "\n" not in message


BODY_ROUTES = ("/api/infra/anomalies/expected", "/api/actions", "/api/actions/experiments",
               "/api/actions/experiments/preview")


async def test_a_body_over_the_limit_is_a_413_before_it_is_read(
        served: tuple[Engine, Sink, str]) -> None:
    """A route that declares a body model read and parsed 50 MB it was sent, then copied
    it into its 422. Now every POST says 413 from the headers alone (the 10 bytes sent of
    the 50 MB announced are all it gets), or, chunked, after 4 KiB; and the refusal of an
    action is audited as before."""
    _, _, url = served
    port = int(url.rsplit(":", 1)[1])
    for route in BODY_ROUTES:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
                         '{"entity_i'.encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 413 "), (route, head)
            length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])  # type: ignore[index]
            assert await reader.readexactly(length) == b'{"error":"request body over 4096 bytes"}'
        finally:
            writer.close()

    async def chunks(size: int) -> AsyncIterator[bytes]:
        yield b'{"entity_id": "'
        for _ in range(size // 1000):
            yield b"x" * 1000
        yield b'", "minutes": 1}'

    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=json_type) as client:
        for route in BODY_ROUTES:
            chunked = await client.post(route, content=chunks(10_000))
            assert chunked.status_code == 413, (route, chunked.text)
        # Under the limit, a chunked body reaches the route whole.
        small = await client.post("/api/infra/anomalies/expected", content=chunks(3000))
        assert small.status_code == 422 and small.json()["detail"][0]["loc"] == \
            ["body", "entity_id"]
        audit = (await client.get("/api/actions/audit")).json()
        assert [(e["outcome"], e["message"], e["params"]) for e in audit][:2] == [
            ("refused", "request body over 4096 bytes", {"path": "/api/actions/experiments"}),
            ("refused", "request body over 4096 bytes", {"path": "/api/actions"})]


async def test_a_422_says_where_and_why_without_the_input(
        served: tuple[Engine, Sink, str]) -> None:
    _, _, url = served
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        long = await client.post("/api/infra/anomalies/expected",
                                 json={"entity_id": "y" * 3000, "minutes": 1})
        assert long.status_code == 422
        assert long.json() == {"detail": [{"loc": ["body", "entity_id"],
                                           "msg": "String should have at most 1000 characters",
                                           "type": "string_too_long"}]}
        query = await client.get("/api/infra/events", params={"limit": "z" * 500})
        assert query.status_code == 422 and "z" * 10 not in query.text
        assert [set(e) for e in query.json()["detail"]] == [{"loc", "msg", "type"}]


async def test_token_host_and_origin_checks(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, token="s3cret")
    async with running_server(engine) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/api/infra/topology")).status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            assert (await client.get("/api/infra/topology", headers=auth)).status_code == 200
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/api/infra/topology", headers=wrong)).status_code == 401
            # EventSource cannot send headers: ?token= works and sets a cookie for the page.
            first = await client.get("/api/infra/topology", params={"token": "s3cret"})
            assert first.status_code == 200 and "gestalt_token" in first.headers["set-cookie"]
            assert (await client.get("/api/infra/health")).status_code == 200  # cookie
        async with httpx.AsyncClient(base_url=url, timeout=10) as anonymous:
            assert (await anonymous.get("/healthz")).status_code == 200  # probes need no token
            assert (await anonymous.get("/api/infra/health")).status_code == 401
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            auth = {"Authorization": "Bearer s3cret"}
            rebind = await client.get("/api/infra/topology",
                                      headers={**auth, "Host": "attacker.example"})
            assert rebind.status_code == 403
            cross = await client.get("/api/infra/topology",
                                     headers={**auth, "Origin": "http://evil.example"})
            assert cross.status_code == 403
            same = await client.get("/api/infra/topology",
                                    headers={**auth, "Origin": url})
            assert same.status_code == 200


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gestalt.cli", "serve", "--host", "0.0.0.0",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("GESTALT_")},
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in proc.stderr


async def test_events_and_history_survive_a_restart_of_gestalt_serve(tmp_path: Path) -> None:
    """Two real `gestalt serve` processes on one data dir, the synthetic source churning."""
    config = tmp_path / "gestalt.yaml"
    config.write_text(
        "server: {data_dir: %s, metrics_interval: 0.2}\n"
        "history: {sample_interval: 0.5}\n"
        "collectors:\n"
        "  host: {enabled: false}\n  docker: {enabled: false}\n"
        "  kubernetes: {enabled: false}\n  nats: {enabled: false}\n"
        "  otel: {enabled: false}\n"
        "  synthetic: {enabled: true, entities: 50, edges: 80, churn_per_second: 50}\n"
        % (tmp_path / "data")
    )

    async def serve_once(port: int) -> tuple[int, str, list[str]]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gestalt.cli", "serve", "-c", str(config), "--port", str(port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=5) as client:
                async def ready() -> bool:
                    try:
                        return (await client.get("/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await eventually(ready, timeout=30, what="gestalt serve to be ready")
                # Nodes are never replaced by the churn, so their history keeps growing.
                nodes = (await client.get("/api/infra/topology?kinds=node")).json()["entities"]
                pod_id = nodes[0]["id"]

                async def samples() -> list:
                    got = (await client.get(f"/api/infra/metrics/{pod_id}")).json()["series"]
                    return got.get("cpu_percent", [])

                async def events() -> list:
                    return (await client.get("/api/infra/events?limit=10000")).json()["events"]

                await eventually(samples, timeout=20, what="metric samples of " + pod_id)
                await eventually(events, timeout=20, what="feed events")
                version = (await client.get("/api/infra/topology")).json()["version"]
                assert (await client.get("/api/infra/metrics/topology")).status_code == 200
                return version, pod_id, [e["id"] for e in await events()]
        finally:
            proc.terminate()
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            code = await asyncio.wait_for(proc.wait(), 20)
            errors = (await proc.stderr.read()).decode() if proc.stderr else ""
            assert code in (0, -signal.SIGTERM), errors
            assert "Traceback" not in errors, errors

    version_before, pod_id, events_before = await serve_once(free_port())
    version_after, _, events_after = await serve_once(free_port())
    assert version_after > version_before  # versions continue; no Last-Event-ID confusion
    assert events_before and set(events_before) <= set(events_after)
    # The synthetic world is deterministic: the same pod's samples from run 1 are kept.
    engine = make_engine(tmp_path)
    await engine.start()
    try:
        series = await engine.history.metric_series(pod_id, ["cpu_percent"], since=0)
        assert len(series["cpu_percent"]) >= 2
    finally:
        await engine.stop()


async def test_the_page_is_revalidated_and_its_bundle_kept(
        served: tuple[Engine, Sink, str]) -> None:
    """After an upgrade, a reload must get the new bundle: the page is `no-cache`; the
    bundle's files have content-hashed names, so a browser may keep them."""
    _, _, url = served
    async with httpx.AsyncClient(base_url=url) as client:
        page = await client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert page.headers["cache-control"] == "no-cache"
        script = re.search(r'src="/?(assets/[^"]+\.js)"', page.text)
        assert script is not None, page.text[:300]
        bundle = await client.get(f"/{script.group(1)}")
        assert bundle.status_code == 200
        assert "immutable" in bundle.headers["cache-control"]
        missing = await client.get("/assets/nothing-here.js")
        assert missing.status_code == 404 and "cache-control" not in missing.headers
