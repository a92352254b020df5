"""What a GitOps controller in the cluster says about its own sync, shown beside Gestalt's
comparison: Argo CD `Application`s and Flux `Kustomization`s, read only where the cluster
serves those kinds (where it does not, there is nothing to show, and that is no error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gestalt.sources.base import ReadsClusterObjects, SourceError

Obj = dict[str, Any]
ARGO_APPLICATION = ("argoproj.io/v1alpha1", "Application")
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")


@dataclass
class ControllerView:
    applications: list[dict[str, Any]] = field(default_factory=list)  # one row per app
    # (kind, namespace, name) -> "argocd: OutOfSync (shop-app)", "flux: Ready (main@sha1:..)"
    per_object: dict[tuple[str, str | None, str], str] = field(default_factory=dict)


async def read(reader: ReadsClusterObjects) -> ControllerView:
    view = ControllerView()
    for app in await _list(reader, *ARGO_APPLICATION):
        _argo(app, view)
    for kustomization in await _list(reader, *FLUX_KUSTOMIZATION):
        _flux(kustomization, view)
    return view


async def _list(reader: ReadsClusterObjects, api_version: str, kind: str) -> list[Obj]:
    try:
        return await reader.read_objects(api_version, kind, None)
    except LookupError:
        return []  # not installed
    except SourceError:
        return []  # not readable now (RBAC, a restart): the comparison stands on its own


def _argo(app: Obj, view: ControllerView) -> None:
    meta, status = app.get("metadata") or {}, app.get("status") or {}
    sync = (status.get("sync") or {})
    name = str(meta.get("name"))
    view.applications.append({
        "controller": "argocd", "name": name, "namespace": meta.get("namespace"),
        "sync": sync.get("status") or "Unknown",
        "health": (status.get("health") or {}).get("status") or "Unknown",
        "revision": sync.get("revision") or ""})
    for resource in status.get("resources") or []:
        if not isinstance(resource, dict) or not resource.get("kind"):
            continue
        key = (str(resource["kind"]), resource.get("namespace") or None, str(resource.get("name")))
        view.per_object[key] = f"argocd: {resource.get('status') or 'Unknown'} ({name})"


def _flux(kustomization: Obj, view: ControllerView) -> None:
    meta, status = kustomization.get("metadata") or {}, kustomization.get("status") or {}
    name = str(meta.get("name"))
    ready = next((c for c in status.get("conditions") or []
                  if isinstance(c, dict) and c.get("type") == "Ready"), {})
    state = {"True": "Ready", "False": "NotReady"}.get(str(ready.get("status")), "Unknown")
    revision = status.get("lastAppliedRevision") or ""
    view.applications.append({
        "controller": "flux", "name": name, "namespace": meta.get("namespace"),
        "sync": state, "health": ready.get("reason") or "", "revision": revision})
    for entry in (status.get("inventory") or {}).get("entries") or []:
        # Flux's inventory ids: <namespace>_<name>_<group>_<Kind>
        parts = str((entry or {}).get("id", "")).split("_")
        if len(parts) == 4:
            namespace, obj_name, _group, kind = parts
            view.per_object[(kind, namespace or None, obj_name)] = (
                f"flux: {state} ({name}{'@' + revision if revision else ''})")
