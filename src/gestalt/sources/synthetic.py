"""A simulated system of any size, alive: for demos, browser tests and benchmarks.

It builds a plausible cluster (nodes, namespaces, deployments with replica sets, pods and
their containers, services, config maps, secrets, volumes, NATS subjects and streams,
databases) with the requested number of entities and edges, then keeps changing it at
`churn_per_second`: pods replaced, restarting and recovering, CPU moving, traffic rates
changing. Every entity carries `attrs.simulated = True` so the UI can badge it.
Deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib

import msgspec

from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Event,
    Scalar,
    Severity,
    SourceState,
    ids,
)
from gestalt.model.config import SyntheticCollector
from gestalt.sources.base import Sink

# Traffic edge kinds drawn for the edges beyond the structural ones.
_TRAFFIC = (ConnectionKind.HTTP, ConnectionKind.GRPC, ConnectionKind.NATS, ConnectionKind.NETWORK)


def _simulated(**attrs: Scalar) -> dict[str, Scalar]:
    return {**attrs, "simulated": True}


# The attributes of every entity that has no others. Entities are values (their containers
# are never changed in place), so entities with the same attributes share one dict: at
# 10,000 entities, a dict each for namespaces, deployments, config maps, containers of one
# app... was 1.2 MB.
SIMULATED: dict[str, Scalar] = _simulated()


def _entity(kind: EntityKind, eid: str, name: str, ns: str | None = None, *,
            attrs: dict[str, Scalar] = SIMULATED, **kw: object) -> Entity:
    """An entity of the world; `attrs` already says `simulated` (`SIMULATED`, or a dict
    from `SyntheticWorld._shared` or `_simulated`)."""
    return Entity(id=eid, kind=kind, name=name, namespace=ns, attrs=attrs, **kw)  # type: ignore[arg-type]


class SyntheticWorld:
    """The simulated system's state; `SyntheticSource` reports it."""

    def __init__(self, config: SyntheticCollector) -> None:
        self.config = config
        self.cluster = config.cluster
        # Container ids are global (no cluster in them): another cluster's differ.
        self._container_prefix = "0000" if self.cluster == "sim" else \
            f"{zlib.crc32(self.cluster.encode()) & 0xFFFF:04x}"
        self.rng = random.Random(config.seed)
        self.entities: dict[str, Entity] = {}
        self.connections: dict[str, Connection] = {}
        # Pod id -> the ids of its connections (a pod has those it was made with, and no
        # other), in the order they were made: a pod replaced reads its own, not every
        # connection of the world (at 50,000 entities those scans were two thirds of the
        # server's event loop under churn, inflating every latency the browser benchmarks
        # measured). Pods only, as a tuple: the world lives in the server's process, whose
        # memory bench/server_rss.py measures (an index of every entity's took 2-3 MB).
        self._pod_edges: dict[str, tuple[str, ...]] = {}
        self.pods: list[str] = []
        self._pod_counter = 0
        self._events = 0
        # Events are numbered per run: the world is the same each run (its seed), but the
        # history keeps events by id, and a second run's "synthetic:1:1" overwrote the first's.
        self._run = f"{time.time_ns():x}"
        self._attrs: dict[tuple[tuple[str, Scalar], ...], dict[str, Scalar]] = {}
        self._build()

    def _shared(self, **attrs: Scalar) -> dict[str, Scalar]:
        """`attrs` and `simulated`, as one dict shared by every entity with the same ones
        (only for attributes few entities differ in: a pod's own are its own)."""
        key = tuple(attrs.items())
        shared = self._attrs.get(key)
        if shared is None:
            shared = self._attrs[key] = _simulated(**attrs)
        return shared

    def _add(self, entity: Entity) -> Entity:
        self.entities[entity.id] = entity
        return entity

    def _link(self, src: str, dst: str, kind: ConnectionKind, **kw: object) -> str:
        conn = Connection(source_id=src, target_id=dst, kind=kind, **kw)  # type: ignore[arg-type]
        self.connections[conn.id] = conn
        return conn.id

    def pod_edges(self, pod_id: str) -> list[Connection]:
        """The connections at a pod (either end), in the order they were made."""
        return [self.connections[cid] for cid in self._pod_edges.get(pod_id, ())]

    def _build(self) -> None:
        cluster = self.cluster
        target = max(self.config.entities, 20)
        rng = self.rng
        n_ns = max(3, target // 250)
        n_nodes = max(3, target // 150)
        nodes = [
            self._add(_entity(EntityKind.NODE, ids.k8s("node", cluster, None, f"node-{i}"),
                              f"node-{i}", status=EntityStatus.RUNNING,
                              memory_limit=64 << 30, memory_bytes=(20 + i % 30) << 30,
                              cpu_percent=20.0 + (i * 7) % 50)).id
            for i in range(n_nodes)
        ]
        namespaces = [f"team-{i}" for i in range(n_ns)]
        for ns in namespaces:
            self._add(_entity(EntityKind.NAMESPACE, ids.k8s("namespace", cluster, None, ns), ns,
                              status=EntityStatus.ACTIVE, labels={"team": ns}))
        # Shared infrastructure: NATS subjects and streams, databases.
        subjects = []
        for i in range(max(2, target // 200)):
            sid = ids.nats_subject(cluster, f"orders.{i}")
            self._add(_entity(EntityKind.NATS_SUBJECT, sid, f"orders.{i}",
                              status=EntityStatus.ACTIVE,
                              custom_metrics={"msgs_per_sec": float(rng.randint(1, 500)),
                                              "queue_depth": rng.randint(0, 50)}))
            subjects.append(sid)
            if i % 3 == 0:
                st = ids.nats_stream(cluster, f"ORDERS_{i}")
                self._add(_entity(EntityKind.NATS_STREAM, st, f"ORDERS_{i}",
                                  status=EntityStatus.ACTIVE))
                self._link(st, sid, ConnectionKind.NATS)
        databases = []
        for i in range(max(1, target // 500)):
            did = ids.database("postgresql", cluster, f"db-{i}")
            self._add(_entity(EntityKind.DATABASE, did, f"db-{i}", status=EntityStatus.RUNNING,
                              custom_metrics={"pool_percent": float(rng.randint(10, 90))}))
            databases.append(did)
        services: list[str] = []
        d = 0
        while len(self.entities) < target:
            ns = namespaces[d % n_ns]
            name = f"app-{d}"
            labels = {"app": name, "team": ns}
            dep = self._add(_entity(EntityKind.DEPLOYMENT, ids.k8s("deployment", cluster, ns, name),
                                    name, ns, status=EntityStatus.RUNNING, labels=labels)).id
            rs = self._add(_entity(EntityKind.REPLICASET,
                                   ids.k8s("replicaset", cluster, ns, f"{name}-7d9f"),
                                   f"{name}-7d9f", ns, status=EntityStatus.RUNNING,
                                   labels=labels)).id
            self._link(dep, rs, ConnectionKind.OWNS)
            svc = self._add(_entity(EntityKind.SERVICE, ids.k8s("service", cluster, ns, name), name,
                                    ns, status=EntityStatus.ACTIVE, labels=labels,
                                    attrs=self._shared(type="ClusterIP"))).id
            services.append(svc)
            cm = self._add(_entity(EntityKind.CONFIGMAP, ids.k8s("configmap", cluster, ns,
                                                                  f"{name}-config"),
                                   f"{name}-config", ns, status=EntityStatus.ACTIVE)).id
            secret = self._add(_entity(EntityKind.SECRET, ids.k8s("secret", cluster, ns,
                                                                   f"{name}-creds"),
                                       f"{name}-creds", ns, status=EntityStatus.ACTIVE,
                                       attrs=self._shared(type="Opaque", keys=2))).id
            for _ in range(rng.randint(2, 5)):
                self._add_pod(ns, name, labels, rs, svc, cm, secret, rng.choice(nodes))
            if rng.random() < 0.2:
                vol = self._add(_entity(EntityKind.VOLUME, ids.k8s("pvc", cluster, ns,
                                                                    f"{name}-data"),
                                        f"{name}-data", ns, status=EntityStatus.ACTIVE,
                                        attrs=self._shared(capacity_bytes=10 << 30))).id
                self._link(dep, vol, ConnectionKind.VOLUME)
            if databases and rng.random() < 0.3:
                self._link(svc, rng.choice(databases), ConnectionKind.DEPENDS)
            if subjects and rng.random() < 0.4:
                self._link(svc, rng.choice(subjects), ConnectionKind.NATS,
                           requests_per_sec=float(rng.randint(1, 200)))
            d += 1
        # Traffic between services until the edge budget is spent.
        budget = self.config.edges - len(self.connections)
        pool = services + subjects + databases
        attempts = 0
        while budget > 0 and len(pool) > 1 and attempts < self.config.edges * 4:
            attempts += 1
            a, b = rng.sample(pool, 2)
            kind = rng.choice(_TRAFFIC)
            before = len(self.connections)
            self._link(a, b, kind, requests_per_sec=round(rng.uniform(0.5, 300), 1),
                       error_rate=round(rng.random() * 0.05, 3),
                       latency_ms=round(rng.uniform(1, 80), 1))
            budget -= len(self.connections) - before

    def _add_pod(self, ns: str, app: str, labels: dict[str, str], rs: str, svc: str, cm: str,
                 secret: str, node: str) -> str:
        self._pod_counter += 1
        name = f"{app}-{self._pod_counter:05d}"
        pod = self._add(_entity(EntityKind.POD, ids.k8s("pod", self.cluster, ns, name), name, ns,
                                status=EntityStatus.RUNNING, labels=labels,
                                cpu_percent=round(self.rng.uniform(1, 60), 1),
                                memory_limit=512 << 20,
                                memory_bytes=self.rng.randint(50, 400) << 20,
                                attrs=_simulated(cpu_request=100,
                                                 node=node.rsplit("/", 1)[-1],
                                                 restart_count=0, app=app)))
        container_id = f"{self._container_prefix}{self._pod_counter:08x}"
        ctr = self._add(_entity(EntityKind.CONTAINER, ids.container(container_id),
                                app, ns, status=EntityStatus.RUNNING,
                                memory_limit=512 << 20,
                                attrs=self._shared(image=f"registry/{app}:1.0")))
        self._pod_edges[pod.id] = (
            self._link(rs, pod.id, ConnectionKind.OWNS),
            self._link(pod.id, ctr.id, ConnectionKind.OWNS),
            self._link(svc, pod.id, ConnectionKind.HTTP, requests_per_sec=10.0),
            self._link(pod.id, cm, ConnectionKind.DEPENDS),
            self._link(pod.id, secret, ConnectionKind.DEPENDS),
            self._link(pod.id, node, ConnectionKind.NETWORK),
        )
        self.pods.append(pod.id)
        return pod.id

    def churn(self) -> tuple[list[Entity], list[Connection], list[str], list[str], list[Event]]:
        """One random change: (upserts, edge upserts, removals, edge removals, feed events).

        A replaced pod's edges are removed by id: the hub keeps every edge a source reported
        until that source removes it (an edge can outlive one of its ends, as a pod's edge to
        a config map that is recreated), so leaving them out would keep them forever."""
        rng = self.rng
        roll = rng.random()
        pod_id = rng.choice(self.pods)
        pod = self.entities[pod_id]
        if roll < 0.2:
            # Replace the pod with a new one of the same app (a rolling update).
            edges = self.pod_edges(pod_id)
            owner = next((c.source_id for c in edges if c.kind is ConnectionKind.OWNS
                          and c.target_id == pod_id), None)
            svc = next((c.source_id for c in edges if c.kind is ConnectionKind.HTTP), None)
            deps = [c.target_id for c in edges if c.kind is ConnectionKind.DEPENDS]
            node = next((c.target_id for c in edges if c.kind is ConnectionKind.NETWORK), None)
            if owner and svc and len(deps) == 2 and node and pod.namespace:
                ctr = [c.target_id for c in edges if c.kind is ConnectionKind.OWNS
                       and c.source_id == pod_id]
                gone_edges = [c.id for c in edges]
                for cid in gone_edges:
                    del self.connections[cid]
                del self._pod_edges[pod_id]
                for gone in [pod_id, *ctr]:
                    self.entities.pop(gone, None)
                self.pods.remove(pod_id)
                new_pod = self._add_pod(pod.namespace, str(pod.attrs.get("app", pod.name)),
                                        pod.labels, owner, svc, deps[0], deps[1], node)
                new_edges = self.pod_edges(new_pod)
                new_entities = [self.entities[new_pod]] + [
                    self.entities[c.target_id] for c in new_edges
                    if c.source_id == new_pod and c.kind is ConnectionKind.OWNS]
                return new_entities, new_edges, [pod_id, *ctr], gone_edges, []
        if roll < 0.35:
            restarting = pod.status is EntityStatus.RUNNING
            restarts = int(pod.attrs.get("restart_count") or 0) + (1 if restarting else 0)
            updated = msgspec.structs.replace(
                pod, status=EntityStatus.PENDING if restarting else EntityStatus.RUNNING,
                attrs={**pod.attrs, "restart_count": restarts})
            self.entities[pod_id] = updated
            self._events += 1
            event = Event(
                id=f"synthetic:{self.config.seed}:{self._run}:{self._events}",
                type="Warning" if restarting else "Normal",
                reason="BackOff" if restarting else "Started",
                message=(f"Back-off restarting failed container in pod {pod.name} "
                         f"(restart {restarts})" if restarting
                         else f"Started container in pod {pod.name}"),
                entity_id=pod_id, entity_kind=EntityKind.POD, entity_name=pod.name,
                namespace=pod.namespace, timestamp=time.time(),
                severity=Severity.WARNING if restarting else Severity.INFO,
            )
            return [updated], [], [], [], [event]
        else:
            cpu = (pod.cpu_percent or 10.0) + rng.uniform(-15, 15)
            updated = msgspec.structs.replace(pod, cpu_percent=round(min(99.0, max(0.5, cpu)), 1))
        self.entities[pod_id] = updated
        return [updated], [], [], [], []


class SyntheticSource:
    name = "synthetic"

    def __init__(self, config: SyntheticCollector) -> None:
        self.config = config
        self.world: SyntheticWorld | None = None

    async def run(self, sink: Sink) -> None:
        if self.world is None:
            self.world = await asyncio.to_thread(SyntheticWorld, self.config)
        self.report(sink)
        if self.config.churn_per_second <= 0:
            await asyncio.Event().wait()
        interval = 1.0 / self.config.churn_per_second
        next_tick = time.monotonic()
        while True:
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            self.step(sink)

    def report(self, sink: Sink) -> None:
        """The whole world, as one snapshot. The source is OK first: a snapshot from a
        source still starting is shown stale, and turning it fresh would merge, score and
        encode every entity a second time."""
        assert self.world is not None
        sink.status(SourceState.OK)
        sink.snapshot(self.world.entities.values(), self.world.connections.values(),
                      observed_at=time.time())

    def step(self, sink: Sink) -> None:
        """One change of the world, reported (`run` makes `churn_per_second` of them)."""
        assert self.world is not None
        upserts, edges, removals, edge_removals, events = self.world.churn()
        now = time.time()
        if removals or edge_removals:
            sink.remove(removals, edge_removals, observed_at=now)
        sink.upsert(upserts, edges, observed_at=now)
        for event in events:
            sink.event(event)
