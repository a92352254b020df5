"""The source's cache of Kubernetes objects and the graph they make.

Each object contributes some entities and edges (see `translate`); the graph remembers
what each contributed, so a watch event turns into exact upserts and removals. Two
numbers cross objects: a configmap's, secret's or claim's `reference_count` (pods that
use it) and a service's `connections` (ready endpoints over its EndpointSlices). When
they change, the entity they belong to is rebuilt and upserted too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gestalt.model import Connection, Entity, EntityKind
from gestalt.sources.kubernetes import translate

Obj = dict[str, Any]
ObjKey = tuple[str, str, str]  # (kind, namespace, name)

_REFERENCED = (EntityKind.CONFIGMAP, EntityKind.SECRET, EntityKind.VOLUME)


@dataclass
class Change:
    """What one event (or a batch of them) changed, ready for the sink."""

    upserts: dict[str, Entity] = field(default_factory=dict)
    edge_upserts: dict[str, Connection] = field(default_factory=dict)
    removals: set[str] = field(default_factory=set)
    edge_removals: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.edge_upserts or self.removals or self.edge_removals)


def key_of(obj: Obj) -> ObjKey:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace") or "", meta["name"]


class Graph:
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        # kind -> key -> object (slimmed): the informers' caches.
        self.objects: dict[str, dict[ObjKey, Obj]] = {}
        self._entities: dict[ObjKey, list[Entity]] = {}
        self._edges: dict[ObjKey, dict[str, Connection]] = {}
        self._origin: dict[str, ObjKey] = {}  # entity id -> the object that made it
        self._references: Counter[str] = Counter()  # target id -> pods using it
        self._ready: dict[str, dict[ObjKey, int]] = {}  # service id -> slice -> ready
        self._slice_service: dict[ObjKey, str] = {}  # slice -> its service id
        # After `replace`, contributions are recomputed once, when next read.
        self._built = True

    # -- reading ----------------------------------------------------------------------
    def entities(self) -> list[Entity]:
        self._ensure_built()
        return [e for ents in self._entities.values() for e in ents]

    def edges(self) -> list[Connection]:
        self._ensure_built()
        return [c for edges in self._edges.values() for c in edges.values()]

    def versions(self, kind: str) -> dict[ObjKey, tuple[str, str]]:
        """(uid, resourceVersion) per cached object of a kind: what a fresh list must equal."""
        return {k: (o["metadata"].get("uid", ""), o["metadata"].get("resourceVersion", ""))
                for k, o in self.objects.get(kind, {}).items()}

    # -- writing ----------------------------------------------------------------------
    def replace(self, kind: str, objects: list[Obj]) -> None:
        """Swap a kind's cache for a fresh list; the caller then sends a full snapshot
        (the graph is rebuilt once, when it is next read, however many kinds relisted)."""
        self.objects[kind] = {key_of(o): o for o in objects}
        self._built = False

    def apply(self, event_type: str, obj: Obj) -> Change:
        """Apply one watch event; returns what changed (empty until the graph is read
        after a `replace`, since the snapshot that follows carries everything)."""
        change = Change()
        key = key_of(obj)
        cache = self.objects.setdefault(key[0], {})
        if event_type == "DELETED":
            cache.pop(key, None)
        else:
            cache[key] = obj
        if self._built:
            self._contribute(key, None if event_type == "DELETED" else obj, change)
        return change

    def _ensure_built(self) -> None:
        if not self._built:
            self._rebuild()
            self._built = True

    def _rebuild(self) -> None:
        self._slice_service.clear()
        self._entities.clear()
        self._edges.clear()
        self._origin.clear()
        self._references.clear()
        self._ready.clear()
        scratch = Change()
        # Pods and slices first, so counts are known when their targets are built.
        order = sorted(self.objects, key=lambda k: (k not in ("Pod", "EndpointSlice"), k))
        for kind in order:
            for key, obj in self.objects[kind].items():
                self._contribute(key, obj, scratch, refresh=False)

    def _contribute(self, key: ObjKey, obj: Obj | None, change: Change, *,
                    refresh: bool = True) -> None:
        kind = key[0]
        old_edges = self._edges.pop(key, {})
        old_entities = self._entities.pop(key, [])
        entities: list[Entity] = []
        edges: list[Connection] = []
        touched: set[str] = set()
        if kind == "EndpointSlice":
            touched |= self._slice(key, obj, edges)
        elif obj is not None:
            entities, edges = translate.BUILDERS[kind](self.cluster, obj)
        new_edges = {e.id: e for e in edges}
        if kind == "Pod":
            touched |= self._count_references(old_edges, new_edges)
        for entity in old_entities:
            self._origin.pop(entity.id, None)
        for entity in entities:
            self._origin[entity.id] = key
            self._decorate(entity)
        if entities:
            self._entities[key] = entities
        if new_edges:
            self._edges[key] = new_edges
        new_ids = {e.id for e in entities}
        change.removals |= {e.id for e in old_entities} - new_ids
        change.edge_removals |= old_edges.keys() - new_edges.keys()
        change.upserts.update((e.id, e) for e in entities)
        change.edge_upserts.update((cid, c) for cid, c in new_edges.items()
                                   if old_edges.get(cid) != c)
        for cid in change.edge_upserts.keys() & change.edge_removals:
            change.edge_removals.discard(cid)
        for eid in change.upserts.keys() & change.removals:
            change.removals.discard(eid)
        if refresh:
            for target in touched - new_ids:
                self._refresh(target, change)

    def _slice(self, key: ObjKey, obj: Obj | None, edges: list[Connection]) -> set[str]:
        touched = set()
        previous = self._slice_service.pop(key, None)
        if previous is not None:
            self._ready.get(previous, {}).pop(key, None)
            touched.add(previous)
        if obj is not None:
            service_id, ready, slice_edges = translate.endpoint_slice(self.cluster, obj)
            if service_id:
                self._ready.setdefault(service_id, {})[key] = ready
                self._slice_service[key] = service_id
                touched.add(service_id)
                edges += slice_edges
        return touched

    def _count_references(self, old: dict[str, Connection], new: dict[str, Connection]) -> set[str]:
        def targets(edges: dict[str, Connection]) -> set[str]:
            return {c.target_id for c in edges.values()
                    if c.attrs.get("via") in ("volume", "env", "envFrom")}

        before, after = targets(old), targets(new)
        for target in before - after:
            self._references[target] -= 1
            if self._references[target] <= 0:
                del self._references[target]
        for target in after - before:
            self._references[target] += 1
        return before ^ after

    def _decorate(self, entity: Entity) -> None:
        if entity.kind in _REFERENCED:
            entity.attrs["reference_count"] = self._references.get(entity.id, 0)
        elif entity.kind is EntityKind.SERVICE:
            slices = self._ready.get(entity.id, {})
            entity.attrs["connections"] = entity.attrs["endpoints"] = sum(slices.values())

    def _refresh(self, entity_id: str, change: Change) -> None:
        """Re-decorate an entity whose counts changed; a copy, since the old one was sent."""
        key = self._origin.get(entity_id)
        if key is None:
            return
        entities = self._entities.get(key, [])
        for i, entity in enumerate(entities):
            if entity.id == entity_id:
                fresh = msgspec.structs.replace(entity, attrs=dict(entity.attrs))
                self._decorate(fresh)
                entities[i] = change.upserts[entity_id] = fresh
