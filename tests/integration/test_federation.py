"""Federation end to end: three kubesim clusters, each with its agent, and the hub's own
Docker engine as a fourth site, on one hub over a real nats-server with JetStream. The
hub's map must equal the union of what each agent sees, under churn and through faults
(the hub restarting, the NATS server restarting, an agent going silent)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nats import connect as nats_connect

from gestalt.engine.runtime import Engine
from gestalt.model import SourceState
from gestalt.model.config import DockerCollector, KubernetesCollector
from gestalt.model.federation import KEYFRAME_START_HEADER, MSG_ID_HEADER, subject
from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sources.agents import SiteSource
from tests.sim.conftest import deployment, seed
from tests.support.federation import Agent, details, hub_config, hub_view, quiet_config, union
from tests.support.nats_server import NatsServer, new_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

DEPLOYMENTS = STORED[("apps", "deployments")]
SITES = ("east", "west", "north")


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-federation")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def clusters() -> AsyncIterator[list[KubeSim]]:
    async with contextlib.AsyncExitStack() as stack:
        sims = []
        for _ in SITES:
            sim = await stack.enter_async_context(KubeSim(bookmark_interval=0.3))
            seed(sim)
            sim.store.create(deployment("web", replicas=2))
            sim.store.create(deployment("api", replicas=1))
            sims.append(sim)
        yield sims


def kube_agent(site: str, sim: KubeSim, url: str, **options: object) -> Agent:
    config = quiet_config(kubernetes=KubernetesCollector(
        kubeconfig=sim.kubeconfig, cluster_name=site, poll_interval=0.5,
        inactivity_timeout=2.0))
    return Agent(site, url, config, **options)


async def start_agents(sims: list[KubeSim], url: str) -> list[Agent]:
    return [await kube_agent(site, sim, url).start()
            for site, sim in zip(SITES, sims, strict=True)]


def scale(sim: KubeSim, name: str, replicas: int) -> None:
    sim.store.update(DEPLOYMENTS, "shop", name,
                     lambda obj: obj["spec"].__setitem__("replicas", replicas))


async def churn(sims: list[KubeSim], rounds: int, pause: float = 0.05) -> None:
    for n in range(rounds):
        for i, sim in enumerate(sims):
            scale(sim, "web", 1 + (n + i) % 4)
        await asyncio.sleep(pause)


async def hub_matches(hub: Engine, agents: list[Agent], timeout: float = 20.0) -> None:
    def same() -> bool:
        if not all(agent.view()[0] for agent in agents):
            return False  # an agent that has not listed its cluster yet proves nothing
        return hub_view(hub) == union(*agents)

    await eventually(same, timeout=timeout, what="the hub's map to equal the agents' union")


async def test_three_clusters_and_local_docker_on_one_hub_under_churn(
        nats: NatsServer, docker_engine: str) -> None:
    async with clusters() as sims:
        agents = await start_agents(sims, nats.url)
        config = hub_config(nats.url, list(SITES))
        config.collectors.docker = DockerCollector(enabled=True, socket=docker_engine)
        hub = Engine(config)
        await hub.start()
        try:
            await churn(sims, 20)
            await hub_matches(hub, agents)
            ents, _ = hub_view(hub)
            for site in SITES:  # every cluster there, its ids carrying its name
                assert any(eid.startswith(f"pod:{site}/") for eid in ents), site
            local = [e for e in hub.store.entities.values() if "docker" in e.sources]
            assert local, "the hub's own Docker engine is the fourth site"
            for site in SITES:
                state = details(hub, site)
                assert state["state"] == "ok" and state["connected"] is True, state
                assert state["rejected"] == 0 and state["last_keyframe"] is not None, state
            # Churn again after the first catch-up: deltas, not keyframes, carry it.
            await churn(sims, 10)
            await hub_matches(hub, agents)
        finally:
            await hub.stop()
            for agent in agents:
                await agent.stop()


async def test_hub_restart_rebuilds_from_the_stream_and_two_hubs_agree(
        nats: NatsServer) -> None:
    async with clusters() as sims:
        agents = await start_agents(sims, nats.url)
        hub = Engine(hub_config(nats.url, list(SITES)))
        await hub.start()
        try:
            await churn(sims, 10)
            await hub_matches(hub, agents)
            keyframes = [a.publisher.last_keyframe_version for a in agents]
            await hub.stop()
            await churn(sims, 10)  # while the hub is away
            other = Engine(hub_config(nats.url, list(SITES), durable="second-hub"))
            hub = Engine(hub_config(nats.url, list(SITES)))
            await hub.start()
            await other.start()
            try:
                await hub_matches(hub, agents)
                await hub_matches(other, agents)
                # Rebuilt from the stream: the agents sent no new keyframe for it.
                assert [a.publisher.last_keyframe_version for a in agents] == keyframes
                await churn(sims, 5)
                await hub_matches(hub, agents)
                await hub_matches(other, agents)
            finally:
                await other.stop()
        finally:
            await hub.stop()
            for agent in agents:
                await agent.stop()


async def test_nats_server_restarts_mid_churn_lose_nothing(nats: NatsServer) -> None:
    async with clusters() as sims:
        agents = await start_agents(sims, nats.url)
        hub = Engine(hub_config(nats.url, list(SITES), silence_timeout=30.0))
        await hub.start()
        try:
            await hub_matches(hub, agents)
            for _ in range(3):
                await churn(sims, 3)
                nats.kill()  # SIGKILL: the file store must carry the stream over
                await churn(sims, 3)
                nats.start()
            await churn(sims, 5)
            await hub_matches(hub, agents, timeout=40)
        finally:
            await hub.stop()
            for agent in agents:
                await agent.stop()


async def test_buffer_overflow_is_counted_and_replaced_by_a_keyframe(nats: NatsServer) -> None:
    async with clusters() as sims:
        agent = await kube_agent("east", sims[0], nats.url, buffer_messages=4).start()
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=30.0))
        await hub.start()
        try:
            await hub_matches(hub, [agent])
            nats.kill()
            await churn(sims[:1], 15, pause=0.1)
            await eventually(lambda: agent.publisher.dropped["delta"] > 0,
                             what="the agent to drop deltas past its buffer")
            assert agent.publisher.buffered <= 4
            nats.start()
            await hub_matches(hub, [agent], timeout=40)
            assert agent.publisher.last_keyframe_version is not None
            await eventually(lambda: details(hub, "east")["agent_dropped"] > 0,
                             what="the hub to show what the agent dropped")
        finally:
            await hub.stop()
            await agent.stop()


async def test_a_silent_site_turns_stale_and_recovers(nats: NatsServer) -> None:
    async with clusters() as sims:
        agent = await kube_agent("east", sims[0], nats.url).start()
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=1.5))
        await hub.start()
        try:
            await hub_matches(hub, [agent])
            await agent.stop()

            def all_stale() -> bool:
                ents = [e for e in hub.store.entities.values() if "site:east" in e.sources]
                return bool(ents) and all(e.stale for e in ents)

            await eventually(all_stale, what="the silent site's entities to turn stale")
            assert hub.hub.statuses["site:east"].state is SourceState.DOWN
            assert "silent" in hub.hub.statuses["site:east"].reason
            # A new agent (a new id) brings the site back by itself.
            agent = await kube_agent("east", sims[0], nats.url).start()
            scale(sims[0], "web", 3)
            await hub_matches(hub, [agent])
            await eventually(lambda: not all_stale(), what="the site to be fresh again")
            assert hub.hub.statuses["site:east"].state is SourceState.OK
        finally:
            await hub.stop()
            await agent.stop()


async def test_changes_larger_than_a_message_go_as_keyframe_parts(nats: NatsServer) -> None:
    async with clusters() as sims:
        # Messages of at most 2 kB: the first list (a large delta) cannot go as one.
        agent = await kube_agent("east", sims[0], nats.url, max_message_bytes=2048).start()
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=30.0))
        await hub.start()
        try:
            await hub_matches(hub, [agent])
            assert agent.publisher.replaced_by_keyframe > 0
            await churn(sims[:1], 5)
            await hub_matches(hub, [agent])
        finally:
            await hub.stop()
            await agent.stop()


async def test_an_agent_stops_when_the_stop_meets_a_change(nats: NatsServer) -> None:
    """A stop that arrives in the same instant as a change still stops the publisher (with
    Python 3.11's wait_for the change won and the cancellation was lost: the agent, and
    the suite, hung)."""
    hub = Engine(hub_config(nats.url, ["solo"]))  # the hub makes the stream
    await hub.start()
    agent = await Agent("solo", nats.url, quiet_config()).start()
    publisher = agent.publisher
    assert agent.task is not None
    try:
        # Idle: the loop waits for a change or the next heartbeat (asyncio.Event's waiters).
        await eventually(lambda: publisher.last_keyframe is not None
                         and len(publisher._wake._waiters) == 1,  # type: ignore[attr-defined]
                         timeout=20, what="the publisher idle after its keyframe")
        publisher._wake.set()
        agent.task.cancel()
        done, _ = await asyncio.wait({agent.task}, timeout=5)
        assert agent.task in done and agent.task.cancelled()
    finally:
        await agent.stop()
        await hub.stop()


async def test_a_sites_first_keyframe_is_committed_once_and_fresh(nats: NatsServer) -> None:
    """The hub waits for a site with no keyframe yet (the site is down); the keyframe's
    entities come fresh, each committed once: not stale first and again when the site
    turns ok (at 10,000 entities a site that was a second round of merges)."""
    async with clusters() as sims:
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=30.0))
        await hub.start()
        upserts: dict[str, list[bool]] = {}

        def take(entry: Any) -> None:
            for entity in getattr(entry.change, "upserts", []):
                if "site:east" in entity.sources:
                    upserts.setdefault(entity.id, []).append(entity.stale)

        hub.changes.subscribe(take)
        agent: Agent | None = None
        try:
            await eventually(lambda: hub.hub.statuses["site:east"].state is SourceState.DOWN,
                             what="the site down: no keyframe yet")
            # The agent's own picture fresh before its keyframe goes (its sources start).
            agent = kube_agent("east", sims[0], nats.url)
            await agent.engine.start()
            await eventually(lambda: agent is not None and agent.engine.store.entities and
                             not any(e.stale for e in agent.engine.store.entities.values()),
                             what="the agent's entities fresh")
            agent.task = asyncio.create_task(agent.publisher.run())
            await hub_matches(hub, [agent])
            assert upserts
            assert {eid: stale for eid, stale in upserts.items() if True in stale} == {}
        finally:
            await hub.stop()
            if agent is not None:
                await agent.stop()


async def test_a_keyframe_half_in_the_stream_is_waited_for_not_taken_for_none(
        nats: NatsServer) -> None:
    """A hub that reads a site from its last keyframe while the agent is still sending its
    parts (each part goes once the one before is stored) reaches the stream's end halfway
    through it: it waits for the rest, where it said the site had no keyframe (down: at
    10,000 entities, a site the hub showed turned stale, every entity committed again, and
    again when the rest came). The parts are a real agent's, sent again by this test: the
    first, then, once the hub has read it, the others."""
    async with clusters() as sims:
        maker = Engine(hub_config(nats.url, ["east"], durable="maker"))  # makes the stream
        await maker.start()
        agent = await kube_agent("east", sims[0], nats.url, max_message_bytes=2048).start()
        try:
            await hub_matches(maker, [agent])
            expected = hub_view(maker)
        finally:
            await agent.stop()
            await maker.stop()
        parts = await keyframe_parts(nats.url, "east")
        assert len(parts) >= 3
        hub = Engine(hub_config(nats.url, ["east"], silence_timeout=30.0))
        states: list[str] = []
        hub.hub.on_status(lambda status: states.append(str(status.state))
                          if status.name == "site:east" else None)
        site = hub.sources["site:east"]
        assert isinstance(site, SiteSource)
        nc = await nats_connect(nats.url)
        try:
            js = nc.jetstream()
            await js.purge_stream("GESTALT")
            first = await resend(js, parts[0], None)
            await hub.start()
            await eventually(lambda: site.mirror.assembling,
                             what="the hub to read the keyframe's first part")
            for part in parts[1:]:
                await resend(js, part, first)
            await eventually(lambda: hub_view(hub) == expected,
                             what="the site on the hub from the whole keyframe")
            assert "down" not in states
            assert hub.hub.statuses["site:east"].state is SourceState.OK
        finally:
            await nc.close()
            await hub.stop()


async def keyframe_parts(url: str, site: str) -> list[tuple[bytes, dict[str, str]]]:
    """The site's last keyframe as stored (body, headers), part by part."""
    nc = await nats_connect(url)
    try:
        js = nc.jetstream()
        last = await js.get_last_msg("GESTALT", subject(site, "keyframe"))
        start = int((last.headers or {})[KEYFRAME_START_HEADER])
        parts = []
        for seq in range(start, last.seq + 1):
            msg = await js.get_msg("GESTALT", seq)
            if msg.subject == subject(site, "keyframe"):
                parts.append((msg.data or b"", dict(msg.headers or {})))
        return parts
    finally:
        await nc.close()


async def resend(js: Any, part: tuple[bytes, dict[str, str]], first: int | None) -> int:
    """One keyframe part published again (a new message id: the server deduplicates the
    old one), naming where its keyframe's first part now is."""
    body, headers = part
    headers = {**headers, MSG_ID_HEADER: headers[MSG_ID_HEADER] + ".again"}
    headers.pop(KEYFRAME_START_HEADER, None)
    if first is not None:
        headers[KEYFRAME_START_HEADER] = str(first)
    ack = await js.publish(subject("east", "keyframe"), body, headers=headers)
    return int(ack.seq)


async def test_an_agent_started_before_the_hub_made_the_stream_is_on_the_map(
        nats: NatsServer) -> None:
    """An agent may start before any hub has made the stream (a fleet's agents come up
    first): its publishes are refused ("no response from stream") until then, and once the
    hub has made it, the site comes whole."""
    async with clusters() as sims:
        agent = await kube_agent("east", sims[0], nats.url).start()
        hub = Engine(hub_config(nats.url, ["east"]))
        try:
            await eventually(lambda: agent.engine.store.entities, what="the agent's picture")
            await hub.start()
            await hub_matches(hub, [agent], timeout=30.0)
        finally:
            await hub.stop()
            await agent.stop()


async def test_periodic_keyframes_under_churn_are_known_by_their_digest(
        nats: NatsServer) -> None:
    """The agents' periodic keyframes (one a second here) say what the deltas and metrics
    frames already told the hub: their digests, summed from the agent's own bytes, are the
    hub's sums of what it holds, and their items are not read. A kubesim cluster (status
    changes) and a synthetic site (numbers changing as metrics frames); the map still
    equals the agents' under churn."""
    from gestalt.model.config import SyntheticCollector

    async with clusters() as sims:
        kube = await kube_agent("east", sims[0], nats.url, keyframe_interval=1.0).start()
        numbers = await Agent("west", nats.url, quiet_config(synthetic=SyntheticCollector(
            enabled=True, entities=300, edges=300, churn_per_second=20, cluster="west")),
            keyframe_interval=1.0).start()
        agents = [kube, numbers]
        hub = Engine(hub_config(nats.url, ["east", "west"]))
        await hub.start()
        try:
            async def known(site: str, at_least: int) -> None:
                await eventually(
                    lambda: details(hub, site).get("keyframes_known_by_digest", 0) >= at_least,
                    timeout=30, what=f"{at_least} keyframes of {site} known by their digest")

            for _ in range(4):
                await churn(sims[:1], 5)
                await known("east", 1)
            await known("west", 3)
            await known("east", 3)
            for site in ("east", "west"):
                state = details(hub, site)
                said = {k: v for k, v in state.items() if "keyframe" in k or "ignored" in k}
                # Nearly all are known; one run in about twenty here missed one (cause not
                # found; a miss is read in full, as a keyframe without a digest is).
                assert state["keyframes_digest_missed"] <= 1, said
                assert state["keyframes_known_by_digest"] > 2 * state["keyframes_digest_missed"]
                assert state["rejected"] == 0, state
            await hub_matches(hub, agents)
        finally:
            await hub.stop()
            for agent in agents:
                await agent.stop()
