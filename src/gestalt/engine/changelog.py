"""The engine's change log: one ordered stream of every change, each encoded once.

The store produces a `Delta` per structural change, the hub a `MetricsFrame` per metrics
interval and an `Event` per feed entry; the log numbers the events, encodes each change
once (`model.changes.encode`) and hands every reader the same `Entry`, in order. History
keeps the bytes, the API frames them for SSE, a publisher would send them as they are:
nobody encodes a change a second time, and no reader knows about another.

Readers are called synchronously, in the order they subscribed, and must be cheap: they
run inside the commit that made the change (history queues to its writer thread; the
SSE broadcaster drops the bytes into bounded client queues).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from gestalt.model import Change, Delta, Event, MetricsFrame
from gestalt.model.changes import encode


class Entry(NamedTuple):
    change: Change
    # `encode(change)`: the same bytes object for every reader.
    body: bytes
    # Where it sits in its own numbering: a delta's version, an event's sequence number;
    # None for a metrics frame (it follows `change.version` and has no number of its own).
    seq: int | None


Reader = Callable[[Entry], None]


class ChangeLog:
    def __init__(self) -> None:
        self._readers: list[Reader] = []
        # The last event's sequence number; the engine continues it from history.
        self.event_seq = 0

    def subscribe(self, reader: Reader) -> Callable[[], None]:
        """Hand every later entry to `reader`; returns the way to stop."""
        self._readers.append(reader)
        return lambda: self._readers.remove(reader)

    def delta(self, delta: Delta) -> None:
        self._append(Entry(delta, encode(delta), delta.version))

    def metrics(self, frame: MetricsFrame) -> None:
        self._append(Entry(frame, encode(frame), None))

    def event(self, event: Event) -> None:
        self.event_seq += 1
        self._append(Entry(event, encode(event), self.event_seq))

    def _append(self, entry: Entry) -> None:
        for reader in list(self._readers):
            reader(entry)
