"""The source's cache of Kubernetes objects and the graph they make.

Each object is kept only as what it contributes (a `Record`: its entities and edges, plus
the uid and resourceVersion that say whether a fresh copy differs): the decoded object
itself is dropped once translated, as everything the source reads later (a pod's memory
limit, a node's allocatable CPU) is on its entities. The graph remembers what each object
contributed, so a watch event turns into exact upserts and removals. Two numbers cross
objects: a configmap's, secret's or claim's `reference_count` (pods that use it) and a
service's `connections` (ready endpoints over its EndpointSlices). When they change, the
entity they belong to is replaced by a re-decorated copy and upserted too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from gestalt.model import Connection, Entity, EntityKind
from gestalt.sources.kubernetes import translate

Obj = dict[str, Any]
ObjKey = tuple[str, str, str]  # (kind, namespace, name)

_REFERENCED = (EntityKind.CONFIGMAP, EntityKind.SECRET, EntityKind.VOLUME)
_DECORATED = frozenset({"ConfigMap", "Secret", "PersistentVolume", "PersistentVolumeClaim",
                        "Service"})
_COUNTED = _DECORATED | {"Pod", "EndpointSlice"}  # kinds that hold or feed the counts
_REFERENCE_VIAS = ("volume", "env", "envFrom")


class Record(NamedTuple):
    """What is kept of one object."""

    uid: str
    version: str  # resourceVersion
    entities: tuple[Entity, ...] = ()
    edges: tuple[Connection, ...] = ()
    service: str | None = None  # an EndpointSlice's service id
    ready: int = 0  # and its ready endpoints


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
        # kind -> key -> record: the informers' caches, as what each object contributes.
        self.objects: dict[str, dict[ObjKey, Record]] = {}
        # Entity id -> its object, for the entities whose counts change (`_DECORATED`).
        self._origin: dict[str, ObjKey] = {}
        self._references: Counter[str] = Counter()  # target id -> pods using it
        self._ready: dict[str, dict[ObjKey, int]] = {}  # service id -> slice -> ready
        # Kinds changed by `replace` (or by events after one) since the graph was last
        # read: the counts they feed are recomputed once, when it is next read.
        self._relisted: set[str] = set()
        # Decorated objects translated meanwhile: not sent yet, so corrected in place.
        self._unsent: set[ObjKey] = set()

    # -- reading ----------------------------------------------------------------------
    def entities(self) -> list[Entity]:
        self._ensure_built()
        return [e for records in self.objects.values() for r in records.values()
                for e in r.entities]

    def edges(self) -> list[Connection]:
        self._ensure_built()
        return [c for records in self.objects.values() for r in records.values()
                for c in r.edges]

    def entity(self, kind: str, namespace: str | None, name: str) -> Entity | None:
        """The main entity of a cached object (a pod, not its containers)."""
        record = self.objects.get(kind, {}).get((kind, namespace or "", name))
        return record.entities[0] if record is not None and record.entities else None

    def versions(self, kind: str) -> dict[ObjKey, tuple[str, str]]:
        """(uid, resourceVersion) per cached object of a kind: what a fresh list must equal."""
        return {k: (r.uid, r.version) for k, r in self.objects.get(kind, {}).items()}

    # -- writing ----------------------------------------------------------------------
    def records(self, objects: Iterable[Obj]) -> list[tuple[ObjKey, Record]]:
        """Records for (a page of) a fresh list. Objects whose uid and resourceVersion are
        cached already are not translated again."""
        records = []
        for obj in objects:
            key = key_of(obj)
            record = self.objects.get(key[0], {}).get(key)
            if record is None or not _same(record, obj):
                record = self._record(key, obj)
            records.append((key, record))
        return records

    def replace(self, kind: str, records: Iterable[tuple[ObjKey, Record]],
                namespace: str | None = None) -> None:
        """Swap a kind's cache (or one namespace's part of it) for a fresh list's records;
        the caller then sends a full snapshot. The counts are recomputed once, when the
        graph is next read, however many kinds relisted."""
        fresh: dict[ObjKey, Record] = {}
        if namespace is not None:
            fresh = {k: r for k, r in self.objects.get(kind, {}).items() if k[1] != namespace}
        fresh.update(records)
        self.objects[kind] = fresh
        self._relisted.add(kind)

    def apply(self, event_type: str, obj: Obj) -> Change:
        """Apply one watch event; returns what changed (empty until the graph is read
        after a `replace`, since the snapshot that follows carries everything)."""
        change = Change()
        key = key_of(obj)
        cache = self.objects.setdefault(key[0], {})
        old = cache.get(key)
        if event_type == "DELETED":
            new = None
            cache.pop(key, None)
        else:
            if old is not None and _same(old, obj):
                return change  # a replay of what is cached
            new = cache[key] = self._record(key, obj)
        if self._relisted:
            self._relisted.add(key[0])
        else:
            self._contribute(key, old, new, change)
        return change

    def _record(self, key: ObjKey, obj: Obj) -> Record:
        """Translate an object; its entities are decorated with the current counts."""
        kind = key[0]
        meta = obj["metadata"]
        uid, version = meta.get("uid") or "", meta.get("resourceVersion") or ""
        if kind == "EndpointSlice":
            service, ready, edges = translate.endpoint_slice(self.cluster, obj)
            return Record(uid, version, (), tuple(edges), service, ready)
        entities, edges = translate.BUILDERS[kind](self.cluster, obj)
        if kind in _DECORATED:
            for entity in entities:
                self._origin[entity.id] = key
                self._decorate(entity)
            if self._relisted:
                self._unsent.add(key)
        return Record(uid, version, tuple(entities), tuple(edges))

    def _ensure_built(self) -> None:
        if self._relisted:
            self._recount(self._relisted)
            self._relisted.clear()
            self._unsent.clear()

    def _recount(self, relisted: set[str]) -> None:
        """Counts from scratch over the cached objects of the kinds that feed them;
        entities whose counts differ from what they carry are replaced by re-decorated
        copies (or corrected in place when not sent yet)."""
        if "Pod" in relisted:
            self._references.clear()
            for record in self.objects.get("Pod", {}).values():
                self._references.update(_targets(record.edges))
        if "EndpointSlice" in relisted:
            self._ready.clear()
            for key, record in self.objects.get("EndpointSlice", {}).items():
                if record.service:
                    self._ready.setdefault(record.service, {})[key] = record.ready
        if relisted.isdisjoint(_COUNTED):
            return
        self._origin.clear()
        for kind in _DECORATED:
            for key, record in self.objects.get(kind, {}).items():
                for entity in record.entities:
                    self._origin[entity.id] = key
                    if key in self._unsent:
                        self._decorate(entity)
                    elif self._decorated(entity) != entity.attrs:
                        self._refresh(entity.id, Change())

    def _contribute(self, key: ObjKey, old: Record | None, new: Record | None,
                    change: Change) -> None:
        kind = key[0]
        old_edges = {c.id: c for c in old.edges} if old is not None else {}
        new_edges = {c.id: c for c in new.edges} if new is not None else {}
        old_entities = old.entities if old is not None else ()
        entities = new.entities if new is not None else ()
        touched: set[str] = set()
        if kind == "EndpointSlice":
            touched |= self._slice(key, old, new)
        elif kind == "Pod":
            touched |= self._count_references(old_edges, new_edges)
        new_ids = {e.id for e in entities}
        for entity in old_entities:
            if entity.id not in new_ids:
                self._origin.pop(entity.id, None)
        change.removals |= {e.id for e in old_entities} - new_ids
        change.edge_removals |= old_edges.keys() - new_edges.keys()
        change.upserts.update((e.id, e) for e in entities)
        change.edge_upserts.update((cid, c) for cid, c in new_edges.items()
                                   if old_edges.get(cid) != c)
        for cid in change.edge_upserts.keys() & change.edge_removals:
            change.edge_removals.discard(cid)
        for eid in change.upserts.keys() & change.removals:
            change.removals.discard(eid)
        for target in touched - new_ids:
            self._refresh(target, change)

    def _slice(self, key: ObjKey, old: Record | None, new: Record | None) -> set[str]:
        touched = set()
        if old is not None and old.service:
            self._ready.get(old.service, {}).pop(key, None)
            touched.add(old.service)
        if new is not None and new.service:
            self._ready.setdefault(new.service, {})[key] = new.ready
            touched.add(new.service)
        return touched

    def _count_references(self, old: dict[str, Connection], new: dict[str, Connection]) -> set[str]:
        before, after = _targets(old.values()), _targets(new.values())
        for target in before - after:
            self._references[target] -= 1
            if self._references[target] <= 0:
                del self._references[target]
        for target in after - before:
            self._references[target] += 1
        return before ^ after

    def _counts(self, entity: Entity) -> dict[str, int]:
        """The counts an entity carries, as they are now."""
        if entity.kind in _REFERENCED:
            return {"reference_count": self._references.get(entity.id, 0)}
        if entity.kind is EntityKind.SERVICE:
            ready = sum(self._ready.get(entity.id, {}).values())
            return {"connections": ready, "endpoints": ready}
        return {}

    def _decorated(self, entity: Entity) -> dict[str, Any]:
        """The entity's attrs with the counts as they are now."""
        return {**entity.attrs, **self._counts(entity)}

    def _decorate(self, entity: Entity) -> None:
        """In place: only for an entity not sent yet. (A new attrs dict: the entity's may
        be the empty one every entity shares, model/entities.py.)"""
        entity.attrs = {**entity.attrs, **self._counts(entity)}

    def _refresh(self, entity_id: str, change: Change) -> None:
        """Re-decorate an entity whose counts changed; a copy, since the old one was sent."""
        key = self._origin.get(entity_id)
        record = self.objects.get(key[0], {}).get(key) if key is not None else None
        if key is None or record is None:
            return
        entities = list(record.entities)
        for i, entity in enumerate(entities):
            if entity.id == entity_id:
                entities[i] = change.upserts[entity_id] = msgspec.structs.replace(
                    entity, attrs=self._decorated(entity))
        self.objects[key[0]][key] = record._replace(entities=tuple(entities))


def _same(record: Record, obj: Obj) -> bool:
    """Whether the object is the one cached: same uid and (known) resourceVersion."""
    meta = obj["metadata"]
    version = meta.get("resourceVersion")
    return bool(version) and (record.uid, record.version) == (meta.get("uid") or "", version)


def _targets(edges: Iterable[Connection]) -> set[str]:
    """What a pod's edges make it use (configmaps, secrets, claims)."""
    return {c.target_id for c in edges if c.attrs.get("via") in _REFERENCE_VIAS}
