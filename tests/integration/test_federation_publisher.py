"""The agent's publisher on a real nats-server with JetStream, behind a relay that can hold
what the server says back: a change goes out while the ones before it still wait for
their acknowledgements (it used to wait for a whole window's), and once the
acknowledgements come, everything is counted published, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator

import msgspec
import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from gestalt.engine.runtime import Engine
from gestalt.model import Entity, EntityKind, EntityStatus
from gestalt.model.federation import SUBJECT_PREFIX
from tests.support.federation import Agent, hub_config, hub_view, quiet_config
from tests.support.nats_server import NatsServer, started
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


class Relay:
    """A TCP relay in front of the server whose server -> client direction can be held
    (the acknowledgements stop; what the client sends still arrives)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.replies = asyncio.Event()
        self.replies.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"nats://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self.replies.set()
        for task in self._tasks:
            task.cancel()
        assert self._server is not None
        self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._port)
        for task in (self._pipe(reader, up_writer, None),
                     self._pipe(up_reader, writer, self.replies)):
            self._tasks.add(asyncio.create_task(task))

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    gate: asyncio.Event | None) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if gate is not None:
                    await gate.wait()
                dst.write(data)
                await dst.drain()
        dst.close()


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with started(name="gestalt-publisher") as srv:  # its own: tests kill and restart it
        yield srv


@pytest.fixture
async def stored(server: NatsServer) -> AsyncIterator[nats.js.JetStreamContext]:
    """The stream, as a hub would create it; read directly from the server."""
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="GESTALT", subjects=[f"{SUBJECT_PREFIX}.>"],
                                     storage=StorageType.FILE, duplicate_window=120.0))
    try:
        yield js
    finally:
        await nc.close()


def pod(name: str) -> Entity:
    return Entity(id=f"pod:east/shop/{name}", kind=EntityKind.POD, name=name,
                  namespace="shop", status=EntityStatus.RUNNING)


async def deltas_stored(js: nats.js.JetStreamContext) -> int:
    info = await js.stream_info("GESTALT", subjects_filter=f"{SUBJECT_PREFIX}.east.delta")
    return int((info.state.subjects or {}).get(f"{SUBJECT_PREFIX}.east.delta", 0))


async def test_a_change_goes_out_while_the_ones_before_wait_for_acknowledgement(
        server: NatsServer, stored: nats.js.JetStreamContext) -> None:
    async with Relay(server.port) as relay:
        agent = await Agent("east", relay.url, quiet_config(), publish_timeout=30.0,
                            heartbeat_interval=60.0).start()
        try:
            await eventually(lambda: agent.publisher.last_keyframe is not None,
                             what="the first keyframe acknowledged")
            published = agent.publisher.published
            relay.replies.clear()  # acknowledgements stop here
            agent.engine.store.apply(upserts=[pod("a")])
            await eventually(lambda: deltas_stored(stored), what="the first change stored")
            agent.engine.store.apply(upserts=[pod("b")])

            async def both() -> bool:
                return await deltas_stored(stored) == 2

            await eventually(both, timeout=5,
                             what="the second change stored, the first unacknowledged")
            assert agent.publisher.published == published
            relay.replies.set()
            await eventually(lambda: agent.publisher.published == published + 2,
                             what="both acknowledged")
            assert await deltas_stored(stored) == 2
            assert agent.publisher.buffered == 0
        finally:
            await agent.stop()


async def test_a_change_no_stream_took_is_replaced_by_a_keyframe(
        server: NatsServer, stored: nats.js.JetStreamContext,
        caplog: pytest.LogCaptureFixture) -> None:
    """A change sent while no stream takes its subject (none made yet, one moving to another
    server, here one edited for a moment) is answered "no response from stream". One
    answered so while it was the only change in flight was taken off the buffer and
    forgotten, with no keyframe for it: the site's next change showed the hub a gap, and
    the hub read the site again and again from its last keyframe (the same gap each time)
    until the next periodic keyframe, minutes later."""
    hub = Engine(hub_config(server.url, ["east"], silence_timeout=30.0))
    agent = await Agent("east", server.url, quiet_config(), heartbeat_interval=60.0).start()
    await hub.start()
    try:
        agent.engine.store.apply(upserts=[pod("a")])
        await eventually(lambda: hub_view(hub) == agent.view(), timeout=20,
                         what="the hub's map to equal the agent's")
        stream = (await stored.stream_info("GESTALT")).config
        subjects = stream.subjects
        stream.subjects = [f"{SUBJECT_PREFIX}.elsewhere.>"]
        await stored.update_stream(stream)
        caplog.set_level(logging.WARNING, logger="gestalt.engine.tasks")
        agent.engine.store.apply(upserts=[pod("b")])
        await eventually(lambda: any("no response from stream" in r.getMessage()
                                     for r in caplog.records),
                         what="the change answered: no response from stream")
        stream.subjects = subjects
        await stored.update_stream(stream)
        agent.engine.store.apply(upserts=[pod("c")])
        await eventually(lambda: hub_view(hub) == agent.view(), timeout=30,
                         what="the hub's map to equal the agent's after the refusal")
    finally:
        await hub.stop()
        await agent.stop()


async def test_a_periodic_keyframe_comes_after_the_changes_waiting(
        server: NatsServer, stored: nats.js.JetStreamContext) -> None:
    """Changes waiting when a periodic keyframe falls due go first, as themselves: the
    keyframe used to replace them, and a hub learnt them only from the keyframe's
    difference once its last part was read (at 10,000 entities a quarter of a second and
    more after the agent began it)."""
    agent = await Agent("east", server.url, quiet_config(), heartbeat_interval=60.0,
                        keyframe_interval=3600.0).start()
    publisher = agent.publisher
    try:
        await eventually(lambda: publisher.last_keyframe is not None,
                         what="the first keyframe acknowledged")
        # In one turn of the loop: twenty changes wait, and the periodic keyframe is due.
        for n in range(20):
            agent.engine.store.apply(upserts=[pod(f"p{n}")])
        publisher.next_keyframe = time.monotonic()

        async def all_stored() -> bool:
            return await deltas_stored(stored) == 20

        await eventually(all_stored, what="the twenty changes stored as deltas")
        await eventually(lambda: publisher.last_keyframe_version == publisher._store.version,
                         what="the periodic keyframe, after them")
    finally:
        await agent.stop()


async def test_an_agent_stopped_does_not_say_it_lost_its_connection(
    server: NatsServer, stored: nats.js.JetStreamContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping (SIGTERM) closes the connection on purpose: the agent logged "NATS
    connection lost; buffering" as it exited, as if the server had gone."""
    agent = await Agent("east", server.url, quiet_config()).start()
    try:
        await eventually(lambda: agent.publisher.last_keyframe is not None, timeout=20,
                         what="the agent's first keyframe")
        with caplog.at_level(logging.WARNING, logger="gestalt.engine.publisher"):
            await agent.stop()
    finally:
        await agent.stop()
    assert "connection lost" not in caplog.text


async def test_the_numbers_that_moved_go_just_before_a_keyframe(
        server: NatsServer, stored: nats.js.JetStreamContext) -> None:
    """A keyframe says what a hub following the site was told: the numbers that moved since
    the last metrics frame go out as one just before it, at its version, and the keyframe's
    digest is that of the items it carries (a hub that took the frame has the same sum)."""
    from gestalt.engine.merge import metric_values
    from gestalt.model.changes import decode_metrics
    from gestalt.model.federation import decode_keyframe_head, decode_raw_keyframe, digest_of

    config = quiet_config()
    config.server.metrics_interval = 3600.0  # no frame of the engine's own meanwhile
    agent = await Agent("east", server.url, config, heartbeat_interval=60.0,
                        keyframe_interval=3600.0).start()
    publisher, store = agent.publisher, agent.engine.store
    try:
        store.apply(upserts=[pod("a")])
        await eventually(lambda: publisher.last_keyframe_version == store.version,
                         what="a keyframe with the pod")
        busy = msgspec.structs.replace(store.entities[pod("a").id], cpu_percent=42.5)
        store.replace_quietly(busy)
        store.note_metrics(busy.id, metric_values(busy), None)
        version = store.version
        first = publisher.last_keyframe
        publisher.next_keyframe = time.monotonic()
        publisher._wake.set()
        await eventually(lambda: publisher.last_keyframe != first, what="the next keyframe")

        sub = await stored.pull_subscribe(f"{SUBJECT_PREFIX}.east.>", stream="GESTALT")
        msgs = []
        while True:
            try:
                msgs += await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                break
        kinds = [m.subject.rsplit(".", 1)[-1] for m in msgs]
        last = len(kinds) - 1 - kinds[::-1].index("keyframe")
        assert kinds[last - 1] == "metrics", kinds
        frame = decode_metrics(msgs[last - 1].data)
        assert frame.version == version and frame.values[busy.id]["cpu_percent"] == 42.5
        head = decode_keyframe_head(msgs[last].data)
        assert head.version == version and head.parts == 1
        part = decode_raw_keyframe(msgs[last].data)
        items = digest_of(map(bytes, part.entities), map(bytes, part.connections))
        assert head.digest == f"{items:016x}"
        assert b'"cpu_percent":42.5' in bytes(part.entities[0])
    finally:
        await agent.stop()
