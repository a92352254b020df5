"""The supervisor: retries with backoff, reports down once per reason, stops cleanly."""

from __future__ import annotations

import asyncio
import time

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.engine.supervisor import Supervisor
from gestalt.engine.tasks import BACKOFF_CAP, backoff_delay
from gestalt.model import Entity, EntityKind, SourceState
from gestalt.sources import PermanentSourceError, SourceError
from gestalt.sources.base import Sink
from tests.support.wait import eventually


class Flaky:
    """Fails `failures` times, then reports ok and waits."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0

    async def run(self, sink: Sink) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise SourceError("connection refused")
        sink.status(SourceState.OK)
        await asyncio.Event().wait()


class Broken:
    name = "broken"
    runs = 0

    async def run(self, sink: Sink) -> None:
        self.runs += 1
        raise PermanentSourceError("bad credentials")


def test_backoff_is_jittered_and_capped() -> None:
    assert backoff_delay(0, rng=lambda: 1.0) <= 1.0
    assert backoff_delay(10, rng=lambda: 1.0) == BACKOFF_CAP
    assert backoff_delay(3, rng=lambda: 0.0) == 0.1


async def test_retries_until_ok_and_reports_down_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("gestalt.engine.tasks.BACKOFF_START", 0.01)
    hub = Hub(Store())
    seen: list[tuple[str, str]] = []
    hub.on_status(lambda s: seen.append((s.state.value, s.reason)))
    supervisor = Supervisor(hub)
    flaky = Flaky(failures=3)
    supervisor.start(flaky)
    await eventually(lambda: hub.statuses["flaky"].state is SourceState.OK, timeout=10)
    assert flaky.runs == 4 and supervisor.restarts["flaky"] == 3
    # Registered as starting; then one "down" for three failures with one reason; then ok.
    assert seen == [("down", "connection refused"), ("ok", "")]
    await supervisor.stop()
    await supervisor.stop()  # safe twice


async def test_permanent_errors_are_not_retried() -> None:
    hub = Hub(Store())
    supervisor = Supervisor(hub)
    broken = Broken()
    supervisor.start(broken)
    await eventually(lambda: hub.statuses["broken"].state is SourceState.DOWN, timeout=5)
    assert "bad credentials" in hub.statuses["broken"].reason
    assert "not retrying" in hub.statuses["broken"].reason
    assert broken.runs == 1
    await supervisor.stop()


class Polling:
    """A polling source (host, postgres): a snapshot and "ok" on every poll."""

    name = "polling"

    async def run(self, sink: Sink) -> None:
        while True:
            sink.snapshot([Entity(id="node:a", kind=EntityKind.NODE, name="a")])
            sink.status(SourceState.OK)
            await asyncio.sleep(0.05)  # the source's own poll interval


class Watching:
    """A watch source (kubernetes): "ok" once, then changes as they come."""

    name = "watching"

    def __init__(self) -> None:
        self.change = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        sink.snapshot([])
        sink.status(SourceState.OK)
        while True:
            await self.change.wait()
            self.change.clear()
            sink.upsert([Entity(id="pod:c/ns/p", kind=EntityKind.POD, name="p")])


async def test_last_ok_moves_on_every_successful_poll_and_report() -> None:
    """`last_ok` says when the source last delivered: it must not stand still while the
    source keeps polling (or reporting changes) in the same state."""
    hub = Hub(Store())
    supervisor = Supervisor(hub)
    watching = Watching()
    supervisor.start(Polling())
    supervisor.start(watching)
    try:
        first = await eventually(lambda: hub.statuses["polling"].last_ok, what="a first poll")
        await eventually(lambda: (hub.statuses["polling"].last_ok or 0) > first,
                         what="last_ok to move on a later poll")
        assert hub.statuses["polling"].since <= first  # the state itself did not change
        reported = await eventually(lambda: hub.statuses["watching"].last_ok,
                                    what="the watch source ok")
        await eventually(lambda: time.time() > reported, what="the clock to move")
        watching.change.set()
        await eventually(lambda: (hub.statuses["watching"].last_ok or 0) > reported,
                         what="last_ok to move on a reported change")
    finally:
        await supervisor.stop()
