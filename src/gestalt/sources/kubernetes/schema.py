"""What the source reads of each kind, as msgspec TypedDicts.

Objects are decoded straight from the API's bytes into plain dicts holding only these
fields: everything else (managedFields, container env values, configmap values, probes,
conditions' timestamps...) is skipped by the decoder, never becoming Python objects.
`translate` reads the result as it would the full object. A field `translate` or the
source starts reading must be added here, or it will always look absent.

Scalars are `Any` where servers differ (numbers sent as strings and the reverse) and
every level may be null, so an unusual object never fails to decode.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec

# -- shared ----------------------------------------------------------------------------------


class OwnerReference(TypedDict, total=False):
    kind: Any
    name: Any


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str | None
    uid: str | None
    resourceVersion: str | None
    generation: Any
    creationTimestamp: str | None
    deletionTimestamp: str | None
    labels: dict[str, str] | None
    annotations: dict[str, str] | None
    ownerReferences: list[OwnerReference] | None


class Condition(TypedDict, total=False):
    type: Any
    status: Any
    reason: Any


class Named(TypedDict, total=False):
    name: Any


class Quantities(TypedDict, total=False):
    requests: dict[str, Any] | None
    limits: dict[str, Any] | None


# -- pods ------------------------------------------------------------------------------------


class SecretVolume(TypedDict, total=False):
    secretName: Any


class ClaimVolume(TypedDict, total=False):
    claimName: Any


class ProjectedSource(TypedDict, total=False):
    configMap: Named | None
    secret: Named | None


class Projected(TypedDict, total=False):
    sources: list[ProjectedSource] | None


class Volume(TypedDict, total=False):
    configMap: Named | None
    secret: SecretVolume | None
    persistentVolumeClaim: ClaimVolume | None
    projected: Projected | None


class EnvFrom(TypedDict, total=False):
    configMapRef: Named | None
    secretRef: Named | None


class EnvSource(TypedDict, total=False):
    configMapKeyRef: Named | None
    secretKeyRef: Named | None


class EnvVar(TypedDict, total=False):
    # Only where a value comes from: a plain `value` may be a secret and is never read.
    valueFrom: EnvSource | None


class Container(TypedDict, total=False):
    name: Any
    image: Any
    resources: Quantities | None
    envFrom: list[EnvFrom] | None
    env: list[EnvVar] | None


class PodSpec(TypedDict, total=False):
    nodeName: Any
    hostNetwork: Any
    containers: list[Container] | None
    initContainers: list[Container] | None
    volumes: list[Volume] | None


class Reason(TypedDict, total=False):
    reason: Any


class ContainerState(TypedDict, total=False):
    # Only presence matters for `running`.
    running: dict[str, Any] | None
    terminated: Reason | None
    waiting: Reason | None


class ContainerStatus(TypedDict, total=False):
    name: Any
    image: Any
    containerID: Any
    restartCount: Any
    ready: Any
    state: ContainerState | None


class PodIP(TypedDict, total=False):
    ip: Any


class PodStatus(TypedDict, total=False):
    phase: Any
    reason: Any
    podIP: Any
    podIPs: list[PodIP] | None
    qosClass: Any
    containerStatuses: list[ContainerStatus] | None


class Pod(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec | None
    status: PodStatus | None


# -- workloads -------------------------------------------------------------------------------


class Strategy(TypedDict, total=False):
    type: Any


class WorkloadSpec(TypedDict, total=False):
    replicas: Any
    paused: Any
    strategy: Strategy | None
    completions: Any


class WorkloadStatus(TypedDict, total=False):
    observedGeneration: Any
    replicas: Any
    updatedReplicas: Any
    readyReplicas: Any
    availableReplicas: Any
    unavailableReplicas: Any
    desiredNumberScheduled: Any
    currentNumberScheduled: Any
    numberReady: Any
    active: Any
    succeeded: Any
    failed: Any
    conditions: list[Condition] | None


class Workload(TypedDict, total=False):
    """Deployments, ReplicaSets, StatefulSets, DaemonSets and Jobs."""

    metadata: ObjectMeta
    spec: WorkloadSpec | None
    status: WorkloadStatus | None


# -- networking ------------------------------------------------------------------------------


class ServicePort(TypedDict, total=False):
    port: Any
    protocol: Any


class ServiceSpec(TypedDict, total=False):
    type: Any
    clusterIP: Any
    ports: list[ServicePort] | None
    selector: dict[str, Any] | None


class Service(TypedDict, total=False):
    metadata: ObjectMeta
    spec: ServiceSpec | None


class TargetRef(TypedDict, total=False):
    kind: Any
    name: Any
    namespace: Any


class EndpointConditions(TypedDict, total=False):
    ready: Any


class Endpoint(TypedDict, total=False):
    conditions: EndpointConditions | None
    targetRef: TargetRef | None


class EndpointSlice(TypedDict, total=False):
    metadata: ObjectMeta
    endpoints: list[Endpoint] | None


class Backend(TypedDict, total=False):
    service: Named | None


class IngressPath(TypedDict, total=False):
    backend: Backend | None


class IngressHttp(TypedDict, total=False):
    paths: list[IngressPath] | None


class IngressRule(TypedDict, total=False):
    host: Any
    http: IngressHttp | None


class IngressSpec(TypedDict, total=False):
    ingressClassName: Any
    defaultBackend: Backend | None
    rules: list[IngressRule] | None


class Ingress(TypedDict, total=False):
    metadata: ObjectMeta
    spec: IngressSpec | None


# -- config and storage ------------------------------------------------------------------------


class ConfigMap(TypedDict, total=False):
    metadata: ObjectMeta
    # Only the keys are counted: the values stay undecoded bytes, and are dropped at once.
    data: dict[str, msgspec.Raw] | None
    binaryData: dict[str, msgspec.Raw] | None


class VolumeSpec(TypedDict, total=False):
    capacity: dict[str, Any] | None
    resources: Quantities | None
    storageClassName: Any
    volumeName: Any
    accessModes: list[Any] | None
    persistentVolumeReclaimPolicy: Any


class VolumeStatus(TypedDict, total=False):
    phase: Any
    capacity: dict[str, Any] | None


class Storage(TypedDict, total=False):
    """PersistentVolumes and PersistentVolumeClaims."""

    metadata: ObjectMeta
    spec: VolumeSpec | None
    status: VolumeStatus | None


# -- cluster ---------------------------------------------------------------------------------


class Phase(TypedDict, total=False):
    phase: Any


class Namespace(TypedDict, total=False):
    metadata: ObjectMeta
    status: Phase | None


class NodeSpec(TypedDict, total=False):
    unschedulable: Any


class NodeAddress(TypedDict, total=False):
    type: Any
    address: Any


class NodeInfo(TypedDict, total=False):
    kubeletVersion: Any


class NodeStatus(TypedDict, total=False):
    conditions: list[Condition] | None
    allocatable: dict[str, Any] | None
    capacity: dict[str, Any] | None
    addresses: list[NodeAddress] | None
    nodeInfo: NodeInfo | None


class Node(TypedDict, total=False):
    metadata: ObjectMeta
    spec: NodeSpec | None
    status: NodeStatus | None


class InvolvedObject(TypedDict, total=False):
    kind: Any
    namespace: Any
    name: Any


class Event(TypedDict, total=False):
    metadata: ObjectMeta
    involvedObject: InvolvedObject | None
    type: Any
    reason: Any
    message: Any
    count: Any
    lastTimestamp: Any
    eventTime: Any


# -- metrics.k8s.io ----------------------------------------------------------------------------


class ContainerMetrics(TypedDict, total=False):
    usage: dict[str, Any] | None


class Metrics(TypedDict, total=False):
    """A PodMetrics (per container usage) or a NodeMetrics (usage)."""

    metadata: ObjectMeta
    timestamp: Any
    containers: list[ContainerMetrics] | None
    usage: dict[str, Any] | None


class MetricsList(TypedDict, total=False):
    items: list[Metrics] | None


SCHEMAS: dict[str, Any] = {
    "Namespace": Namespace, "Node": Node, "PersistentVolume": Storage, "Pod": Pod,
    "Service": Service, "ConfigMap": ConfigMap, "PersistentVolumeClaim": Storage,
    "Event": Event, "Deployment": Workload, "ReplicaSet": Workload, "StatefulSet": Workload,
    "DaemonSet": Workload, "Job": Workload, "Ingress": Ingress,
    "EndpointSlice": EndpointSlice,
}
