"""The resource types kubesim serves, as the API server's discovery describes them."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for core/v1
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name kubectl and RBAC messages use: "pods", "deployments.apps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_version(self) -> str:
        return self.api_version


_ALL = ("all",)
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Node", "nodes", False, ("no",)),
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",)),
    Resource("", "v1", "Pod", "pods", True, ("po",), categories=_ALL, subresources=("status",)),
    Resource("", "v1", "Service", "services", True, ("svc",), categories=_ALL),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), categories=_ALL,
             subresources=("scale", "status")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), categories=_ALL,
             subresources=("scale", "status")),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), categories=_ALL,
             subresources=("scale", "status")),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), categories=_ALL),
    Resource("batch", "v1", "Job", "jobs", True, (), categories=_ALL),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
             False),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    Resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, verbs=("get", "list")),
    Resource("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, verbs=("get", "list")),
    # Two GitOps controllers' custom resources, as a cluster with Argo CD and Flux installed
    # serves them (only stored: no controller acts on them here).
    Resource("argoproj.io", "v1alpha1", "Application", "applications", True, ("app",)),
    Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", True,
             ("ks",)),
    # Answered, never stored: "may I?" (`kubectl auth can-i`).
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
             "selfsubjectaccessreviews", False, verbs=("create",)),
)

_COMPUTED = ("metrics.k8s.io", "authorization.k8s.io")
# Stored kinds (metrics and reviews are computed, not stored), keyed by (group, plural).
STORED: dict[tuple[str, str], Resource] = {
    (r.group, r.plural): r for r in RESOURCES if r.group not in _COMPUTED
}
METRICS: dict[str, Resource] = {r.plural: r for r in RESOURCES if r.group == "metrics.k8s.io"}
REVIEWS: dict[str, Resource] = {r.plural: r for r in RESOURCES
                                if r.group == "authorization.k8s.io"}
BY_KIND: dict[str, Resource] = {r.kind: r for r in STORED.values()}


def group_versions() -> dict[str, list[Resource]]:
    """Resources per "group/version" (core is "v1"), in discovery order."""
    out: dict[str, list[Resource]] = {}
    for r in RESOURCES:
        out.setdefault(r.group_version, []).append(r)
    return out
