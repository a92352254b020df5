"""Topology filters shared by the REST API, the path registry and the CLI."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gestalt.model import Connection, Entity, EntityKind

KINDS = frozenset(kind.value for kind in EntityKind)


class TopologyFilter(msgspec.Struct, kw_only=True):
    kinds: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    labels: dict[str, str] = {}
    sources: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        *,
        kinds: Iterable[str] | None = None,
        namespaces: Iterable[str] | None = None,
        labels: Iterable[str] | None = None,
        sources: Iterable[str] | None = None,
        known_sources: Iterable[str] = (),
    ) -> TopologyFilter:
        """From query values (comma-separated or repeated). Raises ValueError naming what
        is valid: an unknown kind or source would otherwise match nothing, silently."""
        wanted_kinds = parse_kinds(kinds)
        wanted_sources = split_values(sources)
        known = frozenset(known_sources)
        unknown = sorted(wanted_sources - known)
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; "
                             f"sources: {', '.join(sorted(known))}")
        return cls(kinds=wanted_kinds, namespaces=split_values(namespaces),
                   labels=parse_labels(labels), sources=wanted_sources)

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.namespaces or self.labels or self.sources)

    def matches(self, entity: Entity) -> bool:
        if self.kinds and entity.kind.value not in self.kinds:
            return False
        if self.namespaces and entity.namespace not in self.namespaces:
            return False
        if self.sources and not self.sources.intersection(entity.sources):
            return False
        return all(entity.labels.get(k) == v for k, v in self.labels.items())

    def apply(
        self, entities: Iterable[Entity], connections: Iterable[Connection]
    ) -> tuple[list[Entity], list[Connection]]:
        kept = [e for e in entities if self.matches(e)]
        ids = {e.id for e in kept}
        return kept, [c for c in connections if c.source_id in ids and c.target_id in ids]


def split_values(values: Iterable[str] | None) -> frozenset[str]:
    """`?kinds=pod,container&kinds=node` -> {"pod", "container", "node"}."""
    out: set[str] = set()
    for value in values or ():
        out.update(v.strip() for v in value.split(",") if v.strip())
    return frozenset(out)


def parse_kinds(values: Iterable[str] | None) -> frozenset[str]:
    """Entity kinds; raises ValueError listing the kinds for one that does not exist."""
    kinds = split_values(values)
    unknown = sorted(kinds - KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}; kinds: {', '.join(sorted(KINDS))}")
    return kinds


def parse_labels(values: Iterable[str] | None) -> dict[str, str]:
    """`?labels=app=web,tier=front` -> {"app": "web", "tier": "front"}; raises ValueError."""
    labels: dict[str, str] = {}
    for item in split_values(values):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"label selector {item!r} is not key=value")
        labels[key] = value
    return labels
