"""Just enough of the API server's protobuf encoding to read what kubectl sends as
protobuf: a SelfSubjectAccessReview (`kubectl auth can-i`) and the objects its `create`
generators send (`kubectl create configmap|secret|namespace`). kubesim answers in JSON,
which kubectl also accepts.

The encoding: the magic `k8s\\x00`, then a `runtime.Unknown` whose field 2 is the object,
in the field numbers of k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
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


# Message schemas: field number -> (JSON name, type); a type is "string", "bytes" (base64 in
# JSON), "strings" (repeated), "bool", "map" (string values), "bytesmap" (base64 values),
# or a nested schema.
Schema = dict[int, tuple[str, Any]]
_OBJECT_META: Schema = {1: ("name", "string"), 2: ("generateName", "string"),
                        3: ("namespace", "string"), 11: ("labels", "map"),
                        12: ("annotations", "map"), 14: ("finalizers", "strings")}
_KINDS: dict[str, Schema] = {
    "ConfigMap": {1: ("metadata", _OBJECT_META), 2: ("data", "map"),
                  3: ("binaryData", "bytesmap"), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", _OBJECT_META), 2: ("data", "bytesmap"), 3: ("type", "string"),
               4: ("stringData", "map"), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", _OBJECT_META), 4: ("automountServiceAccountToken", "bool")},
    "Namespace": {1: ("metadata", _OBJECT_META),
                  2: ("spec", {1: ("finalizers", "strings")})},
}


def _entry(raw: bytes) -> tuple[str, bytes]:
    entry = fields(raw)
    return entry.get(1, [b""])[0].decode(), entry.get(2, [b""])[0]


def _message(raw: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, values in fields(raw).items():
        if number not in schema:
            continue  # read-only or server-set fields (uid, resourceVersion, status...)
        name, kind = schema[number]
        value: Any
        if isinstance(kind, dict):
            value = _message(values[-1], kind)
        elif kind == "string":
            value = values[-1].decode()
        elif kind == "strings":
            value = [v.decode() for v in values]
        elif kind == "bool":
            value = bool(values[-1])
        elif kind == "map":
            value = {k: v.decode() for k, v in map(_entry, values)}
        else:  # bytesmap
            value = {k: base64.b64encode(v).decode() for k, v in map(_entry, values)}
        if value not in ("", {}, []):
            out[name] = value
    return out


def kubernetes_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf object that kubectl's `create` generators send."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf object")
    unknown = fields(body[len(MAGIC):])
    type_meta = fields(unknown.get(1, [b""])[0])
    api_version = type_meta.get(1, [b""])[0].decode()
    kind = type_meta.get(2, [b""])[0].decode()
    if kind not in _KINDS:
        raise LookupError(f"kubesim reads {kind or 'this kind'} only as JSON "
                          f"(protobuf bodies: {', '.join(sorted(_KINDS))})")
    obj = _message(unknown.get(2, [b""])[0], _KINDS[kind])
    return {"apiVersion": api_version, "kind": kind, **obj}
