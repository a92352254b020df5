"""The world.infra.* paths over MCP, asked with the official SDK's own client: a running
server's `/mcp` (streamable HTTP, behind the token and Origin checks) and `gestalt mcp`
(stdio), with kubesim and Docker as the sources."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gestalt.api.mcp import ANSWER_BUDGET
from gestalt.engine.paths import REGISTRY
from gestalt.engine.paths.base import NO_PAST
from gestalt.engine.runtime import Engine
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, seed
from tests.support.cli import user_env
from tests.support.docker import Objects
from tests.support.mcp import answer, http_session, notes, stdio_session, texts
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

TOKEN = "mcp-test-token-4f1c"
CONFIGMAPS = 400  # enough entities that the whole topology does not fit one answer


def config_text(tmp_path: Path, sim: KubeSim, docker_engine: str, token: str | None) -> str:
    server = f"data_dir: {tmp_path / 'data'}, metrics_interval: 0.2"
    if token:
        server += f", token: {token}"
    return (f"server: {{{server}}}\n"
            "collectors:\n"
            "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
            f'  docker: {{enabled: true, socket: "{docker_engine}", poll_interval: 0.3}}\n'
            f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
            "cluster_name: kubesim, poll_interval: 0.5}\n")


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    async with KubeSim() as server:
        seed(server)
        server.store.create(deployment("web", replicas=2))
        for i in range(CONFIGMAPS):
            server.store.create({"kind": "ConfigMap", "metadata": {
                "name": f"settings-{i:03}", "namespace": "shop"}, "data": {"k": "v"}})
        yield server


# The arguments each path needs to give a real answer here.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "world.infra.topology.filter": {"kinds": "pod", "namespaces": "shop"},
    "world.infra.topology.diff": {"since": 0},
    "world.infra.k8s.events": {"limit": 5},
    "world.infra.nats.messages": {"subjects": "orders.>", "seconds": 0.2},
    "world.infra.metrics.cpu": {"limit": 3},
    "world.infra.metrics.custom": {"limit": 3},
    "world.infra.health.score": {"entity": "deployment:kubesim/shop/web"},
    "world.infra.health.alerts": {"state": "all"},
    "world.infra.health.history": {"since": 0},
    "world.infra.changes.around": {"entity": "deployment:kubesim/shop/web", "minutes": 5},
    "world.infra.anomaly.series": {"entity": "deployment:kubesim/shop/web"},
}


async def test_every_path_is_a_tool_over_http(tmp_path: Path, sim: KubeSim,
                                              docker_engine: str, objects: Objects) -> None:
    name, full_id = await objects.run()
    config = tmp_path / "gestalt.yaml"
    config.write_text(config_text(tmp_path, sim, docker_engine, TOKEN))
    engine = Engine(load_config(config, env={}))
    container = f"container:{full_id[:12]}"
    async with running_server(engine) as url:
        await eventually(lambda: container in engine.store.entities and sum(
            e.kind.value == "pod" for e in engine.store.entities.values()) == 2,
            timeout=30, what="the container and the web pods")
        # The same gate as the rest of the API: no token, a foreign Origin.
        async with httpx.AsyncClient(base_url=url, timeout=10) as plain:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            assert (await plain.post("/mcp", json=body)).status_code == 401
            foreign = await plain.post("/mcp", json=body, headers={
                "Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"})
            assert foreign.status_code == 403

        async with http_session(url, TOKEN) as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == set(REGISTRY)
            for tool in tools.values():
                schema = tool.input_schema
                assert schema["type"] == "object" and schema["additionalProperties"] is False
                past = set() if tool.name in NO_PAST else {"at"}  # time travel
                assert set(schema["properties"]) == {*REGISTRY[tool.name].params, "offset",
                                                     *past}
                assert tool.annotations is not None and tool.annotations.read_only_hint

            for path, spec in REGISTRY.items():
                result = await session.call_tool(path, ARGUMENTS.get(path, {}))
                if spec.source is not None and spec.source not in engine.sources:
                    # nats, code...: not enabled here: a tool error that says so
                    assert result.is_error and "is not enabled" in texts(result)[0]
                    continue
                answer(result)  # an answer, not an error

            containers = answer(await session.call_tool("world.infra.docker.containers", {}))
            assert name in {row["name"] for row in containers}
            pods = answer(await session.call_tool("world.infra.topology.filter",
                                                  {"kinds": "pod"}))
            assert len(pods) == 2 and all(p["name"].startswith("web-") for p in pods)

            # Bad arguments are tool errors; the session goes on.
            for path, arguments, says in [
                ("world.infra.metrics.cpu", {"limit": "many"}, "limit"),
                ("world.infra.metrics.cpu", {"limit": 0}, "limit"),
                ("world.infra.topology", {"colour": "red"}, "colour"),
                ("world.infra.health.score", {"entity": "pod:nowhere/x/y"}, "no entity"),
                ("world.infra.topology.filter", {"kinds": "spaceship"}, "spaceship"),
                ("world.infra.changes.around", {"alert": "no-such-alert"}, "no alert"),
                ("world.infra.no.such.path", {}, "unknown tool"),
            ]:
                result = await session.call_tool(path, arguments)
                assert result.is_error, (path, arguments)
                assert says in texts(result)[0], texts(result)
            assert answer(await session.call_tool("world.infra.health.score", {}))["summary"]
            # Time travel where the path has a past: the topology a moment ago.
            before = answer(await session.call_tool("world.infra.topology.filter",
                                                    {"kinds": "deployment", "at": time.time()}))
            assert [row["name"] for row in before] == ["web"]
            too_old = await session.call_tool("world.infra.topology",
                                              {"at": "1999-01-01T00:00:00Z"})
            assert too_old.is_error

            # A large answer is cut, says so, and the next page follows on.
            first = await session.call_tool("world.infra.topology", {})
            page = answer(first)
            assert len(texts(first)[0]) <= ANSWER_BUDGET
            entity_note = next(n for n in notes(first) if n.startswith("note: entities:"))
            total = len(engine.store.entities)
            assert f"of {total} shown" in entity_note
            offset = len(page["entities"])
            assert f"offset={offset}" in entity_note
            second = answer(await session.call_tool("world.infra.topology",
                                                    {"offset": offset}))
            seen = {e["id"] for e in page["entities"]} | {e["id"] for e in second["entities"]}
            assert len(seen) == len(page["entities"]) + len(second["entities"])

            resources = {r.uri for r in (await session.list_resources()).resources}
            assert resources == {"gestalt://topology", "gestalt://alerts"}
            overview = json.loads((await session.read_resource("gestalt://topology"))
                                  .contents[0].text)
            assert overview["entities_by_kind"]["configmap"] == CONFIGMAPS
            assert overview["entities_by_kind"]["pod"] == 2
            assert {s["name"] for s in overview["sources"]} >= {"docker", "kubernetes"}
            alerts = json.loads((await session.read_resource("gestalt://alerts"))
                                .contents[0].text)
            assert isinstance(alerts, list)


async def test_gestalt_mcp_over_stdio(tmp_path: Path, sim: KubeSim, docker_engine: str,
                                      objects: Objects) -> None:
    name, _ = await objects.run()
    config = tmp_path / "gestalt.yaml"
    config.write_text(config_text(tmp_path, sim, docker_engine, None))
    argv = [sys.executable, "-m", "gestalt.cli", "mcp", "-c", str(config)]
    with await asyncio.to_thread(open, tmp_path / "mcp.err", "w") as errlog:
        async with stdio_session(argv, user_env(), errlog) as session:
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == set(REGISTRY)

            async def both_listed() -> bool:
                rows = answer(await session.call_tool("world.infra.docker.containers", {}))
                spaces = answer(await session.call_tool("world.infra.k8s.namespaces", {}))
                return name in {row["name"] for row in rows} and \
                    "shop" in {row["name"] for row in spaces}

            await eventually(both_listed, timeout=30,
                             what="the container and the namespace over stdio")
            bad = await session.call_tool("world.infra.k8s.events", {"limit": -1})
            assert bad.is_error and "limit" in texts(bad)[0]
            assert answer(await session.call_tool("world.infra.health.score", {}))["summary"]
    assert "Traceback" not in (tmp_path / "mcp.err").read_text()
