"""KubernetesSource: informers for every kind, metrics from metrics.k8s.io, events.

Status: OK when every informer is live; DEGRADED (with the kinds named, and listed in
the status's `not_permitted`) when RBAC does not grant some of them, which hides only
those; DOWN while the API server cannot be reached, so the engine marks our entities
stale. What RBAC grants is asked before anything is listed (see permissions.py): a kind
that is not permitted is never requested, only asked about again now and then.
Transient failures are retried here, per kind; bad credentials or configuration end
`run` (PermanentSourceError), and so does a certificate the TLS handshake rejects (the
supervisor reruns us with the credentials read again; see informer.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from gestalt.model import Entity, Event, Severity, SourceState
from gestalt.model.config import KubernetesCollector
from gestalt.sources.base import PermanentSourceError, Sink, SourceError
from gestalt.sources.kubernetes import permissions, quantity
from gestalt.sources.kubernetes.access import ClusterAccess, load_access
from gestalt.sources.kubernetes.api import (
    KINDS,
    NAMESPACES,
    NODE_METRICS,
    POD_METRICS,
    Api,
    ApiError,
    Kind,
    Unauthorized,
)
from gestalt.sources.kubernetes.graph import Graph
from gestalt.sources.kubernetes.informer import (
    CertificateRejected,
    Informer,
    Listener,
    rejected_certificate,
)
from gestalt.sources.kubernetes.objects import Discovery, read_objects
from gestalt.sources.kubernetes.permissions import Permissions
from gestalt.sources.kubernetes.translate import KINDS as ENTITY_KINDS
from gestalt.sources.kubernetes.translate import entity_id, parse_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NAMES = {kind.kind: kind.resource for kind in KINDS}
EVENT_MEMORY = 20_000  # (uid, count) pairs remembered so a relist does not repeat events
METRICS_RETRY = 60.0  # when metrics.k8s.io is missing or forbidden
NAMESPACE_POLL = 30.0  # namespaces read by name (a namespaced install): how often


def _share(cores: float, capacity_millicores: Any) -> float | None:
    """CPU in use as a percentage of a capacity in millicores (None when unknown)."""
    if not isinstance(capacity_millicores, int | float) or capacity_millicores <= 0:
        return None
    return round(100 * cores * 1000 / capacity_millicores, 2)


class KubernetesSource(Listener):
    name = "kubernetes"

    def __init__(self, config: KubernetesCollector, *, access: ClusterAccess | None = None,
                 name: str = "kubernetes") -> None:
        self.name = name
        self.config = config
        self._access = access
        self._loaded = False  # a kubeconfig loaded once: failing to load it now is transient
        self.informers: list[Informer] = []
        self.graph: Graph | None = None
        self.permissions: Permissions | None = None
        self._namespace_objects: list[Obj] = []
        # For `read_objects` (sources.base.ReadsClusterObjects): the running client.
        self.cluster: str | None = None
        self._api: Api | None = None
        self._discovery = Discovery()

    async def run(self, sink: Sink) -> None:
        access = self._access or await self._load_access()
        namespaces: list[str | None] = list(self.config.namespaces) or [None]
        self.start(sink, access.cluster)
        limits = httpx.Limits(max_connections=len(KINDS) * len(namespaces) + 8,
                              max_keepalive_connections=len(KINDS) * len(namespaces) + 8)
        async with httpx.AsyncClient(verify=access.verify, limits=limits,
                                     timeout=self.config.request_timeout) as http:
            api = Api(access, http, page_size=self.config.page_size,
                      watch_timeout=int(self.config.watch_timeout),
                      inactivity_timeout=self.config.inactivity_timeout)
            self._api, self.cluster, self._discovery = api, access.cluster, Discovery()
            self.informers = [
                Informer(api, kind, ns if kind.namespaced else None, self)
                for kind in KINDS for ns in (namespaces if kind.namespaced else [None])]
            sink.status(SourceState.STARTING, f"listing from {access.server}")
            self.permissions = await self._ask(api)
            try:
                async with asyncio.TaskGroup() as group:
                    self._start_permitted(group, api)
                    group.create_task(self._poll_metrics(api, namespaces),
                                      name="kubernetes:metrics")
                    group.create_task(self._recheck(group, api), name="kubernetes:rbac")
            except ExceptionGroup as failed:
                # One informer's failure stops them all; the supervisor sees the first
                # permanent error (bad credentials) if there is one, plainly.
                permanent = [e for e in failed.exceptions if isinstance(e, PermanentSourceError)]
                raise (permanent or failed.exceptions)[0] from failed

    async def read_objects(self, api_version: str, kind: str,
                           namespace: str | None) -> list[Obj]:
        """Whole objects of one kind, on request (objects.py says what is kept)."""
        api = self._api
        if api is None or api.http.is_closed:
            raise SourceError("kubernetes: not connected to the cluster yet")
        try:
            return await read_objects(api, self._discovery, api_version, kind, namespace)
        except (ApiError, httpx.HTTPError) as exc:
            raise SourceError(f"kubernetes: reading {kind} failed: {exc}") from exc

    # -- what RBAC grants --------------------------------------------------------------
    async def _ask(self, api: Api) -> Permissions:
        """What RBAC grants, before anything is listed."""
        wanted = permissions.needs(self.config)
        for attempt in range(2):
            try:
                return await permissions.review(api, wanted)
            except Unauthorized as exc:
                if attempt == 0 and await api.access.refresh():
                    continue
                raise PermanentSourceError(f"kubernetes: unauthorized ({exc.message}); check "
                                           "the credentials") from exc
            except httpx.HTTPError as exc:
                rejected = rejected_certificate(exc)
                if rejected is not None:
                    raise CertificateRejected(
                        f"kubernetes: TLS with {api.access.server} failed: "
                        f"{rejected.reason or rejected}; reloading the credentials") from exc
                raise SourceError(f"kubernetes: cannot reach {api.access.server}: "
                                  f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _start_permitted(self, group: asyncio.TaskGroup, api: Api) -> None:
        """Start the informers RBAC permits; the others count as listed (empty) and are
        reported not permitted. Namespaces, where only a Role grants reading them one by
        one, are read by name."""
        assert self.permissions is not None
        for informer in self.informers:
            key = (informer.kind.kind, informer.namespace)
            if key in self._running:
                continue
            if self.permissions.readable(informer.kind, informer.namespace):
                self._running.add(key)
                self._not_permitted.pop(key, None)
                group.create_task(informer.run(), name=f"kubernetes:{informer.label}")
                continue
            if informer.kind is NAMESPACES and self._readable_namespaces():
                self._running.add(key)
                self._not_permitted.pop(key, None)
                group.create_task(self._read_namespaces(api), name="kubernetes:namespaces")
                continue
            self._not_permitted[key] = informer.kind.resource + (
                f" in {informer.namespace}" if informer.namespace else "")
            if key not in self._settled:
                self.listed(informer.kind, informer.namespace, [])
        metrics = [(POD_METRICS, ns) for ns in self._namespaces] + [(NODE_METRICS, None)]
        for kind, ns in metrics:
            if self.permissions.allows(kind, "list", ns):
                self._not_permitted.pop((kind.kind, ns), None)
            else:
                self._not_permitted[(kind.kind, ns)] = kind.resource + (f" in {ns}" if ns else "")
        self._report()

    def _readable_namespaces(self) -> list[str]:
        assert self.permissions is not None
        return [ns for ns in self.config.namespaces
                if self.permissions.allows(NAMESPACES, "get", ns, ns)]

    async def _recheck(self, group: asyncio.TaskGroup, api: Api) -> None:
        """Ask again about what was not permitted: access granted later starts the
        informers it allows, without a restart."""
        while True:
            await asyncio.sleep(permissions.RECHECK)
            if not self._not_permitted or self.permissions is None:
                continue
            try:  # only what was refused is asked again
                self.permissions = self.permissions.updated(await permissions.review(
                    api, self.permissions.refused))
            except (ApiError, httpx.HTTPError) as exc:
                log.info("kubernetes: could not ask about RBAC again: %s", exc)
                continue
            self._start_permitted(group, api)

    async def _read_namespaces(self, api: Api) -> None:
        """The configured namespaces, each read by name, every NAMESPACE_POLL seconds;
        handed on only when one changed."""
        seen: dict[str, str] | None = None
        while True:
            objects: list[Obj] = []
            versions: dict[str, str] = {}
            for name in self._readable_namespaces():
                try:
                    obj = await api.get(NAMESPACES, name)
                except (ApiError, httpx.HTTPError) as exc:
                    log.info("kubernetes: cannot read namespace %s: %s", name, exc)
                    if seen is not None and name in seen:
                        versions[name] = seen[name]  # keep what we had; try again later
                        objects.extend(o for o in self._namespace_objects if
                                       o["metadata"]["name"] == name)
                    continue
                objects.append(obj)
                versions[name] = obj["metadata"].get("resourceVersion", "")
            if versions != seen:
                seen = versions
                self._namespace_objects = objects
                self.listed(NAMESPACES, None, self.prepare(NAMESPACES, objects))
            await asyncio.sleep(NAMESPACE_POLL)

    async def _load_access(self) -> ClusterAccess:
        try:
            access = await load_access(self.config)
        except PermanentSourceError as exc:
            if not self._loaded:
                raise
            # It loaded before: a kubeconfig being rewritten (a CA or credentials rotated)
            # is a moment to wait out, not a configuration to give up on.
            raise SourceError(str(exc)) from exc
        self._loaded = True
        return access

    def start(self, sink: Sink, cluster: str) -> None:
        """Fresh state for one run (every run starts with a full list)."""
        namespaces = len(self.config.namespaces) or 1
        self._expected = sum(namespaces if kind.namespaced else 1 for kind in KINDS)
        self._sink = sink
        self.graph = Graph(cluster)
        self._cluster = cluster
        self._settled: set[tuple[str, str | None]] = set()
        self._synced = False
        self._synced_event = asyncio.Event()
        self._problems: dict[tuple[str, str | None], tuple[str, bool]] = {}
        # (kind, namespace) -> "nodes", "configmaps in shop": what RBAC does not grant.
        self._not_permitted: dict[tuple[str, str | None], str] = {}
        self._running: set[tuple[str, str | None]] = set()
        self._namespaces: list[str | None] = list(self.config.namespaces) or [None]
        self._namespace_objects = []
        self.permissions = None
        self._state: tuple[SourceState, str, tuple[str, ...]] | None = None
        self._seen_events: dict[tuple[str, int], None] = {}

    # -- Listener ---------------------------------------------------------------------
    def prepare(self, kind: Kind, objects: list[Obj]) -> list[Any]:
        """Events as they are; other objects translated page by page (`Graph.records`)."""
        assert self.graph is not None
        if kind.kind == "Event":
            return objects
        return self.graph.records(self._filter(kind, objects))

    def listed(self, kind: Kind, namespace: str | None, objects: list[Any]) -> None:
        assert self.graph is not None
        if kind.kind == "Event":
            self._events(objects, initial=not self._synced)
        else:
            self.graph.replace(kind.kind, objects,
                               namespace if namespace and self.config.namespaces else None)
        self._settled.add((kind.kind, namespace))
        if self._synced or len(self._settled) == self._expected:
            self._synced = True
            self._synced_event.set()
            # A (re)list replaces this source's view atomically: the hub diffs it.
            self._sink.snapshot(self.graph.entities(), self.graph.edges(),
                                observed_at=time.time())

    def changed(self, kind: Kind, event_type: str, obj: Obj) -> None:
        assert self.graph is not None
        if kind.kind == "Event":
            if event_type != "DELETED":
                self._events([obj], initial=False)
            return
        if not self._filter(kind, [obj]):
            return
        change = self.graph.apply(event_type, obj)
        if not self._synced or not change:
            return
        now = time.time()
        if change.upserts or change.edge_upserts:
            self._sink.upsert(change.upserts.values(), change.edge_upserts.values(),
                              observed_at=now)
        if change.removals or change.edge_removals:
            self._sink.remove(change.removals, change.edge_removals, observed_at=now)

    def healthy(self, kind: Kind, namespace: str | None) -> None:
        self._problems.pop((kind.kind, namespace), None)
        self._report()

    def failing(self, kind: Kind, namespace: str | None, reason: str,
                forbidden: bool = False) -> None:
        self._problems[(kind.kind, namespace)] = (reason, forbidden)
        if forbidden and (kind.kind, namespace) not in self._settled:
            self.listed(kind, namespace, [])  # forbidden counts as settled: show the rest
        self._report()

    # -- helpers ----------------------------------------------------------------------
    def _filter(self, kind: Kind, objects: list[Obj]) -> list[Obj]:
        """Namespaces outside the configured filter are not shown."""
        if kind.kind != "Namespace" or not self.config.namespaces:
            return objects
        wanted = set(self.config.namespaces)
        return [o for o in objects if o["metadata"]["name"] in wanted]

    def _report(self) -> None:
        down = sorted(r for r, forbidden in self._problems.values() if not forbidden)
        forbidden = sorted(r for r, f in self._problems.values() if f)
        not_permitted = tuple(sorted(set(self._not_permitted.values()) | {
            NAMES[kind] + (f" in {ns}" if ns else "")
            for (kind, ns), (_r, f) in self._problems.items() if f}))
        if down:
            state = (SourceState.DOWN, f"API server unreachable: {down[0]}"
                     + (f" (and {len(down) - 1} more)" if len(down) > 1 else ""), not_permitted)
        elif forbidden or not_permitted:
            shown = ", ".join(sorted(self._not_permitted.values()))
            reasons = ([f"not permitted by RBAC (not read): {shown}"] if shown else []) + forbidden
            state = (SourceState.DEGRADED, "; ".join(reasons), not_permitted)
        elif self._synced or len(self._settled) == self._expected:
            state = (SourceState.OK, "", ())
        else:
            return
        if state != self._state:
            self._state = state
            self._sink.status(state[0], state[1], not_permitted=list(state[2]))

    def _events(self, objects: list[Obj], *, initial: bool) -> None:
        horizon = time.time() - 3600 if initial else 0.0
        for obj in objects:
            meta = obj["metadata"]
            key = (meta.get("uid", ""), int(obj.get("count") or 1))
            if key in self._seen_events:
                continue
            self._seen_events[key] = None
            if len(self._seen_events) > EVENT_MEMORY:
                del self._seen_events[next(iter(self._seen_events))]
            involved = obj.get("involvedObject") or {}
            kind = involved.get("kind", "")
            if kind not in ENTITY_KINDS:
                continue
            stamp = (parse_time(obj.get("lastTimestamp")) or parse_time(obj.get("eventTime"))
                     or parse_time(meta.get("creationTimestamp")) or time.time())
            if stamp < horizon:
                continue
            namespace = involved.get("namespace") or meta.get("namespace")
            name = involved.get("name", "")
            warning = obj.get("type") == "Warning"
            # One id per Kubernetes event: when it recurs (count + 1) the feed and history
            # update that row ("BackOff ×5") rather than add another.
            self._sink.event(Event(
                id=f"k8s-event:{self._cluster}/{key[0]}", type=obj.get("type") or "Normal",
                reason=obj.get("reason") or "", message=(obj.get("message") or "")[:1000],
                entity_id=entity_id(self._cluster, kind, namespace if kind not in (
                    "Node", "Namespace", "PersistentVolume") else None, name),
                entity_kind=ENTITY_KINDS[kind][1], entity_name=name, timestamp=stamp,
                severity=Severity.WARNING if warning else Severity.INFO, source=self.name,
                namespace=namespace, count=key[1]))

    async def _poll_metrics(self, api: Api, namespaces: list[str | None]) -> None:
        base = "/apis/metrics.k8s.io/v1beta1"
        await self._synced_event.wait()  # limits and allocatable come from the objects
        while True:
            permitted = self.permissions
            try:
                # Passed on at once: nothing of a poll is held through the sleep.
                for ns in namespaces:
                    if permitted is None or permitted.allows(POD_METRICS, "list", ns):
                        self._pod_metrics(await api.metrics(
                            f"{base}/namespaces/{ns}/pods" if ns else f"{base}/pods"))
                if permitted is None or permitted.allows(NODE_METRICS, "list", None):
                    self._node_metrics(await api.metrics(f"{base}/nodes"))
            except (ApiError, httpx.HTTPError) as exc:
                log.info("kubernetes: metrics.k8s.io unavailable (%s); retrying in %gs",
                         exc, METRICS_RETRY)
                await asyncio.sleep(METRICS_RETRY)
                continue
            await asyncio.sleep(self.config.poll_interval)

    def _pod_metrics(self, items: list[Obj]) -> None:
        assert self.graph is not None
        for item in items:
            meta = item.get("metadata") or {}
            ns, name = meta.get("namespace", ""), meta.get("name", "")
            cores = sum(quantity.parse((c.get("usage") or {}).get("cpu")) or 0.0
                        for c in item.get("containers") or [])
            memory = sum(quantity.bytes_((c.get("usage") or {}).get("memory")) or 0
                         for c in item.get("containers") or [])
            pod = self.graph.entity("Pod", ns, name)
            values: dict[str, float | int | None] = {
                "cpu_percent": _share(cores, self._pod_cpu_capacity(pod)),
                "cpu_usage": round(cores * 1000, 1),  # millicores, as cpu_request and kubectl
                "memory_bytes": memory}
            if pod is not None and pod.memory_limit is not None:
                values["memory_limit"] = pod.memory_limit
            observed = parse_time(item.get("timestamp")) or time.time()
            self._sink.metrics(entity_id(self._cluster, "Pod", ns, name), values, observed)

    def _pod_cpu_capacity(self, pod: Entity | None) -> Any:
        """Millicores the pod may use: its CPU limit, else its node's allocatable CPU."""
        assert self.graph is not None
        if pod is None:
            return None
        if pod.attrs.get("cpu_limit"):
            return pod.attrs["cpu_limit"]
        node = pod.attrs.get("node")
        entity = self.graph.entity("Node", None, str(node)) if node else None
        return entity.attrs.get("cpu_capacity") if entity is not None else None

    def _node_metrics(self, items: list[Obj]) -> None:
        assert self.graph is not None
        for item in items:
            name = (item.get("metadata") or {}).get("name", "")
            usage = item.get("usage") or {}
            cores = quantity.parse(usage.get("cpu"))
            values: dict[str, float | int | None] = {"memory_bytes": quantity.bytes_(
                usage.get("memory"))}
            node = self.graph.entity("Node", None, name)
            if cores is not None:
                values["cpu_usage"] = round(cores * 1000, 1)
                if node is not None:
                    values["cpu_percent"] = _share(cores, node.attrs.get("cpu_capacity"))
            if node is not None:
                values["memory_limit"] = node.memory_limit
            observed = parse_time(item.get("timestamp")) or time.time()
            self._sink.metrics(entity_id(self._cluster, "Node", None, name), values, observed)
