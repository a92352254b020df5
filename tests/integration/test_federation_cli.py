"""`gestalt agent` as a process, as an operator runs it, against a kubesim cluster and a
real nats-server: killed with SIGKILL mid-churn and started again, paused (SIGSTOP) past
the hub's silence timeout, and cut off from the server (the server paused) past its
buffer. Each time the hub ends with exactly the cluster's pods: nothing lost, nothing
extra."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gestalt.engine.runtime import Engine
from gestalt.model import SourceState, ids
from gestalt.sim.kubesim import STORED, KubeSim
from tests.sim.conftest import deployment, seed
from tests.support.cli import GESTALT, gestalt, user_env
from tests.support.daemons import stop
from tests.support.federation import details, hub_config
from tests.support.nats_server import NatsServer, new_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

PODS = STORED[("", "pods")]
DEPLOYMENTS = STORED[("apps", "deployments")]


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-federation-cli")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def agent_config(path: Path, sim: KubeSim, url: str, **agent: object) -> Path:
    document = {
        "server": {"data_dir": str(path.parent / "agent-data")},
        "agent": {"site": "east", "url": url, "heartbeat_interval": 0.3, **agent},
        "collectors": {"host": {"enabled": False}, "docker": {"enabled": False},
                       "nats": {"enabled": False}, "otel": {"enabled": False},
                       "kubernetes": {"enabled": True, "kubeconfig": sim.kubeconfig,
                                      "cluster_name": "east", "poll_interval": 0.5,
                                      "inactivity_timeout": 2.0}}}
    path.write_text(yaml.safe_dump(document))
    return path


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([*GESTALT, "agent", "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, env=user_env())


def truth(sim: KubeSim) -> set[str]:
    return {ids.k8s("pod", "east", namespace, name)
            for namespace, pods in sim.store.objects[PODS].items() for name in pods}


def on_hub(hub: Engine) -> set[str]:
    return {eid for eid, e in hub.store.entities.items()
            if eid.startswith("pod:east/") and not e.stale}


async def same_pods(hub: Engine, sim: KubeSim, timeout: float = 60.0) -> None:
    await eventually(lambda: truth(sim) and on_hub(hub) == truth(sim), timeout=timeout,
                     what="the hub's pods to equal the cluster's")


async def churn(sim: KubeSim, rounds: int, pause: float = 0.1) -> None:
    for n in range(rounds):
        sim.store.update(DEPLOYMENTS, "shop", "web",
                         lambda obj, n=n: obj["spec"].__setitem__("replicas", 1 + n % 4))
        await asyncio.sleep(pause)


async def test_agent_killed_restarted_and_paused(nats: NatsServer, tmp_path: Path) -> None:
    async with KubeSim(bookmark_interval=0.3) as sim:
        seed(sim)
        sim.store.create(deployment("web", replicas=2))
        config = agent_config(tmp_path / "agent.yaml", sim, nats.url)
        log = tmp_path / "agent.log"
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=3.0))
        await hub.start()
        agent = start_agent(config, log)
        try:
            await same_pods(hub, sim)
            killed = await eventually(lambda: details(hub, "east")["agent"])
            await churn(sim, 5)
            agent.kill()  # SIGKILL mid-churn
            agent.wait(10)
            await churn(sim, 5)
            agent = start_agent(config, log)
            first = await eventually(lambda: details(hub, "east")["agent"] != killed
                                     and details(hub, "east")["agent"], timeout=60,
                                     what="the new agent's keyframe on the hub")
            await same_pods(hub, sim)

            agent.send_signal(signal.SIGSTOP)
            await eventually(lambda: hub.hub.statuses["site:east"].state is SourceState.DOWN,
                             what="the paused agent's site to go down")
            assert all(e.stale for eid, e in hub.store.entities.items()
                       if eid.startswith("pod:east/"))
            await churn(sim, 3)
            agent.send_signal(signal.SIGCONT)
            await same_pods(hub, sim)
            await eventually(lambda: hub.hub.statuses["site:east"].state is SourceState.OK,
                             what="the site back")
            assert details(hub, "east")["agent"] == first  # the same run, back
        finally:
            agent.send_signal(signal.SIGCONT)
            assert stop(agent) == 0, log.read_text()[-2000:]
            await hub.stop()


async def test_agent_cut_off_past_its_buffer_sends_a_keyframe(nats: NatsServer,
                                                             tmp_path: Path) -> None:
    async with KubeSim(bookmark_interval=0.3) as sim:
        seed(sim)
        sim.store.create(deployment("web", replicas=2))
        config = agent_config(tmp_path / "agent.yaml", sim, nats.url, buffer_messages=3,
                              publish_timeout=0.5)
        log = tmp_path / "agent.log"
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=30.0))
        await hub.start()
        agent = start_agent(config, log)
        try:
            await same_pods(hub, sim)
            assert nats.proc is not None
            nats.proc.send_signal(signal.SIGSTOP)  # the agent's network to NATS, paused
            await churn(sim, 12)
            await eventually(lambda: "dropped" in log.read_text(), timeout=60,
                             what="the agent to say what it dropped")
            nats.proc.send_signal(signal.SIGCONT)
            await same_pods(hub, sim, timeout=60)
            await eventually(lambda: details(hub, "east")["agent_dropped"] > 0,
                             what="the hub to show the agent's drops")
        finally:
            if nats.proc is not None:
                nats.proc.send_signal(signal.SIGCONT)
            assert stop(agent) == 0, log.read_text()[-2000:]
            await hub.stop()


async def test_a_hub_behind_the_stream_does_not_call_a_live_agent_silent(
        nats: NatsServer, tmp_path: Path) -> None:
    """A hub whose loop is held busy (a garbage collector's full pass, ten sites'
    keyframes) past its pull requests' expiry (the server stops delivering) and past the
    silence timeout, while the agent goes on: the messages it reads next were stored long
    ago, and the agent, alive all along, was judged silent: the site went down and every
    entity of it was committed stale, then fresh again. (The agent watches a synthetic
    system: a kubesim server would be in this process, and held busy too.)"""
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"data_dir": str(tmp_path / "agent-data")},
        "agent": {"site": "east", "url": nats.url, "heartbeat_interval": 0.3},
        "collectors": {name: {"enabled": False} for name in ("host", "docker", "kubernetes",
                                                             "nats", "otel")}
        | {"synthetic": {"enabled": True, "entities": 100, "edges": 100,
                         "churn_per_second": 2.0, "cluster": "east"}}}))
    log = tmp_path / "agent.log"
    hub = Engine(hub_config(nats.url, ["east"], silence_timeout=2.0))
    await hub.start()
    agent = start_agent(config, log)
    try:
        await eventually(lambda: hub.hub.statuses["site:east"].state is SourceState.OK,
                         timeout=60, what="the site ok")
        states: list[str] = []
        hub.hub.on_status(lambda status: states.append(str(status.state))
                          if status.name == "site:east" else None)
        stale: list[str] = []
        hub.changes.subscribe(lambda entry: stale.extend(
            e.id for e in getattr(entry.change, "upserts", []) if e.stale))
        heard = details(hub, "east")["last_heard"]
        # The fault: the hub's loop busy for 8 s (its pull requests expire after 5.5 s;
        # silence is 2 s), the agent in its own process going on meanwhile.
        time.sleep(8.0)  # noqa: ASYNC251 (the loop held busy is the point)
        await eventually(lambda: details(hub, "east")["last_heard"] > heard + 7.5
                         and details(hub, "east")["pending_messages"] == 0,
                         what="the hub to read the heartbeats sent while it was busy")
        assert states == []
        assert stale == []
        assert hub.hub.statuses["site:east"].state is SourceState.OK
    finally:
        assert stop(agent) == 0, log.read_text()[-2000:]
        await hub.stop()


def test_agent_without_a_site_says_which_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agent:\n  url: nats://127.0.0.1:4222\n")
    result = gestalt("agent", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {path}: key `agent.site`: required")
