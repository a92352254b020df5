"""NatsSource: polls a NATS server's monitoring endpoints and samples its subjects.

One poll every `poll_interval` seconds reads /varz, /connz, /subsz, /jsz and /routez and
sends one snapshot: the server, its subjects, streams and consumers, and the message flow
between them and the client connections (see `topology`). Alongside, a sampling
subscription to `subjects` counts messages per subject (see `sampler`); it reconnects by
itself, forever.

Failures: when nothing answers at `monitor_url`, `run` raises SourceUnavailable and the
supervisor retries with backoff. A timeout, an HTTP error or a truncated body only skips
that poll: the source says it is degraded and keeps polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from gestalt.model import SourceState
from gestalt.model.config import NatsCollector
from gestalt.sources.base import Sink, SourceUnavailable
from gestalt.sources.nats import monitor
from gestalt.sources.nats.sampler import Sampler
from gestalt.sources.nats.topology import SUBJECT_TTL, TopologyBuilder
from gestalt.sources.polling import poll_every

log = logging.getLogger(__name__)


class NatsSource:
    name = "nats"

    def __init__(self, config: NatsCollector, *, timeout: float = 5.0) -> None:
        self.config = config
        self.timeout = timeout
        # A name of its own, so the sampling connection is left off the map.
        client = f"gestalt-sampler/{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.sampler = Sampler(config, client_name=client, on_connection=self._sampler_changed)
        self._builder = TopologyBuilder(own_client=client, sampled=config.subjects)
        self._sink: Sink | None = None
        self._poll_problem = ""
        self._state: tuple[SourceState, str] | None = None
        # Loop time the sampling connection was (re)started; None: not yet, so not late.
        self._sampler_since: float | None = None

    async def run(self, sink: Sink) -> None:
        self._sink, self._state = sink, None
        loop = asyncio.get_running_loop()
        sampler: asyncio.Task[None] | None = None

        async def look(http: httpx.AsyncClient) -> None:
            nonlocal sampler
            try:
                poll = await monitor.poll(http)
            except monitor.MonitorUnreachable as exc:
                self._builder.lost()
                raise SourceUnavailable(str(exc)) from exc
            except monitor.MonitorError as exc:
                log.warning("nats monitoring poll failed: %s", exc)
                self._poll_problem = str(exc)
            else:
                self._poll_problem = ""
                if sampler is not None and sampler.done():
                    self._sampler_failed(sampler)
                    sampler = None
                if sampler is None and self.config.subjects:
                    sampler = asyncio.create_task(self.sampler.run(), name="nats-sampler")
                    self._sampler_since = loop.time()
                self._observe(sink, poll)
            self._report()

        async with httpx.AsyncClient(base_url=self.config.monitor_url,
                                     timeout=self.timeout) as http:
            try:
                await poll_every(self.config.poll_interval, lambda: look(http))
            finally:
                if sampler is not None:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sampler

    def _observe(self, sink: Sink, poll: monitor.Poll) -> None:
        counts, window = self.sampler.take()
        self.sampler.forget(before=time.time() - SUBJECT_TTL)
        observation = self._builder.build(
            poll,
            counts=counts if self.sampler.connected else None,
            window=window,
            last_seen=self.sampler.last_seen,
            wall=time.time(),
        )
        sink.snapshot(observation.entities, observation.connections, observed_at=time.time())
        for event in observation.events:
            sink.event(event)

    # -- status -------------------------------------------------------------------------------
    def _sampler_changed(self, up: bool, why: str) -> None:
        if self._sink is not None:
            self._report()

    def _sampler_failed(self, task: asyncio.Task[None]) -> None:
        exc = task.exception() if not task.cancelled() else None
        log.warning("nats sampling connection ended: %s", type(exc).__name__ if exc else "")

    def _sampler_late(self) -> bool:
        """Down, and not merely still making its first connection of this run."""
        grace = 2 * self.config.poll_interval + 2.0  # 2 s: the connect timeout
        if self._sampler_since is None:
            return False
        return asyncio.get_running_loop().time() - self._sampler_since > grace

    def _report(self) -> None:
        if self._poll_problem:
            state = (SourceState.DEGRADED, f"monitoring: {self._poll_problem}")
        elif self.config.subjects and not self.sampler.connected and self._sampler_late():
            why = f" ({self.sampler.last_error})" if self.sampler.last_error else ""
            state = (SourceState.DEGRADED, f"sampling connection down{why}: subject rates unknown")
        else:
            state = (SourceState.OK, "")
        if state != self._state and self._sink is not None:
            self._state = state
            self._sink.status(*state)

    # -- capabilities ---------------------------------------------------------------------
    async def sampled_messages(self, subjects: list[str]) -> AsyncGenerator[dict[str, Any], None]:
        """Sampled messages of `subjects` (within the configured sampled subjects), at most
        `sample_per_second` per subject; payloads only for allow-listed subjects
        (SamplesMessages)."""
        listener = self.sampler.listen(subjects)
        try:
            while True:
                yield await listener.queue.get()
        finally:
            self.sampler.unlisten(listener)
