"""Just enough of kube-controller-manager and the scheduler to make writes come alive.

Deployments get ReplicaSets, ReplicaSets get pods (scheduled at once, running at once,
with IPs and container ids), Services get EndpointSlices, and owners' status follows their
pods. Work is queued by kind and drained in order, so a bulk build (`with
controllers.bulk():`) syncs each owner once instead of once per pod.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import secrets
import zlib
from collections.abc import Iterator

import orjson

from gestalt.sim.kubesim.resources import STORED, Resource
from gestalt.sim.kubesim.selectors import selector_matches
from gestalt.sim.kubesim.store import Change, Obj, Store, clone, now_rfc3339

PODS = STORED[("", "pods")]
NODES = STORED[("", "nodes")]
SERVICES = STORED[("", "services")]
SLICES = STORED[("discovery.k8s.io", "endpointslices")]
DEPLOYMENTS = STORED[("apps", "deployments")]
REPLICASETS = STORED[("apps", "replicasets")]

_ORDER = ("Deployment", "ReplicaSet", "Service")


def owner_ref(owner: Obj, *, controller: bool = True) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


def running_status(spec: Obj, ip: str, host_ip: str, ts: str) -> Obj:
    return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": host_ip,
            "startTime": ts, "qosClass": "Burstable",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                 "restartCount": 0, "started": True, "state": {"running": {"startedAt": ts}},
                 "containerID": container_id()} for c in spec.get("containers") or []]}


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or ())


class Controllers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._dirty: dict[str, dict[tuple[str, str], None]] = {k: {} for k in _ORDER}
        # Namespaces whose pods changed during a bulk build: all their services resync.
        self._dirty_namespaces: set[str] = set()
        # Pods by namespace and label, built on demand for EndpointSlice syncs.
        self._by_label: dict[str, dict[tuple[str, str], list[Obj]]] = {}
        self._deferred = 0
        self._draining = False
        self._ips = (str(ipaddress.IPv4Address("10.244.0.0") + i) for i in itertools.count(2))
        self._next_node = 0
        self._nodes: list[Obj] | None = None  # schedulable nodes, until a node changes
        store.hooks.append(self._on_change)

    def next_ip(self) -> str:
        return next(self._ips)

    def pick_node(self) -> Obj | None:
        if self._nodes is None:
            self._nodes = [n for n in self.store.items(NODES)
                           if not n.get("spec", {}).get("unschedulable")]
        nodes = self._nodes
        if not nodes:
            return None
        self._next_node += 1
        return nodes[self._next_node % len(nodes)]

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            self._drain()

    # -- change routing -------------------------------------------------------------
    def _mark(self, kind: str, namespace: str, name: str) -> None:
        self._dirty[kind][(namespace, name)] = None

    def _on_change(self, change: Change) -> None:
        kind, obj = change.resource.kind, change.obj
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        if kind == "Node":
            self._nodes = None
        if kind in ("Deployment", "ReplicaSet", "Service") and change.type != "DELETED":
            self._mark(kind, ns, meta["name"])
        if kind in ("ReplicaSet", "Pod"):
            for ref in meta.get("ownerReferences") or ():
                if ref.get("kind") in ("Deployment", "ReplicaSet"):
                    self._mark(ref["kind"], ns, ref["name"])
        if kind == "Pod":
            self._by_label.pop(ns, None)
            if self._deferred or self._draining:
                self._dirty_namespaces.add(ns)
                return
            labels = [meta.get("labels") or {}]
            if change.prev is not None:
                labels.append(change.prev["metadata"].get("labels") or {})
            for svc in self.store.items(SERVICES, ns):
                selector = svc.get("spec", {}).get("selector")
                if any(selector_matches(selector, lbl) for lbl in labels):
                    self._mark("Service", ns, svc["metadata"]["name"])
        self._drain()

    def _drain(self) -> None:
        if self._deferred or self._draining:
            return
        self._draining = True
        try:
            while True:
                kind = next((k for k in _ORDER if self._dirty[k]), None)
                if kind == "Service" or kind is None and self._dirty_namespaces:
                    for ns in self._dirty_namespaces:
                        for svc in self.store.items(SERVICES, ns):
                            self._mark("Service", ns, svc["metadata"]["name"])
                    self._dirty_namespaces.clear()
                    kind = "Service" if self._dirty["Service"] else None
                if kind is None:
                    return
                ns, name = next(iter(self._dirty[kind]))
                del self._dirty[kind][(ns, name)]
                {"Deployment": self.sync_deployment, "ReplicaSet": self.sync_replicaset,
                 "Service": self.sync_service}[kind](ns, name)
        finally:
            self._draining = False

    # -- deployments --------------------------------------------------------------------
    def _owned(self, resource: Resource, namespace: str, uid: str) -> list[Obj]:
        return self.store.owned_by(resource, uid)

    def sync_deployment(self, namespace: str, name: str) -> None:
        dep = self.store.find(DEPLOYMENTS, namespace, name)
        if dep is None:
            return
        spec = dep.get("spec", {})
        template = spec.get("template", {})
        desired = spec.get("replicas", 1)
        template_hash = format(zlib.crc32(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)),
                               "x")[:10]
        rs_name = f"{name}-{template_hash}"
        owned = self._owned(REPLICASETS, namespace, dep["metadata"]["uid"])
        current = next((rs for rs in owned if rs["metadata"]["name"] == rs_name), None)
        if current is None:
            labels = {**(template.get("metadata", {}).get("labels") or {}),
                      "pod-template-hash": template_hash}
            rs_template = clone(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            selector = clone(spec.get("selector") or {"matchLabels": {}})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
            current = self.store.create({
                "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": namespace, "labels": labels,
                             "ownerReferences": [owner_ref(dep)],
                             "annotations": {"deployment.kubernetes.io/revision": str(
                                 len(owned) + 1)}},
                "spec": {"replicas": desired, "selector": selector, "template": rs_template}})
        elif current.get("spec", {}).get("replicas") != desired:
            self.store.update(REPLICASETS, namespace, rs_name,
                              lambda o: o["spec"].__setitem__("replicas", desired))
        for old in owned:
            if old["metadata"]["name"] != rs_name and old.get("spec", {}).get("replicas"):
                self.store.update(REPLICASETS, namespace, old["metadata"]["name"],
                                  lambda o: o["spec"].__setitem__("replicas", 0))
        self._deployment_status(namespace, name, rs_name)

    def _deployment_status(self, namespace: str, name: str, current_rs: str) -> None:
        dep = self.store.find(DEPLOYMENTS, namespace, name)
        if dep is None:
            return
        owned = self._owned(REPLICASETS, namespace, dep["metadata"]["uid"])
        total = sum(rs.get("status", {}).get("replicas", 0) for rs in owned)
        ready = sum(rs.get("status", {}).get("readyReplicas", 0) for rs in owned)
        updated = sum(rs.get("status", {}).get("replicas", 0) for rs in owned
                      if rs["metadata"]["name"] == current_rs)
        desired = dep.get("spec", {}).get("replicas", 1)
        complete = updated == desired and total == desired and ready == desired
        ts = now_rfc3339()
        old_conditions = {c["type"]: c for c in dep.get("status", {}).get("conditions") or []}

        def condition(type_: str, status: str, reason: str, message: str) -> Obj:
            old = old_conditions.get(type_)
            if old and old.get("status") == status and old.get("reason") == reason:
                return dict(old)
            return {"type": type_, "status": status, "reason": reason, "message": message,
                    "lastUpdateTime": ts, "lastTransitionTime": ts}

        status = {
            "observedGeneration": dep["metadata"].get("generation", 1), "replicas": total,
            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
            "conditions": [
                condition("Available", "True" if ready >= desired else "False",
                          "MinimumReplicasAvailable" if ready >= desired
                          else "MinimumReplicasUnavailable", "Deployment availability"),
                condition("Progressing", "True",
                          "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                          f'ReplicaSet "{current_rs}" is progressing.')]}
        if status != dep.get("status"):
            self.store.update(DEPLOYMENTS, namespace, name, lambda o: o.__setitem__(
                "status", status))

    # -- replicasets ----------------------------------------------------------------
    def sync_replicaset(self, namespace: str, name: str) -> None:
        rs = self.store.find(REPLICASETS, namespace, name)
        if rs is None:
            return
        desired = rs.get("spec", {}).get("replicas", 1)
        pods = self._owned(PODS, namespace, rs["metadata"]["uid"])
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        for _ in range(desired - len(live)):
            live.append(self.create_pod(rs))
        if len(live) > desired:
            live.sort(key=lambda p: p["metadata"]["creationTimestamp"])
            for pod in live[desired:]:
                self.store.delete(PODS, namespace, pod["metadata"]["name"])
            live = live[:desired]
        ready = sum(1 for p in live if is_ready(p))
        status = {"replicas": len(live), "fullyLabeledReplicas": len(live), "readyReplicas": ready,
                  "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        if status != rs.get("status"):
            self.store.update(REPLICASETS, namespace, name, lambda o: o.__setitem__(
                "status", status))
        for ref in rs["metadata"].get("ownerReferences") or ():
            if ref.get("kind") == "Deployment":
                self._mark("Deployment", namespace, ref["name"])

    def create_pod(self, owner: Obj) -> Obj:
        template = owner.get("spec", {}).get("template", {})
        meta = owner["metadata"]
        spec = clone(template.get("spec") or {})
        node = self.pick_node()
        ts = now_rfc3339()
        pod: Obj = {"kind": "Pod", "metadata": {
            "name": f"{meta['name']}-{secrets.token_hex(3)[:5]}", "namespace": meta["namespace"],
            "labels": dict(template.get("metadata", {}).get("labels") or {}),
            "ownerReferences": [owner_ref(owner)]}, "spec": spec}
        if node is None:
            pod["status"] = {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
        else:
            spec["nodeName"] = node["metadata"]["name"]
            host_ip = next((a["address"] for a in node.get("status", {}).get("addresses") or []
                            if a.get("type") == "InternalIP"), "")
            pod["status"] = running_status(spec, self.next_ip(), host_ip, ts)
        return self.store.create(pod)

    # -- services -----------------------------------------------------------------------
    def _candidates(self, namespace: str, selector: Obj) -> list[Obj]:
        """Pods that carry the selector's first label: a cheap superset of its matches."""
        plain = {k: v for k, v in selector.items() if isinstance(v, str)}
        if not plain:
            return list(self.store.items(PODS, namespace))
        index = self._by_label.get(namespace)
        if index is None:
            index = self._by_label[namespace] = {}
            for pod in self.store.items(PODS, namespace):
                for label in (pod["metadata"].get("labels") or {}).items():
                    index.setdefault(label, []).append(pod)
        key, value = next(iter(plain.items()))
        return index.get((key, value), [])

    def sync_service(self, namespace: str, name: str) -> None:
        svc = self.store.find(SERVICES, namespace, name)
        if svc is None:
            return
        selector = svc.get("spec", {}).get("selector")
        if not selector:
            return
        pods = [p for p in self._candidates(namespace, selector)
                if p.get("status", {}).get("podIP")
                and selector_matches(selector, p["metadata"].get("labels") or {})]
        pods.sort(key=lambda p: p["metadata"]["name"])
        endpoints = [{"addresses": [p["status"]["podIP"]],
                      "conditions": {"ready": is_ready(p), "serving": is_ready(p),
                                     "terminating": bool(p["metadata"].get("deletionTimestamp"))},
                      "nodeName": p.get("spec", {}).get("nodeName", ""),
                      "targetRef": {"kind": "Pod", "namespace": namespace,
                                    "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                     for p in pods]
        ports = [{"name": p.get("name", ""), "port": p.get("targetPort", p.get("port")),
                  "protocol": p.get("protocol", "TCP")} for p in svc["spec"].get("ports") or []]
        slice_name = f"{name}-eps"
        current = self.store.find(SLICES, namespace, slice_name)
        if current is None:
            self.store.create({
                "kind": "EndpointSlice", "addressType": "IPv4", "endpoints": endpoints,
                "ports": ports, "metadata": {
                    "name": slice_name, "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": name,
                               "endpointslice.kubernetes.io/managed-by":
                                   "endpointslice-controller.k8s.io"},
                    "ownerReferences": [owner_ref(svc)]}})
        elif current.get("endpoints") != endpoints or current.get("ports") != ports:
            def mutate(o: Obj) -> None:
                o["endpoints"], o["ports"] = endpoints, ports
            self.store.update(SLICES, namespace, slice_name, mutate)
