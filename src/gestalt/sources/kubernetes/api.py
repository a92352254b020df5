"""The few API calls the source makes (paged list, watch, get), over httpx, with errors
classified the way the informer needs them.

Objects are decoded with msgspec straight into what the source reads of them (`schema`):
the rest of each object is skipped while decoding. Secrets are never asked for in
full: their list and watch ask only for the Table or PartialObjectMetadata views (no
plain JSON fallback in the Accept header), and are decoded into structs that have no
field for annotations, so not even a last-applied-configuration copy becomes a string.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from gestalt.sources.kubernetes.access import ClusterAccess
from gestalt.sources.kubernetes.schema import SCHEMAS, MetricsList
from gestalt.sources.kubernetes.translate import slim

Obj = dict[str, Any]
Objs = list[Obj]  # (`Api.list` hides the builtin in the class's annotations)
T = TypeVar("T")
USER_AGENT = "gestalt-live/0.1 (kubernetes source)"
METADATA_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                   "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
METADATA_WATCH_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                         "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io")


@dataclass(frozen=True)
class Kind:
    kind: str
    prefix: str  # "/api/v1" or "/apis/<group>/<version>"
    plural: str
    namespaced: bool
    metadata_only: bool = False

    def path(self, namespace: str | None) -> str:
        if namespace and self.namespaced:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    @property
    def group(self) -> str:
        """The API group ("" for core/v1), as RBAC rules name it."""
        return "" if self.prefix == "/api/v1" else self.prefix.split("/")[2]

    @property
    def resource(self) -> str:
        """The name kubectl and RBAC messages use: "pods", "deployments.apps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: tuple[Kind, ...] = (
    Kind("Namespace", "/api/v1", "namespaces", False),
    Kind("Node", "/api/v1", "nodes", False),
    Kind("PersistentVolume", "/api/v1", "persistentvolumes", False),
    Kind("Pod", "/api/v1", "pods", True),
    Kind("Service", "/api/v1", "services", True),
    Kind("ConfigMap", "/api/v1", "configmaps", True),
    Kind("Secret", "/api/v1", "secrets", True, metadata_only=True),
    Kind("PersistentVolumeClaim", "/api/v1", "persistentvolumeclaims", True),
    Kind("Event", "/api/v1", "events", True),
    Kind("Deployment", "/apis/apps/v1", "deployments", True),
    Kind("ReplicaSet", "/apis/apps/v1", "replicasets", True),
    Kind("StatefulSet", "/apis/apps/v1", "statefulsets", True),
    Kind("DaemonSet", "/apis/apps/v1", "daemonsets", True),
    Kind("Job", "/apis/batch/v1", "jobs", True),
    Kind("Ingress", "/apis/networking.k8s.io/v1", "ingresses", True),
    Kind("EndpointSlice", "/apis/discovery.k8s.io/v1", "endpointslices", True),
)
NAMESPACES = KINDS[0]
# Read by list only, for the metrics overlay (metrics-server).
POD_METRICS = Kind("PodMetrics", "/apis/metrics.k8s.io/v1beta1", "pods", True)
NODE_METRICS = Kind("NodeMetrics", "/apis/metrics.k8s.io/v1beta1", "nodes", False)


# -- errors -------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message, self.retry_after = code, reason, message, retry_after


class Gone(ApiError):
    """410: the resourceVersion is older than the server's history; relist."""


class Forbidden(ApiError):
    """403: RBAC does not let us see this resource."""


class Throttled(ApiError):
    """429: come back after `retry_after` seconds."""


class Unauthorized(ApiError):
    """401: the credentials are wrong or expired."""


_ERRORS = {410: Gone, 403: Forbidden, 429: Throttled, 401: Unauthorized}


def _error(code: int, status: Obj | None, headers: httpx.Headers | None = None) -> ApiError:
    status = status or {}
    retry_after: float | None = None
    if headers is not None and headers.get("retry-after"):
        try:
            retry_after = float(headers["retry-after"])
        except ValueError:
            retry_after = None
    if retry_after is None:
        retry_after = (status.get("details") or {}).get("retryAfterSeconds")
    cls = _ERRORS.get(code, ApiError)
    return cls(code, status.get("reason", ""), status.get("message", "")[:300], retry_after)


# -- decoding -------------------------------------------------------------------------------

class _Meta(msgspec.Struct, omit_defaults=True):
    """Object metadata without annotations: what is kept of a Secret."""

    name: str
    namespace: str | None = None
    uid: str = ""
    resourceVersion: str = ""  # noqa: N815  (the API's spelling)
    creationTimestamp: str | None = None  # noqa: N815
    deletionTimestamp: str | None = None  # noqa: N815
    labels: dict[str, str] | None = None
    ownerReferences: list[dict[str, Any]] | None = None  # noqa: N815


class _MetaObject(msgspec.Struct):
    metadata: _Meta


class _Column(msgspec.Struct):
    name: str


class _Row(msgspec.Struct):
    cells: list[Any]
    object: _MetaObject | None = None


class _ListMeta(msgspec.Struct, omit_defaults=True):
    resourceVersion: str = ""  # noqa: N815
    # "continue" is a Python keyword.
    continue_: str | None = msgspec.field(default=None, name="continue")


class _KindOnly(msgspec.Struct):
    kind: str = ""


class _MetaView(msgspec.Struct):
    """A Table or a PartialObjectMetadataList."""

    kind: str
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    columnDefinitions: list[_Column] | None = None  # noqa: N815
    rows: list[_Row] | None = None
    items: list[_MetaObject] | None = None


class _RawList(msgspec.Struct):
    metadata: _ListMeta
    items: list[msgspec.Raw] = []


class _RawEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _Versioned(msgspec.Struct):
    metadata: _ListMeta


_dict_decoder = msgspec.json.Decoder(dict[str, Any])
_list_decoder = msgspec.json.Decoder(_RawList)
_event_decoder = msgspec.json.Decoder(_RawEvent)
_view_decoder = msgspec.json.Decoder(_MetaView)
_kind_decoder = msgspec.json.Decoder(_KindOnly)
_meta_object_decoder = msgspec.json.Decoder(_MetaObject)
_version_decoder = msgspec.json.Decoder(_Versioned)
_object_decoders = {kind: msgspec.json.Decoder(schema) for kind, schema in SCHEMAS.items()}
_metrics_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(MetricsList)


def _full(kind: Kind, raw: bytes) -> Obj:
    obj: Obj = _object_decoders[kind.kind].decode(raw)
    obj["kind"] = kind.kind
    return slim(obj)


def decode_page(kind: Kind, body: bytes) -> tuple[list[Obj], _ListMeta]:
    """One page of a list: its objects, and its resourceVersion and continue token."""
    if kind.metadata_only:
        return _meta_objects(kind, body)
    page = _list_decoder.decode(body)
    return [_full(kind, raw) for raw in page.items], page.metadata


def _meta_objects(kind: Kind, raw: bytes) -> tuple[list[Obj], _ListMeta]:
    """Objects from a metadata-only view: metadata plus `type` and `keys` from a Table."""
    answered = _kind_decoder.decode(raw).kind
    if answered == "PartialObjectMetadata":
        return [_meta_dict(kind, _meta_object_decoder.decode(raw).metadata, {})], _ListMeta()
    if answered not in ("Table", "PartialObjectMetadataList"):
        # Never look further into a body that may hold values we did not ask for.
        raise ApiError(406, "NotAcceptable", f"server answered {answered!r} for a metadata view")
    view = _view_decoder.decode(raw)
    list_meta = view.metadata
    objects: list[Obj] = []
    for item in view.items or []:
        objects.append(_meta_dict(kind, item.metadata, {}))
    columns = [c.name.lower() for c in view.columnDefinitions or []]
    for row in view.rows or []:
        if row.object is None:
            continue
        cells = dict(zip(columns, row.cells, strict=False))
        extra = {"type": cells.get("type"), "keys": cells.get("data")}
        objects.append(_meta_dict(kind, row.object.metadata, extra))
    return objects, list_meta


def _meta_dict(kind: Kind, meta: _Meta, extra: Obj) -> Obj:
    return {"kind": kind.kind, "metadata": msgspec.structs.asdict(meta),
            **{k: v for k, v in extra.items() if v is not None}}


# -- calls ---------------------------------------------------------------------------------

class Api:
    def __init__(self, access: ClusterAccess, http: httpx.AsyncClient, *, page_size: int,
                 watch_timeout: int, inactivity_timeout: float) -> None:
        self.access, self.http = access, http
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.inactivity_timeout = inactivity_timeout

    async def _headers(self, kind: Kind | None, watch: bool = False) -> dict[str, str]:
        headers = await self.access.headers()
        headers["User-Agent"] = USER_AGENT
        if kind is not None and kind.metadata_only:
            headers["Accept"] = METADATA_WATCH_ACCEPT if watch else METADATA_ACCEPT
        else:
            headers["Accept"] = "application/json"
        return headers

    async def list(self, kind: Kind, namespace: str | None,
                   keep: Callable[[list[Obj]], list[T]]) -> tuple[list[T], str]:
        """All objects (paged), each page through `keep` as it arrives (so a large list is
        never held decoded all at once), and the resourceVersion to watch from."""
        items: list[T] = []
        params: dict[str, str | int] = {"limit": self.page_size}
        if kind.metadata_only:
            params["includeObject"] = "Metadata"
        while True:
            response = await self.http.get(self.access.server + kind.path(namespace),
                                           params=params, headers=await self._headers(kind))
            if response.status_code != 200:
                raise _error(response.status_code, _status(response.content), response.headers)
            objects, meta = decode_page(kind, response.content)
            del response  # the body: the next page is fetched while this frame lives
            items += keep(objects)
            if not meta.continue_:
                return items, meta.resourceVersion
            params["continue"] = meta.continue_

    async def watch(self, kind: Kind, namespace: str | None,
                    resource_version: str) -> AsyncIterator[tuple[str, Obj | str]]:
        """("OPEN", "") once the server accepted the watch, then (type, object) per change
        and ("BOOKMARK", resourceVersion) for bookmarks.

        Raises Gone for a 410 (as status or as an ERROR event); a silent connection ends in
        httpx.ReadTimeout after the inactivity timeout."""
        params: dict[str, str | int] = {
            "watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
            "timeoutSeconds": self.watch_timeout}
        if kind.metadata_only:
            params["includeObject"] = "Metadata"
        timeout = httpx.Timeout(10.0, read=self.inactivity_timeout)
        async with self.http.stream("GET", self.access.server + kind.path(namespace),
                                    params=params, headers=await self._headers(kind, watch=True),
                                    timeout=timeout) as response:
            if response.status_code != 200:
                raise _error(response.status_code, _status(await response.aread()),
                             response.headers)
            yield "OPEN", ""
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = _event_decoder.decode(line)
                if event.type == "BOOKMARK":
                    yield "BOOKMARK", _version_decoder.decode(event.object).metadata.resourceVersion
                elif event.type == "ERROR":
                    status = _dict_decoder.decode(event.object)
                    raise _error(int(status.get("code", 500)), status)
                elif kind.metadata_only:
                    for obj in _meta_objects(kind, event.object)[0]:
                        yield event.type, obj
                else:
                    yield event.type, _full(kind, event.object)

    async def get(self, kind: Kind, name: str) -> Obj:
        """One object of a cluster-scoped kind (a namespace, read by name where RBAC
        grants no list)."""
        response = await self.http.get(f"{self.access.server}{kind.path(None)}/{name}",
                                       headers=await self._headers(kind))
        if response.status_code != 200:
            raise _error(response.status_code, _status(response.content), response.headers)
        return _full(kind, response.content)

    async def can(self, verb: str, kind: Kind, namespace: str | None,
                  name: str | None = None) -> bool | None:
        """Whether RBAC lets us `verb` the kind, asked as `kubectl auth can-i` asks
        (a SelfSubjectAccessReview, which every authenticated user may create and which
        changes nothing). None when the server does not answer the question."""
        attributes = {"verb": verb, "group": kind.group, "resource": kind.plural,
                      **({"namespace": namespace} if namespace else {}),
                      **({"name": name} if name else {})}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes}}
        headers = await self._headers(None)
        headers["Content-Type"] = "application/json"
        response = await self.http.post(
            self.access.server + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            content=msgspec.json.encode(body), headers=headers)
        if response.status_code == 401:
            raise _error(401, _status(response.content), response.headers)
        if response.status_code not in (200, 201):
            return None
        review = _dict_decoder.decode(response.content)
        return bool((review.get("status") or {}).get("allowed"))

    async def metrics(self, path: str) -> Objs:
        """The items of a metrics.k8s.io list (PodMetricsList, NodeMetricsList)."""
        response = await self.http.get(self.access.server + path,
                                       headers=await self._headers(None))
        if response.status_code != 200:
            raise _error(response.status_code, _status(response.content), response.headers)
        items: Objs = _metrics_decoder.decode(response.content).get("items") or []
        return items


def _status(body: bytes) -> Obj | None:
    try:
        value = _dict_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    return value if value.get("kind") == "Status" else None
