"""Work in a worker thread that leaves the event loop its turns.

A thread busy in Python holds the GIL, and the event loop must take it back after every
wait for I/O (each select, send and receive lets it go). CPython makes a holder drop the
GIL only once the waiter has waited a whole switch interval (5 ms) with no switch at all,
so each of the loop's turns may wait that long; and a thread that lets the GIL go inside
short C calls and takes it straight back (zlib's compress, SQLite's step, a few
microseconds each) starts the loop's wait over at every call: history's writer, packing
and writing a federated hub's first pictures (300,000 bodies), left the loop the GIL so
rarely that the sites' messages waited hundreds of milliseconds behind it
(bench/federation.py --full, agents p99). Sleeping a moment every few hundred items hands
the GIL over for certain: the loop, once it has it, keeps it until it waits for I/O again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

_T = TypeVar("_T")

# How long a hand-over sleeps: long enough for a waiting thread to be woken and take the
# GIL, short enough to cost the worker little (a few percent every millisecond or two).
HAND_OVER_SECONDS = 0.0001


def aside(items: Iterable[_T], every: int = 1_000) -> Iterator[_T]:
    """`items`, handing the GIL over after each `every` of them (for a worker thread)."""
    for n, item in enumerate(items, 1):
        if n % every == 0:
            time.sleep(HAND_OVER_SECONDS)
        yield item
