"""The hub's reader of a site's durable consumer (sources/agents/pull.py), on a real
nats-server with JetStream: messages come while the reader is busy (no round trip per
read), in order and each once across many requests, never more than the requests asked
for, again after the server restarts, and a deleted consumer is said to be gone."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from gestalt.sources.agents.pull import ConsumerGone, Pull
from tests.support.nats_server import NatsServer, started
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

STREAM, CONSUMER, SUBJECT = "PULLTEST", "reader", "pulltest.site.delta"


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with started(name="gestalt-pull") as srv:  # its own: tests kill and restart it
        yield srv


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(server.url, allow_reconnect=True, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pulltest.>"],
                                     storage=StorageType.FILE))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=CONSUMER,
                                                 ack_policy=AckPolicy.NONE))
    try:
        yield client
    finally:
        await client.close()


async def publish(nc: Client, *bodies: bytes) -> None:
    js = nc.jetstream()
    for body in bodies:
        await js.publish(SUBJECT, body)


async def read(pull: Pull, count: int) -> list[bytes]:
    got = []
    for _ in range(count):
        msg = await pull.next(5.0)
        assert msg is not None, f"only {len(got)} of {count} messages came"
        got.append(msg.data)
    return got


async def test_messages_come_while_the_reader_is_busy_and_in_order(nc: Client) -> None:
    pull = Pull(nc, STREAM, CONSUMER, batch=8)
    await pull.start()
    try:
        await publish(nc, b"0")
        assert await read(pull, 1) == [b"0"]
        # The reader does not ask: the request already on the server brings them.
        await publish(nc, b"1", b"2", b"3")
        await eventually(lambda: pull.waiting == 3, what="three messages already here")
        # Many requests' worth, in order, each once.
        bodies = [str(n).encode() for n in range(4, 100)]
        await publish(nc, *bodies)
        assert await read(pull, 99) == [str(n).encode() for n in range(1, 100)]
        assert await pull.next(0.3) is None
    finally:
        await pull.stop()


async def test_messages_are_taken_by_the_subscriptions_callback(
        nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """`next_msg` made two tasks, a timer and a uuid4 (a getrandom call: the GIL let go,
    then waited for again behind history's writer thread) for every message of every
    site, on the hub's event loop; the reader takes them from the subscription's callback,
    one a turn of the loop."""

    async def next_msg(*_: object, **__: object) -> None:
        raise AssertionError("next_msg: two tasks, a timer and a uuid4 a message")

    monkeypatch.setattr(Subscription, "next_msg", next_msg)
    pull = Pull(nc, STREAM, CONSUMER, batch=8)
    await pull.start()
    try:
        bodies = [str(n).encode() for n in range(30)]
        await publish(nc, *bodies)
        assert await read(pull, 30) == bodies
        assert await pull.next(0.3) is None
    finally:
        await pull.stop()


async def test_never_more_than_the_requests_asked_for(nc: Client) -> None:
    pull = Pull(nc, STREAM, CONSUMER, batch=4)
    await pull.start()
    try:
        await publish(nc, *(str(n).encode() for n in range(20)))
        await eventually(lambda: pull.waiting == 4, what="the first request's four messages")
        # One request of four is out until the reader reads: the rest wait on the server.
        info = await nc.jetstream().consumer_info(STREAM, CONSUMER)
        assert info.delivered.consumer_seq == 4
        assert await read(pull, 20) == [str(n).encode() for n in range(20)]
    finally:
        await pull.stop()


async def test_reading_goes_on_after_the_server_restarts(server: NatsServer,
                                                         nc: Client) -> None:
    pull = Pull(nc, STREAM, CONSUMER, batch=8, expires=1.0)
    await pull.start()
    try:
        await publish(nc, b"before")
        assert await read(pull, 1) == [b"before"]
        server.kill()  # SIGKILL: the file store keeps the stream and the consumer
        server.start()
        await eventually(lambda: nc.is_connected, what="the client reconnected")
        pull.renew()  # as the hub does on reconnect

        async def stored() -> bool:
            try:
                await nc.jetstream(timeout=1.0).publish(SUBJECT, b"after",
                                                        headers={"Nats-Msg-Id": "after"})
            except (nats.errors.Error, TimeoutError):
                return False  # JetStream not back yet
            return True

        await eventually(stored, timeout=20, what="JetStream back")
        # What was read just before a SIGKILL may come again (the server had not yet
        # written that it was delivered): the hub's mirror takes it as a duplicate.
        while (got := await read(pull, 1)) != [b"after"]:
            assert got == [b"before"]
    finally:
        await pull.stop()


@pytest.mark.parametrize("asked_first", [True, False])
async def test_a_deleted_consumer_is_gone(nc: Client, asked_first: bool) -> None:
    """Deleted while a request waits (the server says so), or before the request reached
    it (nobody answers: the reader asks whether the consumer is still there)."""
    pull = Pull(nc, STREAM, CONSUMER, batch=8, expires=1.0)
    await pull.start()
    try:
        if asked_first:
            await nc.flush()
            await eventually(lambda: _waiting_requests(nc), what="the request on the server")
        await nc.jetstream().delete_consumer(STREAM, CONSUMER)
        with pytest.raises(ConsumerGone):
            await pull.next(5.0)
    finally:
        await pull.stop()


async def _waiting_requests(nc: Client) -> int:
    info = await nc.jetstream().consumer_info(STREAM, CONSUMER)
    return int(info.num_waiting or 0)


async def test_an_unanswered_question_about_the_consumer_is_asked_again(
        server: NatsServer, nc: Client) -> None:
    """A request ends with no word while the server is paused (SIGSTOP, as a stalled hub
    sees it late): whether the consumer is still there gets no answer either. That is no
    error (it made the hub read the site again from its keyframe, ten sites' keyframes at
    once on a loaded machine, which stalled it again); the reader goes on once the server
    answers."""
    pull = Pull(nc, STREAM, CONSUMER, batch=8, expires=0.5)
    await pull.start()
    assert server.proc is not None
    try:
        server.proc.send_signal(signal.SIGSTOP)
        try:
            # The request expires after 1 s, the question about the consumer after 0.5 s more.
            assert await pull.next(2.5) is None
        finally:
            server.proc.send_signal(signal.SIGCONT)
        await publish(nc, b"after")
        assert await read(pull, 1) == [b"after"]
    finally:
        await pull.stop()
