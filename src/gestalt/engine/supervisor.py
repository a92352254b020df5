"""Runs every source forever: named tasks, status reporting, jittered backoff, clean stop.

A source's `run` only observes. When it raises, the supervisor marks the source down (the
hub keeps its last state, marked stale), waits with full-jitter exponential backoff
(start <= 1 s, cap 30 s) and runs it again; each new run relists, so the source converges
on the truth by itself. A `PermanentSourceError` stops retrying until restart, with the
reason shown. Stopping cancels every task, waits, and reports stragglers.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gestalt.engine import tasks
from gestalt.engine.hub import Hub
from gestalt.engine.tasks import HEALTHY_RUN, backoff_delay
from gestalt.model import SourceState
from gestalt.sources import PermanentSourceError, Source, SourceError

log = logging.getLogger(__name__)

class Supervisor:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def start(self, source: Source) -> None:
        if source.name in self._tasks:
            raise ValueError(f"source {source.name!r} is already running")
        self._hub.register(source.name)
        self.restarts[source.name] = 0
        self._tasks[source.name] = asyncio.create_task(
            self._keep_running(source), name=f"source:{source.name}"
        )

    async def stop(self, grace: float = 5.0) -> None:
        await tasks.stop(self._tasks.values(), grace)
        self._tasks.clear()

    async def _keep_running(self, source: Source) -> None:
        sink = self._hub.sink(source.name)
        attempt = 0
        # Only the first run is "starting": a retry stays "down" (with its reason) until the
        # source reports ok, so a source that cannot connect does not flap, and its warning
        # is logged once per distinct reason rather than on every retry.
        sink.status(SourceState.STARTING)
        while True:
            started = time.monotonic()
            try:
                await source.run(sink)
                reason = "stopped unexpectedly (run returned)"
                log.error("source %s %s", source.name, reason)
            except asyncio.CancelledError:
                raise
            except PermanentSourceError as exc:
                sink.status(SourceState.DOWN, f"{exc} (not retrying; fix and restart)")
                return
            except SourceError as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # a bug in a source must not take the others down
                reason = f"{type(exc).__name__}: {exc}"
                log.exception("source %s has failed", source.name)
            sink.status(SourceState.DOWN, reason)
            self.restarts[source.name] += 1
            if time.monotonic() - started > HEALTHY_RUN:
                attempt = 0
            delay = backoff_delay(attempt)
            attempt += 1
            log.log(logging.INFO if attempt == 1 else logging.DEBUG,
                    "source %s: retrying in %.1fs", source.name, delay)
            await asyncio.sleep(delay)
