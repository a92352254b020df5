"""Time travel against the real Docker engine and a real `gestalt serve`, and kubesim.

A session is recorded through the real engine (containers run, stopped, removed, with a
restart and a crash of Gestalt in the middle); for each moment captured live, `?at=` must
answer what the live topology said then (ids, status, health, edges). The downtime shows
as a gap between runs, nothing else is missing, and the version keeps counting.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from gestalt.sim.scenarios import ClusterLife, build_cluster
from tests.support.changes import merged
from tests.support.cli import gestalt, serving, user_env, write_config
from tests.support.docker import Objects, docker
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


def picture(topology: dict[str, Any]) -> dict[str, Any]:
    """What must be the same then and now: ids, status, health, edges."""
    return {
        "entities": {e["id"]: (e.get("status"), e.get("health_status"), e.get("stale", False))
                     for e in topology["entities"]},
        "connections": sorted(c["id"] for c in topology["connections"]),
    }


@pytest.fixture
def config(tmp_path: Path, docker_engine: str) -> Path:
    return write_config(tmp_path / "gestalt.yaml",
                        docker={"socket": docker_engine, "poll_interval": 0.5})


async def live(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/infra/topology")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def capture_when(client: httpx.AsyncClient, what: str, holds: Any,
                       captured: list[dict[str, Any]]) -> None:
    """Wait until the live map shows `what`, then keep it with its moment."""
    async def probe() -> dict[str, Any] | None:
        topology = await live(client)
        return topology if holds(topology) else None

    captured.append(await eventually(probe, timeout=30, what=what))


def names(topology: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("status", "") for e in topology["entities"]
            if e["kind"] == "container"}


async def assert_past_is_live(client: httpx.AsyncClient, captured: list[dict[str, Any]]
                              ) -> None:
    for then in captured:
        response = await client.get("/api/infra/topology", params={"at": then["timestamp"]})
        assert response.status_code == 200, response.text
        past = response.json()
        assert past["version"] == then["version"]
        assert picture(past) == picture(then)


async def assert_changes_lead_from_moment_to_moment(client: httpx.AsyncClient,
                                                    captured: list[dict[str, Any]]) -> None:
    """`?at=B&since=A` applied to the map at A is the map at B, forwards and back (what a
    browser scrubbing does); bad input is a 4xx naming `since`."""
    moments = [c["timestamp"] for c in captured]
    held = (await client.get("/api/infra/topology", params={"at": moments[0]})).json()
    for since, at in [*zip(moments, moments[1:], strict=False), (moments[-1], moments[0])]:
        response = await client.get("/api/infra/topology", params={"at": at, "since": since})
        assert response.status_code == 200, response.text
        change = response.json()
        assert change["since_version"] == held["version"]
        entities, edges = merged(held, change)
        held = {**change, "entities": list(entities.values()),
                "connections": list(edges.values())}
        whole = (await client.get("/api/infra/topology", params={"at": at})).json()
        assert (held["version"], held["summary"]) == (whole["version"], whole["summary"])
        assert sorted(held["entities"], key=lambda e: e["id"]) == \
            sorted(whole["entities"], key=lambda e: e["id"])
        assert picture(held) == picture(whole)
    oldest = (await client.get("/api/infra/timeline")).json()["oldest"]
    for params, status, said in [
        ({"since": moments[0]}, 400, "since: pass at"),
        ({"at": moments[-1], "since": "yesterday"}, 400, "since: expected RFC 3339"),
        ({"at": moments[-1], "since": oldest - 3600}, 404, "since: "),
        ({"at": moments[-1], "since": time.time() + 3600}, 400, "since: 2"),
        ({"at": time.time() + 3600, "since": moments[0]}, 400, "at: 2"),
    ]:
        response = await client.get("/api/infra/topology", params=params)
        assert response.status_code == status, (params, response.text)
        assert said in response.text, (params, response.text)
        if status == 404:
            assert response.json()["oldest"] == oldest


async def test_a_recorded_docker_session_reads_back_at_every_moment_across_restarts(
    config: Path, objects: Objects
) -> None:
    captured: list[dict[str, Any]] = []
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        name, _ = await objects.run()
        await capture_when(client, f"{name} running", lambda t: names(t).get(name) == "running",
                           captured)
        await docker("stop", name)
        await capture_when(client, f"{name} exited", lambda t: names(t).get(name) == "exited",
                           captured)
        first_version = captured[-1]["version"]
    stopped = time.time()

    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        other, _ = await objects.run()
        await capture_when(client, f"{other} running after the restart",
                           lambda t: names(t).get(other) == "running", captured)
        await docker("rm", "-f", name)
        await capture_when(client, f"{name} gone", lambda t: name not in names(t), captured)
        assert captured[-1]["version"] > first_version  # the version kept counting
        await assert_past_is_live(client, captured)

        timeline = (await client.get("/api/infra/timeline")).json()
        runs = timeline["runs"]
        assert len(runs) == 2 and runs[0]["to"] is not None and runs[1]["to"] is None
        assert runs[0]["to"] <= stopped <= runs[1]["from"]
        assert runs[1]["version"] >= first_version
        down = (await client.get("/api/infra/topology",
                                 params={"at": (runs[0]["to"] + runs[1]["from"]) / 2})).json()
        assert down["gap"] is not None and "nothing recorded" in down["gap"]["message"]
        # In the downtime: the last state recorded before it (the container stopped).
        assert names(down).get(name) == "exited"

        # Bad input: one line, 4xx, nothing touched.
        oldest = timeline["oldest"]
        too_old = await client.get("/api/infra/topology", params={"at": oldest - 3600})
        assert too_old.status_code == 404 and too_old.json()["oldest"] == oldest
        for params in ({"at": "yesterday"}, {"at": "2026-01-01T00:00:00"}):
            assert (await client.get("/api/infra/topology", params=params)).status_code == 400
        backwards = await client.get("/api/infra/topology/diff",
                                     params={"from": time.time(), "to": oldest})
        assert backwards.status_code == 400 and "after" in backwards.text
        fast = await client.get("/api/infra/topology/stream",
                                params={"from": oldest, "speed": 1e9})
        assert fast.status_code == 400 and "speed" in fast.text

        # What changed from the first moment to the last, field by field.
        diff = (await client.get("/api/infra/topology/diff", params={
            "from": captured[0]["timestamp"], "to": captured[1]["timestamp"]})).json()
        changed = {eid: fields for eid, fields in diff["entities"]["changed"].items()
                   if "status" in fields}
        assert any(f["status"] == ["running", "exited"] for f in changed.values())


async def test_a_crash_mid_recording_keeps_the_file_and_every_committed_moment(
    config: Path, objects: Objects
) -> None:
    captured: list[dict[str, Any]] = []
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        name, _ = await objects.run()
        await capture_when(client, f"{name} running", lambda t: names(t).get(name) == "running",
                           captured)
        # Recorded: history commits every half second.
        await eventually(lambda: _versions(config) >= captured[-1]["version"], timeout=10,
                         what="the moment committed")
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(10)
    db = config.parent / "data" / "history.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        await assert_past_is_live(client, captured)
        runs = (await client.get("/api/infra/timeline")).json()["runs"]
        # The crashed run ends at its last record, not never.
        assert runs[0]["to"] is not None and runs[0]["to"] >= captured[-1]["timestamp"] - 1


def _versions(config: Path) -> int:
    db = config.parent / "data" / "history.sqlite3"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            (version,) = conn.execute("SELECT MAX(version) FROM deltas").fetchone()
    except sqlite3.Error:
        return -1
    return int(version or 0)


async def test_a_kubesim_scenario_reads_back_at_every_moment(tmp_path: Path) -> None:
    async with KubeSim() as sim:
        cluster = build_cluster(sim, nodes=2, namespaces=2, pods=12)
        life = ClusterLife(sim, cluster, seed=3)
        config = tmp_path / "gestalt.yaml"
        config.write_text(
            f"server: {{data_dir: {tmp_path / 'data'}}}\n"
            "collectors:\n"
            "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
            "  docker: {enabled: false}\n"
            f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
            "cluster_name: kubesim, poll_interval: 0.5}\n")
        engine = Engine(load_config(config, env={}))
        captured: list[dict[str, Any]] = []
        async with running_server(engine) as url, httpx.AsyncClient(base_url=url) as client:
            def pods(topology: dict[str, Any]) -> int:
                return sum(1 for e in topology["entities"] if e["kind"] == "pod")

            await capture_when(client, "the cluster's pods", lambda t: pods(t) >= 12, captured)
            for action in (life.scale, life.crash_loop, life.rolling_update, life.crash_loop,
                           life.scale):
                action()
                seen = captured[-1]["version"]
                await capture_when(client, f"the map after {action.__name__}",
                                   lambda t, seen=seen: t["version"] > seen, captured)
            await assert_past_is_live(client, captured)
            await assert_changes_lead_from_moment_to_moment(client, captured)
            assert len({c["version"] for c in captured}) == len(captured)
            # Filtered, the past's summary counts what it keeps, as the live one does.
            response = await client.get("/api/infra/topology", params={
                "at": captured[-1]["timestamp"], "kinds": "pod"})
            past = response.json()
            assert {e["kind"] for e in past["entities"]} == {"pod"}
            assert past["summary"]["total"] == len(past["entities"]) == pods(captured[-1])
            assert set(past["summary"]["by_kind"]) == {"pod"}


async def test_a_snapshot_opens_read_only_and_a_view_exports_in_every_format(
    config: Path, objects: Objects, tmp_path: Path
) -> None:
    captured: list[dict[str, Any]] = []
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        name, _ = await objects.run()
        await capture_when(client, f"{name} running", lambda t: names(t).get(name) == "running",
                           captured)
        then = captured[-1]
        response = await client.get("/api/infra/snapshot", params={"at": then["timestamp"]})
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        snapshot = tmp_path / "moment.json"
        snapshot.write_bytes(response.content)
        exports = {f: await client.get("/api/infra/export", params={"format": f})
                   for f in ("json", "graphml", "dot", "mermaid")}
        bad = await client.get("/api/infra/export", params={"format": "png"})
        assert bad.status_code == 400 and "graphml" in bad.text
    container = next(e["id"] for e in then["entities"] if e["name"] == name)
    graphml = ElementTree.fromstring(exports["graphml"].content)
    namespace = "{http://graphml.graphdrawing.org/xmlns}"
    assert container in [n.get("id") for n in graphml.iter(f"{namespace}node")]
    assert f'"{container}"' in exports["dot"].text and exports["dot"].text.startswith("digraph")
    assert exports["mermaid"].text.startswith("graph LR") and name in exports["mermaid"].text
    assert container in [e["id"] for e in exports["json"].json()["entities"]]

    # Served from the file alone (nothing else of the past is needed), read-only.
    async with serving(config, "--open-snapshot", str(snapshot)) as served, \
            httpx.AsyncClient(base_url=served.url) as client:
        shown = (await client.get("/api/infra/topology")).json()
        assert picture(shown)["entities"] == picture(then)["entities"]
        meta = (await client.get("/api/infra/config")).json()["snapshot"]
        assert meta["file"] == "moment.json" and meta["at"] == then["timestamp"]
        readiness = (await client.get("/readyz")).json()
        assert readiness["ready"] is True

    # A file that is not a snapshot, or a damaged one: one line, nothing served.
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"kind": "something else"}')
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(snapshot.read_bytes()[:200])
    for path, says in ((foreign, "not a Gestalt snapshot"), (damaged, "not a Gestalt snapshot")):
        result = gestalt("serve", "-c", str(config), "--open-snapshot", str(path),
                         env=user_env())
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0] and str(path) in lines[0]
