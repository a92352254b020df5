"""A durable pull consumer read as a stream: the next pull request is always already on the
server, so a message the agent stores is on its way to the hub at once.

Why not nats-py's `fetch`: each call is a round trip of its own (a request, then the
messages), and a batch larger than one waits for the whole batch or its timeout; reading
one message, then the ones the server says are pending, took two round trips per burst,
and on a busy machine each one waits for three processes to be scheduled (the bench's
agents lost most of their latency there). This keeps requests of `batch` messages
outstanding (the JetStream pull protocol: `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`,
replies to an inbox of our own) and asks for more when half of them are used, as the newer
NATS clients' `consume` does. What it holds is bounded: at most two requests' worth of
messages are ever on their way.

Messages are taken from the subscription by its callback into a queue of our own, not with
`next_msg`: that made two tasks, a timer and a uuid4 (a getrandom call, the GIL let go
and waited for again) for every message of every site, on the hub's event loop. One
message is still handed out per turn of the loop (`_take`), so the other sites and the
streams have their turns between a site's messages.

Requests expire (`expires`): one lost with a restarted server is replaced when it should
have ended, and at once after a reconnect (`renew`). A request that ended with no word
from the server (no message, no status) may have gone to a consumer that is no more: the
server is asked, and ConsumerGone raised when it is gone, as when a status says so; the
site is then read again from its last keyframe. A question left unanswered is asked again
with the next request, not raised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError

# Statuses on the inbox: 100 an idle heartbeat, 404/408 a request that ended with no more
# messages or expired, 409 a request the server ended (or a consumer it deleted).
_HEARTBEAT = "100"
_ENDED = ("404", "408", "409")


class ConsumerGone(Exception):
    """The server says this consumer no longer exists (deleted, or its stream is)."""


class Pull:
    def __init__(self, nc: Client, stream: str, consumer: str, *, batch: int = 256,
                 expires: float = 5.0) -> None:
        self._nc = nc
        self._stream, self._consumer = stream, consumer
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._batch = batch
        self._expires = expires
        self._sub: Any = None
        # Messages the subscription's callback took, oldest first, and the read waiting for
        # the next one (`_take`).
        self._arrived: deque[Msg] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # Outstanding requests, oldest first (the server serves them in that order): how
        # many messages each may still bring, and when it expires (monotonic).
        self._requests: deque[list[float]] = deque()

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrive)
        await self._ask()

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    def renew(self) -> None:
        """Forget the outstanding requests (a reconnect may have lost them): the next read
        asks again."""
        self._requests.clear()

    @property
    def waiting(self) -> int:
        """Messages already here, read without waiting."""
        return len(self._arrived) + (int(self._sub.pending_msgs) if self._sub is not None
                                     else 0)

    async def next(self, timeout: float) -> Msg | None:
        """The next message, or None when none came within `timeout` seconds."""
        ends = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self._requests and self._requests[0][1] <= now:
                # Expired with no word from the server: lost, or the consumer is gone.
                self._requests.clear()
                await self._check_consumer()
            if sum(r[0] for r in self._requests) <= self._batch // 2:
                await self._ask()
            wait = min(ends, self._requests[0][1]) - now
            msg = await self._take(max(wait, 0.001))
            if msg is None:
                if time.monotonic() >= ends:
                    return None
                continue
            status = (msg.headers or {}).get("Status")
            if not status:
                self._delivered()
                return msg
            if status == _HEARTBEAT:
                continue
            description = (msg.headers or {}).get("Description", "")
            if status == "409" and "deleted" in description.lower():
                raise ConsumerGone(f"consumer deleted: {description}")
            if status in _ENDED and self._requests:
                self._requests.popleft()

    async def _arrive(self, msg: Msg) -> None:
        """The subscription's callback."""
        self._arrived.append(msg)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _take(self, wait: float) -> Msg | None:
        """The next message taken from the subscription, or None after `wait` seconds; one
        a turn of the event loop. ConnectionClosedError once the connection is closed (it
        will bring no more), as `next_msg` raised it."""
        if self._nc.is_closed:
            raise ConnectionClosedError
        if self._arrived:
            await asyncio.sleep(0)
        else:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(wait, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._arrived and self._nc.is_closed:
                raise ConnectionClosedError
        return self._arrived.popleft() if self._arrived else None

    async def unread(self) -> int | None:
        """Messages the server holds for this consumer and has not delivered yet; None when
        it cannot be asked (not connected) or did not answer in time."""
        if not self._nc.is_connected:
            return None
        try:
            info = await self._nc.jetstream(timeout=self._expires).consumer_info(
                self._stream, self._consumer)
        except (NatsTimeout, TimeoutError, NotFoundError):
            return None  # gone: the next read finds out and says so
        return int(info.num_pending or 0)

    async def _check_consumer(self) -> None:
        if not self._nc.is_connected:
            return  # nobody to ask: the requests go again once it is back
        try:
            await self._nc.jetstream(timeout=self._expires).consumer_info(
                self._stream, self._consumer)
        except NotFoundError as exc:
            raise ConsumerGone(f"consumer {self._consumer} not found: {exc}") from exc
        except (NatsTimeout, TimeoutError):
            # No answer in time is no news: a server paused, or this process's loop stalled
            # past the request's expiry (a hub taking in ten sites' keyframes at once stalls
            # it for seconds). The requests go again and the question with them; raising
            # made the site read again from its keyframe, which stalled the loop again.
            return

    def _delivered(self) -> None:
        if self._requests:
            head = self._requests[0]
            head[0] -= 1
            if head[0] <= 0:
                self._requests.popleft()

    async def _ask(self) -> None:
        # The server ends a request a little before we stop counting on it.
        request = {"batch": self._batch, "expires": int(self._expires * 1e9)}
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        self._requests.append([float(self._batch), time.monotonic() + self._expires + 0.5])


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
