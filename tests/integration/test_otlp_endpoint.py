"""`collectors.otel.otlp_endpoint` is where the OTLP/gRPC receiver listens (and
`otlp_http_endpoint` OTLP/HTTP's): read from a real config file, bound on real sockets,
fed by the real OpenTelemetry SDK exporter; bad values are a config error naming the key."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from gestalt.model import EntityKind, ids
from gestalt.model.config import ConfigError, load_config
from gestalt.sources.otlp import OtlpSource
from tests.fixtures.otlp.payloads import call_pairs
from tests.support.daemons import free_port
from tests.support.sinks import RecordingSink

pytestmark = pytest.mark.integration


def _localhost_urls(port: int) -> list[str]:
    """Every address `localhost` names here (127.0.0.1, and ::1 where /etc/hosts says so)."""
    found = {info[4][0] for info in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)}
    return [f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}"
            for ip in sorted(found)]


def _export_one_span(port: int) -> None:
    """A query span through the SDK's own OTLP/gRPC exporter (blocking)."""
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "sdk-grpc", "service.namespace": "endpoint-test"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=10)))
    with provider.get_tracer("test").start_as_current_span(
        "SELECT", kind=SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.namespace": "shop",
                    "server.address": "localhost", "server.port": 5432},
    ):
        pass
    provider.shutdown()


async def test_otlp_endpoint_and_http_endpoint_are_the_listen_addresses(tmp_path: Path) -> None:
    grpc_port, http_port = free_port(), free_port()
    path = tmp_path / "gestalt.yaml"
    path.write_text(
        "collectors:\n  otel:\n"
        f"    otlp_endpoint: http://127.0.0.1:{grpc_port}\n"
        f"    otlp_http_endpoint: localhost:{http_port}\n"
        "    flush_interval: 0.2\n")
    source = OtlpSource(load_config(path, env={}).collectors.otel)
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        await asyncio.wait_for(source.ready.wait(), 20)
        assert source.ports() == {"grpc": grpc_port, "http": http_port}
        await asyncio.to_thread(_export_one_span, grpc_port)
        grpc_service = ids.service("endpoint-test", "sdk-grpc")
        await sink.wait_for(lambda: grpc_service in sink.entities, timeout=15,
                            what="the span exported over gRPC to otlp_endpoint")
        # Sent over loopback by a resource naming no host: its `localhost` is this host.
        (database,) = [e for e in sink.entities.values() if e.kind is EntityKind.DATABASE]
        assert database.locator is not None
        assert database.locator.scope == ids.host_node(socket.gethostname())

        # `localhost` is every address it names: an SDK may dial 127.0.0.1 or ::1.
        urls = _localhost_urls(http_port)
        callers = []
        async with httpx.AsyncClient(timeout=10) as client:
            for i, url in enumerate(urls):
                caller = {"service.name": f"http-{i}", "service.namespace": "endpoint-test"}
                callers.append(ids.service("endpoint-test", f"http-{i}"))
                for request in call_pairs(1, caller, {"service.name": "callee"}):
                    reply = await client.post(
                        f"{url}/v1/traces",
                        content=request.SerializeToString(),
                        headers={"Content-Type": "application/x-protobuf"})
                    assert reply.status_code == 200, reply.text
        await sink.wait_for(lambda: all(c in sink.entities for c in callers), timeout=15,
                            what=f"spans posted to {', '.join(urls)}")
        assert sink.statuses[-1][1] == (f"OTLP/gRPC on 127.0.0.1:{grpc_port}, "
                                        f"OTLP/HTTP on localhost:{http_port}")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_grpc_off_and_http_only() -> None:
    from gestalt.model.config import OtelCollector

    source = OtlpSource(OtelCollector(otlp_endpoint=None, otlp_http_endpoint="127.0.0.1:0"))
    task = asyncio.create_task(source.run(RecordingSink()))
    try:
        await asyncio.wait_for(source.ready.wait(), 20)
        assert source.grpc_port is None and source.http_port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("value", "message"), [
    ("ftp://localhost:4317", "expected http:// or https://"),
    ("localhost", "expected host:port or http://host:port"),
    ("http://localhost:99999", "expected host:port or http://host:port"),
    ("http://localhost:4317/v1/traces", "expected host:port or http://host:port"),
])
def test_bad_endpoints_are_config_errors_naming_the_key(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "gestalt.yaml"
    path.write_text(f"collectors:\n  otel:\n    otlp_endpoint: {value!r}\n")
    with pytest.raises(ConfigError) as failure:
        load_config(path, env={})
    text = str(failure.value)
    assert str(path) in text and "collectors.otel" in text and "`otlp_endpoint`" in text
    assert message in text


def test_both_endpoints_null_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "gestalt.yaml"
    path.write_text("collectors:\n  otel:\n    otlp_endpoint: null\n    otlp_http_endpoint: null\n")
    with pytest.raises(ConfigError, match="both null"):
        load_config(path, env={})
    path.write_text("collectors:\n  otel:\n    enabled: false\n"
                    "    otlp_endpoint: null\n    otlp_http_endpoint: null\n")
    assert load_config(path, env={}).collectors.otel.enabled is False
