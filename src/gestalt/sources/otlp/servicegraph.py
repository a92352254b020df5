"""The service graph: edges between services built from spans, as Tempo's service graphs
are.

A request between two instrumented services leaves two spans in the same trace: the
caller's CLIENT span and the callee's SERVER span, whose parent is that client span
(PRODUCER/CONSUMER likewise for messaging). They arrive in different requests from
different processes, in either order, so each waits in a bounded, expiring pairing store
keyed by (trace id, client span id) until its partner comes. A completed pair is one
request on the edge caller -> callee.

Some spans need no partner because the other side never traces itself:
- a CLIENT span with `db.system` is a call to a database: edge to a `database` entity;
- a `messaging.system=nats` PRODUCER (CONSUMER) span is a publish to (delivery from) a
  subject: edge service -> `nats_subject` (subject -> service).
A client span whose partner never came (an uninstrumented callee) becomes, when it
expires, an edge to the peer it dialled, or to a `service` named by `peer.service`.

Databases, subjects and peers are known here only by the address the span dialled
(`localhost:5432`, `nats:4222`, a container IP): they are reported with a `Locator`, and
the hub shows instead the entity the PostgreSQL, NATS, Docker, Kubernetes or host source
reports at that place (engine/links.py); the located entity only while none does.

Kinds: gRPC when `rpc.system=grpc`, NATS for NATS messaging, `network` for database
connections (the same edge the PostgreSQL source reports for a client connection) and
other brokers, HTTP otherwise.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics

from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Locator,
    Scalar,
    ids,
)
from gestalt.sources.otlp.metrics import MetricTable
from gestalt.sources.otlp.spans import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    Service,
    SpanRecord,
    peer_address,
    port_number,
)
from gestalt.sources.otlp.window import Summary, WindowStats


@dataclass(slots=True)
class _Pending:
    client: tuple[Service, SpanRecord] | None
    server: tuple[Service, SpanRecord] | None
    expires: float


@dataclass(slots=True)
class _Edge:
    stats: WindowStats
    attrs: dict[str, Scalar]


@dataclass(slots=True)
class _Seen:
    entity: Entity
    last_seen: float
    stats: WindowStats | None = None  # requests the service served (server/consumer spans)


@dataclass(slots=True)
class Counters:
    spans: int = 0
    paired: int = 0
    expired: int = 0
    dropped_spans: int = 0  # pairing store full
    dropped_edges: int = 0  # edge table full


EdgeKey = tuple[str, str, ConnectionKind]
# Span attributes naming code, and the entity attribute that collects their values.
_CODE_KEYS = {"code.namespace": "code.namespaces", "code.function.name": "code.namespaces",
              "code.filepath": "code.filepaths", "code.file.path": "code.filepaths"}
MAX_CODE_NAMES = 32


class ServiceGraph:
    def __init__(
        self,
        *,
        window: float = 60.0,
        pairing_wait: float = 10.0,
        export_delay: float = 10.0,
        max_pending: int = 100_000,
        max_edges: int = 10_000,
        max_metric_series: int = 200,
    ) -> None:
        self._window = window
        self._pairing_wait = pairing_wait
        self._export_delay = export_delay
        self._max_pending = max_pending
        self._max_edges = max_edges
        # Insertion order is expiry order: every entry waits the same time.
        self._pending: OrderedDict[tuple[bytes, bytes], _Pending] = OrderedDict()
        self._edges: dict[EdgeKey, _Edge] = {}
        self._services: dict[str, _Seen] = {}
        self._targets: dict[str, _Seen] = {}  # databases, subjects, uninstrumented peers
        # OTLP metrics of the same entities; their client-duration edges count only where
        # no client span to that address came (caller id, address, port -> when).
        self.metrics = MetricTable(window=window, max_series=max_metric_series)
        self._span_peers: dict[tuple[str, str | None, int | None], float] = {}
        self.counters = Counters()
        # Set when an entity or edge appears; the source reports those without waiting.
        self.grew = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- ingestion ----------------------------------------------------------------------
    def ingest(self, service: Service, spans: Iterable[SpanRecord], now: float) -> None:
        seen = self._seen(service, now)
        for span in spans:
            self.counters.spans += 1
            if _CODE_KEYS.keys() & span.attrs.keys():
                self._note_code(seen, span.attrs)
            if span.kind in (SERVER, CONSUMER):
                if seen.stats is None:
                    seen.stats = WindowStats(self._window)
                seen.stats.add(span.end_s, span.duration_ms, span.error)
            elif span.kind == CLIENT:
                self._span_peers[(service.entity_id, *peer_address(span.attrs))] = now
            if self._direct(service, span, now):
                continue
            self._pair(service, span, now)

    def ingest_metrics(
        self, service: Service, resource_metrics: ResourceMetrics, now: float
    ) -> None:
        self._seen(service, now)

        def peer_of(attrs: dict[str, Scalar]) -> str | None:
            peer = peer_entity(attrs, service.scope)
            return self._target(peer, now) if peer is not None else None

        self.metrics.ingest(service, resource_metrics, now, peer_of)

    def _note_code(self, seen: _Seen, attrs: dict[str, Scalar]) -> None:
        """Remember the code the service's spans name (`code.*` attributes), a few values
        per attribute, on its entity (replaced, never changed in place: the hub holds it)."""
        noted = dict(seen.entity.attrs)
        for key, field_name in _CODE_KEYS.items():
            value = attrs.get(key)
            if not value:
                continue
            known = [v for v in str(noted.get(field_name) or "").split(",") if v]
            if str(value) not in known and len(known) < MAX_CODE_NAMES:
                noted[field_name] = ",".join(sorted([*known, str(value)]))
        if noted != seen.entity.attrs:
            seen.entity = msgspec.structs.replace(seen.entity, attrs=noted)
            self.grew = True

    def _seen(self, service: Service, now: float) -> _Seen:
        seen = self._services.get(service.entity_id)
        if seen is None:
            seen = self._services[service.entity_id] = _Seen(_service_entity(service), now)
            self.grew = True
        seen.last_seen = now
        return seen

    def _direct(self, service: Service, span: SpanRecord, now: float) -> bool:
        """Record spans whose other side never traces itself; False for those to pair."""
        attrs = span.attrs
        db_system = attrs.get("db.system") or attrs.get("db.system.name")
        if db_system and span.kind == CLIENT:
            target = self._target(_database_entity(str(db_system), attrs, service.scope), now)
            self._record(service.entity_id, target, ConnectionKind.NETWORK, span,
                         {"protocol": str(db_system)})
            return True
        if attrs.get("messaging.system") == "nats" and span.kind in (PRODUCER, CONSUMER):
            target = self._target(_subject_entity(attrs, service.scope), now)
            source, dest = (service.entity_id, target) if span.kind == PRODUCER else (
                target, service.entity_id)
            self._record(source, dest, ConnectionKind.NATS, span, {"protocol": "nats"})
            return True
        return False

    def _pair(self, service: Service, span: SpanRecord, now: float) -> None:
        client_side = span.kind in (CLIENT, PRODUCER)
        key = (span.trace_id, span.span_id if client_side else span.parent_id)
        if not key[1]:
            return  # a root server span: no caller to pair with
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self._max_pending:
                self.counters.dropped_spans += 1
                return
            half = (service, span)
            self._pending[key] = _Pending(
                half if client_side else None,
                None if client_side else half,
                now + self._pairing_wait,
            )
            return
        if client_side:
            pending.client = (service, span)
        else:
            pending.server = (service, span)
        if pending.client is None or pending.server is None:
            return  # a duplicate of the half already waiting
        del self._pending[key]
        self.counters.paired += 1
        (caller, client), (callee, server) = pending.client, pending.server
        kind, protocol = _paired_kind(client, server)
        sample = client._replace(error=client.error or server.error)
        self._record(caller.entity_id, callee.entity_id, kind, sample, {"protocol": protocol})

    def _record(
        self, source: str, target: str, kind: ConnectionKind, span: SpanRecord,
        attrs: dict[str, Scalar],
    ) -> None:
        key = (source, target, kind)
        edge = self._edges.get(key)
        if edge is None:
            if len(self._edges) >= self._max_edges:
                self.counters.dropped_edges += 1
                return
            edge = self._edges[key] = _Edge(WindowStats(self._window), attrs)
            self.grew = True
        edge.stats.add(span.end_s, span.duration_ms, span.error)

    def _target(self, entity: Entity, now: float) -> str:
        seen = self._targets.get(entity.id)
        if seen is None:
            self._targets[entity.id] = _Seen(entity, now)
            self.grew = True
        else:
            seen.last_seen = now
        return entity.id

    # -- expiry and reporting --------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Give up on halves whose partner did not come in time."""
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if pending.expires > now:
                break
            del self._pending[key]
            self.counters.expired += 1
            if pending.client is not None:
                caller, span = pending.client
                peer = peer_entity(span.attrs, caller.scope)
                if peer is not None:
                    target = self._target(peer, now)
                    kind, protocol = _paired_kind(span, None)
                    self._record(caller.entity_id, target, kind, span, {"protocol": protocol})

    def snapshot(self, now: float) -> tuple[list[Entity], list[Connection]]:
        """Entities and edges with traffic inside the window, with their figures."""
        self.expire(now)
        self.grew = False
        connections: list[Connection] = []
        for key, edge in list(self._edges.items()):
            if edge.stats.prune(now):
                del self._edges[key]
                continue
            summary = edge.stats.summary(now, export_delay=self._export_delay)
            if summary is not None:
                connections.append(self._connection(key, edge.attrs, summary))
        connections += self._metric_edges(now)
        live = {c.source_id for c in connections} | {c.target_id for c in connections}
        entities: list[Entity] = []
        for table in (self._services, self._targets):
            for entity_id, seen in list(table.items()):
                if entity_id not in live and seen.last_seen <= now - self._window:
                    del table[entity_id]
                    continue
                entities.append(self._with_metrics(seen, now))
        return entities, connections

    def _metric_edges(self, now: float) -> list[Connection]:
        """Edges measured by client duration histograms, where no client span measures them."""
        self.metrics.prune(now)
        oldest = now - self._window
        self._span_peers = {k: t for k, t in self._span_peers.items() if t > oldest}
        edges = []
        for source, target, (host, port), attrs, summary in self.metrics.edges():
            if (source, host, port) in self._span_peers:
                continue
            kind = ConnectionKind.GRPC if attrs["protocol"] == "grpc" else ConnectionKind.HTTP
            edges.append(self._connection((source, target, kind),
                                          {**attrs, "signal": "metrics"}, summary))
        return edges

    def _connection(self, key: EdgeKey, attrs: dict[str, Scalar], summary: Summary) -> Connection:
        source, target, kind = key
        return Connection(
            source_id=source,
            target_id=target,
            kind=kind,
            requests_per_sec=summary.requests_per_sec,
            error_rate=summary.error_rate,
            latency_ms=summary.p50_ms,
            attrs={
                **attrs,
                "latency_p50_ms": summary.p50_ms,
                "latency_p99_ms": summary.p99_ms,
                "requests": summary.count,
                "errors": summary.errors,
                "window_s": self._window,
            },
        )

    def _with_metrics(self, seen: _Seen, now: float) -> Entity:
        """The entity with what it served (its server spans, else its server duration
        histograms) and its custom metrics."""
        summary = None
        if seen.stats is not None:
            seen.stats.prune(now)
            summary = seen.stats.summary(now, export_delay=self._export_delay)
        if summary is None:
            summary = self.metrics.served(seen.entity.id)
        custom = self.metrics.custom(seen.entity.id)
        if summary is not None:
            custom.update({
                "requests_per_sec": summary.requests_per_sec,
                "error_rate": summary.error_rate,
                "latency_p50_ms": summary.p50_ms,
                "latency_p99_ms": summary.p99_ms,
            })
        if not custom:
            return seen.entity
        return msgspec.structs.replace(seen.entity, custom_metrics=custom)


def _paired_kind(client: SpanRecord, server: SpanRecord | None) -> tuple[ConnectionKind, str]:
    rpc = client.attrs.get("rpc.system") or (server.attrs.get("rpc.system") if server else None)
    if rpc == "grpc":
        return ConnectionKind.GRPC, "grpc"
    messaging = client.attrs.get("messaging.system")
    if messaging:
        return ConnectionKind.NETWORK, str(messaging)
    return ConnectionKind.HTTP, str(rpc or "http")


def _service_entity(service: Service) -> Entity:
    # Only a `service` entity is ours to give a status; pods, containers and processes
    # have owners (Kubernetes, Docker, host sources) that know their lifecycle.
    status = EntityStatus.RUNNING if service.kind is EntityKind.SERVICE else EntityStatus.UNKNOWN
    return Entity(
        id=service.entity_id,
        kind=service.kind,
        name=service.name,
        namespace=service.namespace,
        status=status,
        attrs=dict(service.attrs),
    )


def _locator(attrs: dict[str, Scalar], scope: str | None, *, system: str | None = None,
             name: str | None = None) -> Locator | None:
    """Where the span's peer is: the socket it dialled when the span records it (the most
    precise), else the name it dialled."""
    host = attrs.get("network.peer.address")
    port = port_number(attrs.get("network.peer.port"))
    if not host:
        host, port = peer_address(attrs)
    elif port is None:
        port = peer_address(attrs)[1]
    if not host:
        return None
    return Locator(host=str(host), port=port, scope=scope, system=system, name=name)


def _dialled(host: str, port: int | None, scope: str | None) -> str:
    """host:port as dialled, qualified by the dialler where the name is relative to it (its
    loopback, a short name), so that two diallers' `localhost` stay apart while unresolved."""
    address = ids.endpoint_key(host, port)
    try:
        relative = ipaddress.ip_address(host).is_loopback
    except ValueError:
        relative = host == "localhost" or "." not in host
    return f"{address}@{scope}" if relative and scope else address


def _database_entity(system: str, attrs: dict[str, Scalar], scope: str | None) -> Entity:
    host, port = peer_address(attrs)
    # db.namespace may append the schema: `shop|public`.
    database = attrs.get("db.namespace") or attrs.get("db.name")
    name = str(database).split("|", 1)[0] if database else system
    return Entity(
        id=ids.database(system, _dialled(host, port, scope) if host else "unknown", name),
        kind=EntityKind.DATABASE,
        name=name,
        attrs={"db.system": system, "address": ids.endpoint_key(host, port) if host else None},
        locator=_locator(attrs, scope, system=system, name=name),
    )


def _subject_entity(attrs: dict[str, Scalar], scope: str | None) -> Entity:
    # The NATS source names subjects by server; spans know the server only by the address
    # the client dialled: that address is the server part here until the hub resolves it.
    host, port = peer_address(attrs)
    subject = str(attrs.get("messaging.destination.name") or attrs.get(
        "messaging.destination") or "unknown")
    server = _dialled(host, port, scope) if host else "default"
    return Entity(
        id=ids.nats_subject(server, subject),
        kind=EntityKind.NATS_SUBJECT,
        name=subject,
        attrs={"server": server},
        locator=_locator(attrs, scope, system="nats", name=subject),
    )


def peer_entity(attrs: dict[str, Scalar], scope: str | None) -> Entity | None:
    """The uninstrumented peer a client span (or a client duration metric) dialled."""
    peer_service = attrs.get("peer.service")
    host, port = peer_address(attrs)
    locator = _locator(attrs, scope)
    if locator is None:
        return _external_entity(str(peer_service), None) if peer_service else None
    assert host is not None
    name = str(peer_service) if peer_service else ids.endpoint_key(host, port)
    return _external_entity(name, locator, _dialled(host, port, scope))


def _external_entity(name: str, locator: Locator | None, key: str | None = None) -> Entity:
    return Entity(
        id=ids.service("external", key or name),
        kind=EntityKind.SERVICE,
        name=name,
        status=EntityStatus.UNKNOWN,
        attrs={"traced": False},
        locator=locator,
    )
