"""Whole objects read on request, for comparisons (GitOps drift): `read_objects`.

The informers keep only what the map needs of each object (api.py's schemas); a drift
comparison needs the object as the API server holds it. This reads one kind in one
namespace with the source's own read credentials (GET only), pages through it, and applies
the same rules as everything else here: Secrets only ever as metadata (the server is asked
for a metadata view, and a body that is anything else is refused unread), and annotations
that may copy values (`last-applied-configuration`) are dropped at once.

Which resource serves a kind is asked from discovery (`/api/v1`, `/apis/<group>/<version>`)
once per group version, so CRDs (Argo CD's Application, Flux's Kustomization) work too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gestalt.sources.kubernetes.api import USER_AGENT, Api, Kind, _error, _meta_objects, _status
from gestalt.sources.kubernetes.translate import DROPPED_ANNOTATIONS

Obj = dict[str, Any]
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
_list_decoder = msgspec.json.Decoder(dict[str, Any])


class Discovery:
    """kind -> (plural, namespaced) per group version, asked once each."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, tuple[str, bool]]] = {}

    async def kind(self, api: Api, api_version: str, kind: str) -> Kind:
        if api_version not in self._known:
            prefix = _prefix(api_version)
            response = await api.http.get(api.access.server + prefix,
                                          headers=await _headers(api, "application/json"))
            if response.status_code == 404:
                self._known[api_version] = {}
            elif response.status_code != 200:
                raise _error(response.status_code, _status(response.content), response.headers)
            else:
                resources = _list_decoder.decode(response.content).get("resources") or []
                self._known[api_version] = {
                    r["kind"]: (r["name"], bool(r.get("namespaced")))
                    for r in resources if "/" not in r.get("name", "/")}
        found = self._known[api_version].get(kind)
        if found is None:
            raise LookupError(f"the cluster does not serve {kind} ({api_version})")
        plural, namespaced = found
        return Kind(kind, _prefix(api_version), plural, namespaced,
                    metadata_only=kind == "Secret" and api_version == "v1")


async def read_objects(api: Api, discovery: Discovery, api_version: str, kind: str,
                       namespace: str | None) -> list[Obj]:
    resource = await discovery.kind(api, api_version, kind)
    accept = METADATA_LIST_ACCEPT if resource.metadata_only else "application/json"
    params: dict[str, str | int] = {"limit": api.page_size}
    found: list[Obj] = []
    while True:
        response = await api.http.get(api.access.server + resource.path(namespace),
                                      params=params, headers=await _headers(api, accept))
        if response.status_code != 200:
            raise _error(response.status_code, _status(response.content), response.headers)
        if resource.metadata_only:
            # Refuses (406) a body that is not a metadata view, unread.
            objects, meta = _meta_objects(resource, response.content)
            found += [_clean({"apiVersion": api_version, **obj}) for obj in objects]
            token = meta.continue_
        else:
            page = _list_decoder.decode(response.content)
            for obj in page.get("items") or []:
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                found.append(_clean(obj))
            token = (page.get("metadata") or {}).get("continue")
        if not token:
            return found
        params["continue"] = token


def _clean(obj: Obj) -> Obj:
    annotations = (obj.get("metadata") or {}).get("annotations")
    if annotations:
        for key in DROPPED_ANNOTATIONS:
            annotations.pop(key, None)
    return obj


def _prefix(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


async def _headers(api: Api, accept: str) -> dict[str, str]:
    headers = await api.access.headers()
    headers["User-Agent"] = USER_AGENT
    headers["Accept"] = accept
    return headers
