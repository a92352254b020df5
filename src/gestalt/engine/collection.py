"""The cyclic garbage collector in a long-running server: how long it stops the process,
and keeping its full passes short as the map grows.

A full pass walks every container object Python tracks. A hub's map is built after
start-up (a federated site's keyframe, a local source's first list): at 110,000 entities
each full pass walked every list of every entity (their sources, endpoints, health
reasons), and stopped the event loop for 84-1,303 ms, nine times in five minutes
(bench/federation.py --full, load 10), because CPython runs one whenever the objects
that survived into the oldest generation grew by a quarter, and the map kept growing.

`Collection.install` counts every pass (`pauses`: count, total and longest, per
generation, for /metrics) and, at the end of a full pass that found at least
`freeze_at` survivors, freezes them (`gc.freeze`): later passes leave them alone, so a
pass walks only what lived long since the last freeze.

A large change (a federated site handed over whole, a source's first list: `bulk`
entities and edges in one delta) is followed, once the commit's temporaries are gone, by a
full pass of our choosing that freezes what survives it, however little (`committed`).
Left to CPython, a map filling site by site was walked by passes that came when they
would: at 10 sites x 10,000 entities two or three full passes of 220-320 ms each, the
last often after the map was complete, stalling every site's deltas that long (bench/
federation.py --full). A pass after each site walks one site's objects.

Why at the end of a full pass: that pass has just collected every unreachable cycle, so
what it leaves is all alive; freezing then keeps no garbage. What is frozen and later
becomes garbage in a cycle (a client's connection that closes) is not collected while
frozen; refcounting still frees everything else (entities hold no cycles). So the
frozen objects are thawed (`gc.unfreeze`) every `thaw_after` seconds: the next full pass
walks everything once, collects what died meanwhile, and freezes the survivors again.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gestalt.model import Delta

# A full pass over this many survivors took ~15 ms on an idle core and several times that
# on a loaded 2-core machine: beyond it, freeze them.
FREEZE_AT = 100_000
# Entities and edges in one delta that make it a bulk change (a site, a first list).
BULK = 5_000
# Frozen objects that became cyclic garbage live at most this long (s).
THAW_AFTER = 3600.0
GENERATIONS = 3


@dataclass
class Pauses:
    """Collector passes per generation: how many, their total and longest duration (s),
    and the CPU time they took (on a loaded machine a pass lasts several times its CPU
    time: the thread is not always running meanwhile)."""

    count: list[int] = field(default_factory=lambda: [0] * GENERATIONS)
    seconds: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    longest: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    cpu_seconds: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)


class Collection:
    def __init__(self, *, freeze_at: int = FREEZE_AT, thaw_after: float = THAW_AFTER,
                 bulk: int = BULK) -> None:
        self.freeze_at = freeze_at
        self.thaw_after = thaw_after
        self.bulk = bulk
        self.settles = 0  # full passes run after a bulk change
        self._settle_due = False
        self._freeze_any = False  # the pass running is a settle: freeze what survives
        self.pauses = Pauses()
        self.freezes = 0
        self.thaws = 0
        self._frozen = 0  # objects frozen, about (counted as they are frozen)
        self._began = self._began_cpu = 0.0
        self._frozen_since = time.monotonic()  # the oldest frozen object's freeze, about

    def install(self) -> None:
        self._frozen = gc.get_freeze_count()  # what start-up froze (`gestalt serve`)
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def committed(self, delta: Delta) -> None:
        """A store listener: after a bulk change, a full pass that freezes its survivors,
        run by the event loop once the commit has returned (its temporaries gone)."""
        if self._settle_due or len(delta.upserts) + len(delta.edge_upserts) < self.bulk:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a commit off the event loop (none in `gestalt serve`)
            return
        self._settle_due = True
        loop.call_soon(self.settle)

    def settle(self) -> None:
        self._settle_due = False
        self._freeze_any = True
        try:
            gc.collect()
        finally:
            self._freeze_any = False
        self.settles += 1

    def frozen(self) -> int:
        """Objects frozen, as counted when they were (for /metrics). Not
        `gc.get_freeze_count()`: that walks every frozen object, 46 ms for 700,000 on an
        idle core, and /metrics is read on the event loop at every scrape."""
        return self._frozen

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began, self._began_cpu = time.perf_counter(), time.thread_time()
            return
        took = time.perf_counter() - self._began
        cpu = time.thread_time() - self._began_cpu
        generation = int(info["generation"])
        # No lock: the collector holds the GIL from its start to its last callback.
        pauses = self.pauses
        pauses.count[generation] += 1
        pauses.seconds[generation] += took
        pauses.longest[generation] = max(pauses.longest[generation], took)
        pauses.cpu_seconds[generation] += cpu
        if generation == GENERATIONS - 1:
            self._after_full_pass()

    def _after_full_pass(self) -> None:
        now = time.monotonic()
        if self._frozen and now - self._frozen_since > self.thaw_after:
            # The next full pass sees what was frozen (and collects what died of it).
            gc.unfreeze()
            self._frozen = 0
            self.thaws += 1
            return
        # Only the oldest generation holds anything now: the pass merged the younger ones.
        survivors = len(gc.get_objects(generation=GENERATIONS - 1))
        if survivors >= self.freeze_at or (self._freeze_any and survivors):
            if not self._frozen:
                self._frozen_since = now
            gc.freeze()
            self._frozen += survivors
            self.freezes += 1


# The process's collector: `gestalt serve` installs it, /metrics reads it.
collection = Collection()
