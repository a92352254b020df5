"""From OTLP protobuf messages to what the service graph needs: who sent a span (the
entity its resource names) and the few facts about the span that make an edge.

Only the attributes the graph reads are converted; everything else in a span stays in
the protobuf message and is dropped with it, which keeps ingestion cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from gestalt.model import EntityKind, Scalar, ids

SERVER = Span.SPAN_KIND_SERVER
CLIENT = Span.SPAN_KIND_CLIENT
PRODUCER = Span.SPAN_KIND_PRODUCER
CONSUMER = Span.SPAN_KIND_CONSUMER
_ERROR = Status.STATUS_CODE_ERROR

# Span attributes the graph reads (current and older semantic-convention names).
SPAN_KEYS = frozenset(
    {
        "rpc.system",
        "db.system",
        "db.system.name",
        "db.namespace",
        "db.name",
        "server.address",
        "server.port",
        "net.peer.name",
        "net.peer.port",
        "network.peer.address",
        "network.peer.port",
        "peer.service",
        "messaging.system",
        "messaging.destination.name",
        "messaging.destination",
        # Code Mode: which code a span ran (engine/links/runs_as.py links the service to it).
        "code.namespace",
        "code.function.name",
        "code.filepath",
        "code.file.path",
    }
)

# Resource attributes worth showing on the entity.
_RESOURCE_ATTRS = (
    "service.name",
    "service.namespace",
    "service.version",
    "service.instance.id",
    "deployment.environment",
    "telemetry.sdk.language",
    "host.name",
    "process.pid",
    "container.id",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
)


@dataclass(slots=True, frozen=True)
class Service:
    """The entity a resource (one SDK in one process) maps to."""

    entity_id: str
    kind: EntityKind
    name: str
    namespace: str | None = None
    attrs: dict[str, Scalar] = field(default_factory=dict, hash=False, compare=False)
    # Its network (whose loopback and DNS names its peers' addresses are relative to): the
    # pod, the container or the host node; None when the resource does not say.
    scope: str | None = field(default=None, hash=False, compare=False)


class SpanRecord(NamedTuple):
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    kind: int
    end_s: float
    duration_ms: float
    error: bool
    attrs: dict[str, Scalar]


def scalar(value: AnyValue) -> Scalar:
    which = value.WhichOneof("value")
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        result: Scalar = getattr(value, which)
        return result
    return None  # arrays, key-value lists and bytes are never identifiers we use


def attributes(
    pairs: Iterable[KeyValue], keys: frozenset[str] | None = None
) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for kv in pairs:
        if keys is None or kv.key in keys:
            out[kv.key] = scalar(kv.value)
    return out


def service_of(resource_attrs: dict[str, Scalar], sent_from: str | None = None) -> Service:
    """Map a resource to the most specific real thing it names.

    Pod (k8s.pod.name + k8s.namespace.name), then container (container.id), then host
    process (host.name + process.pid), then the host itself (host.name and no service.name:
    a collector's host metrics), so spans and metrics land on the entities the Kubernetes,
    Docker and host sources already show; otherwise a `service` entity.
    `sent_from` is this host's name when the export came over loopback: the network of a
    resource that names no host (`localhost` in its spans is this host).
    """
    name = str(resource_attrs.get("service.name") or "unknown_service")
    attrs = {k: resource_attrs[k] for k in _RESOURCE_ATTRS if resource_attrs.get(k) is not None}
    pod = resource_attrs.get("k8s.pod.name")
    namespace = resource_attrs.get("k8s.namespace.name")
    if pod and namespace:
        cluster = str(resource_attrs.get("k8s.cluster.name") or "default")
        pod_id = ids.k8s("pod", cluster, str(namespace), str(pod))
        return Service(pod_id, EntityKind.POD, str(pod), str(namespace), attrs, pod_id)
    container_id = resource_attrs.get("container.id")
    if container_id:
        cid = ids.container(str(container_id))
        return Service(cid, EntityKind.CONTAINER, name, None, attrs, cid)
    host = resource_attrs.get("host.name")
    node = ids.host_node(str(host)) if host else ids.host_node(sent_from) if sent_from else None
    pid = resource_attrs.get("process.pid")
    if host and isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        return Service(ids.process(str(host), pid), EntityKind.PROCESS, name, None, attrs, node)
    if host and not resource_attrs.get("service.name"):
        return Service(str(node), EntityKind.NODE, str(host), None, attrs, node)
    group = resource_attrs.get("service.namespace") or host or "default"
    return Service(ids.service(str(group), name), EntityKind.SERVICE, name, None, attrs, node)


def records(resource_spans: ResourceSpans) -> Iterator[SpanRecord]:
    """The spans that can make edges: server, client, producer and consumer spans."""
    for scope_spans in resource_spans.scope_spans:
        for span in scope_spans.spans:
            kind = span.kind
            if kind < SERVER:  # unspecified and internal spans cross no process boundary
                continue
            start, end = span.start_time_unix_nano, span.end_time_unix_nano
            yield SpanRecord(
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                kind,
                end / 1e9,
                max(end - start, 0) / 1e6,
                span.status.code == _ERROR,
                attributes(span.attributes, SPAN_KEYS),
            )


def peer_address(attrs: dict[str, Scalar]) -> tuple[str | None, int | None]:
    """The peer as a span or metric point names it (a logical name first)."""
    host = attrs.get("server.address") or attrs.get("net.peer.name") or attrs.get(
        "network.peer.address")
    port = attrs.get("server.port") or attrs.get("net.peer.port") or attrs.get(
        "network.peer.port")
    return str(host) if host else None, port_number(port)


def port_number(value: Scalar) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
