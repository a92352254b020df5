"""The hub: where every source's observations become one graph.

Each source reports its own view through a `SourceSink` (engine/sink.py). The hub keeps
each source's contribution apart (so a snapshot removes exactly what that source stopped
seeing, and a failed source contributes "stale", never "deleted") and commits what
changed to the `Store` as one delta. What it does not do itself:

- `merge.py` makes one entity (or connection) of several sources' views, by a written
  precedence;
- `links/` finds the ends of connections (addresses, entities known by address);
- `scoring.py` scores each merged entity (by the checks of `health.py`); `statuses.py`
  keeps each source's state.

Applying the same observation twice changes nothing: every path compares before it writes.
A change that only moves numbers does not bump the version: the store collects it into the
next `MetricsFrame`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gestalt.engine.links import Edges, Located, RawEdgeKey
from gestalt.engine.links.runs_as import RUNS_AS, RunsAs
from gestalt.engine.merge import (
    machine_clash,
    merge_entity,
    metric_key,
    metric_values,
    reported_health,
    structural_key,
)
from gestalt.engine.registry import precedence
from gestalt.engine.scoring import score_entity
from gestalt.engine.sink import SourceSink
from gestalt.engine.statuses import LIVE_STATES, SourceStatuses, StatusListener
from gestalt.engine.store import Pending, Store
from gestalt.model import Connection, Entity, Event, Health, SourceState, ids
from gestalt.model.config import HealthConfig
from gestalt.model.entities import shared_sources

HOST_NODES = ids.host_node("")  # `node:host/`: what a host source calls its machine
MetricValues = Mapping[str, float | int | None]
EventListener = Callable[[Event], None]


class Hub:
    def __init__(
        self,
        store: Store,
        *,
        health: HealthConfig | None = None,
        simulated: frozenset[str] = frozenset(),
        local_host: str | None = None,
    ) -> None:
        self.store = store
        self._health = health or HealthConfig()
        # Sources that observe a simulation (the demo's kubesim): their entities are marked
        # `attrs.simulated` so nobody mistakes them for the real thing.
        self._simulated = simulated
        # Every source, in precedence order (merge.py, rule 1).
        self._sources: list[str] = []
        self._contrib: dict[str, dict[str, Entity]] = {}
        # Metrics each source reported apart from its views (`sink.metrics`).
        self._overlay: dict[str, dict[str, dict[str, Any]]] = {}
        # Entity -> the sources whose views make it, in precedence order: one tuple per
        # combination, shared by every entity with it (and by their merged views).
        self._owners: dict[str, tuple[str, ...]] = {}
        self._combinations: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._statuses = SourceStatuses()
        self.statuses = self._statuses.current
        self._located = Located(local_host=local_host or socket.gethostname())
        self._edges = Edges(self._located, precedence)
        # Code to what runs it: edges of the engine's own making, filed as a raw source.
        self._runs_as = RunsAs()
        self._edges.register(RUNS_AS)
        self._event_listeners: list[EventListener] = []
        self.observations = 0  # count of entities/edges/metrics/events received

    # -- wiring ----------------------------------------------------------------------------
    def sink(self, source: str) -> SourceSink:
        self.register(source)
        return SourceSink(self, source)

    def register(self, source: str, state: SourceState = SourceState.STARTING) -> None:
        if source in self._contrib:
            return
        self._sources = sorted([*self._sources, source], key=precedence)
        self._contrib[source] = {}
        self._overlay[source] = {}
        self._edges.register(source)
        self._statuses.register(source, state)

    def on_event(self, listener: EventListener) -> None:
        self._event_listeners.append(listener)

    def on_status(self, listener: StatusListener) -> None:
        self._statuses.on_change(listener)

    def contributions(self, entity_id: str) -> dict[str, Entity]:
        return {s: self._contrib[s][entity_id] for s in self._owners.get(entity_id, ())}

    def footprint(self) -> dict[str, int]:
        """How many items each of the hub's own structures holds: with the graph's size
        steady, none of them may grow (the soak benchmark watches them)."""
        return {
            "contributions": sum(map(len, self._contrib.values())),
            "owners": len(self._owners),
            "metric_overlays": sum(map(len, self._overlay.values())),
            **self._edges.footprint(),
            **self._located.footprint(),
        }

    def connection_sources(self, connection_id: str) -> list[str]:
        """The sources whose edges make this connection (after endpoint and locator
        resolution), e.g. a database client seen by the PostgreSQL source and by a span."""
        return self._edges.sources_of(connection_id)

    # -- observations ----------------------------------------------------------------------
    def snapshot(self, source: str, entities: Iterable[Entity],
                 connections: Iterable[Connection], observed_at: float | None) -> None:
        self._statuses.delivered(source)
        new = {e.id: e for e in entities}
        new_edges = {c.id: c for c in connections}
        old = self._contrib[source]
        self.observations += len(new) + len(new_edges)
        gone = [eid for eid in old if eid not in new]
        changed = {eid for eid, e in new.items() if old.get(eid) != e}
        changed.update(self._set_contributions(source, new.values(), gone, only=changed))
        # Metric overlays of entities this source no longer reports go with them.
        overlay = self._overlay[source]
        for eid in gone:
            overlay.pop(eid, None)
        self._commit(changed, self._edges.replace(source, new_edges), observed_at)

    def upsert(self, source: str, entities: Iterable[Entity],
               connections: Iterable[Connection], observed_at: float | None) -> None:
        self._statuses.delivered(source)
        contrib = self._contrib[source]
        fresh: list[Entity] = []
        for entity in entities:
            self.observations += 1
            if contrib.get(entity.id) != entity:
                fresh.append(entity)
        changed = self._set_contributions(source, fresh, ())
        conns = list(connections)
        self.observations += len(conns)
        self._commit(changed, self._edges.upsert(source, conns), observed_at)

    def remove(self, source: str, entity_ids: Iterable[str], connection_ids: Iterable[str],
               observed_at: float | None) -> None:
        self._statuses.delivered(source)
        contrib = self._contrib[source]
        gone = [eid for eid in entity_ids if eid in contrib]
        self._set_contributions(source, (), gone)
        for eid in gone:
            self._overlay[source].pop(eid, None)
        self._commit(set(gone), self._edges.remove(source, connection_ids), observed_at)

    def metrics(
        self, source: str, entity_id: str, values: MetricValues, observed_at: float
    ) -> None:
        self._statuses.delivered(source)
        self.observations += 1
        overlay = self._overlay[source].setdefault(entity_id, {})
        if all(overlay.get(k) == v for k, v in values.items()):
            return
        overlay.update(values)
        if entity_id in self._owners:
            self._commit({entity_id}, set(), observed_at)

    def event(self, source: str, event: Event) -> None:
        self._statuses.delivered(source)
        self.observations += 1
        if not event.source:
            event.source = source
        for listener in list(self._event_listeners):
            listener(event)

    def status(self, source: str, state: SourceState, reason: str = "", *,
               not_permitted: Sequence[str] = ()) -> None:
        update = self._statuses.update(source, state, reason, len(self._contrib[source]),
                                       not_permitted)
        if update is None:
            return
        status, flipped = update
        if flipped:  # staleness of everything this source describes flips
            self._commit(set(self._contrib[source]), set(), None)
        self._statuses.announce(status)

    # -- contributions -----------------------------------------------------------------------
    def _set_contributions(
        self,
        source: str,
        entities: Iterable[Entity],
        gone: Iterable[str],
        *,
        only: set[str] | None = None,
    ) -> set[str]:
        contrib = self._contrib[source]
        touched: set[str] = set()
        for entity in entities:
            if only is not None and entity.id not in only:
                continue
            if entity.locator is not None and not self._located.indexing:
                self._located.start_indexing(self.store.entities.values())
            if entity.id not in contrib:
                owners = (*self._owners.get(entity.id, ()), source)
                self._owners[entity.id] = self._combination(owners)
            contrib[entity.id] = entity
            touched.add(entity.id)
        for eid in gone:
            if contrib.pop(eid, None) is not None:
                owners = tuple(s for s in self._owners.get(eid, ()) if s != source)
                if owners:
                    self._owners[eid] = self._combination(owners)
                else:
                    self._owners.pop(eid, None)
                touched.add(eid)
        self.statuses[source].entities = len(contrib)
        return touched

    def _combination(self, owners: tuple[str, ...]) -> tuple[str, ...]:
        ordered = tuple(sorted(owners, key=precedence))
        return self._combinations.setdefault(ordered, ordered)

    def _merge(self, eid: str) -> Entity | None:
        owners = self._owners.get(eid)
        if not owners:
            return None
        contrib, overlay, current = self._contrib, self._overlay, self.statuses
        views = [contrib[s][eid] for s in owners]
        # Metrics of the entity's own sources, then of sources that only measure it.
        metrics = [m for s in owners if (m := overlay[s].get(eid))]
        if len(self._sources) > len(owners):
            metrics += [m for s in self._sources if s not in owners and (m := overlay[s].get(eid))]
        # Merged views of one combination of sources share its list (values: never changed).
        merged = merge_entity(shared_sources(owners), views, metrics)
        if self._simulated and not self._simulated.isdisjoint(owners):
            merged.attrs = {**merged.attrs, "simulated": True}
        # Stale when a source of it is down, or a view says so (a site's agent lost a source).
        merged.stale = any(current[s].state not in LIVE_STATES for s in owners) or \
            any(v.stale for v in views)
        hint = reported_health(views)
        if len(views) > 1 and eid.startswith(HOST_NODES):
            clash = machine_clash(owners, views)
            if clash is not None:
                hint = (Health.worst(hint[0], Health.WARNING), [clash, *hint[1]])
        merged.health, merged.health_status, merged.health_reasons = score_entity(
            merged, self._health, hint)
        return merged

    # -- commit ------------------------------------------------------------------------------
    def _commit(
        self, changed: set[str], edge_keys: set[RawEdgeKey], observed_at: float | None
    ) -> None:
        """Merge what changed, resolve what it touches, hand the store one change set."""
        if not changed and not edge_keys:
            return
        staged = Pending(self.store, observed_at, owner=self._edges.owner)
        touched: set[str] = set()  # ids and keys whose meaning changed: resolve again
        located: dict[str, Entity] = {}
        links = self._located
        for eid in changed:
            new = self._merge(eid)
            if new is not None and new.locator is not None:
                located[eid] = new  # staged last: it may stand for one of the others
                continue
            if links.knows(eid) and links.resolve(eid, new, staged):
                touched.add(eid)
            self._stage(eid, new, staged, touched)

        # Located entities, resolved against everything staged above: hidden while they
        # stand for another entity, shown while nothing known is at their place.
        for eid in links.affected(touched) - located.keys():
            merged = self._merge(eid)
            if merged is not None:
                located[eid] = merged
            elif links.resolve(eid, None, staged):
                touched.add(eid)
        for eid, entity in located.items():
            if links.resolve(eid, entity, staged):
                touched.add(eid)
            self._stage(eid, None if links.target(eid) else entity, staged, touched)

        store, edges = self.store, self._edges
        derived = self._runs_as.update(staged.upserts, staged.removals, store.entities)
        for cid, conn in derived.items():
            edges.put((RUNS_AS, cid), conn)
        if derived:
            edge_keys = edge_keys | {(RUNS_AS, cid) for cid in derived}
        edge_upserts: list[Connection] = []
        edge_removals: list[str] = []
        if touched:
            edge_keys |= edges.referencing(touched)
        for cid in edges.rewire(edge_keys, staged.exists) if edge_keys else ():
            conn = edges.visible(cid)
            if conn is None:
                if cid in store.connections:
                    edge_removals.append(cid)
            elif store.connections.get(cid) != conn:
                edge_upserts.append(conn)
        store.apply(upserts=staged.upserts.values(), removals=staged.removals,
                    edge_upserts=edge_upserts, edge_removals=edge_removals,
                    observed_at=observed_at)

    def _stage(self, eid: str, new: Entity | None, staged: Pending, touched: set[str]) -> None:
        """Stage one entity's new merged view (None: gone) against the store; add the ids
        and keys whose meaning it changes to `touched`."""
        old = self.store.entities.get(eid)
        if new is None:
            if old is not None:
                staged.remove(eid)
                touched.add(eid)
                touched.update(self._edges.reindex_endpoints(eid, old.endpoints, ()))
                touched.update(self._located.index(eid, None))
            return
        if old is None:
            staged.upserts[eid] = new
            touched.add(eid)
            touched.update(self._edges.reindex_endpoints(eid, (), new.endpoints))
            touched.update(self._located.index(eid, new))
        elif structural_key(old) != structural_key(new):
            staged.upserts[eid] = new
            if old.endpoints != new.endpoints:
                touched.update(self._edges.reindex_endpoints(eid, old.endpoints, new.endpoints))
            touched.update(self._located.index(eid, new))
        elif new == old:
            return  # recomputed (a source's status flipped back), nothing moved
        else:
            self.store.replace_quietly(new)  # same shape, new numbers: no version bump
        if old is None or metric_key(new) != metric_key(old):
            self.store.note_metrics(eid, metric_values(new), staged.observed_at)
