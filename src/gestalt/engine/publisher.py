"""The agent's publisher: the change log, sent to JetStream for a hub (model/federation.py).

A reader of the change log like history: it takes each entry's bytes as they are, with a
message id (`<agent>:<version>` for a delta) so that what it sends again after a lost
acknowledgement is deduplicated by the server, not applied twice.

Why a keyframe, and when: a hub builds a site from its last keyframe plus the deltas after
it. One goes out on start, about every `keyframe_interval` (a random 0.8 to 1.2 times it
each time: `_KEYFRAME_JITTER`; after the changes waiting then), after the buffer
overflowed (the deltas it lost are replaced by a fresh picture, not resent), and when the
stream's sequence went backwards (the server lost its store: whatever the hub reads next
must start from a whole picture).

While the server is out of reach the sources keep running; entries wait in a bounded
buffer (`buffer_messages`, `buffer_bytes`). When it fills, the waiting deltas and
metrics frames are dropped at once (a keyframe will stand for them), then the oldest
events; each drop is counted by kind and logged once per outage.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from dataclasses import dataclass
from itertools import islice
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError

from gestalt.engine.changelog import ChangeLog, Entry
from gestalt.engine.store import Store
from gestalt.engine.tasks import Retry
from gestalt.model import Delta, MetricsFrame
from gestalt.model.config import AgentConfig
from gestalt.model.federation import (
    AGENT_HEADER,
    KEYFRAME_START_HEADER,
    MSG_ID_HEADER,
    STARTED_HEADER,
    Heartbeat,
    agent_id,
    digest_of,
    encode,
    inbox_prefix,
    is_refusal,
    keyframe_parts,
    subject,
)
from gestalt.sources.agents.advisories import agent_client_name
from gestalt.sources.agents.connect import Refused, connect

log = logging.getLogger(__name__)

# Messages in flight at once (their order kept: one connection, sent in order).
_WINDOW = 64
# Each periodic keyframe comes a random 0.8 to 1.2 `keyframe_interval`s after the last.
# Agents started together (a fleet deployed at once, or all reconnecting after the server
# came back) send their first keyframes together; at a fixed interval they would keep
# doing so for ever, and a hub would take N whole maps in the same moment, every site's
# changes waiting behind them (bench/federation.py --full: ten 10,000-entity keyframes
# within a few seconds, the agents' p99 up to 434 ms). Drawn afresh each time, the times
# drift apart within an interval or two; a band of +-20% keeps every site's keyframe
# about 1.2 intervals old at most (a hub rebuilding reads about that much) and never
# sends one sooner than 0.8 of one.
_KEYFRAME_JITTER = (0.8, 1.2)


@dataclass(slots=True)
class Outgoing:
    kind: str  # delta | metrics | events
    body: bytes
    msg_id: str


class Publisher:
    def __init__(self, store: Store, changes: ChangeLog, config: AgentConfig, *,
                 name: str, started: float | None = None) -> None:
        if config.site is None:
            raise ValueError("agent.site is required")
        self.site = config.site
        self._config = config
        self._store = store
        self.started_ms = int((started if started is not None else time.time()) * 1000)
        self.agent = agent_id(name, self.started_ms)
        # What waits to be sent, and what was sent and waits for its acknowledgement: the
        # first len(_in_flight) items, each with its acknowledgement's future and when it
        # went (the buffer's bounds count both).
        self._buffer: deque[Outgoing] = deque()
        self._in_flight: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._bytes = 0
        self._metrics_seq = 0
        self._keyframes = 0
        self._heartbeats = 0
        self.need_keyframe = True
        # When the last keyframe went out and when the next one is due (monotonic clock);
        # None: none yet, one goes out at once.
        self.last_keyframe: float | None = None
        self.next_keyframe: float | None = None
        self.last_keyframe_version: int | None = None
        self.dropped: Counter[str] = Counter()
        # Deltas and frames too large for one message, sent as a keyframe instead.
        self.replaced_by_keyframe = 0
        self._dropped_reported = 0
        self.published = 0
        self.connected = False
        self.refused: str | None = None
        self._last_seq = 0
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._changes = changes
        # A metrics frame this publisher itself puts in the change log, and its body as
        # the change log encoded it (`_numbers_now`).
        self._own_numbers: MetricsFrame | None = None
        self._own_body: bytes | None = None
        self._unsubscribe = changes.subscribe(self._take)

    # -- the change log's reader (synchronous, cheap) ------------------------------------
    def _take(self, entry: Entry) -> None:
        change = entry.change
        if change is self._own_numbers:
            self._own_body = entry.body
            return
        if isinstance(change, Delta):
            item = Outgoing("delta", entry.body, f"{self.agent}:{change.version}")
        elif isinstance(change, MetricsFrame):
            self._metrics_seq += 1
            item = Outgoing("metrics", entry.body, f"{self.agent}:m{self._metrics_seq}")
        else:
            if change.source == "alerts":
                return  # the hub raises its own alerts from the merged map
            item = Outgoing("events", entry.body, f"{self.agent}:e{entry.seq}")
        if len(item.body) > self._config.max_message_bytes:
            # Larger than a message may be (an initial list of thousands): a keyframe, which
            # goes in parts, stands for a delta or frame; an event that large is dropped.
            if item.kind == "events":
                self.dropped["events"] += 1
            else:
                self.replaced_by_keyframe += 1
                self.need_keyframe = True
            self._wake.set()
            return
        self._buffer.append(item)
        self._bytes += len(item.body)
        if len(self._buffer) > self._config.buffer_messages or \
                self._bytes > self._config.buffer_bytes:
            self._overflow()
        self._wake.set()

    def _overflow(self) -> None:
        self._forget_in_flight()
        kept: deque[Outgoing] = deque()
        for item in self._buffer:
            if item.kind == "events":
                kept.append(item)
            else:
                self.dropped[item.kind] += 1
        self._buffer = kept
        self.need_keyframe = True
        while len(kept) > self._config.buffer_messages // 2 or \
                sum(len(i.body) for i in kept) > self._config.buffer_bytes // 2:
            self.dropped[kept.popleft().kind] += 1
        self._bytes = sum(len(i.body) for i in kept)
        total = sum(self.dropped.values())
        if self._dropped_reported == 0 or total - self._dropped_reported > 10_000:
            log.warning("NATS out of reach and the buffer is full: dropped %s so far; a keyframe "
                        "replaces them on reconnect", _counts(self.dropped))
            self._dropped_reported = total

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, then publish for ever; raises Refused when the server refuses us."""
        closed = Retry()
        while True:
            nc = await self._connect()
            try:
                await self._publish_loop(nc)
            finally:
                self.connected = False  # closed by us (stopping, refused): not "lost"
                await _close(nc)
            # nats-py gave the connection up (`_on_closed`): connect afresh. What it held
            # unsent is lost, so a keyframe goes first.
            self.need_keyframe = True
            await closed.after("NATS closed the connection", nc.last_error or ConnectionError())

    async def _connect(self) -> Client:
        retry = Retry()
        while True:
            try:
                return await connect(
                    self._config.url, timeout=self._config.publish_timeout,
                    disconnected_cb=self._on_disconnected, reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed, on_error=self._on_error,
                    inbox_prefix=inbox_prefix(self.site),
                    **self._config.connect_options(agent_client_name(self.site, self.agent)))
            except Refused as exc:
                self.refused = str(exc)
                raise
            except Exception as exc:  # nats-py raises several kinds; all mean "not now"
                if is_refusal(exc):
                    self.refused = str(exc)
                    raise Refused(f"NATS at {self._config.url} refused the agent: {exc}") from exc
                await retry.after(f"NATS at {self._config.url} not reachable", exc)

    async def _on_disconnected(self) -> None:
        if self.connected:
            log.warning("NATS connection lost; buffering (up to %d messages)",
                        self._config.buffer_messages)
        self.connected = False
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnected")
        self.connected = True
        self._connected.set()

    async def _on_closed(self) -> None:
        """nats-py closed the connection for good: it does so, without reconnecting nor a
        word to `_on_error`, when the server ends it with an error (credentials revoked
        or expired while connected). The loop, waiting for a reconnection, is woken."""
        self._connected.set()

    async def _on_error(self, error: Exception) -> None:
        if is_refusal(error):
            # Not logged here: the agent stops with it, and `gestalt agent` prints it once.
            self.refused = str(error)
            log.debug("NATS refused the agent: %s", error)
        else:
            log.debug("NATS: %s", error)

    async def _publish_loop(self, nc: Client) -> None:
        """Send each change as soon as it is taken, up to `_WINDOW` unacknowledged: a change
        never waits for the acknowledgements of the ones before it (on a busy machine a
        round trip waits for three processes to be scheduled; waiting for a window's
        acknowledgements before sending more made most of an agent's latency tail)."""
        js = nc.jetstream(timeout=self._config.publish_timeout)
        self.connected = True
        self._connected.set()
        retry = Retry()
        last_sent = time.monotonic()
        try:
            while True:
                if not nc.is_connected:
                    await self._connected.wait()
                    if nc.is_closed:
                        self._given_up(nc)
                        return  # to connect again
                try:
                    if await self._step(js, last_sent):
                        last_sent = time.monotonic()
                    else:
                        continue
                    if retry.succeeded():
                        log.info("publishing again to %s (dropped while away: %s)",
                                 self._config.url, _counts(self.dropped) or "nothing")
                except (TimeoutError, NatsError, JetStreamError) as exc:
                    if self._in_flight:
                        self._forget_in_flight()
                        self.need_keyframe = True  # what went after a lost one may be stored
                    if self.refused:
                        raise Refused(f"NATS refused the agent: {self.refused}") from exc
                    await retry.after(f"publishing to stream {self._config.stream} failed", exc)
        finally:
            self._forget_in_flight()

    def _given_up(self, nc: Client) -> None:
        """The connection closed for good: Refused when the server refused us."""
        error = nc.last_error
        if self.refused or (error is not None and is_refusal(error)):
            self.refused = self.refused or str(error)
            raise Refused(f"NATS refused the agent: {self.refused}")

    async def _step(self, js: Any, last_sent: float) -> bool:
        """One thing to do: True when something went out (or was acknowledged)."""
        waiting = len(self._buffer) > len(self._in_flight) and len(self._in_flight) < _WINDOW
        if self.need_keyframe or (self._keyframe_due() and not waiting):
            # A periodic keyframe comes after the changes waiting, sent as themselves: it
            # replaced them, and a hub learnt them only from the keyframe's difference
            # once its last part was read (at 10,000 entities 240-370 ms after the agent
            # began it, the agents' worst latencies in bench/federation.py --full). One
            # that must come first (need_keyframe) replaces them: they may be out of order.
            await self._settle()
            await self._send_keyframe(js)
            return True
        if waiting:
            await self._send_waiting(js)
            return True
        if self._in_flight:
            return await self._acknowledgements()
        if time.monotonic() - last_sent >= self._config.heartbeat_interval:
            await self._send_heartbeat(js)
            return True
        self._wake.clear()
        wait = self._config.heartbeat_interval - (time.monotonic() - last_sent)
        try:
            async with asyncio.timeout(max(wait, 0.01)):
                await self._wake.wait()
        except TimeoutError:
            pass
        return False

    def _keyframe_due(self) -> bool:
        return self.next_keyframe is None or time.monotonic() >= self.next_keyframe

    def _keyframe_sent(self, version: int, at: float) -> None:
        """A whole keyframe acknowledged at `at`: the next periodic one is due a random
        fraction of an interval before or after `keyframe_interval` (`_KEYFRAME_JITTER`)."""
        self.last_keyframe = at
        self.last_keyframe_version = version
        self.next_keyframe = at + self._config.keyframe_interval * \
            random.uniform(*_KEYFRAME_JITTER)

    def _headers(self, msg_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {MSG_ID_HEADER: msg_id, AGENT_HEADER: self.agent,
                STARTED_HEADER: str(self.started_ms), **(extra or {})}

    async def _send_waiting(self, js: Any) -> None:
        """What waits, up to the window, sent in order without waiting for acknowledgements.
        When one is not acknowledged, the ones after it may be stored and it not: a
        keyframe then restores the order a hub needs."""
        sent = len(self._in_flight)
        items = list(islice(self._buffer, sent, _WINDOW))
        for item in items:
            future = await js.publish_async(
                subject(self.site, item.kind), item.body, stream=self._config.stream,
                headers=self._headers(item.msg_id))
            if len(self._in_flight) != sent or sent >= len(self._buffer) \
                    or self._buffer[sent] is not item:
                future.cancel()  # the buffer was emptied meanwhile (an overflow)
                return
            self._in_flight.append((future, time.monotonic()))
            sent += 1

    async def _acknowledgements(self) -> bool:
        """Take the acknowledgements that came, oldest first; when none has, wait for the
        oldest or for something new to send, whichever comes first."""
        taken = False
        while self._in_flight and self._in_flight[0][0].done():
            # "No response from stream" (no stream takes the subject: none made yet, or it
            # is moving to another server) raises here, the item still first in the buffer
            # and in flight: the loop takes it as a lost acknowledgement (a keyframe next;
            # an event goes again). Taken off the buffer first, such a delta with nothing
            # after it in flight was forgotten with no keyframe for it, and a hub met the gap
            # it left at every rebuild until the next periodic keyframe. (nats-py raises the
            # server's other refusals in its reply handler, not here: they time out.)
            ack = self._in_flight[0][0].result()
            self._in_flight.popleft()
            item = self._buffer.popleft()
            self._bytes -= len(item.body)
            self._acknowledged(ack)
            taken = True
        if taken or not self._in_flight:
            return taken
        future, sent_at = self._in_flight[0]
        left = sent_at + self._config.publish_timeout - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no acknowledgement in {self._config.publish_timeout:g}s")
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({future, woken}, timeout=left,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        return False

    async def _settle(self) -> None:
        """Every message in flight acknowledged (before a keyframe: the deltas it replaces
        must not be waiting for theirs)."""
        while self._in_flight:
            future, sent_at = self._in_flight[0]
            left = sent_at + self._config.publish_timeout - time.monotonic()
            if left <= 0 or not await _done_within(future, left):
                raise TimeoutError(f"no acknowledgement in {self._config.publish_timeout:g}s")
            await self._acknowledgements()

    def _forget_in_flight(self) -> None:
        """Stop waiting for what is in flight; it stays in the buffer (the events go again
        under the same ids, the server drops copies; the rest a keyframe replaces)."""
        for future, _ in self._in_flight:
            future.cancel()  # frees its slot; the reply, if it comes, is dropped
        self._in_flight.clear()

    async def _publish(self, js: Any, kind: str, body: bytes, msg_id: str,
                       extra: dict[str, str] | None = None) -> int:
        ack = await js.publish(subject(self.site, kind), body, stream=self._config.stream,
                               headers=self._headers(msg_id, extra))
        return self._acknowledged(ack)

    def _acknowledged(self, ack: Any) -> int:
        if self.refused:
            raise Refused(f"NATS refused the agent: {self.refused}")
        if ack.seq < self._last_seq and not ack.duplicate:
            log.warning("stream %s went back from sequence %d to %d (the server lost its "
                        "store?): sending a keyframe", ack.stream, self._last_seq, ack.seq)
            self.need_keyframe = True
            self._last_seq = ack.seq
        self._last_seq = max(ack.seq, self._last_seq)
        self.published += 1
        return int(ack.seq)

    async def _send_keyframe(self, js: Any) -> None:
        """The whole graph now; the deltas waiting are older than it, so they go."""
        store = self._store
        version = store.version
        # Each item encoded on its own here (the store keeps blocks): a keyframe is rare.
        entities, connections = list(store.entity_json.each()), list(store.connection_json.each())
        parts = keyframe_parts(version, time.time(), entities, connections,
                               self._config.max_message_bytes,
                               digest=digest_of(entities, connections))
        # The numbers that moved since the last metrics frame, taken in the same turn as
        # the keyframe's items, go just before it: the keyframe then says only what a hub
        # following the site was told, its digest is the hub's own, and the hub need not
        # read its items (sources/agents/mirror.py). Through the change log, so history
        # and the browsers get them too.
        numbers = self._numbers_now()
        self._forget_in_flight()  # settled before, unless it failed
        superseded = [i for i in self._buffer if i.kind != "events"]
        if superseded:
            self._buffer = deque(i for i in self._buffer if i.kind == "events")
            self._bytes = sum(len(i.body) for i in self._buffer)
        self.need_keyframe = False
        self._keyframes += 1
        start: int | None = None
        try:
            if numbers is not None:
                self._metrics_seq += 1
                await self._publish(js, "metrics", numbers, f"{self.agent}:m{self._metrics_seq}")
            for number, body in enumerate(parts, 1):
                extra = {KEYFRAME_START_HEADER: str(start)} if start is not None else {}
                seq = await self._publish(js, "keyframe", body,
                                          f"{self.agent}:k{self._keyframes}.{number}", extra)
                if start is None:
                    start = seq
        except BaseException:
            self.need_keyframe = True  # a partial keyframe is no keyframe: send a new one
            raise
        self._keyframe_sent(version, time.monotonic())
        log.info("keyframe at version %d sent (%d entities, %d connections, %d parts)",
                 version, len(store.entities), len(store.connections),
                 len(parts))

    def _numbers_now(self) -> bytes | None:
        """The numbers that moved since the last metrics frame, as one now, through the
        change log (history and the browsers get it too; this reader leaves it to the
        caller): its body, or None when nothing moved (or it is too large for a message:
        the keyframe carries them, and a hub reads that keyframe in full)."""
        frame = self._store.flush_metrics()
        if frame is None:
            return None
        self._own_numbers, self._own_body = frame, None
        try:
            self._changes.metrics(frame)
        finally:
            self._own_numbers = None
        body, self._own_body = self._own_body, None
        return body if body is not None and len(body) <= self._config.max_message_bytes \
            else None

    async def _send_heartbeat(self, js: Any) -> None:
        self._heartbeats += 1
        beat = Heartbeat(version=self._store.version, timestamp=time.time(),
                         dropped=sum(self.dropped.values()), buffered=len(self._buffer))
        await self._publish(js, "heartbeat", encode(beat), f"{self.agent}:h{self._heartbeats}")

    def close(self) -> None:
        """Stop reading the change log (safe twice)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, lambda: None
        unsubscribe()


async def _done_within(future: asyncio.Future[Any], seconds: float) -> bool:
    done, _ = await asyncio.wait({future}, timeout=seconds)
    return bool(done)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counter.items()) if n)


async def _close(nc: Client) -> None:
    try:
        async with asyncio.timeout(5):
            await nc.close()
    except Exception:  # closing a broken connection: nothing left to save
        log.debug("closing the NATS connection failed", exc_info=True)
