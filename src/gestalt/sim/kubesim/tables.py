"""Server-side printing: the `Table` and `PartialObjectMetadata` views of objects.

`kubectl get` asks for `as=Table;v=v1;g=meta.k8s.io` and prints the server's columns, so
these follow the real API server's printers for the kinds people look at.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable
from typing import Any

from gestalt.sim.kubesim.resources import Resource

Obj = dict[str, Any]
META_V1 = "meta.k8s.io/v1"


def partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": META_V1, "metadata": obj["metadata"]}


def partial_list(items: Iterable[Obj], list_meta: Obj) -> Obj:
    return {"kind": "PartialObjectMetadataList", "apiVersion": META_V1, "metadata": list_meta,
            "items": [partial(o) for o in items]}


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - calendar.timegm(time.strptime(timestamp,
                                                                     "%Y-%m-%dT%H:%M:%SZ"))))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 2:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _pod_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec", {}), o.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    reason = status.get("reason") or status.get("phase", "Unknown")
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [o["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", reason,
            restarts, age(o["metadata"].get("creationTimestamp")),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>", "<none>", "<none>"]


def _deploy_row(o: Obj) -> list[Any]:
    spec, status = o.get("spec", {}), o.get("status", {})
    return [o["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            age(o["metadata"].get("creationTimestamp"))]


def _svc_row(o: Obj) -> list[Any]:
    spec = o.get("spec", {})
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"),
            "<none>", ports or "<none>", age(o["metadata"].get("creationTimestamp"))]


def _rs_row(o: Obj) -> list[Any]:
    status = o.get("status", {})
    return [o["metadata"]["name"], o.get("spec", {}).get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(o["metadata"].get("creationTimestamp"))]


def _node_row(o: Obj) -> list[Any]:
    conditions = {c["type"]: c["status"] for c in o.get("status", {}).get("conditions") or []}
    ready = "Ready" if conditions.get("Ready") == "True" else "NotReady"
    if o.get("spec", {}).get("unschedulable"):
        ready += ",SchedulingDisabled"  # as the API server's printer says (kubectl cordon)
    info = o.get("status", {}).get("nodeInfo", {})
    return [o["metadata"]["name"], ready, "<none>", age(o["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", "")]


def _data_count(o: Obj) -> int:
    return len(o.get("data") or {}) + len(o.get("binaryData") or {})


_PRINTERS: dict[str, tuple[list[Obj], Callable[[Obj], list[Any]]]] = {
    "Pod": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"),
             _col("Age"), _col("IP", priority=1), _col("Node", priority=1),
             _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)], _pod_row),
    "Deployment": ([_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"),
                    _col("Available", "integer"), _col("Age")], _deploy_row),
    "ReplicaSet": ([_col("Name", fmt="name"), _col("Desired", "integer"),
                    _col("Current", "integer"), _col("Ready", "integer"), _col("Age")], _rs_row),
    "Service": ([_col("Name", fmt="name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                 _col("Port(s)"), _col("Age")], _svc_row),
    "ConfigMap": ([_col("Name", fmt="name"), _col("Data", "integer"), _col("Age")],
                  lambda o: [o["metadata"]["name"], _data_count(o),
                             age(o["metadata"].get("creationTimestamp"))]),
    "Secret": ([_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")],
               lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), _data_count(o),
                          age(o["metadata"].get("creationTimestamp"))]),
    "Namespace": ([_col("Name", fmt="name"), _col("Status"), _col("Age")],
                  lambda o: [o["metadata"]["name"], o.get("status", {}).get("phase", "Active"),
                             age(o["metadata"].get("creationTimestamp"))]),
    "Node": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"),
              _col("Version")], _node_row),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
              lambda o: [age(o.get("lastTimestamp") or o["metadata"].get("creationTimestamp")),
                         o.get("type", ""), o.get("reason", ""),
                         f"{o.get('involvedObject', {}).get('kind', '').lower()}/"
                         f"{o.get('involvedObject', {}).get('name', '')}", o.get("message", "")]),
}
_DEFAULT = ([_col("Name", fmt="name"), _col("Age")],
            lambda o: [o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))])


def row(resource: Resource, obj: Obj, include_object: str) -> Obj:
    _, printer = _PRINTERS.get(resource.kind, _DEFAULT)
    out: Obj = {"cells": printer(obj)}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = partial(obj)
    return out


def table(resource: Resource, items: Iterable[Obj], list_meta: Obj, include_object: str) -> Obj:
    columns, _ = _PRINTERS.get(resource.kind, _DEFAULT)
    return {"kind": "Table", "apiVersion": META_V1, "metadata": list_meta,
            "columnDefinitions": columns,
            "rows": [row(resource, o, include_object) for o in items]}
