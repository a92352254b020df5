"""OTLP/HTTP at the protocol boundary: real sockets, JSON and protobuf, gzip, and every
kind of bad request getting its 4xx with a reason."""

from __future__ import annotations

import gzip
import os
import socket
import time

import httpx
import orjson
import psutil
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from gestalt.model import ConnectionKind, Locator, ids
from tests.fixtures.otlp.payloads import call_pairs
from tests.integration.otlp_support import running_source

pytestmark = pytest.mark.integration

PROTOBUF = {"Content-Type": "application/x-protobuf"}
A = {"service.name": "checkout", "service.namespace": "shop"}
B = {"service.name": "inventory", "service.namespace": "shop"}


def _json_span(kind: int, trace: str, span_id: str, parent: str = "", **extra: object) -> dict:
    end = time.time_ns()
    return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": "op",
            "kind": kind, "startTimeUnixNano": str(end - 5_000_000),
            "endTimeUnixNano": str(end), **extra}


def _json_request(service: str, *spans: dict) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "service.namespace", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
    }]}


async def test_otlp_json_with_gzip_makes_edges() -> None:
    trace, client, server = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    db = {"attributes": [
        {"key": "db.system", "value": {"stringValue": "postgresql"}},
        {"key": "db.namespace", "value": {"stringValue": "orders"}},
        {"key": "server.address", "value": {"stringValue": "127.0.0.1"}},
        {"key": "server.port", "value": {"intValue": "5432"}}]}
    async with running_source() as (source, sink), httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{source.http_port}/v1/traces"
        for body in (
            _json_request("checkout", _json_span(3, trace, client),
                          _json_span(3, trace, os.urandom(8).hex(), **db)),
            _json_request("inventory", _json_span(2, trace, server, client)),
        ):
            reply = await http.post(url, content=gzip.compress(orjson.dumps(body)), headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip"})
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"] == "application/json"
            assert reply.json() == {}
        checkout, inventory = ids.service("shop", "checkout"), ids.service("shop", "inventory")
        # Sent over loopback by a resource naming no host: `127.0.0.1` is this host's.
        here = ids.host_node(socket.gethostname())
        database = ids.database("postgresql", f"127.0.0.1:5432@{here}", "orders")
        await sink.wait_for(lambda: {
            ids.connection(ConnectionKind.HTTP.value, checkout, inventory),
            ids.connection(ConnectionKind.NETWORK.value, checkout, database),
        } <= sink.connections.keys(), timeout=10, what="the http and database edges")
    assert sink.entities[database].name == "orders"
    assert sink.entities[database].locator == Locator(
        host="127.0.0.1", port=5432, scope=here, system="postgresql", name="orders")


async def test_protobuf_and_metrics_are_accepted() -> None:
    calls, serves = call_pairs(5, A, B)
    async with running_source() as (source, sink), httpx.AsyncClient() as http:
        base = f"http://127.0.0.1:{source.http_port}"
        for message in (calls, serves):
            reply = await http.post(f"{base}/v1/traces", content=message.SerializeToString(),
                                    headers=PROTOBUF)
            assert reply.status_code == 200
            assert reply.headers["content-type"] == "application/x-protobuf"
            assert not ExportTraceServiceResponse.FromString(reply.content).HasField(
                "partial_success")
        reply = await http.post(f"{base}/v1/metrics", headers=PROTOBUF,
                                content=ExportMetricsServiceRequest().SerializeToString())
        assert reply.status_code == 200
        edge = await sink.wait_for(lambda: next(iter(sink.connections.values()), None),
                                   timeout=10, what="the edge")
    assert edge.attrs["requests"] == 5


def _status(reply: httpx.Response) -> str:
    """The reason, from the google.rpc.Status that OTLP/HTTP errors carry."""
    if reply.headers["content-type"].startswith("application/json"):
        return str(reply.json()["message"])
    return str(status_pb2.Status.FromString(reply.content).message)


async def test_bad_requests_get_4xx_with_a_reason() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros
    async with running_source(max_body_bytes=1024 * 1024,
                              max_decompressed_bytes=4 * 1024 * 1024) as (source, _), \
            httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{source.http_port}/v1/traces"
        reply = await http.post(url, content=b"\xff\xff\xff\xff", headers=PROTOBUF)
        assert reply.status_code == 400 and "invalid protobuf" in _status(reply)
        reply = await http.post(url, content=b"{not json", headers={
            "Content-Type": "application/json"})
        assert reply.status_code == 400 and "invalid JSON" in _status(reply)
        reply = await http.post(url, content=b'{"resourceSpans": 7}', headers={
            "Content-Type": "application/json"})
        assert reply.status_code == 400 and "OTLP/JSON" in _status(reply)
        reply = await http.post(url, content=b"not gzip", headers={
            **PROTOBUF, "Content-Encoding": "gzip"})
        assert reply.status_code == 400 and "gzip" in _status(reply)
        reply = await http.post(url, content=b"x", headers={"Content-Type": "text/plain"})
        assert reply.status_code == 415 and "content type" in reply.text
        reply = await http.post(url, content=b"x", headers={**PROTOBUF, "Content-Encoding": "br"})
        assert reply.status_code == 415
        reply = await http.post(url, content=os.urandom(2 * 1024 * 1024), headers=PROTOBUF)
        assert reply.status_code == 413
        assert (await http.get(url)).status_code == 405
        assert (await http.post(url.replace("traces", "logs"), headers=PROTOBUF)).status_code == 404

        rss = psutil.Process().memory_info().rss
        reply = await http.post(url, content=bomb, headers={**PROTOBUF,
                                                            "Content-Encoding": "gzip"})
        assert reply.status_code == 413 and "decompressed body over" in _status(reply)
        # The bomb was refused after the cap (4 MiB), not after inflating 64 MiB.
        assert psutil.Process().memory_info().rss - rss < 32 * 1024 * 1024
        assert source.http_port is not None and source.ready.is_set()
