"""The sampling subscription: per-subject message counts, and sampled messages for viewers.

NATS does not tell anyone which subjects a connection publishes to; a subscription to the
configured subjects does see every message on them, so it counts messages and bytes per
concrete subject between polls (the subjects' rates) and hands a capped sample to whoever
watches the message view.

Payloads are confidential by default: a message's payload and header values leave this
module only for subjects allow-listed in `payload_subjects`, truncated to
`max_payload_bytes`; for every other subject only the subject, the size, the header names
and the time do. Nothing here logs a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.msg import Msg

from gestalt.model.config import NatsCollector
from gestalt.sources.nats.subjects import any_match

log = logging.getLogger(__name__)

# Distinct subjects counted one by one; beyond this (subjects carrying ids, say) messages
# are counted under the subscription's pattern, so memory stays bounded.
MAX_SUBJECTS = 10_000
# Sampled messages queued per viewer; a viewer that falls further behind loses samples.
LISTENER_QUEUE = 1_000


class Listener:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = list(patterns)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LISTENER_QUEUE)
        self.dropped = 0


class Sampler:
    def __init__(
        self,
        config: NatsCollector,
        *,
        client_name: str,
        on_connection: Callable[[bool, str], None] = lambda up, why: None,
    ) -> None:
        self.config = config
        self.client_name = client_name
        self._on_connection = on_connection
        self.counts: dict[str, list[int]] = {}  # subject -> [messages, bytes] since take()
        self.last_seen: dict[str, float] = {}  # subject -> wall time of its last message
        self.connected = False
        # Why the connection is down, as nats-py said it last (a refusal, say); its errors
        # never carry message payloads.
        self.last_error: str | None = None
        self._listeners: list[Listener] = []
        self._budget: dict[str, tuple[int, int]] = {}  # subject -> (second, samples sent)
        self._since = time.monotonic()

    # -- counting ---------------------------------------------------------------------------
    def take(self) -> tuple[dict[str, list[int]], float]:
        """The counts since the previous take (or since subscribing), over how many seconds;
        counting starts afresh."""
        now = time.monotonic()
        counts, self.counts = self.counts, {}
        seconds, self._since = now - self._since, now
        return counts, seconds

    def forget(self, before: float) -> None:
        """Drop subjects quiet since `before` (wall time), so the tracked set stays small."""
        for subject in [s for s, seen in self.last_seen.items() if seen < before]:
            del self.last_seen[subject]
            self._budget.pop(subject, None)

    def _count(self, pattern: str, msg: Msg) -> None:
        subject = msg.subject
        if subject not in self.last_seen and len(self.last_seen) >= MAX_SUBJECTS:
            subject = pattern
        entry = self.counts.get(subject)
        if entry is None:
            entry = self.counts[subject] = [0, 0]
        entry[0] += 1
        entry[1] += len(msg.data)
        now = time.time()
        self.last_seen[subject] = now
        if self._listeners:
            self._offer(msg, now)

    # -- the message view -------------------------------------------------------------------
    def listen(self, patterns: list[str]) -> Listener:
        listener = Listener(patterns)
        self._listeners.append(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _offer(self, msg: Msg, now: float) -> None:
        wanted = [x for x in self._listeners if any_match(x.patterns, msg.subject)]
        if not wanted:
            return
        second = int(now)
        window, sent = self._budget.get(msg.subject, (second, 0))
        if window != second:
            sent = 0
        if sent >= self.config.sample_per_second:
            return
        self._budget[msg.subject] = (second, sent + 1)
        sample = describe(msg, now, self.config)
        for listener in wanted:
            try:
                listener.queue.put_nowait(sample)
            except asyncio.QueueFull:
                listener.dropped += 1

    # -- the connection ---------------------------------------------------------------------
    async def run(self) -> None:
        """Connect (retrying forever), subscribe, and count until cancelled."""

        async def disconnected() -> None:
            self._set_connected(False, "sampling connection lost; reconnecting")

        async def reconnected() -> None:
            self.take()  # what was sent while disconnected was never counted
            self._set_connected(True, "")

        async def error(exc: Exception) -> None:
            # The reason only: nats-py errors never carry message payloads.
            log.debug("nats sampling connection: %s", type(exc).__name__)
            self.last_error = str(exc) or type(exc).__name__
            self._on_connection(self.connected, self.last_error)

        nc = await nats.connect(
            self.config.url,
            name=self.client_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        try:
            for pattern in self.config.subjects:
                await nc.subscribe(
                    pattern,
                    cb=self._callback(pattern),
                    pending_msgs_limit=1_000_000,
                    pending_bytes_limit=256 * 1024 * 1024,
                )
            await nc.flush()
            self.take()  # counts start with the subscription
            self._set_connected(True, "")
            await asyncio.Event().wait()  # counting happens in the callbacks
        finally:
            self.connected = False
            await nc.close()

    def _callback(self, pattern: str) -> Callable[[Msg], Any]:
        async def on_message(msg: Msg) -> None:
            self._count(pattern, msg)

        return on_message

    def _set_connected(self, up: bool, why: str) -> None:
        if up:
            self.last_error = None
        if up != self.connected:
            self.connected = up
            self._on_connection(up, why)


def describe(msg: Msg, now: float, config: NatsCollector) -> dict[str, Any]:
    """A sampled message as viewers see it: the payload only for allow-listed subjects."""
    headers = msg.headers or {}
    sample: dict[str, Any] = {
        "subject": msg.subject,
        "size": len(msg.data),
        "header_names": sorted(headers),
        "timestamp": now,
    }
    if any_match(config.payload_subjects, msg.subject):
        limit = config.max_payload_bytes
        sample["headers"] = dict(headers)
        sample["payload"] = msg.data[:limit].decode("utf-8", errors="replace")
        sample["payload_truncated"] = len(msg.data) > limit
    return sample
