"""Each source's status: its state as the supervisor and the source report it, and when it
last delivered.

A source is live while ok or degraded. Liveness is what the map shows: when it flips,
everything the source describes turns stale (or fresh again), which is the hub's to
commit; the status itself goes to listeners (the SSE `sources` frame, `settled`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from gestalt.model import SourceState, SourceStatus

log = logging.getLogger(__name__)

StatusListener = Callable[[SourceStatus], None]
LIVE_STATES = (SourceState.OK, SourceState.DEGRADED)


class SourceStatuses:
    def __init__(self) -> None:
        # Source name -> its status, in registration order.
        self.current: dict[str, SourceStatus] = {}
        self._listeners: list[StatusListener] = []

    def register(self, source: str, state: SourceState) -> None:
        self.current[source] = SourceStatus(name=source, state=state, since=time.time())

    def on_change(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def live(self, source: str) -> bool:
        return self.current[source].state in LIVE_STATES

    def delivered(self, source: str) -> None:
        """`last_ok` is when the source last delivered while working: every poll, change
        or sample moves it, not only a change of state (a source that polls for hours in
        the same state is still fresh)."""
        status = self.current[source]
        if status.state in LIVE_STATES:
            status.last_ok = time.time()

    def update(self, source: str, state: SourceState, reason: str, entities: int,
               not_permitted: Sequence[str] = ()) -> tuple[SourceStatus, bool] | None:
        """Record what the source says (`not_permitted`: what it may not read, one name per
        kind): the new status and whether its liveness flipped; None when nothing changed
        (then it only counts as a delivery)."""
        current = self.current[source]
        if current.state == state and current.reason == reason and \
                current.not_permitted == list(not_permitted):
            self.delivered(source)  # a poll that went well says so, state unchanged
            return None
        now = time.time()
        live = state in LIVE_STATES
        status = SourceStatus(
            name=source,
            state=state,
            reason=reason,
            since=now if current.state != state else current.since,
            last_ok=now if live else current.last_ok,
            entities=entities,
            not_permitted=list(not_permitted),
        )
        self.current[source] = status
        quiet = live or state is SourceState.STARTING
        log.log(logging.INFO if quiet else logging.WARNING, "source %s is %s%s", source,
                state.value, f": {reason}" if reason else "")
        return status, live != (current.state in LIVE_STATES)

    def announce(self, status: SourceStatus) -> None:
        for listener in list(self._listeners):
            listener(status)
