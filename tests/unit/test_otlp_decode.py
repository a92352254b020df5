"""Decoding OTLP bodies: bounded decompression and OTLP/JSON's hex ids."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gestalt.sources.otlp.decode import (
    JSON,
    BadPayload,
    TooLarge,
    UnsupportedMediaType,
    decompress,
    media_type,
    parse,
)


def test_gzip_members_are_joined_and_bounded() -> None:
    body = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10)
    assert decompress(body, "gzip", 20) == b"a" * 10 + b"b" * 10
    with pytest.raises(TooLarge):
        decompress(body, "gzip", 19)
    with pytest.raises(TooLarge):
        decompress(gzip.compress(b"\0" * 10_000_000), "GZIP", 1000)
    with pytest.raises(BadPayload, match="truncated"):
        decompress(gzip.compress(b"x" * 100)[:-12], "gzip", 1000)
    with pytest.raises(UnsupportedMediaType):
        decompress(b"x", "zstd", 1000)
    with pytest.raises(TooLarge):
        decompress(b"x" * 11, "", 10)


def test_media_types() -> None:
    assert media_type("application/json; charset=utf-8") == JSON
    assert media_type("application/protobuf") == "application/x-protobuf"
    with pytest.raises(UnsupportedMediaType):
        media_type("text/plain")


def test_otlp_json_ids_are_hex() -> None:
    trace, span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace, "spanId": span, "kind": 2, "name": "x",
         "links": [{"traceId": trace, "spanId": span}]}]}]}]})
    request = parse(body, JSON, ExportTraceServiceRequest)
    parsed = request.resource_spans[0].scope_spans[0].spans[0]
    assert parsed.trace_id.hex() == trace and parsed.span_id.hex() == span
    assert parsed.links[0].span_id.hex() == span
    # Base64 (protobuf's own JSON mapping) still parses.
    b64 = base64.b64encode(bytes.fromhex(trace)).decode()
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": b64}]}]}]})
    assert parse(body, JSON, ExportTraceServiceRequest).resource_spans[0].scope_spans[0] \
        .spans[0].trace_id.hex() == trace
