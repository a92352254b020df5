"""Fault controls: the misbehaviour of real API servers and networks, on demand.

Watch streams read sentinels from their queues, so a change of fault state wakes every
open stream at once (no polling).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gestalt.sim.kubesim.store import Store

# Sentinels put into watcher queues.
WAKE = "wake"  # fault state changed: re-check it
DROP = "drop"  # cut the connection without a clean end
GONE = "gone"  # answer 410 Expired and end the stream
DISCONNECT = "disconnect"  # the client went away


@dataclass
class Throttle:
    remaining: int
    retry_after: int
    resource: str | None


class Faults:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.delay = 0.0  # seconds added before every response
        self.blackholed = False
        self.watches_paused = False
        self.throttles: list[Throttle] = []
        self._reachable = asyncio.Event()
        self._reachable.set()

    # -- controls ---------------------------------------------------------------------
    def blackhole(self) -> None:
        """Nothing answers: requests hang, open watches go silent (a dead network path)."""
        self.blackholed = True
        self._reachable.clear()
        self._broadcast(WAKE)

    def restore(self) -> None:
        """End a blackhole: connections held through it are dead and get cut."""
        if self.blackholed:
            self.blackholed = False
            self._broadcast(DROP)
            self._reachable.set()

    def pause_watches(self) -> None:
        """Open and new watches stay connected but send nothing, not even bookmarks."""
        self.watches_paused = True
        self._broadcast(WAKE)

    def resume_watches(self) -> None:
        self.watches_paused = False
        self._broadcast(WAKE)

    def drop_watches(self) -> None:
        """Cut every open watch connection."""
        self._broadcast(DROP)

    def expire_watches(self, resource: str | None = None) -> None:
        """Compact the history and end open watches with 410 Gone: clients must relist."""
        self._store.compact()
        for res, watchers in self._store.watchers.items():
            if resource in (None, res.plural):
                for watcher in watchers:
                    watcher.queue.put_nowait(GONE)

    def throttle(self, count: int = 1, *, retry_after: int = 1,
                 resource: str | None = None) -> None:
        """Answer the next `count` requests (for `resource`, or any) with 429 Retry-After.

        `resource` is qualified by its group as kubectl writes it: "pods", "deployments.apps".
        """
        self.throttles.append(Throttle(count, retry_after, resource))

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def clear(self) -> None:
        self.delay = 0.0
        self.throttles.clear()
        self.resume_watches()
        self.restore()

    # -- used by the server -----------------------------------------------------------
    async def reachable(self) -> None:
        await self._reachable.wait()

    def take_throttle(self, resource: str | None) -> int | None:
        for throttle in self.throttles:
            if throttle.resource in (None, resource) and throttle.remaining > 0:
                throttle.remaining -= 1
                if throttle.remaining == 0:
                    self.throttles.remove(throttle)
                return throttle.retry_after
        return None

    @property
    def watches_silent(self) -> bool:
        return self.blackholed or self.watches_paused

    def _broadcast(self, sentinel: str) -> None:
        for watchers in self._store.watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(sentinel)
