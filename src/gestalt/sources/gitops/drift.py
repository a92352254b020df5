"""One repository's objects against the cluster: a state per object, as values.

- `in_sync`: in Git and in the cluster, no difference (compare.py says what counts);
- `drifted`: in both, with the fields that differ;
- `missing`: in Git, not in the cluster;
- `extra`: in the cluster, not in Git, in a namespace the repository owns, of a kind it
  manages (or a common workload kind), and made by nobody else: objects with an owner
  (a Deployment's ReplicaSets, a CronJob's Jobs) and the ones Kubernetes makes itself in
  every namespace (`kube-root-ca.crt`, the `default` ServiceAccount) are not extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gestalt.model.config import GitopsRepository
from gestalt.sources.gitops.compare import Difference, differences
from gestalt.sources.gitops.manifests import Desired

Obj = dict[str, Any]
IN_SYNC, DRIFTED, MISSING, EXTRA = "in_sync", "drifted", "missing", "extra"

CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "StorageClass", "PriorityClass", "IngressClass", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "CSIDriver",
    "RuntimeClass", "VolumeSnapshotClass",
})
# Kinds looked at for `extra` objects in every namespace a repository owns, besides its own.
EXTRA_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
    ("v1", "Service"), ("v1", "ConfigMap"), ("networking.k8s.io/v1", "Ingress"),
)
BUILT_IN = frozenset({("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default"),
                      ("Service", "kubernetes")})


@dataclass(frozen=True)
class Key:
    kind: str
    namespace: str | None
    name: str


@dataclass
class ObjectState:
    key: Key
    api_version: str
    state: str
    file: str = ""  # where Git declares it ("" for extra objects)
    differences: list[Difference] = field(default_factory=list)


def key_of(obj: Obj, default_namespace: str | None) -> Key:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind"))
    namespace = None if kind in CLUSTER_SCOPED else (meta.get("namespace") or default_namespace)
    return Key(kind, namespace, str(meta.get("name")))


def owned_namespaces(repo: GitopsRepository, desired: list[Desired]) -> list[str]:
    if repo.namespaces:
        return list(repo.namespaces)
    found = {key_of(d.obj, repo.default_namespace).namespace for d in desired}
    found |= {key_of(d.obj, None).name for d in desired if d.obj.get("kind") == "Namespace"}
    return sorted(n for n in found if n)


def reads(repo: GitopsRepository, desired: list[Desired]) -> set[tuple[str, str, str | None]]:
    """(apiVersion, kind, namespace) lists the comparison needs."""
    namespaces = owned_namespaces(repo, desired)
    wanted: set[tuple[str, str, str | None]] = set()
    for item in desired:
        key = key_of(item.obj, repo.default_namespace)
        wanted.add((str(item.obj["apiVersion"]), key.kind, key.namespace))
    namespaced = {(v, k) for v, k, ns in wanted if ns is not None}
    for namespace in namespaces:
        for api_version, kind in {*namespaced, *EXTRA_KINDS}:
            wanted.add((api_version, kind, namespace))
    return wanted


def compare(repo: GitopsRepository, desired: list[Desired],
            live: dict[tuple[str, str | None], list[Obj]]) -> list[ObjectState]:
    """States of every object, given the live objects per (kind, namespace) read."""
    by_key = {key_of(o, None): o for objs in live.values() for o in objs}
    states: list[ObjectState] = []
    declared: set[Key] = set()
    for item in desired:
        key = key_of(item.obj, repo.default_namespace)
        declared.add(key)
        found = by_key.get(key)
        version = str(item.obj["apiVersion"])
        if found is None:
            states.append(ObjectState(key, version, MISSING, item.file))
            continue
        diffs = differences(item.obj, found, ignore=_ignored(repo, key))
        states.append(ObjectState(key, version, DRIFTED if diffs else IN_SYNC, item.file, diffs))
    owned = set(owned_namespaces(repo, desired))
    for key, obj in by_key.items():
        if key in declared or key.namespace not in owned or (key.kind, key.name) in BUILT_IN:
            continue
        if (obj.get("metadata") or {}).get("ownerReferences"):
            continue
        if key.kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
            continue
        states.append(ObjectState(key, str(obj.get("apiVersion") or ""), EXTRA))
    return states


def _ignored(repo: GitopsRepository, key: Key) -> list[str]:
    pointers: list[str] = []
    for rule in repo.ignore_differences:
        if rule.kind and rule.kind != key.kind:
            continue
        if rule.name and rule.name != key.name:
            continue
        if rule.namespace and rule.namespace != key.namespace:
            continue
        pointers += rule.json_pointers
    return pointers
