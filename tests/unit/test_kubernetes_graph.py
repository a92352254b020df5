"""The source's graph: watch events give the same picture as a fresh rebuild, and
cross-object counts follow."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gestalt.model import ids
from gestalt.sources.kubernetes.graph import Graph

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"
C = "prod"


def pod(name: str, configmap: str = "checkout-config", version: int = 1) -> dict:
    obj = json.loads((FIXTURES / "pod_crashloop.json").read_text())
    obj["metadata"].update(name=name, uid=f"uid-{name}", resourceVersion=str(version))
    obj["spec"]["volumes"][0]["configMap"]["name"] = configmap
    for i, status in enumerate(obj["status"]["containerStatuses"]):
        status["containerID"] = f"containerd://{name.encode().hex():0<63}{i}"
    return obj


def configmap(name: str) -> dict:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"},
            "data": {"a": "1"}}


def listed(graph: Graph, kind: str, objects: list[dict]) -> None:
    graph.replace(kind, graph.records(objects))


def picture(graph: Graph) -> tuple[dict, set]:
    return ({e.id: e for e in graph.entities()}, {c.id for c in graph.edges()})


def test_events_match_a_rebuild() -> None:
    graph = Graph(C)
    configmaps = [configmap("checkout-config"), configmap("other")]
    listed(graph, "ConfigMap", configmaps)
    listed(graph, "Pod", [pod("p1")])
    graph.entities()  # built
    changes = [graph.apply("ADDED", pod("p2")),
               graph.apply("MODIFIED", pod("p1", "other", version=2)),
               graph.apply("DELETED", pod("p2"))]
    assert all(changes)
    fresh = Graph(C)
    listed(fresh, "ConfigMap", configmaps)
    listed(fresh, "Pod", [pod("p1", "other", version=2)])
    assert picture(graph) == picture(fresh)
    assert graph.versions("Pod") == {("Pod", "shop", "p1"): ("uid-p1", "2")}


def test_replays_and_relists_of_unchanged_objects_reuse_what_is_cached() -> None:
    graph = Graph(C)
    listed(graph, "Pod", [pod("p1"), pod("p2")])
    before = {e.id: e for e in graph.entities()}
    assert not graph.apply("MODIFIED", pod("p1"))  # same resourceVersion: nothing new
    listed(graph, "Pod", [pod("p1"), pod("p2", "other", version=2)])
    after = {e.id: e for e in graph.entities()}
    p1, p2 = ids.k8s("pod", C, "shop", "p1"), ids.k8s("pod", C, "shop", "p2")
    assert after[p1] is before[p1]  # not translated again
    assert after[p2] is not before[p2]
    assert ids.k8s("configmap", C, "shop", "other") in {c.target_id for c in graph.edges()}


def test_counts_follow_events_that_arrive_between_a_relist_and_its_snapshot() -> None:
    graph = Graph(C)
    listed(graph, "ConfigMap", [configmap("checkout-config")])
    listed(graph, "Pod", [])
    cm = ids.k8s("configmap", C, "shop", "checkout-config")
    sent = {e.id: e for e in graph.entities()}[cm]
    assert sent.attrs["reference_count"] == 0
    listed(graph, "Job", [])  # a relist of a kind that feeds no count
    assert not graph.apply("ADDED", pod("p1"))  # the snapshot that follows carries it
    now = {e.id: e for e in graph.entities()}[cm]
    assert now.attrs["reference_count"] == 1
    assert sent.attrs["reference_count"] == 0  # a copy: what was sent is never changed


def test_the_decoded_object_is_not_kept() -> None:
    graph = Graph(C)
    obj = pod("p1")
    listed(graph, "Pod", [obj])
    graph.entities()
    kept = repr(graph.objects)
    assert "resourceVersion" not in kept and obj["metadata"]["uid"] in kept
    assert graph.entity("Pod", "shop", "p1") is graph.entities()[0]


def test_reference_counts_follow_pods() -> None:
    graph = Graph(C)
    listed(graph, "ConfigMap", [configmap("checkout-config")])
    listed(graph, "Pod", [pod("p1"), pod("p2")])
    cm = ids.k8s("configmap", C, "shop", "checkout-config")
    assert {e.id: e for e in graph.entities()}[cm].attrs["reference_count"] == 2
    change = graph.apply("DELETED", pod("p1"))
    assert change.upserts[cm].attrs["reference_count"] == 1
    containers = {ids.container(s["containerID"]) for s in pod("p1")["status"]["containerStatuses"]}
    assert change.removals == {ids.k8s("pod", C, "shop", "p1")} | containers
    p1 = ids.k8s("pod", C, "shop", "p1")
    assert not any(p1 in edge for edge in {c.id for c in graph.edges()})
    assert all(p1 in edge for edge in change.edge_removals) and change.edge_removals


def test_service_connections_follow_slices() -> None:
    graph = Graph(C)
    listed(graph, "Service", [{"kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                               "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}])
    graph.entities()
    sid = ids.k8s("service", C, "shop", "web")

    def eps(ready: int) -> dict:
        return {"kind": "EndpointSlice", "metadata": {
            "name": "web-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
            "endpoints": [{"conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "name": f"p{i}"}} for i in range(ready)]}

    change = graph.apply("ADDED", eps(3))
    assert change.upserts[sid].attrs["connections"] == 3 and len(change.edge_upserts) == 3
    change = graph.apply("MODIFIED", eps(1))
    assert change.upserts[sid].attrs["connections"] == 1 and len(change.edge_removals) == 2
    sent = copy.deepcopy(change.upserts[sid])
    change = graph.apply("DELETED", eps(1))
    assert change.upserts[sid].attrs["connections"] == 0
    assert sent.attrs["connections"] == 1  # what was sent before is never changed in place
