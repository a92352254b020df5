"""The running system's cost kept current: each unit's, node's and volume's cost is computed
again only when it or what it depends on changed (`engine/cost.py` prices one thing), and
the recorder that writes the rates to history.

Allocating the whole map at each question (the recorder once a minute, each cost request)
took 1.4 s of CPU at 110,000 entities of federated sites, on the event loop or, moved to a
worker thread, holding the GIL while every site's deltas waited (the agents' p99 in
bench/federation.py --full). The book reads what the store says it touched since the last
report (`Store.watch`): a unit depends on its entity, the node it runs on (the node's
prices), its owners (the top one) and whether a pod holds it (then the pod is the unit);
each of those, changed, marks the units it affects. A report then costs what changed, plus
summing and sorting the cached results (tens of milliseconds at that scale), in a worker
thread beside the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from gestalt.engine.aside import aside
from gestalt.engine.cost import (
    GROUPINGS,
    OWNER_KINDS,
    TOTAL,
    NodeCost,
    Report,
    UnitCost,
    node_cost,
    node_prices,
    rate_rows,
    rounded_row,
    top_owner,
    unit_cost,
    volume_cost,
)
from gestalt.engine.history import History
from gestalt.engine.memory import release
from gestalt.engine.store import Store
from gestalt.engine.touched import Touched
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus
from gestalt.model.config import CostConfig

UNIT_KINDS = frozenset({EntityKind.POD, EntityKind.CONTAINER})
_PRICED_KINDS = frozenset({EntityKind.NODE, EntityKind.VOLUME})

# What a Docker container's node is keyed by: this host's node, when exactly one is known.
HOST = ""


# A connection allocation reads (`_read`): (relation, source id, target id), the relation
# "owner" (a Deployment's of its ReplicaSet...), "pod" (a pod's of its container) or
# "runs-on" (a pod's to its node). Plain tuples of strings and dicts of strings, not
# named tuples and sets, throughout the book: the garbage collector stops tracking those
# (70,000 links and 18,000 owners' children at 110,000 entities; tracked, they set off
# full collections, each walking the whole map).
_Link = tuple[str, str, str]


# What a unit's cost was computed from (the same again, the same cost): its entity, its
# node's id and prices (a node's other changes, its metrics, change no price), its top owner.
_Inputs = tuple[Entity, str | None, tuple[float, float], str | None]


def _read(conn: Connection) -> bool:
    """A connection allocation reads: an owner's (or a pod's of its container), a pod's to
    its node."""
    return conn.kind is ConnectionKind.OWNS or conn.kind is ConnectionKind.DEPENDS and \
        conn.attrs.get("relation") == "runs-on"


class _Group:
    """A roll-up (`Report.groups`): its sums kept as units join and leave, so a report sums
    nothing again (float sums drift by ~1e-16 of the total per change; the rows are rounded
    to 6 places, and an emptied group starts again from nothing)."""

    __slots__ = ("cost", "row", "units", "volumes", "waste")

    def __init__(self) -> None:
        self.units = 0
        self.cost = self.waste = 0.0
        self.volumes: dict[str, float] = {}
        self.row: dict[str, Any] | None = None  # None: to be made again

    def join(self, unit: UnitCost, sign: int) -> None:
        self.units += sign
        self.cost += sign * unit.cost_per_hour
        self.waste += sign * unit.waste_per_hour
        self.row = None

    def made(self, by: str, name: str) -> dict[str, Any]:
        if self.row is None:
            self.row = rounded_row({by: name, "units": self.units,
                                    "cost_per_hour": self.cost + sum(self.volumes.values()),
                                    "waste_per_hour": self.waste})
        return self.row


def _key(value: str | None) -> str:
    return value or "(none)"


class CostBook:
    """The cost of everything running, kept current from what the store touched."""

    def __init__(self, store: Store, config: CostConfig) -> None:
        self.store, self.config = store, config
        self._touched: Touched | None = None  # watched from the first report on
        self._lock = asyncio.Lock()
        # Units computed since start (a test reads it: an unchanged entity is not).
        self.computed = 0
        self._reset()

    def _reset(self) -> None:
        self._links: dict[str, _Link] = {}
        self.owner_of: dict[str, str] = {}
        self._owned: dict[str, dict[str, None]] = {}  # owner -> what it owns (the reverse)
        self._pods_of: dict[str, int] = {}  # container -> how many pods own it
        self.node_of: dict[str, str] = {}  # pod -> node
        self._host_nodes: dict[str, None] = {}
        self._units: dict[str, UnitCost] = {}
        self._inputs: dict[str, _Inputs] = {}
        self._node_ref: dict[str, str] = {}  # unit -> node id it was priced by (HOST)
        self._units_on: dict[str, dict[str, None]] = {}  # node id (HOST) -> units priced by it
        self._nodes: dict[str, NodeCost] = {}  # without allocation: summed at each report
        self._prices: dict[str, tuple[float, float]] = {}
        self._volumes: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, dict[str, _Group]] = {by: {} for by in GROUPINGS}
        self._allocated = self._waste = 0.0  # the units' sums, kept as `_Group`'s are
        self._default_prices = node_prices(None, self.config)
        self._building = False  # a book made afresh: every unit is computed anyway

    # -- reading -----------------------------------------------------------------------------
    async def report(self) -> Report:
        """The cost of everything now. What changed since the last report is computed in a
        worker thread, which reads the store's dicts by key (atomic under the GIL): what
        changes meanwhile is touched again and taken at the next report."""
        async with self._lock:
            entities, connections, ids = self._take()
            return await asyncio.to_thread(self._updated, entities, connections, ids)

    async def keep_up(self) -> None:
        """Compute what changed since the last look, and no report: looked at every few
        seconds (`CostRecorder`), no look has much to do. Once a minute, the look after ten
        sites came in had 300,000 ids and 1.5 s of CPU to compute at once, in the agents'
        latency window of bench/federation.py --full."""
        async with self._lock:
            entities, connections, ids = self._take()
            if ids is None or ids:
                await asyncio.to_thread(self._update, entities, connections, ids)

    def report_now(self) -> Report:
        """`report`, computed here: for a book no other thread reads (a past moment's map,
        priced once)."""
        return self._updated(*self._take())

    def _updated(self, entities: Mapping[str, Entity], connections: Mapping[str, Connection],
                 ids: Iterable[str] | None) -> Report:
        self._update(entities, connections, ids)
        return self._report()

    def _take(self) -> tuple[Mapping[str, Entity], Mapping[str, Connection], set[str] | None]:
        """What to read, on the loop: the store's dicts and the ids touched; or, at first and
        when the store cannot say what it touched, a copy of the whole map (None)."""
        store = self.store
        if self._touched is None:
            self._touched = store.watch()
            everything = True
        else:
            ids, everything = self._touched.take()
            # Most of the map touched (sites coming in): built afresh, faster than one by one.
            everything = everything or len(ids) > len(store.entities) // 2
        if everything:
            return dict(store.entities), dict(store.connections), None
        return store.entities, store.connections, ids

    def _update(self, entities: Mapping[str, Entity], connections: Mapping[str, Connection],
                ids: Iterable[str] | None) -> None:
        if ids is None:
            self._build(entities, connections)
            release()  # a whole map's temporaries, made after the engine's own release
            return
        dirty: set[str] = set()
        links, units, priced, volumes = self._links, self._units, self._prices, self._volumes
        # Most of what is touched (traffic edges, services, config maps...) costs nothing
        # and depends on nothing here: passed over at once (300,000 ids when ten sites come).
        for subject_id in aside(ids):
            conn = connections.get(subject_id)
            if conn is not None or subject_id in links:
                if subject_id in links or conn is not None and _read(conn):
                    self._relink(subject_id, conn, entities, dirty)
                continue
            entity = entities.get(subject_id)
            if entity is not None and entity.kind in UNIT_KINDS:
                dirty.add(subject_id)
            elif entity is not None and entity.kind in _PRICED_KINDS or \
                    subject_id in priced or subject_id in volumes or subject_id in units:
                self._take_entity(subject_id, entity, dirty)
        for unit_id in aside(dirty, 200):
            entity = entities.get(unit_id)
            if entity is not None and entity.kind in UNIT_KINDS or unit_id in units:
                self._cost_unit(unit_id, entity, entities)

    def _build(self, entities: Mapping[str, Entity],
               connections: Mapping[str, Connection]) -> None:
        """The book afresh: every link, node and volume, then every unit."""
        self._reset()
        self._building = True  # every unit is computed: nothing to mark
        dirty: set[str] = set()
        try:
            for cid, conn in aside(connections.items()):
                if _read(conn):
                    self._relink(cid, conn, entities, dirty)
            for eid, entity in entities.items():
                if entity.kind in _PRICED_KINDS:
                    self._take_entity(eid, entity, dirty)
            for eid, entity in aside(entities.items(), 200):
                if entity.kind in UNIT_KINDS:
                    self._cost_unit(eid, entity, entities)
        finally:
            self._building = False

    # -- the graph: owners, pods' containers, nodes ------------------------------------------
    def _relink(self, cid: str, conn: Connection | None, entities: Mapping[str, Entity],
                dirty: set[str]) -> None:
        old = self._links.pop(cid, None)
        if old is not None:
            self._unlink(old, dirty)
        if conn is None:
            return
        if conn.kind is ConnectionKind.OWNS:
            source = entities.get(conn.source_id)
            if source is None:
                return  # gone since: its connections go too (touched again)
            if source.kind in OWNER_KINDS:
                link = ("owner", conn.source_id, conn.target_id)
                self.owner_of[conn.target_id] = conn.source_id
                self._owned.setdefault(conn.source_id, {})[conn.target_id] = None
                self._owners_moved(conn.target_id, dirty)
            elif source.kind is EntityKind.POD:
                link = ("pod", conn.source_id, conn.target_id)
                self._pods_of[conn.target_id] = self._pods_of.get(conn.target_id, 0) + 1
                dirty.add(conn.target_id)
            else:
                return
        elif conn.kind is ConnectionKind.DEPENDS and conn.attrs.get("relation") == "runs-on":
            link = ("runs-on", conn.source_id, conn.target_id)
            self.node_of[conn.source_id] = conn.target_id
            dirty.add(conn.source_id)
        else:
            return
        self._links[cid] = link

    def _unlink(self, link: _Link, dirty: set[str]) -> None:
        relation, source, target = link
        if relation == "owner":
            if self.owner_of.get(target) == source:
                del self.owner_of[target]
            owned = self._owned.get(source)
            if owned is not None:
                owned.pop(target, None)
                if not owned:
                    del self._owned[source]
            self._owners_moved(target, dirty)
        elif relation == "pod":
            left = self._pods_of.get(target, 0) - 1
            if left > 0:
                self._pods_of[target] = left
            else:
                self._pods_of.pop(target, None)
            dirty.add(target)
        elif self.node_of.get(source) == target:
            del self.node_of[source]
            dirty.add(source)

    def _owners_moved(self, entity_id: str, dirty: set[str]) -> None:
        """`entity_id`'s owner changed: so did the top owner of all it owns, down the chain."""
        if self._building:
            dirty.add(entity_id)
            return
        level, depth = {entity_id}, 0
        while level and depth < 6:
            dirty |= level
            level = {child for parent in level for child in self._owned.get(parent, ())}
            depth += 1

    # -- entities ------------------------------------------------------------------------------
    def _take_entity(self, entity_id: str, entity: Entity | None, dirty: set[str]) -> None:
        """A touched entity: a node's or volume's cost again; a unit's later (`dirty`)."""
        if entity is None or entity.kind is EntityKind.NODE or entity_id in self._prices:
            self._take_node(entity_id, entity, dirty)
        gone = self._volumes.pop(entity_id, None)
        if gone is not None:
            for by in ("namespace", "site"):
                groups, name = self._groups[by], _key(gone[by])
                del groups[name].volumes[entity_id]
                groups[name].row = None
                self._forget_if_empty(groups, name)
        if entity is None:
            dirty.add(entity_id)
        elif entity.kind in UNIT_KINDS:
            dirty.add(entity_id)
        elif entity.kind is EntityKind.VOLUME and (volume := volume_cost(entity, self.config)):
            self._volumes[entity_id] = volume
            for by in ("namespace", "site"):
                group = self._groups[by].setdefault(_key(volume[by]), _Group())
                group.volumes[entity_id] = volume["cost_per_hour"]
                group.row = None

    def _take_node(self, node_id: str, node: Entity | None, dirty: set[str]) -> None:
        """A node's cost; and, when its prices or its being this host changed, its units'."""
        self._nodes.pop(node_id, None)
        is_node = node is not None and node.kind is EntityKind.NODE
        prices = node_prices(node, self.config) if is_node else None
        if is_node and node is not None and (cost := node_cost(node, self.config)):
            self._nodes[node_id] = cost
        was_host = node_id in self._host_nodes
        is_host = is_node and node is not None and "host" in node.sources
        if is_host:
            self._host_nodes[node_id] = None
        else:
            self._host_nodes.pop(node_id, None)
        if prices != self._prices.get(node_id):
            dirty.update(self._units_on.get(node_id, ()))
            if is_host or was_host:
                dirty.update(self._units_on.get(HOST, ()))
        elif was_host != is_host:
            dirty.update(self._units_on.get(HOST, ()))
        if prices is None:
            self._prices.pop(node_id, None)
        else:
            self._prices[node_id] = prices

    def _cost_unit(self, unit_id: str, entity: Entity | None,
                   entities: Mapping[str, Entity]) -> None:
        if entity is None or entity.status is not EntityStatus.RUNNING or \
                entity.kind not in UNIT_KINDS or \
                (entity.kind is EntityKind.CONTAINER and unit_id in self._pods_of):
            if unit_id in self._units:
                self._drop_unit(unit_id)  # no unit (now): a pod's container (its pod is)...
            return
        if entity.kind is EntityKind.POD:
            ref = self.node_of.get(unit_id, HOST)
            node = ref if ref and ref in entities else None
        else:  # a Docker container runs on this host (the host source's node), when known
            ref = HOST
            node = next(iter(self._host_nodes)) if len(self._host_nodes) == 1 else None
        prices = self._prices.get(node, self._default_prices) if node else self._default_prices
        inputs = (entity, node, prices, top_owner(self.owner_of, unit_id))
        if self._inputs.get(unit_id) == inputs:
            return  # the same entity (the very object), node, prices and owner
        if unit_id in self._units:
            self._drop_unit(unit_id)
        unit = unit_cost(entity, node, prices, inputs[3])
        self.computed += 1
        self._units[unit_id] = unit
        self._inputs[unit_id] = inputs
        self._node_ref[unit_id] = ref
        on = self._units_on.get(ref)
        if on is None:
            on = self._units_on[ref] = {}
        on[unit_id] = None
        self._allocated += unit.cost_per_hour
        self._waste += unit.waste_per_hour
        for by, groups in self._groups.items():
            name = _key(getattr(unit, by))
            group = groups.get(name)
            if group is None:
                group = groups[name] = _Group()
            group.join(unit, 1)

    def _drop_unit(self, unit_id: str) -> None:
        unit = self._units.pop(unit_id, None)
        if unit is None:
            return
        del self._inputs[unit_id]
        ref = self._node_ref.pop(unit_id)
        on = self._units_on[ref]
        on.pop(unit_id, None)
        if not on:
            del self._units_on[ref]
        self._allocated -= unit.cost_per_hour
        self._waste -= unit.waste_per_hour
        if not self._units:  # nothing left: sums start again from nothing (no drift)
            self._allocated = self._waste = 0.0
        for by in GROUPINGS:
            groups, name = self._groups[by], _key(getattr(unit, by))
            groups[name].join(unit, -1)
            self._forget_if_empty(groups, name)

    @staticmethod
    def _forget_if_empty(groups: dict[str, _Group], name: str) -> None:
        group = groups[name]
        if not group.units and not group.volumes:
            del groups[name]

    # -- the report ----------------------------------------------------------------------------
    def _report(self) -> Report:
        grouped = {by: sorted((group.made(by, name) for name, group in groups.items()),
                              key=lambda row: -row["cost_per_hour"])
                   for by, groups in self._groups.items()}
        by_node = self._groups["node"]
        nodes = []
        for node in self._nodes.values():
            on = by_node.get(node.id)
            allocated = on.cost if on is not None else 0.0
            nodes.append(replace(node, allocated_per_hour=allocated,
                                 idle_per_hour=max(node.cost_per_hour - allocated, 0.0)))
        volumes = list(self._volumes.values())
        storage = float(sum(v["cost_per_hour"] for v in volumes))
        idle = sum(n.idle_per_hour for n in nodes)
        return Report(self.config.currency, list(self._units.values()),
                      sorted(nodes, key=lambda n: n.name), volumes,
                      {"allocated_per_hour": self._allocated, "idle_per_hour": idle,
                       "storage_per_hour": storage,
                       "total_per_hour": self._allocated + idle + storage,
                       "waste_per_hour": self._waste}, grouped)


class CostRecorder:
    """Records every rate in history each `interval`, so cost over a range can be read."""

    def __init__(self, store: Store, history: History, config: CostConfig) -> None:
        self.history, self.config = history, config
        self.book = CostBook(store, config)

    @property
    def spacing(self) -> float:
        """How far apart the records are: history keeps a key's samples at most every
        `history.sample_interval`, so the longer of the two. A recorded rate holds for two
        of these (`cost_over`, `rates_at`)."""
        return max(self.config.record_interval, self.history.sample_interval)

    # How often the book computes what changed between two records (`CostBook.keep_up`).
    keep_up_every = 5.0

    async def run(self) -> None:
        while True:
            await self.record()
            recorded = time.monotonic()
            while (left := self.config.record_interval - (time.monotonic() - recorded)) > 0:
                await asyncio.sleep(min(self.keep_up_every, left))
                await self.book.keep_up()

    async def record(self, now: float | None = None) -> None:
        """The rates now, as history's samples, made in a worker thread (41,600 keys at
        110,000 entities: made on the loop, they held it 183 ms once a minute); history
        keeps them together, all or none (`History.record_frame`)."""
        now = time.time() if now is None else now
        report = await self.book.report()
        rows = await asyncio.to_thread(rate_rows, report, now)
        self.history.record_frame(TOTAL, rows, now)
