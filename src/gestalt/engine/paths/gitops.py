"""`world.infra.gitops.*`: desired state in Git against the cluster (sources/gitops)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from gestalt.engine.paths.base import Params, PathError, Result, path
from gestalt.engine.runtime import Engine
from gestalt.model import ids
from gestalt.model.kinds import K8S_KINDS


@runtime_checkable
class _DesiredState(Protocol):
    def desired_state(self) -> dict[str, Any]: ...


def _state(engine: Engine) -> dict[str, Any]:
    source = engine.sources.get("gitops")
    if not isinstance(source, _DesiredState):
        raise PathError(409, "source gitops is not enabled (collectors.gitops.enabled)")
    return source.desired_state()


@path("world.infra.gitops.repositories", "Repositories compared with the cluster",
      source="gitops", columns=("name", "ref", "revision", "cluster", "in_sync", "drifted",
                                "missing", "extra", "errors", "controllers"))
async def _repositories(engine: Engine, params: Params) -> Result:
    rows = []
    for report in _state(engine)["repositories"]:
        counts = report["counts"]
        rows.append({
            "name": report["name"], "ref": report["ref"], "revision": report["revision"][:12],
            "cluster": report["cluster"], "path": report["path"], "subpath": report["subpath"],
            **{s: counts.get(s, 0) for s in ("in_sync", "drifted", "missing", "extra")},
            "errors": len(report["errors"]), "error_list": report["errors"],
            "controllers": ", ".join(f"{c['controller']} {c['name']}: {c['sync']}"
                                     for c in report["controllers"]),
            "checked_at": report["checked_at"]})
    return rows


@path("world.infra.gitops.objects", "Every object in Git or extra, with its sync state",
      source="gitops", columns=("repository", "kind", "namespace", "name", "state",
                                "differences", "controller"), params=("state", "repository"))
async def _objects(engine: Engine, params: Params) -> Result:
    rows = []
    for obj in _state(engine)["objects"]:
        if "state" in params and obj["state"] != params["state"]:
            continue
        if "repository" in params and obj["repository"] != params["repository"]:
            continue
        rows.append({**obj, "differences": len(obj["differences"])})
    return rows


@path("world.infra.gitops.drift", "Objects out of sync with Git (drifted, missing, extra)",
      source="gitops", columns=("repository", "kind", "namespace", "name", "state", "fields"))
async def _drift(engine: Engine, params: Params) -> Result:
    return [{**o, "fields": ", ".join(d["path"] for d in o["differences"])}
            for o in _state(engine)["objects"] if o["state"] != "in_sync"]


@path("world.infra.gitops.diff", "One object's field-level diff (id= an entity id)",
      source="gitops", params=("id",))
async def _diff(engine: Engine, params: Params) -> Result:
    wanted = params.get("id")
    if not wanted:
        raise PathError(400, "world.infra.gitops.diff needs id=<entity id>")
    for obj in _state(engine)["objects"]:
        prefix = K8S_KINDS.get(obj["kind"], (obj["kind"].lower(), None))[0]
        if ids.k8s(prefix, obj["cluster"], obj["namespace"], obj["name"]) == wanted:
            return dict(obj)
    raise PathError(404, f"no object {wanted!r} in any repository's comparison")


@path("world.infra.gitops.errors", "Files, kustomizations and repositories not compared",
      source="gitops", columns=("repository", "file", "error"))
async def _errors(engine: Engine, params: Params) -> Result:
    return [{"repository": r["name"], "file": file, "error": message}
            for r in _state(engine)["repositories"] for file, message in r["errors"].items()]
