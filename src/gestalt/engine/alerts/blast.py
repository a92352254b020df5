"""Blast radius: what else a problem touches, read from the topology's edges.

From the entity in trouble we follow edges to what depends on it, up to `depth` hops:
- traffic edges (network, http, grpc, nats) both ways: a service's pods and its callers,
  a subject's consumers and publishers, a database's clients;
- `depends` edges backwards: the pods that run on a node, read a configmap;
- `volume` edges backwards: who mounts a volume;
- `owns` edges both ways: a pod's containers and its replicaset and deployment
  (an owner is degraded by its children), but never up to a namespace.
Groupings are not paths of harm: a namespace, or a Docker network that containers share
(one container in trouble does nothing to the others on the default `bridge`; traffic
between them is an edge of its own, and that edge does carry harm).
A connection's alert starts from both of its ends.
"""

from __future__ import annotations

from collections import deque

from gestalt.engine.store import Store
from gestalt.model import ConnectionKind, EntityKind

_TRAFFIC = frozenset({ConnectionKind.NETWORK, ConnectionKind.HTTP, ConnectionKind.GRPC,
                      ConnectionKind.NATS})
_BACKWARDS = frozenset({ConnectionKind.DEPENDS, ConnectionKind.VOLUME})
_NEVER = frozenset({EntityKind.NAMESPACE, EntityKind.NETWORK})


def blast_radius(store: Store, subject_id: str, *, depth: int = 2, limit: int = 50) -> list[str]:
    """Ids of affected entities, nearest first (the subject itself excluded)."""
    conn = store.connections.get(subject_id)
    starts = [conn.source_id, conn.target_id] if conn is not None else [subject_id]
    seen = set(starts)
    found: list[str] = [s for s in starts if s != subject_id and s in store.entities]
    queue = deque((s, 0) for s in starts)
    while queue and len(found) < limit:
        eid, hops = queue.popleft()
        if hops >= depth:
            continue
        for cid in sorted(store.edges_of(eid)):
            edge = store.connections.get(cid)
            if edge is None:
                continue
            outgoing = edge.source_id == eid
            other = edge.target_id if outgoing else edge.source_id
            if other in seen or not _affects(edge.kind, outgoing):
                continue
            entity = store.entities.get(other)
            if entity is None or entity.kind in _NEVER:
                continue
            seen.add(other)
            found.append(other)
            if len(found) >= limit:
                break
            queue.append((other, hops + 1))
    return found


def _affects(kind: ConnectionKind, outgoing: bool) -> bool:
    """Does trouble at one end of an edge of `kind` reach the other end?"""
    if kind in _TRAFFIC or kind is ConnectionKind.OWNS:
        return True
    if kind in _BACKWARDS:
        return not outgoing  # X depends on me / mounts me: X is affected
    return False
