"""The contract of a `world.infra.*` path, the registry, and what path modules share.

A path's handler returns rows (a list of flat dicts, shown as a table by the CLI) or a
document (a dict). A path that belongs to a source (`source=`) answers 409 with the key
that enables it while that source does not run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gestalt.engine.filters import TopologyFilter, parse_kinds
from gestalt.engine.moments import BadMoment, past_view
from gestalt.engine.past import OutsideRetention, parse_moment
from gestalt.engine.registry import SPECS
from gestalt.engine.runtime import Engine
from gestalt.model import Entity, EntityKind, Event

Params = Mapping[str, str]
Result = list[dict[str, Any]] | dict[str, Any]
Handler = Callable[[Engine, Params], Awaitable[Result]]


class PathError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PathSpec:
    path: str
    description: str
    handler: Handler
    source: str | None = None
    columns: tuple[str, ...] = ()
    params: tuple[str, ...] = field(default=())


REGISTRY: dict[str, PathSpec] = {}
# Paths whose answer cannot be rebuilt for a past moment (`at`): live samples of messages,
# or series that take their own time range. Every other path answers `at=<time>`.
NO_PAST = frozenset({"world.infra.nats.messages", "world.infra.health.history",
                     "world.infra.k8s.events", "world.infra.metrics.custom",
                     "world.infra.docker.stats",
                     # The detector's models are live; a range and a moment are their own.
                     "world.infra.anomaly.current", "world.infra.anomaly.series",
                     "world.infra.anomaly.status", "world.infra.cost.range",
                     "world.infra.changes.around"})


def path(
    name: str,
    description: str,
    *,
    source: str | None = None,
    columns: tuple[str, ...] = (),
    params: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"path {name} registered twice")
        REGISTRY[name] = PathSpec(name, description, handler, source, columns, params)
        return handler

    return register


def check_request(name: str, params: Params) -> PathSpec:
    """The path's spec, if the path exists and takes these parameters (kinds among them
    known kinds); else PathError. Needs no engine: the CLI asks before collecting."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise PathError(404, f"unknown path {name!r}; `gestalt query --list` shows them all")
    if "at" in params:
        if name in NO_PAST:
            raise PathError(400, f"{name} has no past to ask `at` of (it is live only)")
        try:
            parse_moment(params["at"])
        except ValueError as exc:
            raise PathError(400, str(exc)) from exc
    unknown = set(params) - set(spec.params) - {"at"}
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise PathError(400, f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"{name} takes: {allowed}")
    try:
        parse_kinds([params["kinds"]] if "kinds" in params else None)
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc
    return spec


async def resolve(engine: Engine, name: str, params: Params) -> tuple[PathSpec, Result]:
    """Answer a path; with `at`, as it was at that moment (from history)."""
    spec = check_request(name, params)
    if spec.source is not None and spec.source not in engine.sources:
        key = SPECS[spec.source].key if spec.source in SPECS else spec.source
        raise PathError(409, f"source {spec.source} is not enabled ({key})")
    if "at" in params:
        rest = {k: v for k, v in params.items() if k != "at"}
        try:
            view = await past_view(engine, parse_moment(params["at"]))
        except OutsideRetention as exc:
            raise PathError(404, str(exc)) from exc
        except BadMoment as exc:
            raise PathError(400, str(exc)) from exc
        return spec, await spec.handler(view, rest)  # type: ignore[arg-type]
    return spec, await spec.handler(engine, params)


# -- shared by path modules -----------------------------------------------------------

ENTITY_COLUMNS = ("kind", "name", "namespace", "status", "health", "id")


def entity_row(entity: Entity, *extra: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": entity.id,
        "kind": entity.kind.value,
        "name": entity.name,
        "namespace": entity.namespace,
        "status": entity.status.value,
        "health": entity.health_status.value + (" (stale)" if entity.stale else ""),
        "score": entity.health,
    }
    for name in extra:
        row[name] = entity.attrs.get(name, getattr(entity, name, None))
    return row


def entities_of(engine: Engine, kind: EntityKind, source: str | None = None) -> list[Entity]:
    entities = [e for e in engine.store.entities.values() if e.kind is kind]
    if source is not None:
        entities = [e for e in entities if source in e.sources]
    return sorted(entities, key=lambda e: (e.namespace or "", e.name))


def filter_of(engine: Engine, params: Params) -> TopologyFilter:
    def values(name: str) -> list[str]:
        return [params[name]] if name in params else []

    try:
        return TopologyFilter.parse(kinds=values("kinds"), namespaces=values("namespaces"),
                                    labels=values("labels"), sources=values("sources"),
                                    known_sources=engine.source_names())
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc


def to_builtins(value: msgspec.Struct) -> dict[str, Any]:
    """A model value as a document of plain values."""
    document: dict[str, Any] = msgspec.to_builtins(value)
    return document


def limit_of(params: Params, default: int = 100) -> int:
    try:
        limit = int(params.get("limit", default))
    except ValueError as exc:
        raise PathError(400, "limit must be an integer") from exc
    if not 1 <= limit <= 10000:
        raise PathError(400, "limit must be between 1 and 10000")
    return limit


def moment_of(params: Params, name: str, default: float) -> float:
    """The moment parameter `name` (RFC 3339 or epoch seconds), or `default` without it."""
    if name not in params:
        return default
    try:
        return parse_moment(params[name], name=name)
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc


def event_row(event: Event) -> dict[str, Any]:
    return {"time": event.timestamp, "type": event.type, "reason": event.reason,
            "object": f"{event.entity_kind.value}/{event.entity_name}",
            "message": event.message, "severity": event.severity.value}
