"""Edges as sources report them, and the connections they become once their ends resolve.

A source reports an edge with the ends it knows: an entity id, or only an address
(`endpoint:<ip>:<port>`: a NATS client, a database session). An end resolves to

- the entity a located entity stands for (see `located.py`), while it stands for one;
- for an address, the entity owning the socket, else the IP (a container's or pod's own
  interface), else a wildcard listener of this host on that port (`endpoint_candidates`);
- otherwise the entity id itself, once that entity exists.

A connection is shown while both ends resolve, to two different entities. Its id is the
source's own unless an end was resolved (then it is built from the resolved ends), so the
same connection seen by several sources is one edge (merged by `merge.combine_edges`).

Everything is indexed by what it references (entity ids, endpoint keys), so a change
re-resolves only the edges it can affect. Lists, not sets: most references have one or
two edges, and memory matters at scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from gestalt.engine.links.addresses import endpoint_candidates
from gestalt.engine.links.located import Located
from gestalt.engine.merge import combine_edges
from gestalt.model import Connection, ids

RawEdgeKey = tuple[str, str]  # (source, the source's connection id)
Exists = Callable[[str], bool]

class Edges:
    def __init__(self, located: Located, precedence: Callable[[str], tuple[int, str]]) -> None:
        self._located = located
        self._precedence = precedence
        # Each source's edges as it reported them.
        self.raw: dict[str, dict[str, Connection]] = {}
        # Address -> entities that own it (first one wins; others wait as fallbacks).
        self._endpoint_owners: dict[str, list[str]] = {}
        # Raw edges by what they reference (entity id or endpoint key), for re-resolution.
        self._refs: dict[str, list[RawEdgeKey]] = {}
        # Raw edge -> the connection it makes; connection -> the raw edges making it: the
        # one key itself, as most connections have one (a list each was 1.4 MB at 20,000).
        self._resolved: dict[RawEdgeKey, str] = {}
        self._backers: dict[str, RawEdgeKey | list[RawEdgeKey]] = {}
        # Ends of connections whose id was made by resolving an end.
        self._resolved_ends: dict[str, tuple[str, str]] = {}

    def register(self, source: str) -> None:
        self.raw.setdefault(source, {})

    def sources_of(self, cid: str) -> list[str]:
        """The sources whose edges make this connection."""
        return list(dict.fromkeys(source for source, _ in self._backers_of(cid)))

    def _backers_of(self, cid: str) -> list[RawEdgeKey]:
        backers = self._backers.get(cid)
        if backers is None:
            return []
        return backers if isinstance(backers, list) else [backers]

    def footprint(self) -> dict[str, int]:
        return {
            "raw_edges": sum(map(len, self.raw.values())),
            "edge_refs": len(self._refs),
            "resolved_edges": len(self._resolved),
            "endpoint_owners": len(self._endpoint_owners),
        }

    # -- what sources report -----------------------------------------------------------------
    def replace(self, source: str, edges: Mapping[str, Connection]) -> set[RawEdgeKey]:
        """A source's full set of edges (its snapshot); the raw edges that changed."""
        old = self.raw[source]
        keys = {(source, cid) for cid in old if cid not in edges}
        keys.update((source, cid) for cid, conn in edges.items() if old.get(cid) != conn)
        for key in keys:
            self.put(key, edges.get(key[1]))
        return keys

    def upsert(self, source: str, conns: Iterable[Connection]) -> set[RawEdgeKey]:
        edges = self.raw[source]
        keys: set[RawEdgeKey] = set()
        for conn in conns:
            if edges.get(conn.id) != conn:
                key = (source, conn.id)
                self.put(key, conn)
                keys.add(key)
        return keys

    def remove(self, source: str, cids: Iterable[str]) -> set[RawEdgeKey]:
        keys = {(source, cid) for cid in cids if cid in self.raw[source]}
        for key in keys:
            self.put(key, None)
        return keys

    def put(self, key: RawEdgeKey, conn: Connection | None) -> None:
        """Record (or forget) one raw edge and index it under what it references."""
        source, cid = key
        edges = self.raw[source]
        old = edges.get(cid)
        if old is not None:
            for ref in _ref_keys(old):
                refs = self._refs.get(ref)
                if refs is not None and key in refs:
                    refs.remove(key)
                    if not refs:
                        del self._refs[ref]
        if conn is None:
            edges.pop(cid, None)
            return
        edges[cid] = conn
        for ref in _ref_keys(conn):
            refs = self._refs.setdefault(ref, [])
            if key not in refs:
                refs.append(key)

    def referencing(self, refs: Iterable[str]) -> set[RawEdgeKey]:
        """The raw edges that reference any of these entity ids or endpoint keys."""
        found: set[RawEdgeKey] = set()
        for ref in refs:
            found.update(self._refs.get(ref, ()))
        return found

    # -- who owns an address -------------------------------------------------------------------
    def reindex_endpoints(self, eid: str, old: Iterable[str], new: Iterable[str]) -> set[str]:
        """Move an entity's endpoints in the owner index; the keys whose owner may differ."""
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

    def owner(self, key: str, exists: Exists) -> str | None:
        """The existing entity owning an endpoint key, best candidate first."""
        for candidate in endpoint_candidates(key):
            for owner in self._endpoint_owners.get(candidate, ()):
                if exists(owner):
                    return owner
        return None

    # -- connections -----------------------------------------------------------------------------
    def rewire(self, keys: Iterable[RawEdgeKey], exists: Exists) -> set[str]:
        """Resolve these raw edges again against `exists`; the connection ids whose shape
        may have changed (appeared, gone, or a backing edge changed)."""
        changed: set[str] = set()
        for key in keys:
            target = self._resolve(key, exists)
            previous = self._resolved.get(key)
            if target == previous:
                if target is not None:
                    changed.add(target)  # the raw edge itself may have changed
                continue
            if previous is not None:
                backers = self._backers_of(previous)
                if key in backers:
                    backers.remove(key)
                if not backers:
                    self._backers.pop(previous, None)
                    self._resolved_ends.pop(previous, None)
                else:
                    self._backers[previous] = backers if len(backers) > 1 else backers[0]
                changed.add(previous)
                del self._resolved[key]
            if target is not None:
                self._resolved[key] = target
                backers = self._backers_of(target)
                self._backers[target] = [*backers, key] if backers else key
                changed.add(target)
        return changed

    def visible(self, cid: str) -> Connection | None:
        """The connection as clients see it (None while it does not resolve)."""
        backers = self._backers_of(cid)
        if not backers:
            return None
        if len(backers) > 1:
            ordered = sorted(backers, key=lambda key: self._precedence(key[0]))
            raws = [self.raw[source][raw_id] for source, raw_id in ordered]
            src, dst = self._resolved_ends.get(cid, (raws[0].source_id, raws[0].target_id))
            return combine_edges(cid, src, dst, raws)
        source, raw_id = backers[0]
        raw = self.raw[source][raw_id]
        if raw.id == cid:
            return raw  # shared with the source's view: connections are values
        src, dst = self._resolved_ends[cid]
        return msgspec.structs.replace(raw, id=cid, source_id=src, target_id=dst)

    def _resolve(self, key: RawEdgeKey, exists: Exists) -> str | None:
        conn = self.raw[key[0]].get(key[1])
        if conn is None:
            return None
        src = self._resolve_end(conn.source_id, exists)
        dst = self._resolve_end(conn.target_id, exists)
        if src is None or dst is None or src == dst:
            return None
        if src == conn.source_id and dst == conn.target_id:
            return conn.id  # the usual case: no end to resolve, no new string
        cid = ids.connection(conn.kind.value, src, dst)
        self._resolved_ends[cid] = (src, dst)
        return cid

    def _resolve_end(self, end: str, exists: Exists) -> str | None:
        target = self._located.target(end)
        if target is not None:
            return target if exists(target) else None
        if not end.startswith(ids.ENDPOINT_PREFIX):
            return end if exists(end) else None
        return self.owner(end[len(ids.ENDPOINT_PREFIX) :], exists)


def _ref_keys(conn: Connection) -> list[str]:
    keys: list[str] = []
    for end in (conn.source_id, conn.target_id):
        if end.startswith(ids.ENDPOINT_PREFIX):
            keys.extend(endpoint_candidates(end[len(ids.ENDPOINT_PREFIX) :]))
        else:
            keys.append(end)
    return keys
