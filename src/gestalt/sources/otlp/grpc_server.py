"""OTLP/gRPC: the collector's TraceService and MetricsService on grpcio's asyncio server.

gRPC itself enforces the message size (after decompression) and decodes the protobuf;
the handlers are the same ones OTLP/HTTP uses, behind the same admission: the token in
the `authorization` metadata (else UNAUTHENTICATED) and the sender's rate (else
RESOURCE_EXHAUSTED, which exporters retry later).
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from gestalt.sources.otlp.admission import Admission
from gestalt.sources.otlp.http_server import Handler


async def _admit(admission: Admission, context: Any) -> str | None:
    """The sender's IP once it may send; otherwise the call ends here with the status."""
    metadata = dict(context.invocation_metadata() or ())
    if not admission.authorized(metadata.get("authorization")):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "authentication required: send the metadata 'authorization: "
                            "Bearer <token>' (collectors.otel.token)")
    sender = sender_ip(context.peer())
    if not admission.allowed(sender):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"over {admission.rate:g} requests per second from {sender}; "
                            "retry later")
    return sender


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, handler: Handler, admission: Admission) -> None:
        self._handler, self._admission = handler, admission

    async def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        return self._handler(request, await _admit(self._admission, context))


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, handler: Handler, admission: Admission) -> None:
        self._handler, self._admission = handler, admission

    async def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        return self._handler(request, await _admit(self._admission, context))


def sender_ip(peer: str) -> str | None:
    """gRPC's peer string (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`) -> the IP."""
    family, _, address = peer.partition(":")
    if family == "ipv4":
        return address.rpartition(":")[0] or None
    if family == "ipv6":
        return address.rpartition(":")[0].strip("[]") or None
    return None


class GrpcReceiver:
    def __init__(
        self,
        *,
        on_traces: Handler,
        on_metrics: Handler,
        max_message_bytes: int,
        max_concurrent: int,
        admission: Admission | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """`tls`: (certificate file, key file) to serve gRPC over TLS."""
        admission = admission or Admission(token=None, rate=float("inf"))
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_concurrent_streams", max_concurrent),
            ],
            maximum_concurrent_rpcs=max_concurrent,
        )
        # The generated registration functions carry no annotations.
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Traces(on_traces, admission), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Metrics(on_metrics, admission), self._server)
        self._credentials: grpc.ServerCredentials | None = None
        if tls is not None:
            with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
                self._credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Bind and serve; OSError when the address cannot be bound."""
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if self._credentials is not None:
                bound = self._server.add_secure_port(address, self._credentials)
            else:
                bound = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # grpcio reports a failed bind this way
            raise OSError(f"cannot listen on {address}: {exc}") from exc
        if not bound:
            raise OSError(f"cannot listen on {address}")
        self.port = bound
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop(grace=1.0)
