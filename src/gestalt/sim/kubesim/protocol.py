"""The Kubernetes REST protocol as kubesim reads it: which resource and verb a request is,
content negotiation, selectors, writes (PUT and the three patch types), the scale
subresource, and the request log's entries."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from gestalt.sim.kubesim import protobuf
from gestalt.sim.kubesim.patch import json_patch, merge_patch, strategic_merge_patch
from gestalt.sim.kubesim.rbac import Attributes
from gestalt.sim.kubesim.resources import METRICS, REVIEWS, STORED, Resource
from gestalt.sim.kubesim.selectors import SelectorError, field_selector, label_selector
from gestalt.sim.kubesim.store import ApiError, Obj


@dataclass
class Request:
    """One request as kubesim saw it: enough to prove how a client asked. Recorded when
    it arrives (so open watches are in the log); `status` is set when it is answered."""

    method: str
    path: str
    verb: str  # get list watch create update patch delete discovery
    resource: str | None  # "pods", "deployments.apps", "pods.metrics.k8s.io"
    namespace: str | None
    name: str | None
    accept: str
    user_agent: str
    query: str
    status: int = 0
    at: float = 0.0  # time.time() when the request arrived
    user: str = ""  # who it was authenticated as ("" when it was not)
    credential: str = ""  # which bearer token: a fingerprint (tokens rotate)
    group: str = ""  # the API group of `resource` ("" for core)
    subresource: str | None = None

    def attributes(self) -> Attributes:
        """The request as RBAC sees it."""
        plural = self.resource.split(".", 1)[0] if self.resource else ""
        return Attributes.of(self.verb, self.group, plural, self.namespace, self.name,
                             self.subresource)


def negotiate(accept: str) -> str:
    """'table', 'meta' or 'full' from an Accept header; raises 406 when none is servable."""
    if not accept:
        return "full"
    for option in accept.split(","):
        parts = [p.strip() for p in option.split(";")]
        media, params = parts[0], dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        as_ = params.get("as")
        if as_ == "Table" and params.get("g") == "meta.k8s.io":
            return "table"
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList") and params.get(
                "g") == "meta.k8s.io":
            return "meta"
        if as_ is None and media in ("application/json", "*/*", "application/*", "*"):
            return "full"
    raise ApiError(406, "NotAcceptable", f"only the following media types are accepted: "
                   f"application/json, application/json;as=Table, "
                   f"application/json;as=PartialObjectMetadataList (asked: {accept})")


def fingerprint(authorization: str) -> str:
    """A short, stable name for the bearer token in an Authorization header."""
    token = authorization.removeprefix("Bearer ")
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else ""


Route = tuple[Resource | None, str | None, str | None, str | None]


def route_of(path: str) -> Route | None:
    """(resource, namespace, name, subresource) for a resource path; None for others."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and (group, rest[2]) in PLURALS:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    if group == "metrics.k8s.io":
        resource = METRICS.get(plural)
    elif group == "authorization.k8s.io":
        resource = REVIEWS.get(plural)
    else:
        resource = STORED.get((group, plural))
    if resource is None:
        return (None, namespace, None, None)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return (resource, namespace, name, sub)


PLURALS = set(STORED) | {("metrics.k8s.io", p) for p in METRICS}


def verb_of(method: str, route: Route | None, query: dict[str, str]) -> str:
    if route is None:
        return "discovery"
    named = route[2] is not None
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower())


def matcher(query: dict[str, str], name: str | None = None) -> Any:
    try:
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"))
    except SelectorError as exc:
        raise ApiError(400, "BadRequest", str(exc)) from exc
    tests = [t for t in (labels, fields) if t is not None]
    if name:
        tests.append(lambda o: o["metadata"]["name"] == name)
    if not tests:
        return None
    return lambda o: all(t(o) for t in tests)


def scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in selector.items())}}


def apply_write(method: str, headers: dict[str, str], body: bytes, current: Obj) -> Obj:
    if method == "PUT":
        return decode(body, headers.get("content-type", ""))
    content_type = headers.get("content-type", "").split(";")[0].strip()
    patch: Any = orjson.loads(body) if body else {}
    base = copy.deepcopy(current)
    result: Any = None
    try:
        if content_type == "application/merge-patch+json":
            result = merge_patch(base, patch)
        elif content_type == "application/strategic-merge-patch+json":
            result = strategic_merge_patch(base, patch)
        elif content_type == "application/json-patch+json":
            result = json_patch(base, patch)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from exc
    if isinstance(result, dict):
        return result
    if result is not None:
        raise ApiError(422, "Invalid", "the patched object is not an object")
    raise ApiError(415, "UnsupportedMediaType",
                   f"the body of the request was in an unknown format: {content_type}")


def decode(body: bytes, content_type: str = "") -> Obj:
    if "protobuf" in content_type:
        try:
            return protobuf.kubernetes_object(body)
        except LookupError as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", f"invalid protobuf body: {exc}") from exc
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            value = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"invalid body: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "BadRequest", "the body must be an object")
    return value
