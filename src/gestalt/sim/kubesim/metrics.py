"""metrics.k8s.io: pod and node usage, made up from the pods the store holds.

Usage is a deterministic function of the object's name and a 15-second window (the
metrics-server's resolution), so it moves over time but a test can reason about it. A
pod can pin its usage with the annotation
`kubesim.gestalt.dev/usage: "<cpu-millicores>,<memory-MiB>"`.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from gestalt.sim.kubesim.resources import STORED, Resource
from gestalt.sim.kubesim.store import ApiError, Obj, Store, not_found, now_rfc3339

USAGE_ANNOTATION = "kubesim.gestalt.dev/usage"
WINDOW = 15
_PODS = STORED[("", "pods")]
_NODES = STORED[("", "nodes")]


def _wobble(name: str, spread: int) -> int:
    return zlib.crc32(f"{name}:{int(time.time() // WINDOW)}".encode()) % spread


def pod_usage(pod: Obj) -> list[tuple[str, int, int]]:
    """(container, cpu millicores, memory MiB) per container."""
    pinned = (pod["metadata"].get("annotations") or {}).get(USAGE_ANNOTATION)
    out = []
    for c in pod.get("spec", {}).get("containers") or []:
        if pinned:
            cpu, mem = (int(x) for x in pinned.split(","))
        else:
            key = f"{pod['metadata']['name']}/{c['name']}"
            cpu, mem = 5 + _wobble(key, 250), 20 + _wobble(key + "m", 200)
        out.append((c["name"], cpu, mem))
    return out


def _pod_metrics(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "creationTimestamp": now_rfc3339(), "labels": meta.get("labels", {})},
            "timestamp": now_rfc3339(), "window": f"{WINDOW}s",
            "containers": [{"name": n, "usage": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}}
                           for n, cpu, mem in pod_usage(pod)]}


def _node_metrics(node: Obj, pods: list[Obj]) -> Obj:
    cpu = mem = 0
    for pod in pods:
        for _, c, m in pod_usage(pod):
            cpu, mem = cpu + c, mem + m
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": node["metadata"]["name"], "creationTimestamp": now_rfc3339(),
                         "labels": node["metadata"].get("labels", {})},
            "timestamp": now_rfc3339(), "window": f"{WINDOW}s",
            "usage": {"cpu": f"{cpu + 100}m", "memory": f"{mem + 512}Mi"}}


def _running(pod: Obj) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


def answer(store: Store, resource: Resource, namespace: str | None, name: str | None) -> Any:
    if resource.kind == "PodMetrics":
        pods = [p for p in store.items(_PODS, namespace) if _running(p)]
        if name:
            pod = store.find(_PODS, namespace, name)
            if pod is None or not _running(pod):
                raise not_found(resource, name)
            return _pod_metrics(pod)
        return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": [_pod_metrics(p) for p in pods]}
    by_node: dict[str, list[Obj]] = {}
    for pod in store.items(_PODS):
        if _running(pod):
            by_node.setdefault(pod.get("spec", {}).get("nodeName", ""), []).append(pod)
    if name:
        node = store.find(_NODES, None, name)
        if node is None:
            raise ApiError(404, "NotFound", f'nodemetrics "{name}" not found')
        return _node_metrics(node, by_node.get(name, []))
    return {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
            "items": [_node_metrics(n, by_node.get(n["metadata"]["name"], []))
                      for n in store.items(_NODES)]}
