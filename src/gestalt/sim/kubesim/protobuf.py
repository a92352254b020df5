"""Just enough of the API server's protobuf encoding to read what kubectl sends as
protobuf: a SelfSubjectAccessReview (`kubectl auth can-i`). kubesim answers in JSON,
which kubectl also accepts.

The encoding: the magic `k8s\\x00`, then a `runtime.Unknown` whose field 2 is the object,
in the field numbers of k8s.io/api's generated.proto.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
# ResourceAttributes' fields (k8s.io/api/authorization/v1/generated.proto).
_RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                        6: "subresource", 7: "name"}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def fields(data: bytes) -> dict[int, list[Any]]:
    """Field number -> values (ints, or bytes for length-delimited fields)."""
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def self_subject_access_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf SelfSubjectAccessReview (its resource attributes)."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf object")
    raw = fields(body[len(MAGIC):]).get(2, [b""])[0]
    spec = fields(fields(raw).get(2, [b""])[0])
    attributes: dict[str, Any] = {}
    for number, values in fields(spec.get(1, [b""])[0]).items():
        if number in _RESOURCE_ATTRIBUTES:
            attributes[_RESOURCE_ATTRIBUTES[number]] = values[0].decode()
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": attributes}}
