"""Decoding OTLP request bodies, every step bounded.

Untrusted input: the compressed size is capped by the HTTP layer, decompression stops
one byte past `max_decompressed` (so a gzip bomb costs at most that much memory before it
is refused), and protobuf/JSON parsing keep their own recursion limits. Every failure is
a `PayloadError` carrying the HTTP status and a reason for the sender.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = frozenset({PROTOBUF, "application/protobuf"})

M = TypeVar("M", bound=Message)


class PayloadError(Exception):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadPayload(PayloadError):
    status = 400


class TooLarge(PayloadError):
    status = 413


class UnsupportedMediaType(PayloadError):
    status = 415


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`; refuses other types."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in _PROTOBUF_TYPES:
        return PROTOBUF
    if base == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"unsupported content type {content_type[:100]!r}: send {PROTOBUF} or {JSON}")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding, refusing to grow past `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise TooLarge(f"body over {limit} bytes")
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"unsupported content encoding {encoding[:50]!r}: use gzip")
    out = bytearray()
    rest = body
    while True:  # gzip allows several members one after the other
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += stream.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise BadPayload(f"invalid gzip data: {exc}") from exc
        if len(out) > limit or stream.unconsumed_tail:
            raise TooLarge(f"decompressed body over {limit} bytes")
        if not stream.eof:
            raise BadPayload("truncated gzip data")
        rest = stream.unused_data
        if not rest:
            return bytes(out)


def parse(data: bytes, media: str, message_type: type[M]) -> M:
    """An OTLP export request from protobuf bytes or OTLP/JSON."""
    message: M = message_type()
    if media == PROTOBUF:
        try:
            message.ParseFromString(data)
            return message
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BadPayload(f"invalid protobuf: {exc}") from exc
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadPayload("invalid OTLP/JSON: the body must be an object")
    try:
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
        return message
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise BadPayload(f"invalid OTLP/JSON: {str(exc)[:300]}") from exc


def response(message: Message, media: str) -> bytes:
    encoded: bytes = (message.SerializeToString() if media == PROTOBUF
                      else orjson.dumps(json_format.MessageToDict(message)))
    return encoded


def error_body(reason: str, code: int, media: str) -> bytes:
    """OTLP/HTTP errors carry a google.rpc.Status in the request's own encoding."""
    status = status_pb2.Status(code=code, message=reason)
    return response(status, media)


# OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64.
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_CONTAINERS = (
    ("resourceSpans", "resource_spans"),
    ("scopeSpans", "scope_spans"),
    ("spans",),
)


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for resource in _children(document, _CONTAINERS[0]):
        for scope in _children(resource, _CONTAINERS[1]):
            for span in _children(scope, _CONTAINERS[2]):
                _convert_ids(span)
                for nested in ("links", "events"):
                    for item in _children(span, (nested,)):
                        _convert_ids(item)


def _children(node: Any, keys: tuple[str, ...]) -> list[Any]:
    if not isinstance(node, dict):
        return []
    for key in keys:
        value = node.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(node: Any) -> None:
    if not isinstance(node, dict):
        return
    for key in _ID_KEYS:
        value = node.get(key)
        if isinstance(value, str) and value and len(value) % 2 == 0:
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                continue  # not hex: leave it to the protobuf JSON parser (base64)
            node[key] = base64.b64encode(raw).decode("ascii")
