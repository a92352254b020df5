"""The `world.infra.*` paths of the product plan: each path registered once, by the module
of its family (one per source family, plus the topology, metrics and health that span
sources).

The same registry answers `GET /api/paths/{path}` and `gestalt query PATH`. Every module
in this package is a family and is loaded here: a new source's paths are one new module,
registered with `@path` (see `base.py`). Families load in the product plan's order (it is
the order `gestalt query --list` shows), then any other alphabetically.
"""

from __future__ import annotations

import importlib
import pkgutil

from gestalt.engine.paths.base import (
    REGISTRY,
    PathError,
    PathSpec,
    check_request,
    resolve,
)

_PLAN_ORDER = ("topology", "kubernetes", "docker", "nats", "metrics", "health", "anomaly",
               "cost", "changes")
_NOT_FAMILIES = frozenset({"base"})


def _families() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__)} - _NOT_FAMILIES
    return [*(f for f in _PLAN_ORDER if f in found), *sorted(found - set(_PLAN_ORDER))]


for _family in _families():
    importlib.import_module(f"{__name__}.{_family}")

# Imported after the families have registered (they import this package's base).
from gestalt.engine.paths.nats import nats_messages  # noqa: E402
from gestalt.engine.paths.topology import topology_diff  # noqa: E402

__all__ = ["REGISTRY", "PathError", "PathSpec", "check_request", "nats_messages", "resolve",
           "topology_diff"]
