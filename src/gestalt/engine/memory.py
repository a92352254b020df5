"""Giving memory back to the system after a large commit.

A source's first snapshot at 10,000 entities passes through many short-lived objects (its
views, the merge, the delta and its encodings, history's rows). Python frees them, but
glibc keeps the freed pages in the process's heap, so the resident size stays at its peak
(about 4 MB above what is still in use, measured at 10,000 entities). `malloc_trim(0)`
hands them back. Where there is no glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# Items changed (entities and connections, upserted or removed) between two releases.
LARGE_COMMIT = 1000
# Wait this long (s) before trimming: the last delta is encoded, sent and recorded
# (history's writer thread) first, and a burst of commits is trimmed once.
SETTLE = 1.0

_trim: Callable[[int], int] | None = None
_looked = False
# How many trims were done (for tests and /metrics readers).
trims = 0


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            function = ctypes.CDLL(None).malloc_trim  # glibc, already loaded by the process
        except (OSError, AttributeError):
            function = None
        if function is not None:
            function.argtypes = [ctypes.c_size_t]
            function.restype = ctypes.c_int
        _trim = function
    return _trim


def release() -> bool:
    """Give freed heap memory back to the system now; False where that is not possible."""
    global trims
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    trims += 1
    return True


class Releaser:
    """Calls `release` `SETTLE` seconds after the changes committed since the last release
    reach `LARGE_COMMIT` items (one large commit, or many small ones: churn frees as much
    as it allocates, and glibc keeps what it frees). One release is pending at a time, so
    steady churn cannot postpone it forever."""

    def __init__(self, settle: float = SETTLE) -> None:
        self.settle = settle
        self._changed = 0
        self._pending: asyncio.TimerHandle | None = None

    def committed(self, items: int) -> None:
        self._changed += items
        if self._changed < LARGE_COMMIT or self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._release()  # no loop (a script, a test): nothing else will run first anyway
            return
        self._pending = loop.call_later(self.settle, self._release)

    def _release(self) -> None:
        self._pending = None
        self._changed = 0
        release()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
