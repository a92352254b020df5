"""OTLP/HTTP fuzz: random, mutated, malformed and oversized bodies with every content
type and encoding. A receiver in its own process must answer each with 2xx (the body
happened to be valid) or 4xx, never 5xx, never die, and keep its memory bounded.
The 10,000-body run is bench/otlp_fuzz.py; this one stays short."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.otlp.payloads import call_pairs
from tests.fixtures.otlp.receiver import Receiver

pytestmark = pytest.mark.integration

MAX_BODY = 64 * 1024
MAX_DECOMPRESSED = 256 * 1024


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver(max_body=MAX_BODY, max_decompressed=MAX_DECOMPRESSED)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


VALID = [m.SerializeToString() for m in call_pairs(3, {"service.name": "a"},
                                                    {"service.name": "b"})]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId",
                         "parentSpanId", "kind", "attributes", "resource", "key", "value",
                         "stringValue", "intValue", "startTimeUnixNano", "x"]),
        inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


bodies = st.one_of(
    st.binary(max_size=2048),
    mutated(),
    json_values.map(orjson.dumps),
    st.sampled_from(VALID),
    st.integers(MAX_BODY + 1, MAX_BODY * 2).map(lambda n: b"\x0a" * n),  # oversized
    st.integers(1, 8).map(lambda n: gzip.compress(b"\0" * (MAX_DECOMPRESSED * n))),  # bombs
)
content_types = st.sampled_from([
    "application/x-protobuf", "application/json", "application/protobuf",
    "application/json; charset=utf-8", "text/plain", "", "application/x-protobuf;;;"])
encodings = st.sampled_from(["", "gzip", "identity", "deflate", "GZIP"])


@settings(max_examples=1000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies, content_type=content_types, encoding=encodings, compress=st.booleans(),
       path=st.sampled_from(["/v1/traces", "/v1/traces", "/v1/metrics"]))
def test_any_body_gets_2xx_or_4xx(receiver: Receiver, client: httpx.Client, body: bytes,
                                  content_type: str, encoding: str, compress: bool,
                                  path: str) -> None:
    if compress and encoding.lower() == "gzip":
        body = gzip.compress(body)
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    reply = client.post(receiver.url + path, content=body, headers=headers)
    assert reply.status_code in (200, 400, 413, 415), (reply.status_code, reply.text[:200])
    assert receiver.proc.poll() is None


def test_fuzzing_left_the_receiver_alive_and_small(receiver: Receiver,
                                                   client: httpx.Client) -> None:
    # Runs after the fuzz test in this module: the same receiver still answers.
    rss = receiver.rss()
    for body in VALID * 50:
        reply = client.post(receiver.url + "/v1/traces", content=body,
                            headers={"Content-Type": "application/x-protobuf"})
        assert reply.status_code == 200
    assert receiver.rss() < 200 * 1024 * 1024, "the receiver's memory grew past 200 MiB"
    assert receiver.rss() - rss < 32 * 1024 * 1024
