"""End to end: secret values never enter the process. A Kubernetes Secret (data,
stringData and a last-applied-configuration annotation) and a container's Env hold a
canary; the whole engine runs (kubernetes + docker sources, history, API, streams) and the
canary is nowhere: not in any API answer, MCP answer, stream frame, log line or the SQLite
file."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from gestalt.engine.compression import load_dictionaries, unpack_body
from gestalt.engine.paths import REGISTRY
from gestalt.engine.runtime import Engine
from gestalt.model import EntityKind
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from tests.support.docker import Objects
from tests.support.mcp import answer, http_session, texts
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


async def test_secret_values_never_enter_the_process(
    tmp_path: Path, docker_engine: str, objects: Objects, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"canary-{uuid.uuid4().hex}"
    async with KubeSim() as sim:
        sim.store.create({"kind": "Namespace", "metadata": {"name": "shop"}})
        sim.store.create({
            "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "shop", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                    {"stringData": {"password": canary}})}},
            "data": {"password": base64.b64encode(canary.encode()).decode()},
            "stringData": {"token": canary}})
        name, full_id = await objects.run("-e", f"DB_PASSWORD={canary}")
        config_file = tmp_path / "gestalt.yaml"
        config_file.write_text(
            f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
            "history: {sample_interval: 0}\n"
            "collectors:\n"
            "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
            f'  docker: {{enabled: true, socket: "{docker_engine}", poll_interval: 0.3}}\n'
            f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
            "cluster_name: kubesim, poll_interval: 0.5}\n")
        engine = Engine(load_config(config_file, env={}))
        seen: list[bytes] = []
        async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                      timeout=10) as client:
            secret_id = "secret:kubesim/shop/db"
            container_id = f"container:{full_id[:12]}"

            async def both_on_map() -> bool:
                return secret_id in engine.store.entities and \
                    container_id in engine.store.entities

            await eventually(both_on_map, timeout=30, what="the secret and the container")
            secret = engine.store.entities[secret_id]
            assert secret.kind is EntityKind.SECRET and secret.name == "db"

            async def read_stream(path: str) -> None:
                async with client.stream("GET", path) as response:
                    async for chunk in response.aiter_bytes():
                        seen.append(chunk)

            readers = [asyncio.create_task(read_stream("/api/infra/topology/stream")),
                       asyncio.create_task(read_stream("/api/infra/events/stream"))]
            # Let metrics flushes, events and a few history writes happen.
            await eventually(lambda: sum(map(len, seen)) > 0, timeout=10, what="stream bytes")
            await objects.run("-e", f"OTHER={canary}")  # an event-producing change
            for path in ["/api/infra/topology", "/api/infra/events", "/api/infra/health",
                         f"/api/infra/entities/{secret_id}",
                         f"/api/infra/entities/{container_id}",
                         f"/api/infra/metrics/{container_id}",
                         "/api/paths/world.infra.docker.containers",
                         "/api/paths/world.infra.k8s.namespaces", "/metrics"]:
                response = await client.get(path)
                assert response.status_code == 200, path
                seen.append(response.content)
            # Every path an AI assistant can ask over MCP, and the resources.
            async with http_session(url) as session:
                for name in REGISTRY:
                    arguments = {"entity": secret_id} if name in (
                        "world.infra.health.score", "world.infra.changes.around",
                        "world.infra.anomaly.series") else {}
                    result = await session.call_tool(name, arguments)
                    seen.extend(text.encode() for text in texts(result))
                for uri in ("gestalt://topology", "gestalt://alerts"):
                    contents = (await session.read_resource(uri)).contents
                    seen.extend(c.text.encode() for c in contents if hasattr(c, "text"))
                entities = answer(await session.call_tool("world.infra.topology.filter", {}))
                assert secret_id in {row["id"] for row in entities}
            await engine.history.flushed()
            # The past, snapshots and exports carry what the map carries: metadata only.
            now = str(time.time())
            past = [f"/api/infra/topology?at={now}", f"/api/infra/entities/{secret_id}?at={now}",
                    f"/api/infra/snapshot?at={now}", "/api/infra/snapshot",
                    f"/api/infra/topology/stream?from={engine.history.oldest}&speed=0",
                    f"/api/paths/world.infra.topology?at={now}",
                    *(f"/api/infra/export?format={f}" for f in ("json", "graphml", "dot",
                                                                "mermaid")),
                    f"/api/infra/export?format=json&at={now}"]
            for path in past:
                response = await client.get(path)
                assert response.status_code == 200, path
                seen.append(response.content)
            assert any(secret_id.encode() in chunk for chunk in seen[-len(past):])
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        db_files = list((tmp_path / "data").glob("history.sqlite3*"))
    assert db_files
    needles = [canary.encode(), base64.b64encode(canary.encode())]
    for needle in needles:
        assert not any(needle in chunk for chunk in seen), "canary in an API answer or stream"
        for path in db_files:
            assert needle not in path.read_bytes(), f"canary in {path.name}"
        # Recorded bodies are compressed: look inside each one too.
        with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as conn:
            words = load_dictionaries(conn)
            bodies = [unpack_body(body, words)
                      for (body,) in conn.execute("SELECT body FROM bodies")]
        assert bodies and any(secret_id.encode() in body for body in bodies)
        assert not any(needle in body for body in bodies), "canary in a recorded body"
        assert needle.decode() not in caplog.text, "canary in the logs"
