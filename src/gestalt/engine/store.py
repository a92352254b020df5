"""The versioned live graph.

The store holds what clients see: merged entities with their health, and connections whose
two ends exist. It produces the change log's values (model/changes.py): every structural
change bumps `version` and produces one `Delta`, kept in a bounded ring so a client that
reconnects with `Last-Event-ID` gets exactly what it missed (or a fresh snapshot when it
is older than the ring). Metric-only changes do not bump the version: they are collected
and taken as one `MetricsFrame` per interval (`flush_metrics`).

Listeners are called synchronously with each delta; they must be cheap (the change log
encodes it once and hands the bytes to its readers).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from gestalt.engine.blocks import Blocks
from gestalt.engine.scoring import Tally
from gestalt.engine.touched import Touched
from gestalt.model import Connection, ConnectionKind, Delta, Entity, MetricsFrame, Summary

DeltaListener = Callable[[Delta], None]


class Store:
    def __init__(self, *, ring_size: int = 4096, start_version: int = 0) -> None:
        self.entities: dict[str, Entity] = {}
        self.connections: dict[str, Connection] = {}
        # The entities and connections as JSON in blocks, kept for every reader: a snapshot
        # of any size re-encodes only the blocks that changed since the last one (Scope's
        # idea, pay per change and not per read, at a block's grain: engine/blocks.py).
        self.entity_json: Blocks[Entity] = Blocks()
        self.connection_json: Blocks[Connection] = Blocks()
        # The health summary's sums, kept current the same way.
        self._tally = Tally()
        self.version = start_version
        # Which change log `version` counts in: a version means something only with it (a
        # restart on the same history continues the log; another data dir is another log).
        self.log_id = secrets.token_hex(8)
        # The last version of the earlier run this store continues (`continue_log`).
        self._continued_from: int | None = None
        self.timestamp = time.time()
        # Connections touching each entity, so removing an entity removes its edges in O(degree).
        # Lists, not sets: an entity has few edges (sets cost 4x the memory at 80,000 edges);
        # the few hubs with thousands pay a linear removal, still microseconds.
        self._edges_of: dict[str, list[str]] = {}
        self._ring: deque[Delta] = deque(maxlen=ring_size)
        self._listeners: list[DeltaListener] = []
        # Metric-only changes since the last frame: entity id -> its values.
        self._pending_metrics: dict[str, dict[str, Any]] = {}
        self._pending_observed: float | None = None
        # Readers told which entities and connections changed (quietly too), `watch`.
        self._watchers: list[Touched] = []

    # -- reading ---------------------------------------------------------------------------
    def summary(self) -> Summary:
        """The health summary of every entity, as it is now."""
        return self._tally.summary()

    def edges_of(self, entity_id: str) -> tuple[str, ...]:
        return tuple(self._edges_of.get(entity_id, ()))

    @property
    def oldest_resumable(self) -> int:
        """The smallest `since` version from which `deltas_since` can replay."""
        oldest = self._ring[0].version - 1 if self._ring else self.version
        if self._continued_from is not None:
            # A version of the run before this one: what vanished while this process was
            # not running has no delta saying so; only a snapshot is true.
            oldest = max(oldest, self._continued_from + 1)
        return oldest

    def deltas_since(self, since: int) -> list[Delta] | None:
        """Deltas after `since`, in order; None when `since` is outside the ring."""
        if since > self.version or since < self.oldest_resumable:
            return None
        if since == self.version:
            return []
        first = self._ring[0].version
        return list(self._ring)[since + 1 - first :]

    def recent(self) -> list[Delta]:
        """The deltas still in memory, oldest first."""
        return list(self._ring)

    def continue_log(self, log_id: str, version: int) -> None:
        """Carry on the change log `log_id` of an earlier run, whose last version was
        `version`: versions keep counting up, and none of that run's can be resumed."""
        self.log_id, self.version, self._continued_from = log_id, version, version

    def footprint(self) -> dict[str, int]:
        return {
            "entities": len(self.entities),
            "connections": len(self.connections),
            "edge_index": len(self._edges_of),
            "ring": len(self._ring),
            "pending_metrics": len(self._pending_metrics),
            "touched": sum(len(t.ids) for t in self._watchers),  # not yet taken (`watch`)
        }

    # -- writing ---------------------------------------------------------------------------
    def watch(self) -> Touched:
        """The ids of entities and connections put or removed from now on, metric-only
        changes included (a delta listener sees only versioned ones), for a reader that
        works per subject (the alert evaluation)."""
        touched = Touched()
        self._watchers.append(touched)
        return touched

    def subscribe(self, listener: DeltaListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def apply(
        self,
        *,
        upserts: Iterable[Entity] = (),
        removals: Iterable[str] = (),
        edge_upserts: Iterable[Connection] = (),
        edge_removals: Iterable[str] = (),
        observed_at: float | None = None,
    ) -> Delta | None:
        """Apply one change set atomically; returns its delta (None when nothing changed).

        Removing an entity removes its connections too; a connection whose ends do not both
        exist after the change is not added (the hub only offers complete connections).
        """
        ups = list(upserts)
        rems = [eid for eid in dict.fromkeys(removals) if eid in self.entities]
        edge_rems: dict[str, None] = {}
        for cid in edge_removals:
            if cid in self.connections:
                edge_rems[cid] = None
        for eid in rems:
            self._touch(eid)
            self._tally.remove(self.entities.pop(eid))
            self.entity_json.remove(eid)
            self._pending_metrics.pop(eid, None)  # nobody shows a gone entity's numbers
            for cid in self._edges_of.pop(eid, ()):
                edge_rems[cid] = None
        for entity in ups:
            self._put(entity)
        for cid in edge_rems:
            conn = self.connections.pop(cid, None)
            if conn is not None:
                self._touch(cid)
                self.connection_json.remove(cid)
                self._unindex(conn)
        edge_ups: list[Connection] = []
        for conn in edge_upserts:
            if conn.source_id in self.entities and conn.target_id in self.entities:
                old = self.connections.get(conn.id)
                if old is not None:
                    self._unindex(old)
                self.connections[conn.id] = conn
                self._touch(conn.id)
                self.connection_json.put(conn.id, conn)
                self._edges_of.setdefault(conn.source_id, []).append(conn.id)
                self._edges_of.setdefault(conn.target_id, []).append(conn.id)
                edge_rems.pop(conn.id, None)
                edge_ups.append(conn)
        if not (ups or rems or edge_ups or edge_rems):
            return None
        self.version += 1
        self.timestamp = time.time()
        delta = Delta(
            version=self.version,
            timestamp=self.timestamp,
            observed_at=observed_at,
            upserts=ups,
            removals=rems,
            edge_upserts=edge_ups,
            edge_removals=list(edge_rems),
        )
        self._ring.append(delta)
        for listener in list(self._listeners):
            listener(delta)
        return delta

    def replace_quietly(self, entity: Entity) -> None:
        """Swap in an entity whose change is metric-only: no version, no delta."""
        self._put(entity)

    def _put(self, entity: Entity) -> None:
        old = self.entities.get(entity.id)
        if old is not None:
            self._tally.remove(old)
        self._tally.add(entity)
        self.entities[entity.id] = entity
        self._touch(entity.id)
        self.entity_json.put(entity.id, entity)

    def _touch(self, subject_id: str) -> None:
        for touched in self._watchers:
            touched.ids.add(subject_id)

    def note_metrics(self, entity_id: str, values: dict[str, Any],
                     observed_at: float | None) -> None:
        """An entity's metric values changed: they go out with the next metrics frame."""
        self._pending_metrics[entity_id] = values
        if observed_at is not None:
            self._pending_observed = max(self._pending_observed or 0.0, observed_at)

    def flush_metrics(self) -> MetricsFrame | None:
        """The metric changes noted since the last flush, as one frame (None: none)."""
        if not self._pending_metrics:
            return None
        frame = MetricsFrame(version=self.version, timestamp=time.time(),
                             observed_at=self._pending_observed, values=self._pending_metrics)
        self._pending_metrics, self._pending_observed = {}, None
        return frame

    def _unindex(self, conn: Connection) -> None:
        for end in (conn.source_id, conn.target_id):
            edges = self._edges_of.get(end)
            if edges is not None and conn.id in edges:
                edges.remove(conn.id)
                if not edges:
                    del self._edges_of[end]


class Pending:
    """A change set being built against the store: the graph as it will be once applied
    (what link resolution consults, `links.View`)."""

    __slots__ = ("_owner", "_removed", "_store", "observed_at", "removals", "upserts")

    def __init__(self, store: Store, observed_at: float | None, *,
                 owner: Callable[[str, Callable[[str], bool]], str | None]) -> None:
        self._store = store
        self._owner = owner
        self.observed_at = observed_at
        self.upserts: dict[str, Entity] = {}
        self.removals: list[str] = []
        self._removed: set[str] = set()

    def remove(self, eid: str) -> None:
        self.removals.append(eid)
        self._removed.add(eid)

    def lookup(self, eid: str) -> Entity | None:
        new = self.upserts.get(eid)
        if new is not None:
            return new
        return None if eid in self._removed else self._store.entities.get(eid)

    def exists(self, eid: str) -> bool:
        return self.lookup(eid) is not None

    def owner(self, endpoint_key: str) -> str | None:
        """The entity owning an endpoint key, as the graph will be."""
        return self._owner(endpoint_key, self.exists)

    def members(self, entity_id: str) -> list[str]:
        """The pods behind a Kubernetes service: its network edges to pods."""
        store = self._store
        found = []
        for cid in store.edges_of(entity_id):
            conn = store.connections.get(cid)
            if conn is not None and conn.source_id == entity_id \
                    and conn.kind is ConnectionKind.NETWORK and conn.target_id.startswith("pod:"):
                found.append(conn.target_id)
        return found
