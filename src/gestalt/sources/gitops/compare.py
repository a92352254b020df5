"""Desired (from Git) against live (from the cluster): the fields that differ.

The comparison follows Argo CD's default diff, so that what Gestalt calls "drifted" is what
a platform team's Argo CD would call OutOfSync:

- only fields the manifest sets are compared: whatever the API server or a controller adds
  (defaults such as `strategy`, `revisionHistoryLimit`, `terminationMessagePath`, a Service's
  `clusterIP`, an injected label) is not drift;
- never compared: `status`, and the metadata the server keeps (`managedFields`,
  `resourceVersion`, `uid`, `generation`, `creationTimestamp`, ...), annotations written by
  tools (`last-applied-configuration`, `deployment.kubernetes.io/revision`), and whatever
  the configuration's `ignore_differences` names (JSON pointers, as in Argo CD);
- lists of objects are matched by their merge key (`name`, `containerPort`, `port`,
  `mountPath`...) rather than by position, as a strategic merge patch does; items the
  cluster added (a sidecar a webhook injected) are not drift;
- a value set empty (`{}`, `[]`, `null`) where the live object has nothing is the same;
- resource quantities compare by value (`0.5` is `500m`, `1Gi` is `1073741824`);
- a ConfigMap's `data` and `binaryData` are owned whole: a key added in the cluster is drift.
  A Secret's values are never read (neither from Git nor from the cluster): only its
  metadata is compared.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]

SERVER_METADATA = frozenset({
    "managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
})
TOOL_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "argocd.argoproj.io/tracking-id",
})
OWNED_WHOLE = {"ConfigMap": ("data", "binaryData")}
MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type")
_SUFFIXES: dict[str, Decimal | int] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}


@dataclass(frozen=True)
class Difference:
    path: str  # "spec.replicas", "spec.template.spec.containers[name=app].image"
    desired: Any  # None: not in Git
    live: Any  # None: not in the cluster

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "desired": self.desired, "live": self.live}


def differences(desired: Obj, live: Obj, *, ignore: Sequence[str] = ()) -> list[Difference]:
    """The fields where `live` differs from `desired`, in the manifest's order."""
    kind = str(desired.get("kind") or "")
    mine, theirs = normalise(desired, ignore), normalise(live, ignore)
    found: list[Difference] = []
    _walk(mine, theirs, "", found, OWNED_WHOLE.get(kind, ()))
    return found


def normalise(obj: Obj, ignore: Sequence[str] = ()) -> Obj:
    """A copy without what is never compared (see the module's docstring)."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    if out.get("kind") == "Secret":
        for key in ("data", "stringData"):
            out.pop(key, None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in TOOL_ANNOTATIONS:
                annotations.pop(key, None)
            if out.get("kind") == "Secret" or not annotations:
                meta.pop("annotations", None)  # a Secret's are never read from the cluster
    for pointer in ignore:
        _remove(out, pointer)
    return out


def _walk(mine: Any, theirs: Any, path: str, found: list[Difference],
          owned_whole: tuple[str, ...]) -> None:
    if isinstance(mine, dict):
        if not isinstance(theirs, dict):
            if not (_empty(mine) and theirs is None):
                found.append(Difference(path or ".", mine, theirs))
            return
        for key, value in mine.items():
            here = f"{path}.{key}" if path else key
            if key in theirs:
                # Only top-level fields are owned whole (a ConfigMap's `data`).
                _walk(value, theirs[key], here, found, () if path else owned_whole)
            elif not _empty(value):
                found.append(Difference(here, value, None))
        if path in owned_whole:
            for key, value in theirs.items():
                if key not in mine:
                    found.append(Difference(f"{path}.{key}", None, value))
        return
    if isinstance(mine, list):
        _walk_list(mine, theirs, path, found)
        return
    if not _same_scalar(mine, theirs, path):
        if mine is None and _empty(theirs):
            return
        found.append(Difference(path, mine, theirs))


def _walk_list(mine: list[Any], theirs: Any, path: str, found: list[Difference]) -> None:
    if not isinstance(theirs, list):
        if not (mine == [] and theirs is None):
            found.append(Difference(path, mine, theirs))
        return
    key = _merge_key(mine, theirs)
    if key is None:
        if len(mine) != len(theirs):
            found.append(Difference(path, mine, theirs))
            return
        for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            _walk(a, b, f"{path}[{index}]", found, ())
        return
    live = {item[key]: item for item in theirs}
    for item in mine:
        here = f"{path}[{key}={item[key]}]"
        if item[key] in live:
            _walk(item, live[item[key]], here, found, ())
        else:
            found.append(Difference(here, item, None))


def _merge_key(mine: list[Any], theirs: list[Any]) -> str | None:
    items = [*mine, *theirs]
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        if all(key in i for i in items) and len({repr(i[key]) for i in mine}) == len(mine):
            return key
    return None


def _same_scalar(mine: Any, theirs: Any, path: str) -> bool:
    if mine == theirs and type(mine) is type(theirs):
        return True
    if isinstance(mine, bool) or isinstance(theirs, bool):
        return False
    if isinstance(mine, int | float) and isinstance(theirs, int | float):
        return bool(mine == theirs)
    if "resources" in path or "capacity" in path or "storage" in path:
        a, b = _quantity(mine), _quantity(theirs)
        return a is not None and a == b
    return False


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str) or not value:
        return None
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if value.endswith(suffix):
            return _number(value[: -len(suffix)], _SUFFIXES[suffix])
    if value[-1] in "numkMGTPE":
        return _number(value[:-1], _SUFFIXES[value[-1]])
    return _number(value, 1)


def _number(text: str, scale: Decimal | int) -> Decimal | None:
    try:
        return Decimal(text) * scale
    except InvalidOperation:
        return None


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _remove(obj: Any, pointer: str) -> None:
    """Remove what an RFC 6901 JSON pointer names, if it is there."""
    if not pointer.startswith("/"):
        return
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    for part in parts[:-1]:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return
    last = parts[-1]
    if isinstance(obj, dict):
        obj.pop(last, None)
    elif isinstance(obj, list) and last.isdigit() and int(last) < len(obj):
        obj.pop(int(last))
