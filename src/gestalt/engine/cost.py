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
a range comes from history: `CostRecorder` (engine/cost_book.py, which keeps the cost of
the running system current) records each rate every `cost.record_interval` and `cost_over`
integrates them. This module prices one thing at a time.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from operator import attrgetter
from typing import Any

import msgspec

from gestalt.engine.history import History
from gestalt.model import Entity, EntityKind
from gestalt.model.config import CostConfig, NodePrice

GIB = 1024**3
HOURS_PER_MONTH = 730.0
OWNER_KINDS = frozenset({EntityKind.DEPLOYMENT, EntityKind.STATEFULSET, EntityKind.DAEMONSET,
                         EntityKind.JOB, EntityKind.REPLICASET})
# History keys: `cost:<entity id>` for a unit, node or volume, `cost:<group>:<name>` for
# the roll-ups, `cost:total` for everything.
PREFIX = "cost:"
TOTAL = PREFIX + "total"
# What units roll up by (`Report.groups`); history keeps all but the nodes' (a node's own
# key holds its allocation).
GROUPINGS = ("namespace", "owner", "node", "site")
RECORDED_GROUPINGS = ("namespace", "owner", "site")


class UnitCost(msgspec.Struct, kw_only=True, gc=False):
    """A value (never changed once made), kept by the cost book for each running unit: no
    cycles, so the garbage collector need not walk 30,000 of them (gc=False)."""

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
    """The cost of everything running at one moment (`CostBook.report`); its parts are
    values: nothing changes them once made."""

    currency: str
    units: list[UnitCost]  # in no order: `dearest` picks the top
    nodes: list[NodeCost]
    volumes: list[dict[str, Any]]
    totals: dict[str, float]
    grouped: dict[str, list[dict[str, Any]]]  # GROUPINGS -> rows, dearest first

    def dearest(self, count: int, by: str = "cost_per_hour") -> list[UnitCost]:
        """The `count` units dearest by `by` (cost_per_hour, waste_per_hour)."""
        return heapq.nlargest(count, self.units, key=attrgetter(by))

    def groups(self, by: str) -> list[dict[str, Any]]:
        """Roll-ups of the units (and volumes) by `namespace`, `owner`, `node` or `site`."""
        return self.grouped[by]


def rounded_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def site_of(entity: Entity) -> str:
    """The cluster of a Kubernetes object; `docker` for Docker's own containers."""
    if entity.kind is EntityKind.CONTAINER and "kubernetes" not in entity.sources:
        return "docker"
    rest = entity.id.split(":", 1)[-1]
    return rest.split("/", 1)[0]


def node_prices(node: Entity | None, config: CostConfig) -> tuple[float, float]:
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


def top_owner(owner_of: Mapping[str, str], eid: str) -> str | None:
    """The top of `eid`'s owners (a Deployment through its ReplicaSet), five levels at most."""
    owner, seen = owner_of.get(eid), 0
    while owner is not None and owner in owner_of and seen < 5:
        owner, seen = owner_of[owner], seen + 1
    return owner


def unit_cost(entity: Entity, node: str | None, prices: tuple[float, float],
              owner: str | None) -> UnitCost:
    """A running pod's or container's cost on the node `node` at its `prices` (per vCPU-hour,
    per GiB-hour: `node_prices`)."""
    cpu_price, memory_price = prices
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
        site=site_of(entity), node=node, owner=owner, cpu_request=cpu_request, cpu_usage=cpu_usage,
        memory_request=memory_request, memory_usage=memory_usage, cpu=cpu, memory=memory,
        cost_per_hour=cpu * cpu_price + memory * memory_price, waste_per_hour=waste)


def node_cost(node: Entity, config: CostConfig) -> NodeCost | None:
    """A node's capacity at its prices (None: its capacity is not known)."""
    capacity = _node_capacity(node)
    if capacity is None:
        return None
    cpu_price, memory_price = node_prices(node, config)
    return NodeCost(node.id, node.name, site_of(node), capacity[0], capacity[1], cpu_price,
                    memory_price, capacity[0] * cpu_price + capacity[1] * memory_price)


def volume_cost(volume: Entity, config: CostConfig) -> dict[str, Any] | None:
    """A claim's storage per hour (its PV is the same storage: only claims count)."""
    if volume.namespace is None or not (size := _number(volume.attrs.get("capacity_bytes"))):
        return None
    gib = size / GIB
    return {"id": volume.id, "name": volume.name, "namespace": volume.namespace,
            "site": site_of(volume), "gib": gib,
            "cost_per_hour": gib * config.storage_gib_month / HOURS_PER_MONTH}


def unit_row(unit: UnitCost) -> dict[str, Any]:
    return rounded_row(msgspec.structs.asdict(unit))


def node_row(node: NodeCost) -> dict[str, Any]:
    return rounded_row(asdict(node))


# -- over time ---------------------------------------------------------------------------

def rate_rows(report: Report, now: float) -> list[tuple[str, str, float, float]]:
    """What the recorder keeps, as history's samples at `now`: each unit's, node's and
    volume's rate, and the roll-ups (`rates_at` and `cost_over` read them back)."""
    rows: list[tuple[str, str, float, float]] = []
    add = rows.append
    for u in report.units:
        key = PREFIX + u.id
        add((key, "cost_per_hour", now, u.cost_per_hour))
        add((key, "waste_per_hour", now, u.waste_per_hour))
    for n in report.nodes:
        add((PREFIX + n.id, "cost_per_hour", now, n.cost_per_hour))
        add((PREFIX + n.id, "idle_per_hour", now, n.idle_per_hour))
    for v in report.volumes:
        add((PREFIX + v["id"], "cost_per_hour", now, v["cost_per_hour"]))
    for by in RECORDED_GROUPINGS:
        for row in report.groups(by):
            key = f"{PREFIX}{by}:{row[by]}"
            add((key, "cost_per_hour", now, row["cost_per_hour"]))
            add((key, "waste_per_hour", now, row["waste_per_hour"]))
    rows.extend((TOTAL, name, now, float(value)) for name, value in report.totals.items())
    return rows


@dataclass
class RecordedRates:
    """The rates `CostRecorder` recorded last at or before a moment (at `recorded_at`)."""

    recorded_at: float
    totals: dict[str, float]
    units: dict[str, dict[str, float]]  # entity id -> cost_per_hour, waste_per_hour
    nodes: dict[str, dict[str, float]]  # node id -> cost_per_hour, idle_per_hour


_GROUPS = tuple(f"{PREFIX}{by}:" for by in RECORDED_GROUPINGS)


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
