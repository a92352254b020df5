"""Issue acceptance through the API: a real container on the map, in the SSE stream, in
the event feed and in `gestalt query`, with `gestalt serve`'s own engine and docker source."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model.config import load_config
from tests.support.docker import Objects, docker
from tests.support.server import running_server
from tests.support.sse import TopologyMirror, frames
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

CONFIG = """
server: {data_dir: %s, metrics_interval: 0.2}
collectors:
  host: {enabled: false}
  kubernetes: {enabled: false}
  nats: {enabled: false}
  otel: {enabled: false}
  docker: {enabled: true, socket: "%s", poll_interval: 0.5}
"""


@pytest.fixture
def config_file(tmp_path: Path, docker_engine: str) -> Path:
    path = tmp_path / "gestalt.yaml"
    path.write_text(CONFIG % (tmp_path / "data", docker_engine))
    return path


@pytest.fixture
async def served(config_file: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = Engine(load_config(config_file, env={}))
    async with running_server(engine) as url:
        yield engine, url


async def test_a_container_lives_on_the_map(
    served: tuple[Engine, str], objects: Objects, config_file: Path
) -> None:
    engine, url = served
    mirror = TopologyMirror()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await eventually(lambda: engine.hub.statuses["docker"].state == "ok",
                         timeout=20, what="the docker source to be ok")
        async with client.stream("GET", "/api/infra/topology/stream") as response:
            stream = frames(response)

            async def apply_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
                async def step() -> bool:
                    if condition():
                        return True
                    try:
                        mirror.apply(await asyncio.wait_for(anext(stream), 1))
                    except TimeoutError:
                        pass
                    return bool(condition())

                await eventually(step, timeout=15, interval=0, what=what)

            mirror.apply(await anext(stream))
            network = await objects.network()
            volume = await objects.volume()
            name, full_id = await objects.run("--network", network, "-v", f"{volume}:/data")
            cid = f"container:{full_id[:12]}"

            def on_map() -> bool:
                entity = mirror.entities.get(cid)
                edges = {(c["kind"], c["target_id"].split("/")[-1]) for c in
                         mirror.connections.values() if c["source_id"] == cid}
                return (entity is not None and entity["status"] == "running"
                        and ("network", network) in edges and ("volume", volume) in edges)

            await apply_until(on_map, "the running container with its edges in the stream")
            topology = (await client.get("/api/infra/topology")).json()
            assert cid in {e["id"] for e in topology["entities"]}

            await docker("stop", "-t", "1", name)

            def stopped() -> bool:
                entity = mirror.entities.get(cid, {})
                return (entity.get("status") == "exited"
                        and entity.get("attrs", {}).get("reason") == "Stopped")

            await apply_until(stopped, "the container to turn exited, stopped by the user")
            # A stop someone asked for is not a fault.
            assert mirror.entities[cid]["health_status"] == "ok"

            async def die_event() -> bool:
                await engine.history.flushed()
                events = (await client.get("/api/infra/events",
                                           params={"entity_id": cid})).json()["events"]
                return any(e["reason"] == "die" for e in events)

            await eventually(die_event, timeout=10, what="a 'die' event in the feed")

            # gestalt query asks this running server and prints a table of real containers.
            listing = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "gestalt.cli", "query", "world.infra.docker.containers",
                 "--url", url, "-c", str(config_file)],
                capture_output=True, text=True, timeout=60)
            assert listing.returncode == 0, listing.stderr
            assert name in listing.stdout and full_id[:12] in listing.stdout
            assert "exited" in listing.stdout and "Stopped" in listing.stdout

            await docker("rm", name)
            await apply_until(lambda: cid not in mirror.entities, "the container to be removed")
            assert not any(cid in (c["source_id"], c["target_id"])
                           for c in mirror.connections.values())
        fresh = (await client.get("/api/infra/topology")).json()
        assert cid not in {e["id"] for e in fresh["entities"]}


async def test_gestalt_query_collects_locally_without_a_server(
    objects: Objects, config_file: Path
) -> None:
    name, full_id = await objects.run()
    listing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gestalt.cli", "query", "world.infra.docker.containers",
         "--local", "-c", str(config_file)],
        capture_output=True, text=True, timeout=90)
    assert listing.returncode == 0, listing.stderr
    header = listing.stdout.splitlines()[0].split()
    assert header[:3] == ["name", "short_id", "image"]
    assert any(name in line and full_id[:12] in line and "running" in line
               for line in listing.stdout.splitlines())
    as_json = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gestalt.cli", "query", "world.infra.docker.containers",
         "--local", "--json", "-c", str(config_file)],
        capture_output=True, text=True, timeout=90)
    assert as_json.returncode == 0, as_json.stderr
    assert f'"short_id": "{full_id[:12]}"' in as_json.stdout
