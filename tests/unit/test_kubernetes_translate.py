"""Kubernetes objects -> entities and edges, on objects shaped as the API server sends them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gestalt.model import ConnectionKind, EntityKind, EntityStatus, ids
from gestalt.sources.kubernetes import quantity, translate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"
C = "prod"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(("text", "value"), [
    ("250m", 0.25), ("1", 1.0), ("0.05", 0.05), ("512Mi", 512 * 2**20), ("1G", 1e9),
    ("1e3", 1000.0), ("10Gi", 10 * 2**30), ("100n", 1e-7), (None, None), ("12x", None)])
def test_quantities(text: str | None, value: float | None) -> None:
    assert quantity.parse(text) == (pytest.approx(value) if value is not None else None)


def test_crash_looping_pod() -> None:
    obj = translate.slim(load("pod_crashloop.json"))
    assert "managedFields" not in obj["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"]["annotations"]
    entities, edges = translate.pod(C, obj)
    pod = entities[0]
    assert pod.id == ids.k8s("pod", C, "shop", "checkout-7c9d8b6f5d-x2vqk")
    assert pod.status is EntityStatus.FAILED
    assert pod.attrs["reason"] == "CrashLoopBackOff" and pod.attrs["restart_count"] == 7
    assert pod.attrs["ready"] == "1/2" and pod.attrs["node"] == "node-007"
    assert pod.attrs["cpu_request"] == 300  # millicores
    # The sidecar has no CPU limit, so neither has the pod (not the app's 1000m alone).
    assert "cpu_limit" not in pod.attrs
    assert pod.memory_limit == 576 * 2**20
    assert pod.endpoints == ["10.244.7.31"]
    assert pod.annotations == {"kubectl.kubernetes.io/restartedAt": "2026-11-27T08:59:00Z"}
    app, sidecar = entities[1:]
    assert app.id == "container:4f1c2b3a4d5e" and app.kind is EntityKind.CONTAINER
    assert app.status is EntityStatus.FAILED and app.attrs["restart_count"] == 7
    assert sidecar.status is EntityStatus.RUNNING
    kinds = {(e.kind, e.target_id) for e in edges}
    rs = ids.k8s("replicaset", C, "shop", "checkout-7c9d8b6f5d")
    assert (ConnectionKind.OWNS, pod.id) in {(e.kind, e.target_id) for e in edges
                                             if e.source_id == rs}
    assert (ConnectionKind.VOLUME, ids.k8s("configmap", C, "shop", "checkout-config")) in kinds
    assert (ConnectionKind.VOLUME, ids.k8s("configmap", C, "shop", "kube-root-ca.crt")) in kinds
    assert (ConnectionKind.VOLUME, ids.k8s("pvc", C, "shop", "checkout-data")) in kinds
    assert (ConnectionKind.DEPENDS, ids.k8s("secret", C, "shop", "checkout-credentials")) in kinds
    assert (ConnectionKind.DEPENDS, ids.k8s("configmap", C, "shop", "flags")) in kinds
    assert (ConnectionKind.DEPENDS, ids.k8s("node", C, None, "node-007")) in kinds
    assert (ConnectionKind.OWNS, app.id) in kinds and (ConnectionKind.OWNS, sidecar.id) in kinds
    assert len({e.id for e in edges}) == len(edges)


def test_terminating_pod_and_host_network() -> None:
    obj = load("pod_crashloop.json")
    obj["metadata"]["deletionTimestamp"] = "2026-11-27T10:00:00Z"
    obj["spec"]["hostNetwork"] = True
    pod = translate.pod(C, obj)[0][0]
    assert pod.status is EntityStatus.TERMINATING
    assert pod.endpoints == []  # a host-network pod's IP is the node's


def _deployment(**status: int) -> dict:
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop",
                                               "generation": 4},
            "spec": {"replicas": 3}, "status": {"observedGeneration": 4, **status}}


def test_deployment_rollout_status() -> None:
    done = translate.deployment(C, _deployment(replicas=3, updatedReplicas=3, readyReplicas=3,
                                               availableReplicas=3))[0][0]
    assert (done.attrs["rollout"], done.status) == ("complete", EntityStatus.RUNNING)
    rolling = translate.deployment(C, _deployment(replicas=4, updatedReplicas=2,
                                                  readyReplicas=3, availableReplicas=3))[0][0]
    assert (rolling.attrs["rollout"], rolling.status) == ("progressing", EntityStatus.PROCESSING)
    stuck = _deployment(replicas=3, updatedReplicas=1, availableReplicas=2)
    stuck["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                      "reason": "ProgressDeadlineExceeded"}]
    failed = translate.deployment(C, stuck)[0][0]
    assert (failed.attrs["rollout"], failed.status) == ("failed", EntityStatus.FAILED)
    # The namespace owns what has no owner.
    edges = translate.deployment(C, stuck)[1]
    assert [(e.kind, e.source_id) for e in edges] == [
        (ConnectionKind.OWNS, ids.k8s("namespace", C, None, "shop"))]


def test_service_ingress_and_slice() -> None:
    svc = {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"type": "LoadBalancer", "clusterIP": "10.96.3.4",
                    "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443}]}}
    entity = translate.service(C, svc)[0][0]
    assert entity.attrs["type"] == "LoadBalancer" and entity.attrs["ports"] == "80/TCP,443/TCP"
    assert entity.endpoints == ["10.96.3.4", "10.96.3.4:80", "10.96.3.4:443"]
    ing = {"kind": "Ingress", "metadata": {"name": "front", "namespace": "shop"},
           "spec": {"defaultBackend": {"service": {"name": "web"}}, "rules": [{"http": {
               "paths": [{"backend": {"service": {"name": "web"}}},
                         {"backend": {"service": {"name": "api"}}}]}}]}}
    edges = [e for e in translate.ingress(C, ing)[1] if e.kind is ConnectionKind.HTTP]
    assert [e.target_id for e in edges] == [ids.k8s("service", C, "shop", "web"),
                                            ids.k8s("service", C, "shop", "api")]
    eps = {"kind": "EndpointSlice", "metadata": {"name": "web-abc", "namespace": "shop",
                                                 "labels": {"kubernetes.io/service-name": "web"}},
           "endpoints": [{"conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": "a"}},
                         {"conditions": {"ready": False},
                          "targetRef": {"kind": "Pod", "name": "b"}}]}
    service_id, ready, slice_edges = translate.endpoint_slice(C, eps)
    assert (service_id, ready) == (ids.k8s("service", C, "shop", "web"), 1)
    assert [e.target_id for e in slice_edges] == [ids.k8s("pod", C, "shop", "a"),
                                                  ids.k8s("pod", C, "shop", "b")]


def test_storage_and_node() -> None:
    pvc = {"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
           "spec": {"volumeName": "pv-1", "resources": {"requests": {"storage": "5Gi"}}},
           "status": {"phase": "Bound", "capacity": {"storage": "8Gi"}}}
    entity, edges = translate.persistent_volume_claim(C, pvc)
    assert entity[0].kind is EntityKind.VOLUME and entity[0].attrs["capacity_bytes"] == 8 * 2**30
    assert edges[-1].target_id == ids.k8s("pv", C, None, "pv-1")
    node = {"kind": "Node", "metadata": {"name": "n1"}, "status": {
        "allocatable": {"cpu": "3800m", "memory": "14Gi", "pods": "110"},
        "addresses": [{"type": "InternalIP", "address": "192.0.2.5"}],
        "conditions": [{"type": "Ready", "status": "True"},
                       {"type": "MemoryPressure", "status": "True"}]}}
    n = translate.node(C, node)[0][0]
    assert n.status is EntityStatus.RUNNING and n.attrs["pressure"] == "MemoryPressure"
    assert n.attrs["cpu_capacity"] == 3800 and n.endpoints == ["192.0.2.5"]


def test_secret_entity_has_no_annotations() -> None:
    obj = {"kind": "Secret", "type": "Opaque", "keys": 2, "metadata": {
        "name": "db", "namespace": "shop", "annotations": {"note": "x"}}}
    entity = translate.secret(C, copy.deepcopy(obj))[0][0]
    assert entity.annotations == {} and entity.attrs["keys"] == 2
