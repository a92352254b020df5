"""The Sink handed to one source: every call goes to the hub, attributed to that source."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gestalt.model import Connection, Entity, Event, SourceState

if TYPE_CHECKING:
    from gestalt.engine.hub import Hub

MetricValues = Mapping[str, float | int | None]


class SourceSink:
    """Implements `gestalt.sources.Sink` for one source."""

    __slots__ = ("_hub", "name")

    def __init__(self, hub: Hub, name: str) -> None:
        self._hub = hub
        self.name = name

    def snapshot(
        self,
        entities: Iterable[Entity],
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        self._hub.snapshot(self.name, entities, connections, observed_at)

    def upsert(
        self,
        entities: Iterable[Entity] = (),
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        self._hub.upsert(self.name, entities, connections, observed_at)

    def remove(
        self,
        entity_ids: Iterable[str] = (),
        connection_ids: Iterable[str] = (),
        *,
        observed_at: float | None = None,
    ) -> None:
        self._hub.remove(self.name, entity_ids, connection_ids, observed_at)

    def event(self, event: Event) -> None:
        self._hub.event(self.name, event)

    def metrics(self, entity_id: str, values: MetricValues, observed_at: float) -> None:
        self._hub.metrics(self.name, entity_id, values, observed_at)

    def status(self, state: SourceState, reason: str = "", *,
               not_permitted: Sequence[str] = ()) -> None:
        self._hub.status(self.name, state, reason, not_permitted=not_permitted)
