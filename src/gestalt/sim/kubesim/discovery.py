"""Discovery documents (`/version`, `/api`, `/apis`, per group-version resource lists).

kubectl first asks for aggregated discovery; answering with the legacy documents (plain
`application/json`) makes it fall back to them, as it does against older servers.
"""

from __future__ import annotations

from typing import Any

from gestalt.sim.kubesim.resources import group_versions

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4-kubesim",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"}


def _resource_list(group_version: str) -> dict[str, Any] | None:
    resources = group_versions().get(group_version)
    if resources is None:
        return None
    out = []
    for r in resources:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.kind.lower(),
                                 "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        for sub in r.subresources:
            kind = "Scale" if sub == "scale" else r.kind
            out.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                        "kind": kind, "verbs": ["get", "patch", "update"],
                        **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {})})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": out}


def _groups() -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {}
    for gv in group_versions():
        if "/" in gv:
            group, version = gv.split("/")
            groups.setdefault(group, []).append(version)
    return [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
             "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
            for g, vs in groups.items()]


def _gv_path(group_version: str) -> str:
    return f"apis/{group_version}" if "/" in group_version else f"api/{group_version}"


def _openapi_v3(path: str) -> dict[str, Any] | None:
    """OpenAPI v3 as far as kubectl needs it: the index, and per group-version the PATCH
    operations with their `fieldValidation` parameter, which tells kubectl to leave schema
    validation to the server instead of downloading schemas."""
    gvs = group_versions()
    if path == "/openapi/v3":
        return {"paths": {_gv_path(gv): {"serverRelativeURL": f"/openapi/v3/{_gv_path(gv)}"
                                                               f"?hash=kubesim"} for gv in gvs}}
    wanted = path.removeprefix("/openapi/v3/")
    gv = next((gv for gv in gvs if _gv_path(gv) == wanted), None)
    if gv is None:
        return None
    paths = {}
    for r in gvs[gv]:
        scope = "namespaces/{namespace}/" if r.namespaced else ""
        op = {"operationId": f"patch{r.kind}",
              "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                                  "kind": r.kind},
              "parameters": [{"name": "fieldValidation", "in": "query",
                              "schema": {"type": "string", "uniqueItems": True}}],
              "responses": {"200": {"description": "OK"}}}
        paths[f"/{_gv_path(gv)}/{scope}{r.plural}/{{name}}"] = {"patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def document(path: str, server_address: str) -> dict[str, Any] | None:
    if path == "/version":
        return VERSION
    if path.startswith("/openapi/v3"):
        return _openapi_v3(path)
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}
    if path == "/api/v1":
        return _resource_list("v1")
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": _groups()}
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2:
        return next(({"kind": "APIGroup", "apiVersion": "v1", **g} for g in _groups()
                     if g["name"] == parts[1]), None)
    if parts[0] == "apis" and len(parts) == 3:
        return _resource_list(f"{parts[1]}/{parts[2]}")
    return None
