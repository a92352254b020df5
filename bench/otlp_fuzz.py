"""10,000 random, mutated, malformed, oversized and gzip-bomb bodies at an OTLP/HTTP
receiver in its own process: every answer must be 2xx (the body happened to be valid) or
4xx, the receiver must survive, and its RSS is recorded before, during and after.
Exits non-zero when an answer is 5xx or the receiver died."""

from __future__ import annotations

import gzip
import random
import sys
import time
from collections import Counter

import httpx
import orjson
from benchlib import ROOT, command_line, write_result

sys.path.insert(0, str(ROOT))
from tests.fixtures.otlp.payloads import call_pairs  # noqa: E402
from tests.fixtures.otlp.receiver import Receiver  # noqa: E402

BODIES = 10_000
SEED = 20261127
MAX_BODY = 1024 * 1024
MAX_DECOMPRESSED = 4 * 1024 * 1024
KEYS = ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "kind",
        "attributes", "resource", "key", "value", "stringValue", "intValue", "arrayValue",
        "kvlistValue", "values", "startTimeUnixNano", "endTimeUnixNano", "status", "code"]
CONTENT_TYPES = ["application/x-protobuf", "application/json", "application/protobuf",
                 "application/json; charset=utf-8", "text/plain", "", "application/x-protobuf;;"]
ENCODINGS = ["", "", "gzip", "identity", "deflate"]


def json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 6 or roll < 0.4:
        return rng.choice([None, True, 7, -1, 2**64 - 1, 1.5, "", "00ff", "a" * 32,
                           rng.randbytes(8).hex(), "\u00e9"])
    if roll < 0.7:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf[: rng.randint(0, len(buf))])


def deep_json(rng: random.Random) -> bytes:
    depth = rng.choice([50, 200, 5000])
    return ("[" * depth + "]" * depth).encode() if rng.random() < 0.5 else (
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":' +
        '{"kvlistValue":{"values":[{"key":"k","value":' * depth + "{}" + "}]}}" * depth +
        "}]}}]}").encode()


def bodies(rng: random.Random, valid: list[bytes], bombs: list[bytes]) -> tuple[bytes, str]:
    """A body and what kind it is."""
    kind = rng.choices(["random", "mutated", "json", "deep", "valid", "oversized", "bomb"],
                       weights=[30, 30, 25, 3, 8, 2, 2])[0]
    if kind == "random":
        return rng.randbytes(rng.randint(0, 4096)), kind
    if kind == "mutated":
        return mutate(rng, rng.choice(valid)), kind
    if kind == "json":
        return orjson.dumps(json_value(rng)), kind
    if kind == "deep":
        return deep_json(rng), kind
    if kind == "valid":
        return rng.choice(valid), kind
    if kind == "oversized":
        return b"\x0a" * rng.randint(MAX_BODY + 1, 2 * MAX_BODY), kind
    return rng.choice(bombs), kind


def main() -> int:
    command_line(__doc__)
    rng = random.Random(SEED)
    valid = [m.SerializeToString() for m in call_pairs(20, {"service.name": "a"},
                                                        {"service.name": "b"})]
    bombs = [gzip.compress(b"\0" * (n * 1024 * 1024), compresslevel=9) for n in (8, 64, 512)]
    receiver = Receiver(max_body=MAX_BODY, max_decompressed=MAX_DECOMPRESSED)
    statuses: Counter[int] = Counter()
    by_kind: dict[str, Counter[int]] = {}
    server_errors: list[str] = []
    rss_samples = []
    try:
        with httpx.Client(timeout=30) as client:
            for body in valid * 5:  # warm up: imports, buffers, one edge
                client.post(receiver.url + "/v1/traces", content=body,
                            headers={"Content-Type": "application/x-protobuf"})
            rss_before = receiver.rss()
            started = time.monotonic()
            for i in range(BODIES):
                body, kind = bodies(rng, valid, bombs)
                encoding = rng.choice(ENCODINGS)
                if encoding == "gzip" and kind not in ("bomb", "oversized") and rng.random() < .7:
                    body = gzip.compress(body)
                if kind == "bomb":
                    encoding = "gzip"
                headers = {"Content-Type": rng.choice(CONTENT_TYPES)}
                if encoding:
                    headers["Content-Encoding"] = encoding
                path = rng.choice(["/v1/traces", "/v1/traces", "/v1/metrics"])
                reply = client.post(receiver.url + path, content=body, headers=headers)
                statuses[reply.status_code] += 1
                by_kind.setdefault(kind, Counter())[reply.status_code] += 1
                if reply.status_code >= 500:
                    server_errors.append(f"{kind} {headers} -> {reply.status_code}")
                if i % 500 == 0:
                    rss_samples.append(receiver.rss())
            took = time.monotonic() - started
            alive = receiver.proc.poll() is None
            rss_after = receiver.rss() if alive else 0
    finally:
        receiver.close()
    write_result("otlp_fuzz", {
        "bodies": BODIES,
        "seconds": round(took, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "by_kind": {k: {str(s): n for s, n in sorted(v.items())} for k, v in by_kind.items()},
        "server_errors": server_errors[:20],
        "receiver_alive": alive,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_max_mib": round(max(rss_samples + [rss_after]) / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "limits": {"max_body_bytes": MAX_BODY, "max_decompressed_bytes": MAX_DECOMPRESSED},
        "bombs_mib": [8, 64, 512],
    })
    return 0 if alive and not server_errors else 1


if __name__ == "__main__":
    sys.exit(main())
