"""The one poll loop: for sources that look every `interval` seconds (host, Docker stats,
NATS monitoring, PostgreSQL, Prometheus).

It owns scheduling and drift. Polls start on a fixed grid, `interval` apart from the
first: a poll that takes 0.4 s of a 2 s interval does not stretch the period to 2.4 s,
and the event loop waking a little late does not add up over hours. A poll that takes
longer than the interval is followed at once by the next one, and the grid moves on from
there: missed ticks are skipped, never made up in a burst. Errors propagate: what to do
about them is the supervisor's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn


async def poll_every(
    interval: float,
    poll: Callable[[], Awaitable[object]],
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> NoReturn:
    """Await `poll()` every `interval` seconds until cancelled. `clock` (the event loop's
    by default) and `sleep` are for tests."""
    now = clock or asyncio.get_running_loop().time
    due = now()
    while True:
        await poll()
        due += interval
        current = now()
        if due < current:  # the poll overran: go again now, and keep the grid from here
            due = current
        await sleep(due - current)
