"""The OTLP receivers' network surface, with real sockets, the real OpenTelemetry SDK
exporters and `gestalt serve`: a receiver beyond loopback needs a token, which exporters
send as `Authorization` (HTTP) or metadata (gRPC); a sender over its rate is told to
retry later; `https://` endpoints serve TLS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from gestalt.model.config import OtelCollector
from gestalt.sim.kubesim.tls import self_signed
from tests.integration.otlp_support import running_source

pytestmark = pytest.mark.integration

TOKEN = "otlp-test-token-3f9a"
ROOT = Path(__file__).resolve().parents[2]
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def export_request(service: str = "checkout") -> trace_service_pb2.ExportTraceServiceRequest:
    """One server span of `service`: enough for the receiver to take it in."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attr = resource_spans.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", service
    span = resource_spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    span.name, span.kind = "GET /", trace_pb2.Span.SPAN_KIND_SERVER
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2_000_000
    return request


def public_ip() -> str:
    """An address of this machine that is not loopback (where a receiver on 0.0.0.0 is
    reached from other hosts)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])


def test_serve_refuses_otlp_on_every_interface_without_a_token(tmp_path: Path) -> None:
    config = tmp_path / "gestalt.yaml"
    config.write_text("collectors:\n  otel:\n    otlp_endpoint: http://0.0.0.0:4317\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gestalt.cli", "serve", "--config", str(config),
         "--port", "8799", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "refusing to receive OTLP on 0.0.0.0 without a token" in lines[0]
    assert "collectors.otel.token" in lines[0] and str(config) in lines[0]


async def test_without_the_token_http_is_401_and_grpc_unauthenticated() -> None:
    async with running_source(otlp_endpoint="0.0.0.0:0", otlp_http_endpoint="0.0.0.0:0",
                              token=TOKEN) as (source, sink):
        host = public_ip()
        body = export_request().SerializeToString()
        url = f"http://{host}:{source.http_port}/v1/traces"
        async with httpx.AsyncClient(timeout=10) as client:
            missing = await client.post(url, content=body, headers=PROTOBUF)
            wrong = await client.post(url, content=body, headers={
                **PROTOBUF, "Authorization": "Bearer not-the-token"})
            api_style = await client.post(url, content=body, headers={
                **PROTOBUF, "Authorization": TOKEN})  # without "Bearer "
            right = await client.post(url, content=body, headers={
                **PROTOBUF, "Authorization": f"Bearer {TOKEN}"})
        assert (missing.status_code, wrong.status_code, api_style.status_code) == (401, 401, 401)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "collectors.otel.token" in missing.text
        assert right.status_code == 200, right.text

        async with grpc.aio.insecure_channel(f"{host}:{source.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Export(export_request("other"), timeout=10)
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            await stub.Export(export_request("inventory"), timeout=10,
                              metadata=(("authorization", f"Bearer {TOKEN}"),))
        # What was refused never reached the map; what carried the token did.
        await sink.wait_for(lambda: {"checkout", "inventory"} <= {e.name for e in
                                                                   sink.entities.values()},
                            what="the two accepted services")
        assert "other" not in {e.name for e in sink.entities.values()}
        assert source.admission.unauthorized == 4


async def test_sdk_exporters_send_the_token_from_their_environment() -> None:
    """The settings docs/deploy.md gives: OTEL_EXPORTER_OTLP_HEADERS for an SDK."""
    script = (
        "import sys\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.resources import Resource\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter"
        " as G\n"
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter"
        " as H\n"
        "p = TracerProvider(resource=Resource.create({'service.name': sys.argv[1]}))\n"
        "p.add_span_processor(SimpleSpanProcessor(H(endpoint=sys.argv[2])))\n"
        "p.add_span_processor(SimpleSpanProcessor(G(endpoint=sys.argv[3], insecure=True)))\n"
        "from opentelemetry.trace import SpanKind\n"
        "with p.get_tracer('t').start_as_current_span('GET /', kind=SpanKind.SERVER): pass\n"
        "p.shutdown()\n")
    async with running_source(otlp_endpoint="0.0.0.0:0", otlp_http_endpoint="0.0.0.0:0",
                              token=TOKEN) as (source, sink):
        host = public_ip()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, "billing", f"http://{host}:{source.http_port}/v1/traces",
            f"{host}:{source.grpc_port}",
            env={"OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{TOKEN}",
                 "PATH": "/usr/bin:/bin"},
            stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        await sink.wait_for(lambda: any(e.name == "billing" for e in sink.entities.values()),
                            what="the SDK's span")
        assert source.admission.unauthorized == 0


async def test_a_sender_over_its_rate_is_told_to_retry_later() -> None:
    async with running_source(max_requests_per_second=1.0) as (source, _sink):
        body = export_request().SerializeToString()
        url = f"http://127.0.0.1:{source.http_port}/v1/traces"
        async with httpx.AsyncClient(timeout=10) as client:
            codes = [(await client.post(url, content=body, headers=PROTOBUF))
                     for _ in range(3)]
        # Bursts of twice the rate pass; the third request at once is over it.
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert codes[2].headers["retry-after"] == "1"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{source.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as throttled:
                await stub.Export(export_request(), timeout=10)  # one bucket per sender
            assert throttled.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert source.admission.throttled == 2


async def test_https_endpoints_serve_tls(tmp_path: Path) -> None:
    cert, key = self_signed("127.0.0.1")
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    async with running_source(otlp_endpoint="https://127.0.0.1:0",
                              otlp_http_endpoint="https://127.0.0.1:0",
                              tls_cert=str(tmp_path / "tls.crt"),
                              tls_key=str(tmp_path / "tls.key")) as (source, sink):
        body = export_request("secure").SerializeToString()
        trusted = ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))
        async with httpx.AsyncClient(timeout=10, verify=trusted) as client:
            answer = await client.post(f"https://127.0.0.1:{source.http_port}/v1/traces",
                                       content=body, headers=PROTOBUF)
        assert answer.status_code == 200, answer.text
        async with httpx.AsyncClient(timeout=10) as plain:
            with pytest.raises(httpx.HTTPError):  # no plain HTTP on a TLS port
                await plain.post(f"http://127.0.0.1:{source.http_port}/v1/traces",
                                 content=body, headers=PROTOBUF)
        credentials = grpc.ssl_channel_credentials(root_certificates=cert)
        async with grpc.aio.secure_channel(f"127.0.0.1:{source.grpc_port}",
                                           credentials) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            await stub.Export(export_request("secure-grpc"), timeout=10)
        await sink.wait_for(lambda: {"secure", "secure-grpc"} <= {
            e.name for e in sink.entities.values()}, what="both TLS exports")
        assert "(TLS)" in sink.statuses[-1][1]


async def test_a_missing_certificate_stops_the_receiver_with_its_path(tmp_path: Path) -> None:
    from gestalt.sources.base import PermanentSourceError
    from gestalt.sources.otlp import OtlpSource
    from tests.support.sinks import RecordingSink

    config = OtelCollector(otlp_endpoint=None, otlp_http_endpoint="https://127.0.0.1:0",
                           tls_cert=str(tmp_path / "missing.crt"),
                           tls_key=str(tmp_path / "missing.key"))
    with pytest.raises(PermanentSourceError, match="missing.crt"):
        await asyncio.wait_for(OtlpSource(config).run(RecordingSink()), 20)
