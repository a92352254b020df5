"""OtlpSource: an OTLP receiver whose spans and metrics become the service map.

Any OpenTelemetry SDK or Collector exports here (OTLP/gRPC on `otlp_endpoint`, OTLP/HTTP
on `otlp_http_endpoint`, loopback by default; any other address only with a token, and
`https://` endpoints with TLS). Spans are decoded, reduced to what makes an
edge and fed to the service graph as they arrive; metrics land on the entities their
resources name (see `metrics`). Every `flush_interval` the graph's current window is
reported as one snapshot (entities with their request figures and custom metrics, edges
with rate, error rate and latency percentiles).

Traces cannot be listed again, so the graph lives on the source and survives restarts of
`run`; only the servers are started anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gestalt.model import SourceState
from gestalt.model.config import OtelCollector, is_loopback, listen_address, uses_tls
from gestalt.sources.base import PermanentSourceError, Sink, SourceError
from gestalt.sources.otlp.admission import Admission
from gestalt.sources.otlp.grpc_server import GrpcReceiver
from gestalt.sources.otlp.http_server import HttpReceiver, OtlpHttpApp, bind
from gestalt.sources.otlp.servicegraph import ServiceGraph
from gestalt.sources.otlp.spans import attributes, records, service_of

log = logging.getLogger(__name__)

MIN_REPORT_GAP = 0.05  # seconds between two reports, however fast the map grows


class OtlpSource:
    name = "otlp"

    def __init__(self, config: OtelCollector, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self.graph = ServiceGraph(
            window=config.window_seconds,
            pairing_wait=config.pairing_wait_seconds,
            export_delay=config.export_delay_seconds,
            max_pending=config.max_pending_spans,
            max_edges=config.max_edges,
            max_metric_series=config.max_metric_series,
        )
        self.metric_points = 0
        self._hostname = socket.gethostname()  # as the host source names this machine
        # The bound ports (useful with port 0), set once `run` listens; `ready` is then set.
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.ready = asyncio.Event()
        self._grew = asyncio.Event()
        # One admission for both protocols: a sender's rate counts whichever it uses.
        self.admission = Admission(token=config.token, rate=config.max_requests_per_second)

    def ports(self) -> dict[str, int]:
        """The ports it listens on ("grpc", "http"), once `ready` (ReceivesStreams)."""
        found = {"grpc": self.grpc_port, "http": self.http_port}
        return {protocol: port for protocol, port in found.items() if port is not None}

    # -- handlers (shared by OTLP/HTTP and OTLP/gRPC) -------------------------------------
    def accept_traces(
        self, request: ExportTraceServiceRequest, sender: str | None = None
    ) -> ExportTraceServiceResponse:
        now = self._clock()
        dropped = self.graph.counters.dropped_spans
        sent_from = self._local_host(sender)
        for resource_spans in request.resource_spans:
            service = service_of(attributes(resource_spans.resource.attributes), sent_from)
            self.graph.ingest(service, records(resource_spans), now)
        if self.graph.grew:
            self._grew.set()
        rejected = self.graph.counters.dropped_spans - dropped
        if not rejected:
            return ExportTraceServiceResponse()
        return ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(
            rejected_spans=rejected,
            error_message="span pairing buffer full; retry later"))

    def accept_metrics(
        self, request: ExportMetricsServiceRequest, sender: str | None = None
    ) -> ExportMetricsServiceResponse:
        now = self._clock()
        metrics = self.graph.metrics
        dropped = metrics.dropped_series
        sent_from = self._local_host(sender)
        for resource_metrics in request.resource_metrics:
            service = service_of(attributes(resource_metrics.resource.attributes), sent_from)
            self.graph.ingest_metrics(service, resource_metrics, now)
            for scope_metrics in resource_metrics.scope_metrics:
                self.metric_points += len(scope_metrics.metrics)
        if self.graph.grew:
            self._grew.set()
        rejected = metrics.dropped_series - dropped
        if not rejected:
            return ExportMetricsServiceResponse()
        return ExportMetricsServiceResponse(partial_success=ExportMetricsPartialSuccess(
            rejected_data_points=rejected,
            error_message=f"over {self._config.max_metric_series} series for one entity "
                          "(collectors.otel.max_metric_series)"))

    def _local_host(self, sender: str | None) -> str | None:
        """This host's name when the export came over loopback: a resource that names no
        host, container or pod then runs here (an SDK with default detectors)."""
        if sender is None:
            return None
        try:
            loopback = ipaddress.ip_address(sender.removeprefix("::ffff:")).is_loopback
        except ValueError:
            return None
        return self._hostname if loopback else None

    # -- the source ---------------------------------------------------------------------------
    def _tls(self, key: str, endpoint: str) -> tuple[str, str] | None:
        """The certificate and key files for an https:// endpoint; None for http://. The
        configuration refuses the same (and says so at start); this guards sources built
        without it."""
        host, _port = listen_address(endpoint)
        if not is_loopback(host) and self._config.token is None:
            raise PermanentSourceError(
                f"refusing to receive OTLP on {host} without a token "
                f"(collectors.otel.{key}; set collectors.otel.token)")
        if not uses_tls(endpoint):
            return None
        cert, key_file = self._config.tls_cert, self._config.tls_key
        if cert is None or key_file is None:
            raise PermanentSourceError(f"collectors.otel.{key}: https:// needs tls_cert and "
                                       "tls_key")
        return cert, key_file

    async def run(self, sink: Sink) -> None:
        config = self._config
        http: HttpReceiver | None = None
        grpc: GrpcReceiver | None = None
        try:
            if config.otlp_http_endpoint is not None:
                tls = self._tls("otlp_http_endpoint", config.otlp_http_endpoint)
                host, port = listen_address(config.otlp_http_endpoint)
                try:
                    sockets = bind(host, port)
                except OSError as exc:
                    raise SourceError(f"OTLP/HTTP cannot listen on {host}:{port} "
                                      f"(collectors.otel.otlp_http_endpoint): {exc}") from exc
                app = OtlpHttpApp(
                    on_traces=self.accept_traces,
                    on_metrics=self.accept_metrics,
                    max_body_bytes=config.max_body_bytes,
                    max_decompressed_bytes=config.max_decompressed_bytes,
                    admission=self.admission,
                )
                try:
                    http = HttpReceiver(app, sockets, max_concurrent=config.max_concurrent_requests,
                                        tls=tls)
                except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                    for sock in sockets:
                        sock.close()
                    raise PermanentSourceError(
                        f"OTLP/HTTP: cannot load the TLS certificate {tls[0] if tls else ''} "
                        f"and key: {exc}") from exc
            if config.otlp_endpoint is not None:
                tls = self._tls("otlp_endpoint", config.otlp_endpoint)
                host, port = listen_address(config.otlp_endpoint)
                try:
                    grpc = GrpcReceiver(
                        on_traces=self.accept_traces,
                        on_metrics=self.accept_metrics,
                        max_message_bytes=config.max_decompressed_bytes,
                        max_concurrent=config.max_concurrent_requests,
                        admission=self.admission,
                        tls=tls,
                    )
                except OSError as exc:
                    raise PermanentSourceError(
                        f"OTLP/gRPC: cannot read the TLS certificate or key: {exc}") from exc
                try:
                    await grpc.start(host, port)
                except OSError as exc:
                    raise SourceError(
                        f"OTLP/gRPC (collectors.otel.otlp_endpoint): {exc}") from exc
                self.grpc_port = grpc.port
            if http is not None:
                http.start()
                self.http_port = http.port
            self.ready.set()
            sink.status(SourceState.OK, self._listening())
            await self._report(sink, http)
        finally:
            self.ready.clear()
            if http is not None:
                await http.stop()
            if grpc is not None:
                with contextlib.suppress(Exception):
                    await grpc.stop()

    async def _report(self, sink: Sink, http: HttpReceiver | None) -> None:
        counters, metrics = self.graph.counters, self.graph.metrics
        dropped = (counters.dropped_spans, counters.dropped_edges, metrics.dropped_series)
        degraded = False
        interval = self._config.flush_interval
        while True:
            # New services and edges are shown at once (at most every MIN_REPORT_GAP);
            # figures of known ones are refreshed every flush_interval.
            await asyncio.sleep(min(MIN_REPORT_GAP, interval))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(interval - MIN_REPORT_GAP, 0)):
                    await self._grew.wait()
            self._grew.clear()
            if http is not None and http.failed:
                raise SourceError("the OTLP/HTTP server stopped")
            now = self._clock()
            entities, connections = self.graph.snapshot(now)
            sink.snapshot(entities, connections, observed_at=now)
            current = (counters.dropped_spans, counters.dropped_edges, metrics.dropped_series)
            if current != dropped:
                degraded = True
                sink.status(SourceState.DEGRADED, (
                    f"dropping data: {current[0]} unpaired spans over the buffer "
                    f"({self._config.max_pending_spans}), {current[1]} requests over "
                    f"max_edges ({self._config.max_edges}), {current[2]} metric points over "
                    f"max_metric_series ({self._config.max_metric_series})"))
            elif degraded:
                degraded = False
                sink.status(SourceState.OK, self._listening())
            dropped = current

    def _listening(self) -> str:
        config, parts = self._config, []
        if config.otlp_endpoint is not None:
            parts.append(f"OTLP/gRPC on {listen_address(config.otlp_endpoint)[0]}:{self.grpc_port}"
                         + (" (TLS)" if uses_tls(config.otlp_endpoint) else ""))
        if config.otlp_http_endpoint is not None:
            parts.append(
                f"OTLP/HTTP on {listen_address(config.otlp_http_endpoint)[0]}:{self.http_port}"
                + (" (TLS)" if uses_tls(config.otlp_http_endpoint) else ""))
        return ", ".join(parts) + (", token required" if config.token else "")
