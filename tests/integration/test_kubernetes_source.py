"""KubernetesSource against kubesim (and the real kubectl): informer behaviour, the graph
it builds, and the Secret canary."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from gestalt.model import ConnectionKind, EntityKind, SourceState, ids
from gestalt.model.config import KubernetesCollector
from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sources.base import PermanentSourceError
from gestalt.sources.kubernetes import KubernetesSource
from tests.sim.conftest import deployment, kubectl, seed, wait_until
from tests.support.services import require_service
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

PODS = STORED[("", "pods")]
CANARY = "canary-7f3a9c-never-show-me"
CLUSTER = "kubesim"


def pod_id(name: str, namespace: str = "shop") -> str:
    return ids.k8s("pod", CLUSTER, namespace, name)


def populate(sim: KubeSim) -> None:
    store = sim.store
    store.create({"kind": "ConfigMap", "metadata": {"name": "web-conf", "namespace": "shop"},
                  "data": {"a": "1", "b": "2"}})
    store.create({"kind": "PersistentVolume", "metadata": {"name": "pv-data"},
                  "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                           "storageClassName": "standard"}, "status": {"phase": "Bound"}})
    store.create({"kind": "PersistentVolumeClaim",
                  "metadata": {"name": "data", "namespace": "shop"},
                  "spec": {"volumeName": "pv-data", "storageClassName": "standard",
                           "resources": {"requests": {"storage": "10Gi"}}},
                  "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}})
    web = deployment("web", replicas=2)
    web["spec"]["template"]["spec"]["volumes"] = [
        {"name": "conf", "configMap": {"name": "web-conf"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    store.create(web)
    store.create({"kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                  "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
                           "clusterIP": "10.96.0.20", "ports": [{"port": 80,
                                                                 "targetPort": 8080}]}})
    store.create({"kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"},
                  "spec": {"rules": [{"host": "shop.local", "http": {"paths": [
                      {"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})


@pytest.fixture
def kubectl_bin() -> str:
    path = shutil.which("kubectl")
    require_service("kubectl", path is not None,
                    "no kubectl on PATH (scripts/services.sh installs it)")
    return path or ""


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    async with KubeSim(bookmark_interval=0.3) as server:
        seed(server)
        populate(server)
        yield server


class Running:
    def __init__(self, source: KubernetesSource, sink: RecordingSink,
                 task: asyncio.Task[None]) -> None:
        self.source, self.sink, self.task = source, sink, task


async def start(sim: KubeSim, **overrides: Any) -> Running:
    config = KubernetesCollector(kubeconfig=sim.kubeconfig, inactivity_timeout=1.0,
                                 poll_interval=0.5, **overrides)
    source = KubernetesSource(config)
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    return Running(source, sink, task)


@pytest.fixture
async def running(sim: KubeSim) -> AsyncIterator[Running]:
    run = await start(sim)
    await run.sink.wait_for(lambda: run.sink.snapshots >= 1, what="the first snapshot")
    yield run
    run.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run.task


def pods_in_sink(sink: RecordingSink) -> set[str]:
    return {e.name for e in sink.of_kind(EntityKind.POD)}


def store_pods(sim: KubeSim) -> set[str]:
    return {p["metadata"]["name"] for p in sim.store.items(PODS)}


async def test_initial_snapshot_builds_the_graph(sim: KubeSim, running: Running) -> None:
    sink = running.sink
    assert sink.state is SourceState.OK
    pods = sink.of_kind(EntityKind.POD)
    assert len(pods) == 2
    pod = pods[0]
    raw = sim.store.get(PODS, "shop", pod.name)
    assert pod.id == pod_id(pod.name)
    assert pod.attrs["phase"] == "Running" and pod.attrs["restart_count"] == 0
    assert pod.attrs["cpu_request"] == 100 and pod.memory_limit == 256 * 2**20
    assert pod.attrs["node"] == "node-a"
    assert pod.endpoints == [raw["status"]["podIP"]]
    container_id = ids.container(raw["status"]["containerStatuses"][0]["containerID"])
    assert sink.entities[container_id].kind is EntityKind.CONTAINER

    def edge(kind: ConnectionKind, source: str, target: str) -> bool:
        return f"{kind.value}:{source}->{target}" in sink.connections

    rs_name = raw["metadata"]["ownerReferences"][0]["name"]
    dep = ids.k8s("deployment", CLUSTER, "shop", "web")
    rs = ids.k8s("replicaset", CLUSTER, "shop", rs_name)
    svc = ids.k8s("service", CLUSTER, "shop", "web")
    cm = ids.k8s("configmap", CLUSTER, "shop", "web-conf")
    pvc = ids.k8s("pvc", CLUSTER, "shop", "data")
    assert edge(ConnectionKind.OWNS, ids.k8s("namespace", CLUSTER, None, "shop"), dep)
    assert edge(ConnectionKind.OWNS, dep, rs) and edge(ConnectionKind.OWNS, rs, pod.id)
    assert edge(ConnectionKind.OWNS, pod.id, container_id)
    assert edge(ConnectionKind.NETWORK, svc, pod.id)
    assert edge(ConnectionKind.VOLUME, pod.id, cm) and edge(ConnectionKind.VOLUME, pod.id, pvc)
    assert edge(ConnectionKind.VOLUME, pvc, ids.k8s("pv", CLUSTER, None, "pv-data"))
    assert edge(ConnectionKind.DEPENDS, pod.id, ids.k8s("node", CLUSTER, None, "node-a"))
    assert edge(ConnectionKind.HTTP, ids.k8s("ingress", CLUSTER, "shop", "web"), svc)
    assert sink.entities[dep].attrs["rollout"] == "complete"
    assert sink.entities[dep].attrs["ready_replicas"] == 2
    assert sink.entities[svc].attrs["connections"] == 2
    assert sink.entities[svc].attrs["type"] == "ClusterIP"
    assert sink.entities[cm].attrs == {"k8s_kind": "ConfigMap", "keys": 2, "reference_count": 2,
                                       "uid": sink.entities[cm].attrs["uid"]}
    assert sink.entities[pvc].attrs["capacity_bytes"] == 10 * 2**30
    assert sink.entities[pvc].kind is EntityKind.VOLUME


async def test_kubectl_apply_scale_delete_reach_the_sink(sim: KubeSim, running: Running,
                                                         kubectl_bin: str) -> None:
    sink = running.sink
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: app, image: "registry.local/api:1"}]}
"""
    code, out = await kubectl(sim, "apply", "-f", "-", stdin=manifest)
    assert code == 0, out
    dep = ids.k8s("deployment", CLUSTER, "shop", "api")
    await sink.wait_for(lambda: dep in sink.entities and sum(
        1 for n in pods_in_sink(sink) if n.startswith("api-")) == 2, what="api and 2 pods")
    code, out = await kubectl(sim, "scale", "deployment/api", "-n", "shop", "--replicas=4")
    assert code == 0, out
    await sink.wait_for(lambda: sink.entities[dep].attrs["replicas"] == 4 and sum(
        1 for n in pods_in_sink(sink) if n.startswith("api-")) == 4, what="scaled to 4")
    code, out = await kubectl(sim, "delete", "deployment", "api", "-n", "shop")
    assert code == 0, out
    await sink.wait_for(lambda: dep not in sink.entities and not any(
        n.startswith("api-") for n in pods_in_sink(sink)), what="api gone")
    assert pods_in_sink(sink) == store_pods(sim)


async def test_blackhole_then_recovery(sim: KubeSim, running: Running) -> None:
    sink = running.sink
    deployments = STORED[("apps", "deployments")]
    sim.faults.blackhole()
    await sink.wait_for(lambda: sink.state is SourceState.DOWN, timeout=15,
                        what="DOWN while blackholed")
    # The world moves on meanwhile: a deployment goes, another comes, one scales.
    sim.store.delete(deployments, "shop", "web")
    sim.store.create(deployment("cart", replicas=3))
    sim.faults.restore()
    await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=15, what="recovered")
    await sink.wait_for(lambda: pods_in_sink(sink) == store_pods(sim), timeout=10,
                        what="pods as in the store")
    assert not any(n.startswith("web-") for n in pods_in_sink(sink))
    graph = running.source.graph
    assert graph is not None

    def cache_is_fresh() -> bool:
        """The informers' caches equal a fresh list, by uid and resourceVersion."""
        assert graph is not None
        for kind, resource in (("Pod", PODS), ("Deployment", deployments)):
            fresh = {(o["metadata"]["namespace"], o["metadata"]["name"]):
                     (o["metadata"]["uid"], o["metadata"]["resourceVersion"])
                     for o in sim.store.items(resource)}
            if {(k[1], k[2]): v for k, v in graph.versions(kind).items()} != fresh:
                return False
        return True

    await sink.wait_for(cache_is_fresh, timeout=15, what="caches equal to a fresh list")
    assert ids.k8s("deployment", CLUSTER, "shop", "cart") in sink.entities
    assert ids.k8s("deployment", CLUSTER, "shop", "web") not in sink.entities
    names = [e.name for e in sink.of_kind(EntityKind.POD)]
    assert len(names) == len(set(names))


async def test_forced_410_relists_exactly_once(sim: KubeSim, running: Running) -> None:
    sink = running.sink
    pods_informer = next(i for i in running.source.informers if i.kind.plural == "pods")
    assert pods_informer.lists == 1
    snapshots = sink.snapshots
    # Expire the watch once it is open: a watch that starts after the compaction, from the
    # list's (still current) resourceVersion, is not too old and sees no 410.
    await sink.wait_for(lambda: any(watchers for res, watchers in sim.store.watchers.items()
                                    if res.plural == "pods"), what="the pods watch open")
    sim.faults.expire_watches("pods")
    await sink.wait_for(lambda: sink.snapshots > snapshots, what="the relist snapshot")
    sim.store.create(deployment("after", replicas=1))
    await sink.wait_for(lambda: any(n.startswith("after-") for n in pods_in_sink(sink)),
                        what="a pod created after the relist")
    assert pods_informer.lists == 2
    lists = [r for r in sim.requests if r.resource == "pods" and r.verb == "list"
             and r.user_agent.startswith("gestalt")]
    assert len(lists) == 2
    assert pods_in_sink(sink) == store_pods(sim)


async def test_throttled_list_waits_retry_after(sim: KubeSim) -> None:
    sim.faults.throttle(1, retry_after=2, resource="pods")
    run = await start(sim)
    try:
        await run.sink.wait_for(lambda: run.sink.snapshots >= 1, timeout=15, what="snapshot")
        lists = [r for r in sim.requests if r.resource == "pods" and r.verb == "list"]
        assert [r.status for r in lists[:2]] == [429, 200]
        assert lists[1].at - lists[0].at >= 2.0
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_silent_watch_reconnects(sim: KubeSim, running: Running) -> None:
    def pod_watches() -> int:
        return sum(1 for r in sim.requests if r.resource == "pods" and r.verb == "watch")

    before = pod_watches()
    sim.faults.pause_watches()
    await wait_until(lambda: pod_watches() > before, timeout=10,
                     what="a new watch after the inactivity timeout")
    sim.faults.resume_watches()
    sim.store.create(deployment("later", replicas=1))
    await running.sink.wait_for(lambda: any(n.startswith("later-")
                                            for n in pods_in_sink(running.sink)),
                                what="a pod created after the silence")


async def test_forbidden_resource_degrades_only_itself(sim: KubeSim) -> None:
    sim.rbac.forbid("configmaps", ["list", "watch"])
    run = await start(sim)
    try:
        sink = run.sink
        await sink.wait_for(lambda: sink.snapshots >= 1, what="snapshot")
        await sink.wait_for(lambda: sink.state is SourceState.DEGRADED, what="DEGRADED")
        assert "configmaps" in sink.statuses[-1][1]
        assert sink.of_kind(EntityKind.CONFIGMAP) == []
        assert len(sink.of_kind(EntityKind.POD)) == 2
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_events_and_metrics(sim: KubeSim, running: Running) -> None:
    sink = running.sink
    pod = next(iter(sim.store.items(PODS, "shop")))
    sim.store.create({"kind": "Event", "metadata": {"name": "crash.1", "namespace": "shop"},
                      "type": "Warning", "reason": "BackOff", "count": 3,
                      "message": "Back-off restarting failed container",
                      "involvedObject": {"kind": "Pod", "namespace": "shop",
                                         "name": pod["metadata"]["name"]},
                      "lastTimestamp": pod["metadata"]["creationTimestamp"]})
    event = await sink.wait_for(lambda: next((e for e in sink.events if e.reason == "BackOff"),
                                             None), what="the event")
    assert (event.type, event.count, event.entity_id) == ("Warning", 3,
                                                          pod_id(pod["metadata"]["name"]))
    # It recurs: the same event, counted again, keeps its id (the feed updates its row).
    sim.store.update(STORED[("", "events")], "shop", "crash.1",
                     lambda obj: obj.__setitem__("count", 4))
    again = await sink.wait_for(lambda: next((e for e in sink.events if e.count == 4), None),
                                what="the recurrence")
    assert again.id == event.id and again.reason == "BackOff"
    await sink.wait_for(lambda: any(s[0] == pod_id(pod["metadata"]["name"])
                                    for s in sink.metric_samples), what="pod metrics")
    sample = next(s for s in sink.metric_samples if s[0] == pod_id(pod["metadata"]["name"]))
    assert sample[1]["cpu_percent"] > 0 and sample[1]["memory_bytes"] > 0
    assert sample[1]["memory_limit"] == 256 * 2**20


async def test_secret_canary_never_enters(sim: KubeSim, kubectl_bin: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(CANARY.encode()).decode()
    sim.store.create({"kind": "Secret", "metadata": {
        "name": "db", "namespace": "shop", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                {"stringData": {"password": CANARY}})}},
        "type": "Opaque", "data": {"password": encoded, "user": encoded},
        "stringData": {"token": CANARY}})
    run = await start(sim)
    try:
        sink = run.sink
        await sink.wait_for(lambda: sink.snapshots >= 1, what="snapshot")
        manifest = ("apiVersion: v1\nkind: Secret\nmetadata: {name: api-key, namespace: shop}\n"
                    f"type: Opaque\nstringData: {{key: {CANARY}}}\n")
        code, out = await kubectl(sim, "apply", "-f", "-", stdin=manifest)
        assert code == 0, out
        secret_id = ids.k8s("secret", CLUSTER, "shop", "api-key")
        await sink.wait_for(lambda: secret_id in sink.entities, what="the applied secret")
        db = sink.entities[ids.k8s("secret", CLUSTER, "shop", "db")]
        assert (db.attrs["type"], db.attrs["keys"]) == ("Opaque", 2)
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)
    recorded = msgspec.json.encode([list(sink.entities.values()),
                                    list(sink.connections.values()), sink.events,
                                    sink.metric_samples, sink.statuses]).decode()
    for needle in (CANARY, encoded):
        assert needle not in recorded
        assert needle not in caplog.text
        assert needle not in repr(run.source.graph.objects if run.source.graph else {})
    ours = [r for r in sim.requests if r.resource == "secrets"
            and r.user_agent.startswith("gestalt")]
    assert {r.verb for r in ours} == {"list", "watch"}
    for request in ours:
        options = [o.strip() for o in request.accept.split(",")]
        assert all("as=Table" in o or "as=PartialObjectMetadata" in o for o in options), request


async def test_namespace_filter(sim: KubeSim) -> None:
    sim.store.create({"kind": "Namespace", "metadata": {"name": "other"}})
    sim.store.create(deployment("elsewhere", namespace="other", replicas=1))
    run = await start(sim, namespaces=["shop"])
    try:
        sink = run.sink
        await sink.wait_for(lambda: sink.snapshots >= 1, what="snapshot")
        assert {e.namespace for e in sink.entities.values() if e.namespace} == {"shop"}
        assert [e.name for e in sink.of_kind(EntityKind.NAMESPACE)] == ["shop"]
        assert sink.of_kind(EntityKind.NODE)  # cluster-scoped kinds are still shown
        pods = [r for r in sim.requests if r.resource == "pods" and r.verb == "list"]
        assert {r.namespace for r in pods} == {"shop"}
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


async def test_exec_plugin_and_context_selection(sim: KubeSim, tmp_path: Path) -> None:
    plugin = tmp_path / "credential-plugin"
    plugin.write_text("#!/bin/sh\necho '" + json.dumps({
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "status": {"token": sim.token}}) + "'\n")
    plugin.chmod(0o700)
    config = sim.kubeconfig_dict()
    cluster = config["clusters"][0]["cluster"]
    config["clusters"].append({"name": "elsewhere", "cluster": cluster})
    config["users"] = [
        {"name": "plugin", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                             "command": str(plugin),
                                             "interactiveMode": "Never"}}},
        {"name": "wrong", "user": {"token": "not-the-token"}}]
    config["contexts"] = [
        {"name": "good", "context": {"cluster": "elsewhere", "user": "plugin"}},
        {"name": "bad", "context": {"cluster": "kubesim", "user": "wrong"}}]
    config["current-context"] = "bad"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))

    sink = RecordingSink()
    good = KubernetesSource(KubernetesCollector(kubeconfig=str(path), context="good"))
    task = asyncio.create_task(good.run(sink))
    try:
        await sink.wait_for(lambda: sink.snapshots >= 1, what="snapshot through the plugin")
        assert any(e.id.startswith("pod:elsewhere/shop/") for e in sink.entities.values())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    bad = KubernetesSource(KubernetesCollector(kubeconfig=str(path)))  # current-context: bad
    with pytest.raises(PermanentSourceError, match="unauthorized"):
        await asyncio.wait_for(bad.run(RecordingSink()), 20)


async def test_new_ca_reloads_the_kubeconfig(tmp_path: Path) -> None:
    """The API server restarts with a new CA and the kubeconfig is rewritten (as kind, k3s
    or a cert rotation do): the source reloads it and recovers within its backoff,
    instead of failing CERTIFICATE_VERIFY_FAILED forever with the CA it loaded first."""
    from gestalt.engine.hub import Hub
    from gestalt.engine.store import Store
    from gestalt.engine.supervisor import Supervisor

    sim = KubeSim(bookmark_interval=0.3, kubeconfig_path=str(tmp_path / "kubeconfig"))
    await sim.start()
    seed(sim)
    populate(sim)
    hub = Hub(Store())
    supervisor = Supervisor(hub)
    supervisor.start(KubernetesSource(KubernetesCollector(
        kubeconfig=sim.kubeconfig, inactivity_timeout=1.0, poll_interval=0.5)))
    try:
        await eventually(lambda: hub.statuses["kubernetes"].state is SourceState.OK,
                         timeout=20, what="the source ok")
        def ca() -> str:
            return str(sim.kubeconfig_dict()["clusters"][0]["cluster"]
                       ["certificate-authority-data"])

        first_ca = ca()
        await sim.stop()
        await sim.start()  # same port and store, a new self-signed CA, kubeconfig rewritten
        assert ca() != first_ca
        sim.store.create(deployment("after-restart", replicas=1))
        # Within the source's backoff (its retries are jittered, capped at 30 s).
        await wait_until(lambda: hub.statuses["kubernetes"].state is SourceState.OK and any(
            e.name.startswith("after-restart-") for e in hub.store.entities.values()),
            timeout=30, what="recovered with the new CA, a pod made after the restart shown")
    finally:
        await supervisor.stop()
        await sim.stop()


async def test_kubeconfig_unreadable_after_a_good_load_is_retried(tmp_path: Path) -> None:
    """Caught mid-rewrite, a kubeconfig that loaded before is a moment to wait out: the
    run fails as retryable, not as a configuration error that stops the source for good."""
    from gestalt.sources.base import SourceError

    path = tmp_path / "kubeconfig"
    async with KubeSim(kubeconfig_path=str(path)):
        source = KubernetesSource(KubernetesCollector(kubeconfig=str(path)))
        sink = RecordingSink()
        task = asyncio.create_task(source.run(sink))
        await sink.wait_for(lambda: sink.snapshots >= 1, what="the first snapshot")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        path.write_text("apiVersion: v1\nkind: Config\n")  # truncated: no clusters
        with pytest.raises(SourceError) as failed:
            await asyncio.wait_for(source.run(RecordingSink()), 20)
        assert not isinstance(failed.value, PermanentSourceError)
    fresh = KubernetesSource(KubernetesCollector(kubeconfig=str(path)))
    with pytest.raises(PermanentSourceError, match="cannot load"):  # never loaded: config error
        await asyncio.wait_for(fresh.run(RecordingSink()), 20)


def _pinned_pod(name: str, usage_millicores: int, cpu_limit: str | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "100m"}}
    if cpu_limit:
        resources["limits"] = {"cpu": cpu_limit}
    return {"kind": "Pod", "metadata": {
                "name": name, "namespace": "shop",
                "annotations": {"kubesim.gestalt.dev/usage": f"{usage_millicores},64"}},
            "spec": {"nodeName": "node-a", "containers": [
                {"name": "app", "image": "registry.local/app:1", "resources": resources}]},
            "status": {"phase": "Running"}}


async def test_pod_cpu_is_a_share_of_its_limit_or_its_node(sim: KubeSim,
                                                           running: Running) -> None:
    """cpu_percent is a share of what the pod may use: its CPU limit, else its node's
    allocatable CPU (node-a: 4 cores), never "100 per busy core"; the usage itself in
    millicores, as kubectl top shows it, like cpu_request and cpu_limit."""
    sink = running.sink
    sim.store.create(_pinned_pod("limited", 250, "500m"))
    sim.store.create(_pinned_pod("unlimited", 1000, None))
    # A metrics poll may come before the pods' watch events: only samples taken once the
    # source knows both pods (their limits and node) count.
    await sink.wait_for(lambda: {pod_id("limited"), pod_id("unlimited")} <= set(sink.entities),
                        what="both pods")
    known = len(sink.metric_samples)

    def sample(name: str) -> dict[str, Any] | None:
        return next((values for eid, values, _ in reversed(sink.metric_samples[known:])
                     if eid == pod_id(name)), None)

    limited = await sink.wait_for(lambda: sample("limited"), what="the limited pod's metrics")
    unlimited = await sink.wait_for(lambda: sample("unlimited"),
                                    what="the unlimited pod's metrics")
    assert limited["cpu_percent"] == pytest.approx(50.0)  # 250m of a 500m limit
    assert unlimited["cpu_percent"] == pytest.approx(25.0)  # 1000m of node-a's 4000m
    assert (limited["cpu_usage"], unlimited["cpu_usage"]) == (250, 1000)
    assert sink.entities[pod_id("limited")].attrs["cpu_limit"] == 500
    assert "cpu_limit" not in sink.entities[pod_id("unlimited")].attrs
