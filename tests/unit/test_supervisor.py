"""The supervisor: retries with backoff, reports down once per reason, stops cleanly."""

from __future__ import annotations

import asyncio

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.engine.supervisor import BACKOFF_CAP, Supervisor, backoff_delay
from gestalt.model import SourceState
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
    monkeypatch.setattr("gestalt.engine.supervisor.BACKOFF_START", 0.01)
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
