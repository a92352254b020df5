"""An in-memory Sink that records what a source reported, for asserting on sources alone
(the same idea as OpenTelemetry's consumertest sinks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gestalt.model import Connection, Entity, Event, SourceState


class RecordingSink:
    """Keeps the source's current view (entities and connections by id), its events,
    metrics and statuses, and lets a test wait for a condition with a deadline."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.connections: dict[str, Connection] = {}
        self.events: list[Event] = []
        self.metric_samples: list[tuple[str, dict[str, Any], float]] = []
        self.statuses: list[tuple[SourceState, str]] = []
        self.snapshots = 0
        self.not_permitted: list[str] = []
        self._changed = asyncio.Event()

    # -- Sink ---------------------------------------------------------------------------
    def snapshot(
        self,
        entities: Iterable[Entity],
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        self.entities = {e.id: e for e in entities}
        self.connections = {c.id: c for c in connections}
        self.snapshots += 1
        self._poke()

    def upsert(
        self,
        entities: Iterable[Entity] = (),
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        self.entities.update((e.id, e) for e in entities)
        self.connections.update((c.id, c) for c in connections)
        self._poke()

    def remove(
        self,
        entity_ids: Iterable[str] = (),
        connection_ids: Iterable[str] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        for eid in entity_ids:
            self.entities.pop(eid, None)
        for cid in connection_ids:
            self.connections.pop(cid, None)
        self._poke()

    def event(self, event: Event) -> None:
        self.events.append(event)
        self._poke()

    def metrics(
        self, entity_id: str, values: Mapping[str, float | int | None], observed_at: float
    ) -> None:
        self.metric_samples.append((entity_id, dict(values), observed_at))
        self._poke()

    def status(self, state: SourceState, reason: str = "", *,
               not_permitted: Sequence[str] = ()) -> None:
        self.statuses.append((state, reason))
        self.not_permitted = list(not_permitted)
        self._poke()

    # -- test helpers ----------------------------------------------------------------------
    @property
    def state(self) -> SourceState | None:
        return self.statuses[-1][0] if self.statuses else None

    def of_kind(self, kind: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.kind == kind]

    async def wait_for(
        self, condition: Callable[[], Any], *, timeout: float = 10.0, what: str = ""
    ) -> Any:
        """Wait until `condition()` is truthy (re-checked on every report); return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def _poke(self) -> None:
        self._changed.set()
