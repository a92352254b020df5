"""The vocabularies of the model: entity kinds, connection kinds, statuses, health.

Values are the product plan's names, so they travel unchanged to the web UI and to users'
queries. Colours and shapes are the UI's business, never the model's.
"""

from __future__ import annotations

from enum import StrEnum


class EntityKind(StrEnum):
    # The product plan's kinds.
    NAMESPACE = "namespace"
    POD = "pod"
    SERVICE = "service"
    DEPLOYMENT = "deployment"
    CONTAINER = "container"
    NATS_SUBJECT = "nats_subject"
    NATS_STREAM = "nats_stream"
    DATABASE = "database"
    VOLUME = "volume"
    CONFIGMAP = "configmap"
    SECRET = "secret"
    INGRESS = "ingress"
    NODE = "node"
    # What the sources need beyond the plan.
    PROCESS = "process"
    NETWORK = "network"
    NATS_CONSUMER = "nats_consumer"
    NATS_SERVER = "nats_server"
    REPLICASET = "replicaset"
    STATEFULSET = "statefulset"
    DAEMONSET = "daemonset"
    JOB = "job"
    # Code Mode: the code on disk (sources/code).
    REPOSITORY = "repository"
    PACKAGE = "package"
    MODULE = "module"


class ConnectionKind(StrEnum):
    NETWORK = "network"
    HTTP = "http"
    GRPC = "grpc"
    NATS = "nats"
    VOLUME = "volume"
    DEPENDS = "depends"
    OWNS = "owns"
    # Code Mode: a module imports another (static); code runs as a process, container, pod.
    IMPORTS = "imports"
    RUNS_AS = "runs_as"


class EntityStatus(StrEnum):
    """Lifecycle of a thing, as its source reports it (not a judgement: see Health)."""

    RUNNING = "running"
    PENDING = "pending"
    PROCESSING = "processing"
    FAILED = "failed"
    TERMINATING = "terminating"
    EXITED = "exited"
    PAUSED = "paused"
    # Things without a lifecycle of their own (a network, a volume, a namespace) that exist.
    ACTIVE = "active"
    UNKNOWN = "unknown"


class Health(StrEnum):
    """Ordered health: unknown < ok < warning < critical. Missing data is UNKNOWN, never OK."""

    UNKNOWN = "unknown"
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _HEALTH_RANK[self]

    @staticmethod
    def worst(*values: Health) -> Health:
        return max(values, key=_HEALTH_RANK.__getitem__, default=Health.UNKNOWN)


_HEALTH_RANK = {Health.UNKNOWN: 0, Health.OK: 1, Health.WARNING: 2, Health.CRITICAL: 3}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class SourceState(StrEnum):
    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    DISABLED = "disabled"


# Kubernetes kinds shown on the map: kind -> (the id prefix, the entity kind). Every source
# that names a Kubernetes object (the Kubernetes source, the GitOps source) names it by this
# table, so one object is one entity whichever source sees it.
K8S_KINDS: dict[str, tuple[str, EntityKind]] = {
    "Namespace": ("namespace", EntityKind.NAMESPACE),
    "Node": ("node", EntityKind.NODE),
    "Pod": ("pod", EntityKind.POD),
    "Service": ("service", EntityKind.SERVICE),
    "Deployment": ("deployment", EntityKind.DEPLOYMENT),
    "ReplicaSet": ("replicaset", EntityKind.REPLICASET),
    "StatefulSet": ("statefulset", EntityKind.STATEFULSET),
    "DaemonSet": ("daemonset", EntityKind.DAEMONSET),
    "Job": ("job", EntityKind.JOB),
    "Ingress": ("ingress", EntityKind.INGRESS),
    "ConfigMap": ("configmap", EntityKind.CONFIGMAP),
    "Secret": ("secret", EntityKind.SECRET),
    "PersistentVolume": ("pv", EntityKind.VOLUME),
    "PersistentVolumeClaim": ("pvc", EntityKind.VOLUME),
}
