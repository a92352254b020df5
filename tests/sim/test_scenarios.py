"""Scenarios: the built cluster is consistent, and its life changes what it should."""

from __future__ import annotations

import asyncio
import sys

from gestalt.sim.kubesim import STORED, KubeSim
from gestalt.sim.scenarios import STAMP_ANNOTATION, ClusterLife, build_cluster, churn

PODS = STORED[("", "pods")]
SLICES = STORED[("discovery.k8s.io", "endpointslices")]
DEPLOYMENTS = STORED[("apps", "deployments")]
EVENTS = STORED[("", "events")]
NODES = STORED[("", "nodes")]
PVCS = STORED[("", "persistentvolumeclaims")]


def test_build_cluster_is_consistent() -> None:
    sim = KubeSim()
    cluster = build_cluster(sim, nodes=3, namespaces=2, pods=20, replicas=3)
    store = sim.store
    pods = list(store.items(PODS))
    assert len(pods) == 20 and len(cluster.deployments) == 7
    assert {p["spec"]["nodeName"] for p in pods} == set(cluster.nodes)
    assert len({p["status"]["podIP"] for p in pods}) == 20
    for ns, app in cluster.deployments:
        dep = store.get(DEPLOYMENTS, ns, app)
        assert dep["status"]["readyReplicas"] == dep["spec"]["replicas"]
        endpoints = store.get(SLICES, ns, f"{app}-eps")["endpoints"]
        assert len(endpoints) == dep["spec"]["replicas"]
    assert store.count(PVCS) == 2  # every fourth deployment has a claim
    volumes = pods[0]["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"].endswith("-config")


def test_cluster_life_changes() -> None:
    sim = KubeSim()
    cluster = build_cluster(sim, nodes=2, namespaces=1, pods=6, replicas=3)
    life = ClusterLife(sim, cluster, seed=3)

    life.crash_loop()
    (ns, name), restarts = next(iter(life.crashing.items()))
    pod = sim.store.get(PODS, ns, name)
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == restarts == 1
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    event = sim.store.get(EVENTS, ns, f"{name}.backoff")
    assert (event["type"], event["count"]) == ("Warning", 1)

    ns, app = cluster.deployments[0]
    life.rng.seed(1)
    before = {p["metadata"]["name"] for p in sim.store.items(PODS, ns)}
    life.rolling_update()
    images = {p["spec"]["containers"][0]["image"] for p in sim.store.items(PODS, ns)
              if p["metadata"]["name"].startswith(f"{app}-")}
    changed = [d for d in cluster.deployments if sim.store.get(DEPLOYMENTS, *d)["metadata"][
        "generation"] > 1]
    assert changed and len(images) == 1
    assert {p["metadata"]["name"] for p in sim.store.items(PODS, ns)} != before

    life.node_pressure()
    assert life.pressured is not None
    conditions = {c["type"]: c["status"] for c in sim.store.get(
        NODES, None, life.pressured)["status"]["conditions"]}
    assert "True" in (conditions["MemoryPressure"], conditions["DiskPressure"])

    total = sum(sim.store.get(DEPLOYMENTS, *d)["spec"]["replicas"] for d in cluster.deployments)
    life.scale()
    assert sum(sim.store.get(DEPLOYMENTS, *d)["spec"]["replicas"]
               for d in cluster.deployments) != total
    assert sim.store.count(PODS) == sum(sim.store.get(DEPLOYMENTS, *d)["spec"]["replicas"]
                                        for d in cluster.deployments)


async def test_churn_writes_stamped_updates_at_a_rate() -> None:
    sim = KubeSim()
    build_cluster(sim, nodes=1, namespaces=1, pods=5)
    stop = asyncio.Event()
    written: list[float] = []

    def on_write(ns: str, name: str, stamp: float) -> None:
        written.append(stamp)
        if len(written) == 10:
            stop.set()

    made = await asyncio.wait_for(churn(sim, 200, stop=stop, on_write=on_write), 10)
    assert made == 10 and written == sorted(written)
    stamped = [p for p in sim.store.items(PODS)
               if STAMP_ANNOTATION in (p["metadata"].get("annotations") or {})]
    assert len(stamped) == 5


async def test_command_line_serves_a_cluster(tmp_path) -> None:  # noqa: ANN001
    kubeconfig = tmp_path / "kubeconfig"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gestalt.sim.kubesim", "--scenario", "static", "--pods", "12",
        "--kubeconfig-out", str(kubeconfig), stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(3)]
        assert lines[0].startswith("kubesim listening on https://127.0.0.1:")
        assert lines[1].strip() == f"kubeconfig: {kubeconfig}"
        assert lines[2].startswith("cluster: 12 pods")
        assert "certificate-authority-data" in kubeconfig.read_text()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
