"""Decoding what the API server sends: metadata-only Secrets, errors, backoff."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gestalt.sources.kubernetes.api import (
    KINDS,
    ApiError,
    Gone,
    Throttled,
    _error,
    _meta_objects,
)
from gestalt.sources.kubernetes.informer import Backoff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"
SECRETS = next(k for k in KINDS if k.plural == "secrets")


def test_secret_table_keeps_type_and_key_count_but_no_annotations() -> None:
    raw = (FIXTURES / "secret_table.json").read_bytes()
    assert b"fixture-canary-0451" in raw
    objects, meta = _meta_objects(SECRETS, raw)
    assert meta.resourceVersion == "918300" and meta.continue_
    assert [(o["metadata"]["name"], o["type"], o["keys"]) for o in objects] == [
        ("checkout-credentials", "Opaque", 2), ("tls", "kubernetes.io/tls", 2)]
    assert "fixture-canary-0451" not in repr(objects)
    assert all("annotations" not in o["metadata"] and "managedFields" not in o["metadata"]
               for o in objects)


def test_full_secret_list_is_refused_unread() -> None:
    body = json.dumps({"kind": "SecretList", "apiVersion": "v1", "metadata": {},
                       "items": [{"metadata": {"name": "x"}, "data": {"k": "c2VjcmV0"}}]})
    with pytest.raises(ApiError) as caught:
        _meta_objects(SECRETS, body.encode())
    assert caught.value.code == 406 and "c2VjcmV0" not in str(caught.value)


def test_partial_object_metadata_list() -> None:
    body = json.dumps({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": "5"}, "items": [
                           {"metadata": {"name": "a", "namespace": "n",
                                         "annotations": {"x": "secret-ish"}}}]})
    objects, meta = _meta_objects(SECRETS, body.encode())
    assert meta.resourceVersion == "5" and objects[0]["metadata"]["name"] == "a"
    assert "secret-ish" not in repr(objects)


def test_errors_are_classified() -> None:
    gone = _error(410, {"kind": "Status", "code": 410, "reason": "Expired",
                        "message": "too old resource version"})
    assert isinstance(gone, Gone)
    throttled = _error(429, {"details": {"retryAfterSeconds": 4}},
                       httpx.Headers({"Retry-After": "7"}))
    assert isinstance(throttled, Throttled) and throttled.retry_after == 7
    assert _error(429, {"details": {"retryAfterSeconds": 4}}).retry_after == 4


def test_backoff_is_jittered_and_capped() -> None:
    backoff = Backoff(start=0.5, cap=30)
    delays = [backoff.next() for _ in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 30 for d in delays) and delays[-1] >= 15
    backoff.reset()
    assert backoff.next() <= 0.5
