"""Scenarios for kubesim: a cluster that looks real and lives.

`build_cluster` makes N nodes, M namespaces and deployments behind services, with
configmaps, secrets and claims mounted, sized by the number of pods (10,000 and more:
the build goes through the controllers in bulk, so each owner is synced once).
`ClusterLife` then makes it move: rolling updates, crash-looping pods with restart counts
and Warning events, node pressure, scaling up and down. `churn` makes plain pod updates
at a fixed rate, stamped with the time of the write, for latency benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sim.kubesim.store import ApiError, Obj, now_rfc3339

NODES = STORED[("", "nodes")]
PODS = STORED[("", "pods")]
EVENTS = STORED[("", "events")]
DEPLOYMENTS = STORED[("apps", "deployments")]

STAMP_ANNOTATION = "kubesim.gestalt.dev/written-at"
_APPS = ("api", "web", "worker", "cart", "checkout", "search", "auth", "billing", "catalog",
         "orders", "ledger", "mailer", "gateway", "profile", "media", "reports")
_TEAMS = ("shop", "payments", "platform", "data", "identity", "growth", "ops", "ml")


@dataclass
class Cluster:
    """What a scenario built, for the life loop and for tests to pick from."""

    nodes: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    deployments: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name)


def _node(name: str, index: int) -> Obj:
    return {"kind": "Node", "metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}"}},
        "spec": {"podCIDR": f"10.244.{index}.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": f"192.0.2.{10 + index % 240}"},
                                 {"type": "Hostname", "address": name}],
                   "capacity": {"cpu": "16", "memory": "64Gi", "pods": "250"},
                   "allocatable": {"cpu": "15800m", "memory": "62Gi", "pods": "250"},
                   "conditions": _node_conditions(pressure=None),
                   "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12",
                                "containerRuntimeVersion": "containerd://1.7.24"}}}


def _node_conditions(pressure: str | None) -> list[Obj]:
    ts = now_rfc3339()
    out = [{"type": t, "status": "True" if t == pressure else "False", "lastTransitionTime": ts,
            "reason": f"Kubelet{'Has' if t == pressure else 'HasNo'}{t}"}
           for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    out.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                "lastTransitionTime": ts})
    return out


def _deployment(namespace: str, name: str, replicas: int, *, pvc: str | None) -> Obj:
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": f"{name}-config"}}]
    if pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": pvc}})
    labels = {"app": name, "team": namespace}
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                               "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "volumes": volumes,
                         "containers": [{
                             "name": name, "image": f"registry.local/{namespace}/{name}:1.0.0",
                             "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                             "envFrom": [{"secretRef": {"name": f"{name}-credentials"}}],
                             "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                           "limits": {"cpu": "500m", "memory": "512Mi"}}}]}}}}


def build_cluster(sim: KubeSim, *, nodes: int = 3, namespaces: int = 3, pods: int = 60,
                  replicas: int = 3, seed: int = 7) -> Cluster:
    """Create the objects; returns what was made. Deterministic for a given seed."""
    rng = random.Random(seed)
    store = sim.store
    cluster = Cluster()
    deployments = max(1, math.ceil(pods / replicas))
    with sim.controllers.bulk():
        for i in range(nodes):
            name = f"node-{i + 1:03d}"
            store.create(_node(name, i))
            cluster.nodes.append(name)
        for i in range(namespaces):
            ns = _TEAMS[i % len(_TEAMS)] + (f"-{i // len(_TEAMS)}" if i >= len(_TEAMS) else "")
            store.create({"kind": "Namespace", "metadata": {"name": ns, "labels": {
                "team": ns}}, "status": {"phase": "Active"}})
            cluster.namespaces.append(ns)
        remaining = pods
        for d in range(deployments):
            ns = cluster.namespaces[d % namespaces]
            index = d // namespaces
            app = _APPS[index % len(_APPS)] + (f"-{index // len(_APPS)}"
                                                if index >= len(_APPS) else "")
            count = min(replicas, remaining)
            remaining -= count
            pvc = f"{app}-data" if d % 4 == 0 else None
            store.create({"kind": "ConfigMap", "metadata": {"name": f"{app}-config",
                                                            "namespace": ns},
                          "data": {"LOG_LEVEL": rng.choice(["info", "debug"]),
                                   "FEATURE_FLAGS": "search,checkout"}})
            store.create({"kind": "Secret", "metadata": {"name": f"{app}-credentials",
                                                         "namespace": ns},
                          "type": "Opaque", "data": {"username": "YXBw", "password": "czNjcjN0"}})
            if pvc:
                pv = f"pv-{ns}-{app}"
                store.create({"kind": "PersistentVolume", "metadata": {"name": pv},
                              "spec": {"capacity": {"storage": f"{rng.choice([5, 10, 50])}Gi"},
                                       "accessModes": ["ReadWriteOnce"],
                                       "storageClassName": "standard",
                                       "claimRef": {"namespace": ns, "name": pvc}},
                              "status": {"phase": "Bound"}})
                store.create({"kind": "PersistentVolumeClaim",
                              "metadata": {"name": pvc, "namespace": ns},
                              "spec": {"volumeName": pv, "storageClassName": "standard",
                                       "accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "5Gi"}}},
                              "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}})
            store.create(_deployment(ns, app, count, pvc=pvc))
            store.create({"kind": "Service", "metadata": {"name": app, "namespace": ns},
                          "spec": {"type": "ClusterIP", "selector": {"app": app},
                                   "clusterIP": f"10.96.{d // 250}.{d % 250 + 2}",
                                   "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                              "protocol": "TCP"}]}})
            if index == 0:
                store.create({"kind": "Ingress", "metadata": {"name": ns, "namespace": ns},
                              "spec": {"ingressClassName": "nginx", "rules": [
                                  {"host": f"{ns}.example.test", "http": {"paths": [{
                                      "path": "/", "pathType": "Prefix", "backend": {
                                          "service": {"name": app,
                                                      "port": {"number": 80}}}}]}}]}})
            cluster.deployments.append((ns, app))
    return cluster


# -- life --------------------------------------------------------------------------------

class ClusterLife:
    """Changes that keep a cluster moving, one every `interval` seconds on average."""

    def __init__(self, sim: KubeSim, cluster: Cluster, *, seed: int = 11) -> None:
        self.sim, self.cluster = sim, cluster
        self.rng = random.Random(seed)
        self.crashing: dict[tuple[str, str], int] = {}  # pod -> restarts so far
        self.pressured: str | None = None
        self.built_replicas: dict[tuple[str, str], int] = {}

    async def run(self, interval: float = 1.0) -> None:
        actions = [(self.crash_loop, 4), (self.recover, 2), (self.rolling_update, 2),
                   (self.scale, 2), (self.node_pressure, 1)]
        weights = [w for _, w in actions]
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / interval))
            action = self.rng.choices([a for a, _ in actions], weights)[0]
            with contextlib.suppress(LookupError, ApiError):
                action()

    def _pick_pod(self) -> Obj:
        ns, app = self.rng.choice(self.cluster.deployments)
        pods = [p for p in self.sim.store.items(PODS, ns) if p["metadata"]["name"].startswith(
            app + "-")]
        if not pods:
            raise LookupError(app)
        return self.rng.choice(pods)

    def crash_loop(self) -> None:
        """A container exits again: restartCount + 1, CrashLoopBackOff, a Warning event."""
        if self.crashing and self.rng.random() < 0.6:
            ns, name = self.rng.choice(list(self.crashing))
            pod = self.sim.store.find(PODS, ns, name)
            if pod is None:
                del self.crashing[(ns, name)]
                raise LookupError(name)
        else:
            pod = self._pick_pod()
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        restarts = self.crashing.get(key, 0) + 1
        self.crashing[key] = restarts

        def crash(obj: Obj) -> None:
            status = obj["status"]
            for c in status.get("containerStatuses") or []:
                c.update(ready=False, restartCount=restarts, started=False, state={
                    "waiting": {"reason": "CrashLoopBackOff",
                                "message": f"back-off restarting failed container {c['name']}"}},
                    lastState={"terminated": {"exitCode": 1, "reason": "Error"}})
            for cond in status.get("conditions") or []:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond["status"] = "False"

        self.sim.store.update(PODS, key[0], key[1], crash)
        self._event(pod, "Warning", "BackOff", "Back-off restarting failed container", restarts)

    def recover(self) -> None:
        if not self.crashing:
            raise LookupError("nothing crashing")
        ns, name = self.rng.choice(list(self.crashing))
        del self.crashing[(ns, name)]

        def heal(obj: Obj) -> None:
            ts = now_rfc3339()
            for c in obj["status"].get("containerStatuses") or []:
                c.update(ready=True, started=True, state={"running": {"startedAt": ts}})
            for cond in obj["status"].get("conditions") or []:
                cond["status"] = "True"

        if self.sim.store.find(PODS, ns, name) is None:
            raise LookupError(name)
        self.sim.store.update(PODS, ns, name, heal)

    def rolling_update(self) -> None:
        ns, app = self.rng.choice(self.cluster.deployments)
        version = f"1.{self.rng.randint(1, 40)}.{self.rng.randint(0, 9)}"

        def bump(obj: Obj) -> None:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = (
                f"registry.local/{ns}/{app}:{version}")

        self.sim.store.update(DEPLOYMENTS, ns, app, bump)
        dep = self.sim.store.get(DEPLOYMENTS, ns, app)
        self._event(dep, "Normal", "ScalingReplicaSet", f"Rolled out version {version}", 1)

    def scale(self) -> None:
        ns, app = self.rng.choice(self.cluster.deployments)
        dep = self.sim.store.get(DEPLOYMENTS, ns, app)
        current = dep["spec"].get("replicas", 1)
        built = self.built_replicas.setdefault((ns, app), current)
        # A random walk kept between 1 and twice the built size, so a long demo keeps its shape.
        target = max(1, min(current + self.rng.choice([-1, 1]), 2 * built))
        if target == current:
            raise LookupError("already at a bound")
        self.sim.store.update(DEPLOYMENTS, ns, app,
                              lambda o: o["spec"].__setitem__("replicas", target))
        self._event(dep, "Normal", "ScalingReplicaSet",
                    f"Scaled replica set of {app} from {current} to {target}", 1)

    def node_pressure(self) -> None:
        """One node at a time comes under memory or disk pressure, then recovers."""
        if self.pressured:
            name, kind = self.pressured, None
            self.pressured = None
        else:
            name = self.rng.choice(self.cluster.nodes)
            kind = self.rng.choice(["MemoryPressure", "DiskPressure"])
            self.pressured = name
        self.sim.store.update(NODES, None, name, lambda o: o["status"].__setitem__(
            "conditions", _node_conditions(kind)))
        node = self.sim.store.get(NODES, None, name)
        if kind:
            self._event(node, "Warning", f"NodeHas{kind}", f"Node {name} status is now: "
                        f"NodeHas{kind}", 1)

    def _event(self, obj: Obj, type_: str, reason: str, message: str, count: int) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        name = f"{meta['name']}.{reason.lower()}"
        ts = now_rfc3339()
        existing = self.sim.store.find(EVENTS, ns, name)
        if existing is not None:
            def bump(o: Obj) -> None:
                o.update(count=count, message=message, lastTimestamp=ts)
            self.sim.store.update(EVENTS, ns, name, bump)
            return
        self.sim.store.create({
            "kind": "Event", "metadata": {"name": name, "namespace": ns}, "type": type_,
            "reason": reason, "message": message, "count": count, "firstTimestamp": ts,
            "lastTimestamp": ts, "source": {"component": "kubelet"},
            "involvedObject": {"kind": obj["kind"], "name": meta["name"],
                               "namespace": meta.get("namespace"), "uid": meta.get("uid")}})


async def churn(sim: KubeSim, rate: float, *, stop: asyncio.Event | None = None,
                on_write: Any = None) -> int:
    """Update one pod every 1/rate seconds (a stamped annotation): MODIFIED events at a
    steady rate, each carrying the time it was written. Returns how many were made."""
    pods = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in sim.store.items(PODS)]
    if not pods:
        return 0
    loop = asyncio.get_running_loop()
    start, made = loop.time(), 0
    while stop is None or not stop.is_set():
        ns, name = pods[made % len(pods)]
        stamp = f"{time.time():.6f}"

        def mark(obj: Obj, value: str = stamp) -> None:
            obj["metadata"].setdefault("annotations", {})[STAMP_ANNOTATION] = value

        with contextlib.suppress(ApiError):
            sim.store.update(PODS, ns, name, mark)
            if on_write is not None:
                on_write(ns, name, float(stamp))
        made += 1
        await asyncio.sleep(max(0.0, start + made / rate - loop.time()))
    return made
