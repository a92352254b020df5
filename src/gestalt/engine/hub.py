"""The hub: where every source's observations become one graph.

Each source reports its own view through a `SourceSink`. The hub keeps each source's
contribution separately (so a snapshot can remove exactly what that source stopped
seeing, and a failed source contributes "stale", never "deleted"), merges contributions
that describe the same entity, resolves `endpoint:` connection ends to the entity that owns
the address, scores health, and hands the structural changes to the `Store` as one delta.

Applying the same observation twice changes nothing: every path compares before it writes.
Metric-only changes do not bump the version; they are collected here and flushed as one
metrics frame per interval by `flush_metrics`.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from gestalt.engine.health import score_entity
from gestalt.engine.links import Links, endpoint_candidates
from gestalt.engine.store import Store
from gestalt.model import (
    METRIC_FIELDS,
    Connection,
    ConnectionKind,
    Entity,
    Event,
    Health,
    SourceState,
    SourceStatus,
    ids,
)
from gestalt.model.config import HealthConfig

log = logging.getLogger(__name__)

MetricValues = Mapping[str, float | int | None]
EventListener = Callable[[Event], None]
StatusListener = Callable[[SourceStatus], None]
MetricsListener = Callable[[dict[str, dict[str, Any]], float | None], None]

_ENTITY_FIELDS = tuple(f.name for f in msgspec.structs.fields(Entity))
# Fields whose change is not structural: they travel in metrics frames, not deltas.
_VOLATILE = METRIC_FIELDS | {"custom_metrics", "health", "updated_at"}
_STRUCTURAL_FIELDS = tuple(f for f in _ENTITY_FIELDS if f not in _VOLATILE)
_METRIC_FIELD_NAMES = tuple(sorted(METRIC_FIELDS))
_LIVE_STATES = (SourceState.OK, SourceState.DEGRADED)

RawEdgeKey = tuple[str, str]  # (source, raw connection id)


def _structural(entity: Entity) -> tuple[Any, ...]:
    return tuple(getattr(entity, name) for name in _STRUCTURAL_FIELDS)


def _metric_key(entity: Entity) -> tuple[Any, ...]:
    """What a metrics frame carries, for comparing without building the frame's dict."""
    return (*(getattr(entity, name) for name in _METRIC_FIELD_NAMES),
            entity.custom_metrics, entity.health)


def _metric_values(entity: Entity) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _METRIC_FIELD_NAMES:
        value = getattr(entity, name)
        if value is not None:
            values[name] = value
    if entity.custom_metrics:
        values["custom_metrics"] = entity.custom_metrics
    if entity.health is not None:
        values["health"] = entity.health
    return values


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
        self._order: list[str] = []
        self._contrib: dict[str, dict[str, Entity]] = {}
        self._raw_edges: dict[str, dict[str, Connection]] = {}
        self._overlay: dict[str, dict[str, dict[str, Any]]] = {}
        self._owners: dict[str, list[str]] = {}
        self.statuses: dict[str, SourceStatus] = {}
        # Address -> entities that own it (first one wins; others wait as fallbacks).
        self._endpoint_owners: dict[str, list[str]] = {}
        # Raw edges by what they reference (entity id or endpoint key), for re-resolution.
        self._refs: dict[str, list[RawEdgeKey]] = {}
        self._resolved: dict[RawEdgeKey, str] = {}
        self._backers: dict[str, list[RawEdgeKey]] = {}
        # Ends of connections whose id the hub made by resolving an `endpoint:` reference.
        self._resolved_ends: dict[str, tuple[str, str]] = {}
        # Entities found only by address (Entity.locator), shown as what is at that place.
        self._links = Links(local_host=local_host or socket.gethostname())
        self._pending_metrics: dict[str, dict[str, Any]] = {}
        self._pending_observed: float | None = None
        self._event_listeners: list[EventListener] = []
        self._status_listeners: list[StatusListener] = []
        self._metrics_listeners: list[MetricsListener] = []
        self.observations = 0  # count of entities/edges/metrics/events received

    # -- wiring ----------------------------------------------------------------------------
    def sink(self, source: str) -> SourceSink:
        self.register(source)
        return SourceSink(self, source)

    def register(self, source: str, state: SourceState = SourceState.STARTING) -> None:
        if source in self._contrib:
            return
        self._order.append(source)
        self._contrib[source] = {}
        self._raw_edges[source] = {}
        self._overlay[source] = {}
        self.statuses[source] = SourceStatus(name=source, state=state, since=time.time())

    def on_event(self, listener: EventListener) -> None:
        self._event_listeners.append(listener)

    def on_status(self, listener: StatusListener) -> None:
        self._status_listeners.append(listener)

    def on_metrics(self, listener: MetricsListener) -> None:
        self._metrics_listeners.append(listener)

    def contributions(self, entity_id: str) -> dict[str, Entity]:
        return {s: self._contrib[s][entity_id] for s in self._owners.get(entity_id, ())}

    def connection_sources(self, connection_id: str) -> list[str]:
        """The sources whose edges make this connection (after endpoint and locator
        resolution), e.g. a database client seen by the PostgreSQL source and by a span."""
        return list(dict.fromkeys(source for source, _ in self._backers.get(connection_id, ())))

    # -- observations ----------------------------------------------------------------------
    def snapshot(
        self,
        source: str,
        entities: Iterable[Entity],
        connections: Iterable[Connection],
        observed_at: float | None,
    ) -> None:
        self._delivered(source)
        new = {e.id: e for e in entities}
        new_edges = {c.id: c for c in connections}
        old = self._contrib[source]
        old_edges = self._raw_edges[source]
        self.observations += len(new) + len(new_edges)
        gone = [eid for eid in old if eid not in new]
        changed = {eid for eid, e in new.items() if old.get(eid) != e}
        changed.update(self._set_contributions(source, new.values(), gone, only=changed))
        edge_keys = {(source, cid) for cid in old_edges if cid not in new_edges}
        edge_keys.update((source, cid) for cid, c in new_edges.items() if old_edges.get(cid) != c)
        for key in edge_keys:
            self._set_raw_edge(key, new_edges.get(key[1]))
        # Metric overlays of entities this source no longer reports go with them.
        overlay = self._overlay[source]
        for eid in gone:
            overlay.pop(eid, None)
        self._commit(changed, edge_keys, observed_at)

    def upsert(
        self,
        source: str,
        entities: Iterable[Entity],
        connections: Iterable[Connection],
        observed_at: float | None,
    ) -> None:
        self._delivered(source)
        contrib = self._contrib[source]
        changed: set[str] = set()
        fresh: list[Entity] = []
        for entity in entities:
            self.observations += 1
            if contrib.get(entity.id) != entity:
                fresh.append(entity)
                changed.add(entity.id)
        self._set_contributions(source, fresh, ())
        edge_keys: set[RawEdgeKey] = set()
        edges = self._raw_edges[source]
        for conn in connections:
            self.observations += 1
            if edges.get(conn.id) != conn:
                key = (source, conn.id)
                self._set_raw_edge(key, conn)
                edge_keys.add(key)
        self._commit(changed, edge_keys, observed_at)

    def remove(
        self,
        source: str,
        entity_ids: Iterable[str],
        connection_ids: Iterable[str],
        observed_at: float | None,
    ) -> None:
        self._delivered(source)
        contrib = self._contrib[source]
        gone = [eid for eid in entity_ids if eid in contrib]
        self._set_contributions(source, (), gone)
        for eid in gone:
            self._overlay[source].pop(eid, None)
        edge_keys: set[RawEdgeKey] = set()
        for cid in connection_ids:
            if cid in self._raw_edges[source]:
                key = (source, cid)
                self._set_raw_edge(key, None)
                edge_keys.add(key)
        self._commit(set(gone), edge_keys, observed_at)

    def metrics(
        self, source: str, entity_id: str, values: MetricValues, observed_at: float
    ) -> None:
        self._delivered(source)
        self.observations += 1
        overlay = self._overlay[source].setdefault(entity_id, {})
        if all(overlay.get(k) == v for k, v in values.items()):
            return
        overlay.update(values)
        if entity_id in self._owners:
            self._commit({entity_id}, set(), observed_at)

    def event(self, source: str, event: Event) -> None:
        self._delivered(source)
        self.observations += 1
        if not event.source:
            event.source = source
        for listener in list(self._event_listeners):
            listener(event)

    def status(self, source: str, state: SourceState, reason: str = "", *,
               not_permitted: Sequence[str] = ()) -> None:
        current = self.statuses[source]
        if current.state == state and current.reason == reason and \
                current.not_permitted == list(not_permitted):
            self._delivered(source)  # a poll that went well says so, state unchanged
            return
        now = time.time()
        was_live = current.state in _LIVE_STATES
        status = SourceStatus(
            name=source,
            state=state,
            reason=reason,
            since=now if current.state != state else current.since,
            last_ok=now if state in _LIVE_STATES else current.last_ok,
            entities=len(self._contrib[source]),
            not_permitted=list(not_permitted),
        )
        self.statuses[source] = status
        quiet = state in _LIVE_STATES or state is SourceState.STARTING
        level = logging.INFO if quiet else logging.WARNING
        log.log(level, "source %s is %s%s", source, state.value, f": {reason}" if reason else "")
        if was_live != (state in _LIVE_STATES):
            # Staleness of everything this source describes flips.
            self._commit(set(self._contrib[source]), set(), None)
        for listener in list(self._status_listeners):
            listener(status)

    def _delivered(self, source: str) -> None:
        """`last_ok` is when the source last delivered while working: every poll, change
        or sample moves it, not only a change of state (a source that polls for hours in
        the same state is still fresh)."""
        status = self.statuses[source]
        if status.state in _LIVE_STATES:
            status.last_ok = time.time()

    # -- metrics coalescing ----------------------------------------------------------------
    def flush_metrics(self) -> tuple[dict[str, dict[str, Any]], float | None] | None:
        """Take the metric changes collected since the last flush (None when there are none)."""
        if not self._pending_metrics:
            return None
        values, observed = self._pending_metrics, self._pending_observed
        self._pending_metrics, self._pending_observed = {}, None
        for listener in list(self._metrics_listeners):
            listener(values, observed)
        return values, observed

    # -- internals -------------------------------------------------------------------------
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
            if entity.id not in contrib:
                owners = self._owners.setdefault(entity.id, [])
                owners.append(source)
                owners.sort(key=self._order.index)
            contrib[entity.id] = entity
            touched.add(entity.id)
        for eid in gone:
            if contrib.pop(eid, None) is not None:
                owners = self._owners.get(eid, [])
                if source in owners:
                    owners.remove(source)
                if not owners:
                    self._owners.pop(eid, None)
                touched.add(eid)
        status = self.statuses.get(source)
        if status is not None:
            status.entities = len(contrib)
        return touched

    def _set_raw_edge(self, key: RawEdgeKey, conn: Connection | None) -> None:
        """Record (or forget) one raw edge and index it under what it references. Lists,
        not sets: most references have one or two edges, and memory matters at scale."""
        source, cid = key
        edges = self._raw_edges[source]
        old = edges.get(cid)
        if old is not None:
            for ref in self._ref_keys(old):
                refs = self._refs.get(ref)
                if refs is not None and key in refs:
                    refs.remove(key)
                    if not refs:
                        del self._refs[ref]
        if conn is None:
            edges.pop(cid, None)
            return
        edges[cid] = conn
        for ref in self._ref_keys(conn):
            refs = self._refs.setdefault(ref, [])
            if key not in refs:
                refs.append(key)

    @staticmethod
    def _ref_keys(conn: Connection) -> list[str]:
        keys: list[str] = []
        for end in (conn.source_id, conn.target_id):
            if end.startswith(ids.ENDPOINT_PREFIX):
                keys.extend(endpoint_candidates(end[len(ids.ENDPOINT_PREFIX) :]))
            else:
                keys.append(end)
        return keys

    def _merge(self, eid: str) -> Entity | None:
        owners = self._owners.get(eid)
        if not owners:
            return None
        base = self._contrib[owners[0]][eid]
        merged = msgspec.structs.replace(base, sources=list(owners))
        for other in owners[1:]:
            _overlay_entity(merged, self._contrib[other][eid])
        for source in owners:
            metrics = self._overlay[source].get(eid)
            if metrics:
                _apply_metrics(merged, metrics)
        # Metrics reported for this entity by sources that do not describe it (Prometheus).
        for source, overlay in self._overlay.items():
            if source not in owners:
                metrics = overlay.get(eid)
                if metrics:
                    _apply_metrics(merged, metrics)
        if self._simulated and not self._simulated.isdisjoint(owners):
            merged.attrs = {**merged.attrs, "simulated": True}
        merged.stale = any(self.statuses[s].state not in _LIVE_STATES for s in owners)
        merged.health, merged.health_status, merged.health_reasons = score_entity(
            merged, self._health, self._source_hint(eid, owners)
        )
        return merged

    def _source_hint(self, eid: str, owners: list[str]) -> tuple[Health, list[str]]:
        """The worst health a source itself reported for this entity, with its reasons."""
        worst, reasons = Health.UNKNOWN, []
        for source in owners:
            entity = self._contrib[source][eid]
            if entity.health_status.rank > worst.rank:
                worst, reasons = entity.health_status, list(entity.health_reasons)
        return worst, reasons

    def _commit(
        self, changed: set[str], edge_keys: set[RawEdgeKey], observed_at: float | None
    ) -> None:
        if not changed and not edge_keys:
            return
        store = self.store
        staged = _Staged(self, observed_at)
        located: dict[str, Entity] = {}
        links = self._links
        for eid in changed:
            new = self._merge(eid)
            if new is not None and new.locator is not None:
                located[eid] = new  # staged last: it may stand for one of the others
                continue
            if links.knows(eid) and links.resolve(eid, new, staged):
                staged.touched_refs.add(eid)
            self._stage(eid, new, staged)

        # Located entities, resolved against everything staged above: hidden while they
        # stand for another entity, shown while nothing known is at their place.
        for eid in links.affected(staged.touched_refs) - located.keys():
            merged = self._merge(eid)
            if merged is not None:
                located[eid] = merged
            elif links.resolve(eid, None, staged):
                staged.touched_refs.add(eid)
        for eid, entity in located.items():
            if links.resolve(eid, entity, staged):
                staged.touched_refs.add(eid)
            self._stage(eid, None if links.target(eid) else entity, staged)

        exists = staged.exists
        for ref in staged.touched_refs:
            edge_keys.update(self._refs.get(ref, ()))
        visible_changed: set[str] = set()
        for key in edge_keys:
            target = self._resolve(key, exists)
            previous = self._resolved.get(key)
            if target == previous:
                if target is not None:
                    visible_changed.add(target)  # the raw edge itself may have changed
                continue
            if previous is not None:
                backers = self._backers.get(previous, [])
                if key in backers:
                    backers.remove(key)
                if not backers:
                    self._backers.pop(previous, None)
                    self._resolved_ends.pop(previous, None)
                visible_changed.add(previous)
                del self._resolved[key]
            if target is not None:
                self._resolved[key] = target
                self._backers.setdefault(target, []).append(key)
                visible_changed.add(target)

        edge_upserts: list[Connection] = []
        edge_removals: list[str] = []
        for cid in visible_changed:
            conn = self._visible(cid)
            if conn is None:
                if cid in store.connections:
                    edge_removals.append(cid)
            elif store.connections.get(cid) != conn:
                edge_upserts.append(conn)
        store.apply(
            upserts=staged.upserts.values(),
            removals=staged.removals,
            edge_upserts=edge_upserts,
            edge_removals=edge_removals,
            observed_at=observed_at,
        )

    def _stage(self, eid: str, new: Entity | None, staged: _Staged) -> None:
        """Stage one entity's new merged view (None: gone) against the store."""
        store = self.store
        old = store.entities.get(eid)
        touched = staged.touched_refs
        if new is None:
            if old is not None:
                staged.remove(eid)
                touched.add(eid)
                touched.update(self._reindex_endpoints(eid, old.endpoints, ()))
                touched.update(self._links.index(eid, None))
            return
        if old is None:
            staged.upserts[eid] = new
            touched.add(eid)
            touched.update(self._reindex_endpoints(eid, (), new.endpoints))
            touched.update(self._links.index(eid, new))
        elif _structural(old) != _structural(new):
            staged.upserts[eid] = new
            if old.endpoints != new.endpoints:
                touched.update(self._reindex_endpoints(eid, old.endpoints, new.endpoints))
            touched.update(self._links.index(eid, new))
        elif new == old:
            return  # recomputed (a source's status flipped back), nothing moved
        else:
            store.replace_quietly(new)  # same shape, new numbers: no version bump
        if old is None or _metric_key(new) != _metric_key(old):
            self._pending_metrics[eid] = _metric_values(new)
            if staged.observed_at is not None:
                self._pending_observed = max(self._pending_observed or 0.0, staged.observed_at)

    def _reindex_endpoints(
        self, eid: str, old: Iterable[str], new: Iterable[str]
    ) -> set[str]:
        old_set, new_set = set(old), set(new)
        for key in old_set - new_set:
            owners = self._endpoint_owners.get(key)
            if owners and eid in owners:
                owners.remove(eid)
                if not owners:
                    del self._endpoint_owners[key]
        for key in new_set - old_set:
            self._endpoint_owners.setdefault(key, []).append(eid)
        return old_set ^ new_set

    def _resolve_end(self, end: str, exists: Callable[[str], bool]) -> str | None:
        target = self._links.target(end)
        if target is not None:
            return target if exists(target) else None
        if not end.startswith(ids.ENDPOINT_PREFIX):
            return end if exists(end) else None
        return self._endpoint_owner(end[len(ids.ENDPOINT_PREFIX) :], exists)

    def _endpoint_owner(self, key: str, exists: Callable[[str], bool]) -> str | None:
        for candidate in endpoint_candidates(key):
            for owner in self._endpoint_owners.get(candidate, ()):
                if exists(owner):
                    return owner
        return None

    def _resolve(self, key: RawEdgeKey, exists: Callable[[str], bool]) -> str | None:
        conn = self._raw_edges[key[0]].get(key[1])
        if conn is None:
            return None
        src = self._resolve_end(conn.source_id, exists)
        dst = self._resolve_end(conn.target_id, exists)
        if src is None or dst is None or src == dst:
            return None
        if src == conn.source_id and dst == conn.target_id:
            return conn.id  # the usual case: no endpoint to resolve, no new string
        cid = ids.connection(conn.kind.value, src, dst)
        self._resolved_ends[cid] = (src, dst)
        return cid

    def _visible(self, cid: str) -> Connection | None:
        backers = self._backers.get(cid)
        if not backers:
            return None
        if len(backers) > 1:
            return self._combined(cid, backers)
        source, raw_id = backers[0]
        raw = self._raw_edges[source][raw_id]
        if raw.id == cid:
            return raw  # shared with the source's view: connections are values
        src, dst = self._resolved_ends[cid]
        return msgspec.structs.replace(raw, id=cid, source_id=src, target_id=dst)

    def _combined(self, cid: str, backers: list[RawEdgeKey]) -> Connection:
        """One edge that several sources see (a database client: the PostgreSQL source's
        session and a span's query): each figure from the first source, in source order,
        that has it; attributes combined, the earlier source's winning."""
        raws = [self._raw_edges[s][r]
                for s, r in sorted(backers, key=lambda key: self._order.index(key[0]))]
        src, dst = self._resolved_ends.get(cid, (raws[0].source_id, raws[0].target_id))
        figures = {name: next((v for raw in raws if (v := getattr(raw, name)) is not None), None)
                   for name in _EDGE_FIGURES}
        attrs: dict[str, Any] = {}
        for raw in reversed(raws):
            attrs.update(raw.attrs)
        return msgspec.structs.replace(raws[0], id=cid, source_id=src, target_id=dst,
                                       attrs=attrs, **figures)


class _Staged:
    """One commit's entity changes, before the store applies them; `exists` and `lookup`
    answer for the state after it."""

    __slots__ = ("_hub", "_removed", "observed_at", "removals", "touched_refs", "upserts")

    def __init__(self, hub: Hub, observed_at: float | None) -> None:
        self._hub = hub
        self.observed_at = observed_at
        self.upserts: dict[str, Entity] = {}
        self.removals: list[str] = []
        self._removed: set[str] = set()
        # Entity ids, endpoint keys and name keys whose meaning changed: edges and
        # located entities that reference them are resolved again.
        self.touched_refs: set[str] = set()

    def remove(self, eid: str) -> None:
        self.removals.append(eid)
        self._removed.add(eid)

    def lookup(self, eid: str) -> Entity | None:
        new = self.upserts.get(eid)
        if new is not None:
            return new
        return None if eid in self._removed else self._hub.store.entities.get(eid)

    def exists(self, eid: str) -> bool:
        return self.lookup(eid) is not None

    def owner(self, endpoint_key: str) -> str | None:
        return self._hub._endpoint_owner(endpoint_key, self.exists)

    def members(self, entity_id: str) -> list[str]:
        store = self._hub.store
        found = []
        for cid in store.edges_of(entity_id):
            conn = store.connections.get(cid)
            if conn is not None and conn.source_id == entity_id \
                    and conn.kind is ConnectionKind.NETWORK and conn.target_id.startswith("pod:"):
                found.append(conn.target_id)
        return found


# Identity stays with the entity's first source (a container keeps its Docker name when a
# trace calls its service "checkout"); health is the engine's to compute.
_NOT_OVERLAID = frozenset(
    {"id", "kind", "name", "sources", "stale", "health", "health_status", "health_reasons"}
)


def _overlay_entity(merged: Entity, other: Entity) -> None:
    """Fields `other` knows fill in or override `merged`; maps and lists are combined."""
    defaults = _DEFAULTS
    for name in _ENTITY_FIELDS:
        if name in _NOT_OVERLAID:
            continue
        value = getattr(other, name)
        if value == defaults[name]:
            continue
        current = getattr(merged, name)
        if isinstance(value, dict):
            setattr(merged, name, {**current, **value})
        elif isinstance(value, list):
            setattr(merged, name, list(dict.fromkeys([*current, *value])))
        else:
            setattr(merged, name, value)


def _apply_metrics(merged: Entity, values: Mapping[str, Any]) -> None:
    custom: dict[str, float] | None = None
    for name, value in values.items():
        if name in METRIC_FIELDS:
            setattr(merged, name, value)
        elif value is not None:
            if custom is None:
                custom = dict(merged.custom_metrics)
            custom[name] = float(value)
    if custom is not None:
        merged.custom_metrics = custom


_EDGE_FIGURES = ("requests_per_sec", "bytes_per_sec", "error_rate", "latency_ms")

_DEFAULTS: dict[str, Any] = {
    f.name: (f.default if f.default is not msgspec.NODEFAULT else None)
    for f in msgspec.structs.fields(Entity)
}


class SourceSink:
    """The Sink handed to one source: every call is attributed to that source."""

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
