"""Federation against hostile or confused agents, on a real nats-server: the shipped server
config (deploy/nats/gestalt.conf) keeps each agent to its own site's subjects and refuses
wrong credentials; the hub refuses payloads that are too large, malformed or of another
schema (counted, never a crash), and a stale agent id republishing old versions never
moves the map backwards."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import nats
import pytest
import yaml
from nats.js.errors import NotFoundError

from gestalt.engine.runtime import Engine
from gestalt.model import Delta, Entity, EntityKind, EntityStatus, SourceState
from gestalt.model.changes import encode
from gestalt.model.config import NatsCredentials, SyntheticCollector
from gestalt.model.federation import (
    AGENT_HEADER,
    MSG_ID_HEADER,
    STARTED_HEADER,
    keyframe_parts,
    subject,
)
from gestalt.sources.agents.advisories import agent_client_name
from gestalt.sources.agents.connect import Refused
from tests.support.cli import gestalt, user_env
from tests.support.federation import Agent, details, hub_config, hub_view, quiet_config
from tests.support.nats_server import NatsServer, new_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "gestalt.conf"
PASSWORDS = {"GESTALT_HUB_PASSWORD": "hub-pw-1", "GESTALT_EAST_PASSWORD": "east-pw-2",
             "GESTALT_WEST_PASSWORD": "west-pw-3", "GESTALT_HUB_SYSTEM_PASSWORD": "sys-pw-4"}


def synthetic_agent(site: str, url: str, **options: object) -> Agent:
    config = quiet_config(synthetic=SyntheticCollector(
        enabled=True, entities=40, edges=40, churn_per_second=0.0))
    return Agent(site, url, config, **options)


@pytest.fixture
def open_nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-fed-open")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def locked_nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-fed-locked", env={**os.environ, **PASSWORDS})
    # The shipped config as it is, but for where JetStream keeps its files.
    config = Path(server.store) / "gestalt.conf"
    config.write_text(CONF.read_text().replace("/var/lib/nats/jetstream", server.store))
    server.config = str(config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def hub_and_agent(open_nats: NatsServer) -> AsyncIterator[tuple[Engine, Agent]]:
    agent = await synthetic_agent("east", open_nats.url).start()
    hub = Engine(hub_config(open_nats.url, ["east"], silence_timeout=30.0,
                            max_message_bytes=256 * 1024))
    await hub.start()
    try:
        await eventually(lambda: hub_view(hub) == agent.view() and agent.view()[0],
                         what="the hub to show the agent's site")
        yield hub, agent
    finally:
        await hub.stop()
        await agent.stop()


async def publish_raw(url: str, site: str, kind: str, body: bytes,
                      headers: dict[str, str], **connect: object) -> None:
    nc = await nats.connect(url, **connect)
    try:
        await nc.jetstream().publish(subject(site, kind), body, headers=headers)
    finally:
        await nc.close()


def as_agent(agent_id: str, started_ms: int, msg_id: str) -> dict[str, str]:
    return {AGENT_HEADER: agent_id, STARTED_HEADER: str(started_ms), MSG_ID_HEADER: msg_id}


async def test_hostile_payloads_are_refused_with_a_reason(
        open_nats: NatsServer, hub_and_agent: tuple[Engine, Agent]) -> None:
    hub, agent = hub_and_agent
    me = agent.publisher
    before = hub_view(hub)
    headers = as_agent(me.agent, me.started_ms, "x")
    cases = {
        "oversized": b'{"schema":1,"version":1,"timestamp":1,"upserts":[' + b" " * 300_000
                     + b"]}",
        "malformed": b'{"schema":1,"version":',
        "schema": b'{"schema":2,"version":999,"timestamp":1}',
    }
    for n, body in enumerate(cases.values()):
        await publish_raw(open_nats.url, "east", "delta", body, {**headers,
                                                                 MSG_ID_HEADER: f"bad{n}"})
    # Well formed JSON of the wrong shape, and a message with no agent at all.
    await publish_raw(open_nats.url, "east", "delta", b'{"schema":1,"version":"x"}',
                      {**headers, MSG_ID_HEADER: "bad-shape"})
    await publish_raw(open_nats.url, "east", "delta", b'{"schema":1}', {MSG_ID_HEADER: "anon"})

    def counted() -> dict[str, object] | None:
        state = details(hub, "east")
        ok = state.get("rejected_oversized") == 1 and state.get("rejected_schema") == 1 \
            and state.get("rejected_malformed") == 3
        return state if ok else None

    state = await eventually(counted, what="each hostile payload counted by its reason")
    assert state["state"] == "degraded" and "refused 5" in str(state["reason"])
    assert hub_view(hub) == before
    # The site still works: the agent's next change arrives (its source going down turns
    # what it saw stale, on the agent and so on the hub).
    agent.engine.hub.status("synthetic", SourceState.DOWN, "gone for a test")
    await eventually(lambda: all(e.stale for e in hub.store.entities.values()
                                 if "site:east" in e.sources),
                     what="the agent's next change on the hub")


async def test_a_stale_agent_republishing_old_versions_never_moves_the_map_back(
        open_nats: NatsServer, hub_and_agent: tuple[Engine, Agent]) -> None:
    hub, agent = hub_and_agent
    me = agent.publisher
    before = hub_view(hub)
    ghost = Entity(id="pod:east/shop/ghost", kind=EntityKind.POD, name="ghost",
                   status=EntityStatus.RUNNING)
    # An older run of the site's agent, sending a keyframe of another picture.
    old_start = me.started_ms - 60_000
    (part,) = keyframe_parts(1, 1.0, [msgspec.json.encode(ghost)], [], 1 << 20)
    await publish_raw(open_nats.url, "east", "keyframe", part,
                      as_agent(f"test-east-{old_start}", old_start, "old-k1"))
    # The current agent's own old version again, under a new message id (so JetStream's
    # deduplication lets it through): the hub ignores it as a duplicate.
    old = Delta(version=1, timestamp=1.0, upserts=[ghost])
    await publish_raw(open_nats.url, "east", "delta", encode(old),
                      as_agent(me.agent, me.started_ms, "replayed-1"))

    def seen() -> dict[str, object] | None:
        state = details(hub, "east")
        return state if state.get("rejected_stale_agent") == 1 \
            and state.get("ignored_duplicate", 0) >= 1 else None

    await eventually(seen, what="the stale agent refused and the old version ignored")
    assert hub_view(hub) == before
    assert ghost.id not in hub.store.entities


async def test_an_agent_may_publish_only_its_own_site(locked_nats: NatsServer) -> None:
    url = locked_nats.url
    hub = Engine(hub_config(url, ["east", "west"], user="hub",
                            password=PASSWORDS["GESTALT_HUB_PASSWORD"]))
    await hub.start()
    east = synthetic_agent("east", url, user="east", password=PASSWORDS["GESTALT_EAST_PASSWORD"])
    try:
        await east.start()
        await eventually(lambda: hub_view(hub) == east.view() and east.view()[0],
                         what="east on the hub with its own credentials")
        # East's credentials, but claiming to be west: the server refuses the publish.
        impostor = synthetic_agent("west", url, user="east",
                                   password=PASSWORDS["GESTALT_EAST_PASSWORD"])
        await impostor.engine.start()
        with pytest.raises(Refused, match="(?i)permissions violation"):
            await impostor.publisher.run()
        await impostor.stop()
        nc = await nats.connect(url, user="hub", password=PASSWORDS["GESTALT_HUB_PASSWORD"])
        try:
            with pytest.raises(NotFoundError):
                await nc.jetstream().get_last_msg("GESTALT", "gestalt.west.>")
        finally:
            await nc.close()
        west = hub.hub.statuses["site:west"]
        assert west.state is SourceState.DOWN and "no keyframe" in west.reason
    finally:
        await hub.stop()
        await east.stop()


async def test_wrong_credentials_are_refused(locked_nats: NatsServer) -> None:
    agent = synthetic_agent("east", locked_nats.url, user="east", password="not-the-password")
    await agent.engine.start()
    try:
        with pytest.raises(Refused, match="(?i)authorization"):
            await agent.publisher.run()
        assert agent.publisher.refused
    finally:
        await agent.stop()


def test_gestalt_agent_refused_exits_saying_why_once(locked_nats: NatsServer,
                                                     tmp_path: Path) -> None:
    """`gestalt agent` with a wrong password, as an operator runs it: it exits 1 and says
    the server refused it, once (it was said twice: a log line, then the error)."""
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"data_dir": str(tmp_path / "data")},
        "agent": {"site": "east", "url": locked_nats.url, "user": "east"},
        "collectors": {name: {"enabled": False}
                       for name in ("host", "docker", "nats", "otel", "kubernetes")}}))
    result = gestalt("agent", "--config", str(config),
                     env={**user_env(), "GESTALT_AGENT__PASSWORD": "not-east-pw"})
    assert result.returncode == 1, result.stderr
    said = [line for line in (result.stdout + result.stderr).splitlines()
            if "Authorization Violation" in line]
    assert len(said) == 1, result.stdout + result.stderr
    assert said[0].startswith("error: NATS at"), said


def watching_hub(url: str) -> Engine:
    """A hub that also reads the server's advisories, as the shipped config allows."""
    return Engine(hub_config(
        url, ["east", "west"], user="hub", password=PASSWORDS["GESTALT_HUB_PASSWORD"],
        system=NatsCredentials(user="hub-system",
                               password=PASSWORDS["GESTALT_HUB_SYSTEM_PASSWORD"])))


def shown_refused(hub: Engine, site: str) -> dict[str, object] | None:
    state = details(hub, site)
    return state if state.get("refused") and state["state"] == "down" else None


async def advisories_read(hub: Engine) -> None:
    await eventually(lambda: hub.hub.statuses["agents:advisories"].state is SourceState.OK,
                     what="the hub reading the server's advisories")


async def test_the_hub_shows_an_agent_with_wrong_credentials_refused(
        locked_nats: NatsServer) -> None:
    url = locked_nats.url
    hub = watching_hub(url)
    await hub.start()
    bad = synthetic_agent("east", url, user="east", password="not-the-password")
    good = synthetic_agent("east", url, user="east", password=PASSWORDS["GESTALT_EAST_PASSWORD"])
    try:
        await advisories_read(hub)
        await bad.engine.start()
        with pytest.raises(Refused):
            await bad.publisher.run()
        state = await eventually(lambda: shown_refused(hub, "east"), what="east shown refused")
        assert "refused by NATS" in str(state["reason"]) and bad.publisher.agent in state["reason"]
        assert "user 'east'" in str(state["refused_reason"])
        assert "authentication" in str(state["refused_reason"]).lower()
        assert details(hub, "west")["refused"] is False
        # The right credentials: the site works again and is no longer shown refused.
        await good.start()
        state = await eventually(lambda: (s := details(hub, "east"))["state"] == "ok" and s,
                                 what="east back with the right password")
        assert state["refused"] is False and state["refused_attempts"] == 1
    finally:
        await hub.stop()
        await bad.stop()
        await good.stop()


async def test_the_hub_shows_an_agent_publishing_as_another_site_refused(
        locked_nats: NatsServer) -> None:
    url = locked_nats.url
    hub = watching_hub(url)
    await hub.start()
    east = synthetic_agent("east", url, user="east", password=PASSWORDS["GESTALT_EAST_PASSWORD"])
    impostor = synthetic_agent("west", url, user="east",
                               password=PASSWORDS["GESTALT_EAST_PASSWORD"])
    try:
        await advisories_read(hub)
        await east.start()
        await eventually(lambda: details(hub, "east")["state"] == "ok", what="east on the hub")
        await impostor.engine.start()
        with pytest.raises(Refused, match="(?i)permissions violation"):
            await impostor.publisher.run()
        state = await eventually(lambda: shown_refused(hub, "west"), what="west shown refused")
        assert "refused by NATS" in str(state["reason"])
        assert "user 'east'" in str(state["refused_reason"])
        assert "permissions violation" in str(state["refused_reason"])
        assert state["refused_agent"] == impostor.publisher.agent
        # East itself, whose credentials the impostor borrowed, is unaffected.
        assert details(hub, "east")["state"] == "ok" and not details(hub, "east")["refused"]
    finally:
        await hub.stop()
        await east.stop()
        await impostor.stop()


def change_password(server: NatsServer, user: str, password: str) -> None:
    """In the server's config file, then reloaded (SIGHUP) as an operator would. (The file
    names the server as its command line did: a reload refuses to rename it.)"""
    assert server.config is not None and server.proc is not None
    config = Path(server.config)
    text = config.read_text().replace(f"user: {user}, password: $GESTALT_{user.upper()}_PASSWORD",
                                      f'user: {user}, password: "{password}"')
    config.write_text(f"server_name: {server.name}\n{text}")
    server.proc.send_signal(signal.SIGHUP)


async def test_an_agent_whose_credentials_are_revoked_stops_refused(
        locked_nats: NatsServer) -> None:
    """The operator changes a site's password while its agent runs (the config edited, the
    server reloaded): the server closes the agent's connection ("Authorization Violation").
    nats-py does not connect again after that, nor tells the error callback; the publisher
    waited for ever for a reconnection, publishing nothing and saying nothing."""
    url = locked_nats.url
    hub = Engine(hub_config(url, ["east"], user="hub",
                            password=PASSWORDS["GESTALT_HUB_PASSWORD"]))
    await hub.start()  # the agents may not make the stream
    east = synthetic_agent("east", url, user="east", password=PASSWORDS["GESTALT_EAST_PASSWORD"])
    try:
        await east.start()
        await eventually(lambda: hub_view(hub) == east.view() and east.view()[0],
                         what="east on the hub")
        change_password(locked_nats, "east", "rotated")
        assert east.task is not None
        done, _ = await asyncio.wait({east.task}, timeout=20)
        assert east.task in done, "the agent still waits for a connection nats-py gave up"
        with pytest.raises(Refused, match="(?i)authorization"):
            east.task.result()
    finally:
        await hub.stop()
        await east.stop()


def limit_connections(server: NatsServer, limit: int) -> None:
    """The server's max_connections, in its config file, reloaded (SIGHUP) as an operator
    would."""
    assert server.config is not None
    Path(server.config).write_text(
        f'server_name: {server.name}\njetstream {{ store_dir: "{server.store}" }}\n'
        f"max_connections: {limit}\n")
    if server.proc is not None:
        server.proc.send_signal(signal.SIGHUP)


@pytest.fixture
def limited_nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-fed-limited")
    server.config = str(Path(server.store) / "limited.conf")
    limit_connections(server, 64)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connection_names(server: NatsServer) -> list[str]:
    """The names of the connections open (the monitor's connz)."""
    connz = httpx.get(f"{server.monitor_url}/connz", timeout=5).json()
    return sorted(c.get("name", "") for c in connz.get("connections") or [])


async def close_all_but_one(server: NatsServer, everyone: list[str],
                            wanted: Callable[[str], bool]) -> None:
    """max_connections lowered to 1 and reloaded: the server closes every connection but
    one, each with "maximum connections exceeded", and which one it keeps is random (Go's
    map order, nats-server's reload.go). Tried again, the limit lifted and everyone back in
    between, until the one kept is `wanted`."""
    def one_left() -> list[str] | None:
        names = connection_names(server)
        return names if len(names) == 1 else None

    for _ in range(30):
        limit_connections(server, 1)
        kept = await eventually(one_left, what="the server to close all connections but one")
        if wanted(kept[0]):
            return
        limit_connections(server, 64)
        await eventually(lambda: connection_names(server) == everyone,
                         what="everyone connected again", timeout=30)
    raise AssertionError("the server never kept the connection wanted in 30 tries")


async def test_an_agent_the_server_disconnects_with_another_error_connects_again(
        limited_nats: NatsServer) -> None:
    """The server ends the agent's connection with an error that is not about credentials:
    the operator lowers max_connections and reloads, and the server closes connections
    ("maximum connections exceeded"). nats-py closes such a connection for good, without
    reconnecting; the agent keeps watching its site, connects again once the server lets
    it (it is not refused), and a keyframe brings the hub what changed."""
    url = limited_nats.url
    east = await Agent("east", url, quiet_config(synthetic=SyntheticCollector(
        enabled=True, entities=40, edges=40, churn_per_second=5.0))).start()
    hub = Engine(hub_config(url, ["east"]))
    try:
        await hub.start()
        await eventually(lambda: hub_view(hub) == east.view() and east.view()[0],
                         what="east on the hub")
        ours = agent_client_name("east", east.publisher.agent)
        everyone = connection_names(limited_nats)
        assert ours in everyone, everyone
        await close_all_but_one(limited_nats, everyone, lambda kept: kept != ours)
        cut_off = east.view()
        await eventually(lambda: east.view() != cut_off, what="east to change while cut off")
        assert east.task is not None and not east.task.done()
        limit_connections(limited_nats, 64)
        await eventually(lambda: ours in connection_names(limited_nats),
                         what="east connected again", timeout=30)
        await eventually(lambda: hub_view(hub) == east.view(), what="the hub to catch up",
                         timeout=30)
        assert not east.task.done(), "the agent stopped instead of connecting again"
        assert not east.publisher.refused
    finally:
        await hub.stop()
        await east.stop()


async def test_a_hub_the_server_disconnects_with_another_error_connects_again(
        limited_nats: NatsServer) -> None:
    """As above, the hub's connections closed and the agent's kept: the hub connects again
    once the server lets it, and reads on from its durable consumer (what the agent
    published meanwhile)."""
    url = limited_nats.url
    hub = Engine(hub_config(url, ["east"]))
    await hub.start()
    east = await Agent("east", url, quiet_config(synthetic=SyntheticCollector(
        enabled=True, entities=40, edges=40, churn_per_second=5.0))).start()
    try:
        await eventually(lambda: hub_view(hub) == east.view() and east.view()[0],
                         what="east on the hub")
        ours = agent_client_name("east", east.publisher.agent)
        everyone = connection_names(limited_nats)
        assert any(n.startswith("gestalt-hub") for n in everyone), everyone
        await close_all_but_one(limited_nats, everyone, lambda kept: kept == ours)
        cut_off = east.view()
        await eventually(lambda: east.view() != cut_off, what="east to change meanwhile")
        limit_connections(limited_nats, 64)
        await eventually(lambda: connection_names(limited_nats) == everyone,
                         what="the hub connected again", timeout=30)
        await eventually(lambda: hub_view(hub) == east.view(), what="the hub to catch up",
                         timeout=30)
        assert not east.publisher.refused
    finally:
        await hub.stop()
        await east.stop()
