"""The poll loop keeps a fixed grid: no drift from the poll's own time or from late
wake-ups, overruns followed at once and never made up in a burst."""

from __future__ import annotations

import pytest

from gestalt.sources.polling import poll_every


class Stop(Exception):
    pass


class Clock:
    """Time that moves only when the poll works or the loop sleeps (a wake-up always a
    little late, as an event loop's is)."""

    def __init__(self, durations: list[float], late: float = 0.01) -> None:
        self.now = 100.0
        self.durations = durations
        self.late = late
        self.starts: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def poll(self) -> None:
        if len(self.starts) == len(self.durations):
            raise Stop
        self.starts.append(self.now)
        self.now += self.durations[len(self.starts) - 1]

    async def sleep(self, delay: float) -> None:
        assert delay >= 0
        self.now += delay + self.late


async def run(clock: Clock, interval: float) -> list[float]:
    with pytest.raises(Stop):
        await poll_every(interval, clock.poll, clock=clock, sleep=clock.sleep)
    return [round(start - 100.0, 6) for start in clock.starts]


async def test_polls_start_on_a_grid_whatever_they_take() -> None:
    starts = await run(Clock([0.4, 1.5, 0.1, 0.9, 0.4, 0.2] * 50), interval=2.0)
    # Each start is at most one late wake-up (10 ms) after its tick, after 300 polls too.
    assert all(abs(start - 2.0 * i) <= 0.0100001 for i, start in enumerate(starts)), starts[-3:]


async def test_an_overrun_is_followed_at_once_and_missed_ticks_are_skipped() -> None:
    starts = await run(Clock([5.0, 0.1, 0.1], late=0.0), interval=2.0)
    assert starts == [0.0, 5.0, 7.0]
