"""What the running system costs, by OpenCost's allocation model.

- A **workload unit** (a running pod; a running Docker container outside Kubernetes) is
  allocated max(request, usage) of CPU (vCPU) and of memory (GiB), each priced per hour by
  the prices of the node it runs on (`cost.nodes`, matched by node labels, else the
  section's defaults). Usage is what metrics say now (metrics.k8s.io, Docker stats); a unit
  with neither request nor usage costs nothing yet.
- **Waste** is what is requested and not used: max(request - usage, 0) × price.
- A **node** costs its capacity × its prices; what its units are not allocated is **idle**.
- A **volume** with a capacity (a PersistentVolumeClaim) costs GiB × price per month
  (730 hours, as OpenCost counts a month).

Pods roll up to their top owner (a Deployment through its ReplicaSet, a StatefulSet,
DaemonSet or Job), to their namespace, node and site (the cluster, or `docker`). Cost over
a range comes from history: `CostRecorder` records each rate every `cost.record_interval`
and `cost_over` integrates them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gestalt.engine.history import History
from gestalt.engine.store import Store
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus
from gestalt.model.config import CostConfig, NodePrice

GIB = 1024**3
HOURS_PER_MONTH = 730.0
OWNER_KINDS = frozenset({EntityKind.DEPLOYMENT, EntityKind.STATEFULSET, EntityKind.DAEMONSET,
                         EntityKind.JOB, EntityKind.REPLICASET})
# History keys: `cost:<entity id>` for a unit, node or volume, `cost:<group>:<name>` for
# the roll-ups, `cost:total` for everything.
PREFIX = "cost:"


@dataclass(slots=True)
class UnitCost:
    id: str
    kind: str
    name: str
    namespace: str | None
    site: str
    node: str | None
    owner: str | None
    cpu_request: float  # vCPU
    cpu_usage: float | None
    memory_request: float  # GiB
    memory_usage: float | None
    cpu: float  # allocated: max(request, usage)
    memory: float
    cost_per_hour: float
    waste_per_hour: float


@dataclass(slots=True)
class NodeCost:
    id: str
    name: str
    site: str
    cpu: float  # vCPU
    memory: float  # GiB
    cpu_hour: float
    memory_gib_hour: float
    cost_per_hour: float
    allocated_per_hour: float = 0.0
    idle_per_hour: float = 0.0


@dataclass(slots=True)
class Report:
    currency: str
    units: list[UnitCost]
    nodes: list[NodeCost]
    volumes: list[dict[str, Any]]
    totals: dict[str, float] = field(default_factory=dict)

    def groups(self, by: str) -> list[dict[str, Any]]:
        """Roll-ups of the units (and volumes) by `namespace`, `owner`, `node` or `site`."""
        rows: dict[str, dict[str, Any]] = {}
        for unit in self.units:
            key = getattr(unit, by) or "(none)"
            row = rows.setdefault(key, {by: key, "units": 0, "cost_per_hour": 0.0,
                                        "waste_per_hour": 0.0})
            row["units"] += 1
            row["cost_per_hour"] += unit.cost_per_hour
            row["waste_per_hour"] += unit.waste_per_hour
        if by in ("namespace", "site"):
            for volume in self.volumes:
                key = volume[by] or "(none)"
                row = rows.setdefault(key, {by: key, "units": 0, "cost_per_hour": 0.0,
                                            "waste_per_hour": 0.0})
                row["cost_per_hour"] += volume["cost_per_hour"]
        return sorted((_rounded(r) for r in rows.values()), key=lambda r: -r["cost_per_hour"])


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _site(entity: Entity) -> str:
    """The cluster of a Kubernetes object; `docker` for Docker's own containers."""
    if entity.kind is EntityKind.CONTAINER and "kubernetes" not in entity.sources:
        return "docker"
    rest = entity.id.split(":", 1)[-1]
    return rest.split("/", 1)[0]


def _node_prices(node: Entity | None, config: CostConfig) -> tuple[float, float]:
    rule: NodePrice | None = None
    if node is not None:
        rule = next((r for r in config.nodes
                     if all(node.labels.get(k) == v for k, v in r.match.items())), None)
    cpu = rule.cpu_hour if rule is not None and rule.cpu_hour is not None else config.cpu_hour
    memory = rule.memory_gib_hour if rule is not None and rule.memory_gib_hour is not None \
        else config.memory_gib_hour
    return cpu, memory


def _node_capacity(node: Entity) -> tuple[float, float] | None:
    """(vCPU, GiB) a node offers: Kubernetes' allocatable, or this host's."""
    cores = _number(node.attrs.get("cpu_capacity"))
    if cores is not None:
        cores /= 1000.0  # millicores
    else:
        cores = _number(node.attrs.get("cpu_count"))
    memory = _number(node.attrs.get("memory_capacity")) or _number(node.memory_limit)
    if cores is None or memory is None:
        return None
    return cores, memory / GIB


class _Graph:
    """What allocation needs of the graph: owners, the node a pod runs on."""

    def __init__(self, entities: Mapping[str, Entity], connections: Iterable[Connection]):
        self.entities = entities
        self.owner_of: dict[str, str] = {}
        self.node_of: dict[str, str] = {}
        self.in_pod: set[str] = set()
        for c in connections:
            if c.kind is ConnectionKind.OWNS:
                source = entities.get(c.source_id)
                if source is None:
                    continue
                if source.kind in OWNER_KINDS:
                    self.owner_of[c.target_id] = c.source_id
                elif source.kind is EntityKind.POD:
                    self.in_pod.add(c.target_id)
            elif c.kind is ConnectionKind.DEPENDS and c.attrs.get("relation") == "runs-on":
                self.node_of[c.source_id] = c.target_id
        self.host_nodes = [e for e in entities.values()
                           if e.kind is EntityKind.NODE and "host" in e.sources]

    def top_owner(self, eid: str) -> str | None:
        owner, seen = self.owner_of.get(eid), 0
        while owner is not None and owner in self.owner_of and seen < 5:
            owner, seen = self.owner_of[owner], seen + 1
        return owner

    def node(self, entity: Entity) -> Entity | None:
        if entity.kind is EntityKind.POD:
            node_id = self.node_of.get(entity.id)
            return self.entities.get(node_id) if node_id else None
        # A Docker container runs on this host (the host source's node), when it is known.
        return self.host_nodes[0] if len(self.host_nodes) == 1 else None


def _unit(entity: Entity, graph: _Graph, config: CostConfig) -> UnitCost | None:
    if entity.status is not EntityStatus.RUNNING:
        return None
    if entity.kind is EntityKind.CONTAINER and entity.id in graph.in_pod:
        return None  # its pod is the unit (and carries the requests)
    if entity.kind not in (EntityKind.POD, EntityKind.CONTAINER):
        return None
    node = graph.node(entity)
    cpu_price, memory_price = _node_prices(node, config)
    cpu_request = (_number(entity.attrs.get("cpu_request")) or 0.0) / 1000.0
    memory_request = (_number(entity.attrs.get("memory_request")) or 0.0) / GIB
    usage = _number(entity.custom_metrics.get("cpu_usage"))
    cpu_usage = usage / 1000.0 if usage is not None else None
    memory_usage = entity.memory_bytes / GIB if entity.memory_bytes is not None else None
    cpu = max(cpu_request, cpu_usage or 0.0)
    memory = max(memory_request, memory_usage or 0.0)
    waste = max(cpu_request - (cpu_usage or 0.0), 0.0) * cpu_price + \
        max(memory_request - (memory_usage or 0.0), 0.0) * memory_price \
        if cpu_usage is not None or memory_usage is not None else 0.0
    return UnitCost(
        id=entity.id, kind=entity.kind.value, name=entity.name, namespace=entity.namespace,
        site=_site(entity), node=node.id if node is not None else None,
        owner=graph.top_owner(entity.id), cpu_request=cpu_request, cpu_usage=cpu_usage,
        memory_request=memory_request, memory_usage=memory_usage, cpu=cpu, memory=memory,
        cost_per_hour=cpu * cpu_price + memory * memory_price, waste_per_hour=waste)


def allocate(store: Store, config: CostConfig) -> Report:
    """The cost of everything running now, per hour."""
    return allocate_from(store.entities, store.connections.values(), config)


def allocate_from(entities: Mapping[str, Entity], connections: Iterable[Connection],
                  config: CostConfig) -> Report:
    graph = _Graph(entities, connections)
    units = [u for e in entities.values() if (u := _unit(e, graph, config)) is not None]
    nodes: dict[str, NodeCost] = {}
    volumes: list[dict[str, Any]] = []
    for e in entities.values():
        if e.kind is EntityKind.NODE and (capacity := _node_capacity(e)) is not None:
            cpu_price, memory_price = _node_prices(e, config)
            nodes[e.id] = NodeCost(e.id, e.name, _site(e), capacity[0], capacity[1], cpu_price,
                                   memory_price, capacity[0] * cpu_price +
                                   capacity[1] * memory_price)
        elif e.kind is EntityKind.VOLUME and e.namespace is not None and \
                (size := _number(e.attrs.get("capacity_bytes"))):  # a claim (its PV: the same)
            gib = size / GIB
            volumes.append({"id": e.id, "name": e.name, "namespace": e.namespace,
                            "site": _site(e), "gib": gib, "cost_per_hour":
                            gib * config.storage_gib_month / HOURS_PER_MONTH})
    for unit in units:
        node = nodes.get(unit.node or "")
        if node is not None:
            node.allocated_per_hour += unit.cost_per_hour
    for node in nodes.values():
        node.idle_per_hour = max(node.cost_per_hour - node.allocated_per_hour, 0.0)
    allocated = sum(u.cost_per_hour for u in units)
    storage = float(sum(v["cost_per_hour"] for v in volumes))
    idle = sum(n.idle_per_hour for n in nodes.values())
    units.sort(key=lambda u: -u.cost_per_hour)
    return Report(config.currency, units, sorted(nodes.values(), key=lambda n: n.name), volumes,
                  {"allocated_per_hour": allocated, "idle_per_hour": idle,
                   "storage_per_hour": storage, "total_per_hour": allocated + idle + storage,
                   "waste_per_hour": sum(u.waste_per_hour for u in units)})


def unit_row(unit: UnitCost) -> dict[str, Any]:
    return _rounded(asdict(unit))


def node_row(node: NodeCost) -> dict[str, Any]:
    return _rounded(asdict(node))


# -- over time ---------------------------------------------------------------------------

def rates(report: Report) -> dict[str, dict[str, Any]]:
    """What the recorder keeps: each unit's, node's and volume's rate, and the roll-ups."""
    values: dict[str, dict[str, Any]] = {
        PREFIX + u.id: {"cost_per_hour": u.cost_per_hour, "waste_per_hour": u.waste_per_hour}
        for u in report.units}
    for n in report.nodes:
        values[PREFIX + n.id] = {"cost_per_hour": n.cost_per_hour,
                                 "idle_per_hour": n.idle_per_hour}
    for v in report.volumes:
        values[PREFIX + v["id"]] = {"cost_per_hour": v["cost_per_hour"]}
    for by in ("namespace", "owner", "site"):
        for row in report.groups(by):
            values[f"{PREFIX}{by}:{row[by]}"] = {"cost_per_hour": row["cost_per_hour"],
                                                  "waste_per_hour": row["waste_per_hour"]}
    values[PREFIX + "total"] = dict(report.totals)
    return values


class CostRecorder:
    """Records every rate in history each `interval`, so cost over a range can be read."""

    def __init__(self, store: Store, history: History, config: CostConfig) -> None:
        self.store, self.history, self.config = store, history, config

    def record(self, now: float | None = None) -> None:
        self.history.record_metrics(rates(allocate(self.store, self.config)), now)

    @property
    def spacing(self) -> float:
        """How far apart the records are: history keeps a key's samples at most every
        `history.sample_interval`, so the longer of the two. A recorded rate holds for two
        of these (`cost_over`, `rates_at`)."""
        return max(self.config.record_interval, self.history.sample_interval)

    async def run(self) -> None:
        while True:
            await self.record_aside()
            await asyncio.sleep(self.config.record_interval)

    async def record_aside(self) -> None:
        """`record`, computed in a worker thread on a copy of the map (entities and
        connections are values: a shallow copy is the map at one moment). On the event
        loop, allocating 110,000 entities of federated sites held it 1.4 s once a minute,
        and every site's deltas waited (the agents' p99 in bench/federation.py --full).
        The thread holds the GIL while it computes, but hands it back to the loop at each
        switch interval (5 ms)."""
        store = self.store
        entities, connections = dict(store.entities), list(store.connections.values())
        now = time.time()
        values = await asyncio.to_thread(
            lambda: rates(allocate_from(entities, connections, self.config)))
        self.history.record_metrics(values, now)


@dataclass
class RecordedRates:
    """The rates `CostRecorder` recorded last at or before a moment (at `recorded_at`)."""

    recorded_at: float
    totals: dict[str, float]
    units: dict[str, dict[str, float]]  # entity id -> cost_per_hour, waste_per_hour
    nodes: dict[str, dict[str, float]]  # node id -> cost_per_hour, idle_per_hour


_GROUPS = tuple(f"{PREFIX}{by}:" for by in ("namespace", "owner", "site"))


async def rates_at(history: History, at: float, interval: float) -> RecordedRates | None:
    """What things cost at `at`, as recorded then: the last record at or before it, held
    for at most two intervals (as `cost_over` holds a rate: a gap has no cost). None when
    nothing was recorded then (cost off, or a gap)."""
    found = await history.frame_at(PREFIX + "total", "total_per_hour", at, at - 2 * interval)
    if found is None:
        return None
    recorded_at, frame = found
    units: dict[str, dict[str, float]] = {}
    nodes: dict[str, dict[str, float]] = {}
    for key, values in frame.items():
        if not key.startswith(PREFIX) or key.startswith(_GROUPS) or key == PREFIX + "total":
            continue
        if "waste_per_hour" in values:
            units[key[len(PREFIX):]] = values
        elif "idle_per_hour" in values:
            nodes[key[len(PREFIX):]] = values
    return RecordedRates(recorded_at, frame.get(PREFIX + "total", {}), units, nodes)


async def cost_over(history: History, key: str, start: float, end: float,
                    interval: float) -> dict[str, Any]:
    """The cost of `key` (an entity id, `namespace:<ns>`, `owner:<id>`, `site:<name>` or
    `total`) over [start, end]: each recorded rate held until the next sample (at most two
    intervals: a gap is not billed), summed."""
    series = await history.metric_series(PREFIX + key, ["cost_per_hour"],
                                         start - 2 * interval)
    samples = [(ts, v) for ts, v in series.get("cost_per_hour", []) if ts <= end]
    total, covered = 0.0, 0.0
    for i, (ts, rate) in enumerate(samples):
        until = samples[i + 1][0] if i + 1 < len(samples) else min(end, time.time())
        until = min(until, ts + 2 * interval, end)
        begin = max(ts, start)
        if until > begin:
            total += rate * (until - begin) / 3600.0
            covered += until - begin
    return {"key": key, "from": start, "to": end, "cost": total, "covered_seconds": covered,
            "samples": len(samples)}
