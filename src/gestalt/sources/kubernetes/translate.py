"""Kubernetes objects -> entities and connections. Pure functions of one object.

Choices worth knowing:
- Ownership (`owns`) follows ownerReferences (deployment -> replicaset -> pod,
  service -> endpointslice is not drawn). An object without owner references is owned by
  its namespace, so the `owns` edges form a tree: namespace -> deployment -> replicaset ->
  pod -> container.
- A pod depends on its node (`depends`, pod -> node), on the configmaps and secrets it
  reads through env/envFrom (`depends`) and mounts volumes of configmaps, secrets and
  claims (`volume`); a claim is bound to its volume (`volume`, pvc -> pv).
- Services reach their pods (`network`, service -> pod) through EndpointSlices; an
  ingress sends HTTP to its backend services (`http`).
- A pod's containers are the Docker source's containers: same id (`ids.container`).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator
from typing import Any

from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus, ids
from gestalt.model.kinds import K8S_KINDS
from gestalt.sources.kubernetes import quantity

Obj = dict[str, Any]
SOURCE = "kubernetes"

# Annotations that are large or may hold what should never be shown (kubectl's
# client-side apply copies the whole object, Secret data included, into the first one).
DROPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
})
MAX_ANNOTATION = 256

# Kubernetes kind -> (id prefix, entity kind).
KINDS: dict[str, tuple[str, EntityKind]] = K8S_KINDS


# Strings that many objects repeat (ids of namespaces, nodes, owners and configmaps named
# by edges; namespaces, label keys and values, node names, images, phases) are shared: one
# string object each instead of one per object, in this source's cache and the hub's.
# The table is emptied when full (checked once per object, in `_base`), so the strings
# of deleted objects cannot pile up: which is why sys.intern, whose strings may live
# forever, is not used.
_SHARED_LIMIT = 1 << 17
_shared_strings: dict[str, str] = {}
_share = _shared_strings.setdefault  # _share(s, s): the shared copy of the string s


def _shared(value: Any) -> Any:
    """The shared copy of a string; any other value as it is."""
    return _share(value, value) if type(value) is str else value


# Entities and connections are values, never changed in place (the hub shares them as
# they are): so all share one `sources` list, and edges with the same attrs (a few
# constant ones: via volume, env...) one dict, instead of one of each per object.
_SOURCES = [SOURCE]
_EDGE_ATTRS: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}


def entity_id(cluster: str, kind: str, namespace: str | None, name: str) -> str:
    prefix = KINDS[kind][0] if kind in KINDS else kind.lower()
    ident = ids.k8s(prefix, cluster, namespace, name)
    return _share(ident, ident)


@functools.lru_cache(maxsize=8192)
def parse_time(value: str | None) -> float | None:
    """RFC 3339 (the API's timestamps) to epoch seconds; cached, as many objects share one."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def slim(obj: Obj) -> Obj:
    """Drop what is big and useless here (managedFields, last-applied-configuration)."""
    meta = obj.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations:
            for key in DROPPED_ANNOTATIONS.intersection(annotations):
                del annotations[key]
    return obj


def _annotations(meta: Obj) -> dict[str, str]:
    return {k: v for k, v in (meta.get("annotations") or {}).items()
            if k not in DROPPED_ANNOTATIONS and len(v) <= MAX_ANNOTATION}


def _base(cluster: str, obj: Obj, status: EntityStatus, **attrs: Any) -> Entity:
    if len(_shared_strings) > _SHARED_LIMIT:
        _shared_strings.clear()
    meta = obj["metadata"]
    kind = obj["kind"]
    namespace = _shared(meta.get("namespace"))
    return Entity(id=entity_id(cluster, kind, namespace, meta["name"]), kind=KINDS[kind][1],
                  name=meta["name"], namespace=namespace, status=status,
                  labels={_share(k, k): _share(v, v)
                          for k, v in (meta.get("labels") or {}).items()},
                  annotations=_annotations(meta) if kind != "Secret" else {},
                  attrs={"k8s_kind": kind, "uid": meta.get("uid", ""),
                         **{k: _share(v, v) if type(v) is str else v
                            for k, v in attrs.items() if v is not None}},
                  sources=_SOURCES, created_at=parse_time(meta.get("creationTimestamp")))


def _edge(kind: ConnectionKind, source: str, target: str, **attrs: Any) -> Connection:
    return Connection(source_id=source, target_id=target, kind=kind,
                      attrs=_EDGE_ATTRS.setdefault(tuple(attrs.items()), attrs),
                      sources=_SOURCES)


def _ownership(cluster: str, obj: Obj, own_id: str) -> list[Connection]:
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    refs = meta.get("ownerReferences") or []
    edges = [_edge(ConnectionKind.OWNS, entity_id(cluster, ref["kind"], namespace, ref["name"]),
                   own_id) for ref in refs if ref.get("kind") in KINDS]
    if not refs and namespace:
        edges.append(_edge(ConnectionKind.OWNS, entity_id(cluster, "Namespace", None, namespace),
                           own_id))
    return edges


# -- pods ---------------------------------------------------------------------------------

_BAD_WAITING = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                          "CreateContainerConfigError", "CreateContainerError",
                          "InvalidImageName", "RunContainerError"})


def _container_state(status: Obj) -> tuple[EntityStatus, str | None]:
    state = status.get("state") or {}
    if "running" in state:
        return EntityStatus.RUNNING, None
    if "terminated" in state:
        reason = state["terminated"].get("reason")
        return EntityStatus.EXITED, reason
    reason = (state.get("waiting") or {}).get("reason")
    return (EntityStatus.FAILED if reason in _BAD_WAITING else EntityStatus.PENDING), reason


def _pod_status(obj: Obj, reason: str | None) -> EntityStatus:
    if obj["metadata"].get("deletionTimestamp"):
        return EntityStatus.TERMINATING
    if reason in _BAD_WAITING:
        return EntityStatus.FAILED
    return {"Running": EntityStatus.RUNNING, "Pending": EntityStatus.PENDING,
            "Succeeded": EntityStatus.EXITED, "Failed": EntityStatus.FAILED}.get(
        obj.get("status", {}).get("phase", ""), EntityStatus.UNKNOWN)


def _sum(values: Iterator[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _all(values: Iterator[int | None]) -> int | None:
    """A pod's limit: the sum of its containers' limits, None if one has none. A container
    without a limit leaves the pod unlimited: a partial sum would overstate how close the
    pod is to its limit."""
    limits = list(values)
    if not limits or None in limits:
        return None
    return sum(v for v in limits if v is not None)


def pod(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    namespace, name = _shared(meta.get("namespace")), meta["name"]
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    reason = status.get("reason")
    for cs in statuses:
        _, why = _container_state(cs)
        if why in _BAD_WAITING or (why and not reason):
            reason = why
    node = spec.get("nodeName")
    resources = [c.get("resources") or {} for c in containers]
    entity = _base(
        cluster, obj, _pod_status(obj, reason),
        phase=status.get("phase"), reason=reason, node=node,
        ready=f"{sum(1 for c in statuses if c.get('ready'))}/{len(containers)}",
        restart_count=sum(c.get("restartCount", 0) for c in statuses),
        cpu_request=_sum(quantity.millicores((r.get("requests") or {}).get("cpu"))
                         for r in resources),
        cpu_limit=_all(quantity.millicores((r.get("limits") or {}).get("cpu"))
                       for r in resources),
        memory_request=_sum(quantity.bytes_((r.get("requests") or {}).get("memory"))
                            for r in resources),
        ip=status.get("podIP"), qos_class=status.get("qosClass"),
        images=",".join(c.get("image", "") for c in containers),
        containers=len(containers))
    entity.memory_limit = _all(quantity.bytes_((r.get("limits") or {}).get("memory"))
                               for r in resources)
    if not spec.get("hostNetwork"):
        entity.endpoints = [_shared(p["ip"]) for p in status.get("podIPs") or []
                            if p.get("ip")] or ([_shared(status["podIP"])]
                                                if status.get("podIP") else [])
    entities = [entity]
    edges = _ownership(cluster, obj, entity.id)
    if node:
        edges.append(_edge(ConnectionKind.DEPENDS, entity.id,
                           entity_id(cluster, "Node", None, node), relation="runs-on"))
    for cs in statuses:
        cid = cs.get("containerID")
        if not cid:
            continue
        state, why = _container_state(cs)
        container = Entity(
            id=ids.container(cid), kind=EntityKind.CONTAINER, name=_shared(cs["name"]),
            namespace=namespace, status=state, sources=_SOURCES,
            # Its id is the runtime's, without the cluster: say which cluster it is in.
            attrs={k: v for k, v in {"image": _shared(cs.get("image")), "pod": name,
                                     "cluster": _shared(cluster),
                                     "restart_count": cs.get("restartCount", 0),
                                     "ready": bool(cs.get("ready")), "reason": why,
                                     "container_id": cid}.items() if v is not None})
        entities.append(container)
        edges.append(_edge(ConnectionKind.OWNS, entity.id, container.id))
    edges += _pod_references(cluster, namespace, entity.id, spec)
    return entities, edges


def _pod_references(cluster: str, namespace: str | None, pod_id: str,
                    spec: Obj) -> list[Connection]:
    def ref(kind: str, name: str | None, how: ConnectionKind, via: str) -> Connection | None:
        if not name:
            return None
        return _edge(how, pod_id, entity_id(cluster, kind, namespace, name), via=via)

    found: list[Connection | None] = []
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            found.append(ref("ConfigMap", volume["configMap"].get("name"),
                             ConnectionKind.VOLUME, "volume"))
        if "secret" in volume:
            found.append(ref("Secret", volume["secret"].get("secretName"),
                             ConnectionKind.VOLUME, "volume"))
        if "persistentVolumeClaim" in volume:
            found.append(ref("PersistentVolumeClaim",
                             volume["persistentVolumeClaim"].get("claimName"),
                             ConnectionKind.VOLUME, "volume"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                found.append(ref("ConfigMap", source["configMap"].get("name"),
                                 ConnectionKind.VOLUME, "volume"))
            if "secret" in source:
                found.append(ref("Secret", source["secret"].get("name"),
                                 ConnectionKind.VOLUME, "volume"))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                found.append(ref("ConfigMap", env_from["configMapRef"].get("name"),
                                 ConnectionKind.DEPENDS, "envFrom"))
            if "secretRef" in env_from:
                found.append(ref("Secret", env_from["secretRef"].get("name"),
                                 ConnectionKind.DEPENDS, "envFrom"))
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                found.append(ref("ConfigMap", source["configMapKeyRef"].get("name"),
                                 ConnectionKind.DEPENDS, "env"))
            if "secretKeyRef" in source:
                found.append(ref("Secret", source["secretKeyRef"].get("name"),
                                 ConnectionKind.DEPENDS, "env"))
    unique: dict[str, Connection] = {}
    for edge in found:
        if edge is not None:
            unique.setdefault(edge.id, edge)
    return list(unique.values())


# -- workloads ------------------------------------------------------------------------------

def deployment(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    progressing: Obj = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Progressing"), {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        rollout, state = "failed", EntityStatus.FAILED
    elif (status.get("observedGeneration", 0) < meta.get("generation", 0) or updated < desired
          or status.get("replicas", 0) > updated or available < updated):
        rollout, state = "progressing", EntityStatus.PROCESSING
    else:
        rollout, state = "complete", EntityStatus.RUNNING
    if desired == 0 and rollout == "complete":
        state = EntityStatus.PAUSED if spec.get("paused") else EntityStatus.ACTIVE
    entity = _base(cluster, obj, state, rollout=rollout, replicas=desired,
                   ready_replicas=status.get("readyReplicas", 0), updated_replicas=updated,
                   available_replicas=available,
                   unavailable_replicas=status.get("unavailableReplicas", 0),
                   strategy=(spec.get("strategy") or {}).get("type"),
                   paused=bool(spec.get("paused")))
    return [entity], _ownership(cluster, obj, entity.id)


def replicated(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    """ReplicaSets, StatefulSets and DaemonSets: desired vs ready."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj["kind"] == "DaemonSet":
        desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    else:
        desired, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    state = EntityStatus.RUNNING if ready >= desired else EntityStatus.PROCESSING
    if desired == 0:
        state = EntityStatus.ACTIVE
    entity = _base(cluster, obj, state, replicas=desired, ready_replicas=ready,
                   current_replicas=status.get("replicas", status.get("currentNumberScheduled")))
    return [entity], _ownership(cluster, obj, entity.id)


def job(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    status = obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Failed") == "True":
        state = EntityStatus.FAILED
    elif conditions.get("Complete") == "True":
        state = EntityStatus.EXITED
    elif status.get("active"):
        state = EntityStatus.RUNNING
    else:
        state = EntityStatus.PENDING
    entity = _base(cluster, obj, state, active=status.get("active", 0),
                   succeeded=status.get("succeeded", 0), failed=status.get("failed", 0),
                   completions=(obj.get("spec") or {}).get("completions"))
    return [entity], _ownership(cluster, obj, entity.id)


# -- networking ------------------------------------------------------------------------------

def service(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    spec = obj.get("spec") or {}
    ports = spec.get("ports") or []
    cluster_ip = spec.get("clusterIP")
    entity = _base(cluster, obj, EntityStatus.ACTIVE, type=spec.get("type", "ClusterIP"),
                   cluster_ip=cluster_ip,
                   ports=",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports),
                   selector=",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()))
    if cluster_ip and cluster_ip != "None":
        entity.endpoints = [cluster_ip] + [ids.endpoint_key(cluster_ip, p["port"])
                                           for p in ports if p.get("port")]
    return [entity], _ownership(cluster, obj, entity.id)


def endpoint_slice(cluster: str, obj: Obj) -> tuple[str | None, int, list[Connection]]:
    """(service id, ready endpoint count, service -> pod edges); no entity of its own."""
    meta = obj["metadata"]
    service_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
    if not service_name:
        return None, 0, []
    namespace = meta.get("namespace")
    service_id = entity_id(cluster, "Service", namespace, service_name)
    ready, edges = 0, []
    for endpoint in obj.get("endpoints") or []:
        if (endpoint.get("conditions") or {}).get("ready", True):
            ready += 1
        target = endpoint.get("targetRef") or {}
        if target.get("kind") == "Pod" and target.get("name"):
            edges.append(_edge(ConnectionKind.NETWORK, service_id, entity_id(
                cluster, "Pod", target.get("namespace") or namespace, target["name"])))
    return service_id, ready, edges


def ingress(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    spec = obj.get("spec") or {}
    namespace = obj["metadata"].get("namespace")
    hosts = [r.get("host", "*") for r in spec.get("rules") or []]
    entity = _base(cluster, obj, EntityStatus.ACTIVE, ingress_class=spec.get("ingressClassName"),
                   hosts=",".join(hosts))
    backends = [spec.get("defaultBackend") or {}]
    for rule in spec.get("rules") or []:
        backends += [p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or []]
    edges = _ownership(cluster, obj, entity.id)
    seen = set()
    for backend in backends:
        name = (backend.get("service") or {}).get("name")
        if name and name not in seen:
            seen.add(name)
            edges.append(_edge(ConnectionKind.HTTP, entity.id,
                               entity_id(cluster, "Service", namespace, name)))
    return [entity], edges


# -- config and storage -------------------------------------------------------------------------

def configmap(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    keys = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    entity = _base(cluster, obj, EntityStatus.ACTIVE, keys=keys)
    return [entity], _ownership(cluster, obj, entity.id)


def secret(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    """Built from metadata plus the type and key count the Table view gives: no values."""
    entity = _base(cluster, obj, EntityStatus.ACTIVE, type=obj.get("type"), keys=obj.get("keys"))
    return [entity], _ownership(cluster, obj, entity.id)


_VOLUME_PHASE = {"Bound": EntityStatus.ACTIVE, "Available": EntityStatus.ACTIVE,
                 "Pending": EntityStatus.PENDING, "Released": EntityStatus.EXITED,
                 "Lost": EntityStatus.FAILED, "Failed": EntityStatus.FAILED}


def persistent_volume(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase")
    entity = _base(cluster, obj, _VOLUME_PHASE.get(phase or "", EntityStatus.UNKNOWN),
                   phase=phase,
                   capacity_bytes=quantity.bytes_((spec.get("capacity") or {}).get("storage")),
                   storage_class=spec.get("storageClassName"),
                   access_modes=",".join(spec.get("accessModes") or []),
                   reclaim_policy=spec.get("persistentVolumeReclaimPolicy"))
    return [entity], []


def persistent_volume_claim(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase")
    capacity = (status.get("capacity") or {}).get("storage") or (
        (spec.get("resources") or {}).get("requests") or {}).get("storage")
    entity = _base(cluster, obj, _VOLUME_PHASE.get(phase or "", EntityStatus.UNKNOWN),
                   phase=phase, capacity_bytes=quantity.bytes_(capacity),
                   storage_class=spec.get("storageClassName"), volume_name=spec.get("volumeName"),
                   access_modes=",".join(spec.get("accessModes") or []))
    edges = _ownership(cluster, obj, entity.id)
    if spec.get("volumeName"):
        edges.append(_edge(ConnectionKind.VOLUME, entity.id,
                           entity_id(cluster, "PersistentVolume", None, spec["volumeName"])))
    return [entity], edges


# -- cluster ---------------------------------------------------------------------------------

def namespace(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    phase = (obj.get("status") or {}).get("phase", "Active")
    state = EntityStatus.TERMINATING if phase == "Terminating" else EntityStatus.ACTIVE
    return [_base(cluster, obj, state, phase=phase)], []


def node(cluster: str, obj: Obj) -> tuple[list[Entity], list[Connection]]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    state = {"True": EntityStatus.RUNNING, "False": EntityStatus.FAILED}.get(
        ready or "", EntityStatus.UNKNOWN)
    capacity = status.get("allocatable") or status.get("capacity") or {}
    addresses = [a.get("address") for a in status.get("addresses") or []
                 if a.get("type") in ("InternalIP", "ExternalIP") and a.get("address")]
    pressure = sorted(t for t, v in conditions.items() if t and t.endswith("Pressure")
                      and v == "True")
    entity = _base(cluster, obj, state, ready=ready, pressure=",".join(pressure) or None,
                   memory_pressure=conditions.get("MemoryPressure") == "True",
                   disk_pressure=conditions.get("DiskPressure") == "True",
                   pid_pressure=conditions.get("PIDPressure") == "True",
                   unschedulable=bool(spec.get("unschedulable")),
                   cpu_capacity=quantity.millicores(capacity.get("cpu")),
                   memory_capacity=quantity.bytes_(capacity.get("memory")),
                   pods_capacity=quantity.bytes_(capacity.get("pods")),
                   kubelet_version=(status.get("nodeInfo") or {}).get("kubeletVersion"),
                   internal_ip=addresses[0] if addresses else None)
    entity.memory_limit = quantity.bytes_(capacity.get("memory"))
    entity.endpoints = addresses
    return [entity], []


BUILDERS = {
    "Namespace": namespace, "Node": node, "Pod": pod, "Service": service,
    "Deployment": deployment, "ReplicaSet": replicated, "StatefulSet": replicated,
    "DaemonSet": replicated, "Job": job, "Ingress": ingress, "ConfigMap": configmap,
    "Secret": secret, "PersistentVolume": persistent_volume,
    "PersistentVolumeClaim": persistent_volume_claim,
}
