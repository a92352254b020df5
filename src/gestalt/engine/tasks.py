"""Long-running engine tasks that cannot die silently (kopf's `aiotasks`, in small).

Every task the engine runs for its whole life (the metrics flusher, alert evaluation and
delivery; the sources have the supervisor) is started with `guarded`: it is named; when
it raises, the failure is logged with its traceback ("task X has failed") and it starts
again after a jittered backoff; when it returns, that is a failure too ("finished
unexpectedly"), since these tasks run until cancelled. A bug in one of them costs a
moment of what it does, not the rest of the process's life. `stop` cancels tasks, waits
a grace period and names any that did not stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_CAP = 30.0
# A run that lasted this long counts as healthy: the next failure starts backoff afresh.
HEALTHY_RUN = 60.0


def backoff_delay(attempt: int, *, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in (0, min(cap, start * 2**attempt)], never below 0.1 s."""
    ceiling = min(BACKOFF_CAP, BACKOFF_START * (2**attempt))
    return float(max(0.1, ceiling * rng()))


class Retry:
    """Backoff between tries of one thing: the first failure is a warning, later ones are
    debug (one line per outage, not one per try); `succeeded` starts the backoff afresh."""

    def __init__(self, *, rng: Callable[[], float] = random.random) -> None:
        self.attempt = 0
        self._rng = rng

    async def after(self, what: str, exc: BaseException) -> None:
        delay = backoff_delay(self.attempt, rng=self._rng)
        self.attempt += 1
        log.log(logging.WARNING if self.attempt == 1 else logging.DEBUG,
                "%s (%s); retrying in %.1fs", what, str(exc) or type(exc).__name__, delay)
        await asyncio.sleep(delay)

    def succeeded(self) -> bool:
        """Start afresh; True when there had been failures (to say "working again")."""
        failed, self.attempt = self.attempt > 0, 0
        return failed


def guarded(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run `run()` as the task `name`, again after each failure, until cancelled."""
    return asyncio.create_task(_keep_running(name, run), name=name)


async def _keep_running(name: str, run: Callable[[], Awaitable[None]]) -> None:
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            await run()
            log.error("task %s finished unexpectedly; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s has failed; starting it again", name)
        if time.monotonic() - started > HEALTHY_RUN:
            attempt = 0
        await asyncio.sleep(backoff_delay(attempt))
        attempt += 1


async def stop(tasks: Iterable[asyncio.Task[None]], grace: float = 5.0) -> None:
    """Cancel `tasks` and wait up to `grace` seconds; log the ones still running."""
    pending_tasks = [task for task in tasks if not task.done()]
    for task in pending_tasks:
        task.cancel()
    if not pending_tasks:
        return
    _, pending = await asyncio.wait(pending_tasks, timeout=grace)
    for task in pending:
        log.warning("task %s did not stop within %.0fs", task.get_name(), grace)
