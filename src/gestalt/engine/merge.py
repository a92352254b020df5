"""Merging what several sources say about one thing: pure functions over values.

One real thing is one entity, whichever sources see it (a pod's container is Docker's
container too; a traced service is a host's process). Each source's view is kept apart
by the hub; this module makes the one entity (or connection) everybody sees from them.

Merge is addition: the result depends only on the views given, never on when they came
or how often; the same view twice changes nothing, and no view is ever modified.

The rules, in one place:

1. **Precedence** is a written order of sources (`engine/registry.py` lists the sources in
   it: host, docker, kubernetes, nats, otlp, prometheus, postgres, synthetic; any other
   name comes after them, alphabetically). It is not the order in which sources started
   or reported: restarting one source must not rename what it sees.
2. **Identity** (`id`, `kind`, `name`) is the first source's: a container keeps its Docker
   name when a trace calls its service "checkout". Health is the engine's to compute.
3. **Other fields**: each source in precedence order fills in what it knows; a later
   source's value replaces an earlier one's, maps are combined key by key (the later
   source's key winning), lists are united in order. A field a source leaves at its
   default says nothing.
4. **Metrics** reported apart from a view (`sink.metrics`) are laid over the merged
   entity in precedence order, those of the entity's own sources first, then those of
   sources that only measure it (Prometheus).
5. **Connections** that several sources see are one edge: each figure from the first
   source, in precedence order, that has it; attributes combined, the earlier source's
   winning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from gestalt.model import METRIC_FIELDS, Connection, Entity, Health

_ENTITY_FIELDS = tuple(f.name for f in msgspec.structs.fields(Entity))
_DEFAULTS: dict[str, Any] = {
    f.name: (f.default if f.default is not msgspec.NODEFAULT else None)
    for f in msgspec.structs.fields(Entity)
}
# Identity stays with the entity's first source; health is the engine's to compute.
_NOT_OVERLAID = frozenset(
    {"id", "kind", "name", "sources", "stale", "health", "health_status", "health_reasons"}
)
_EDGE_FIGURES = ("requests_per_sec", "bytes_per_sec", "error_rate", "latency_ms")

# Fields whose change is not structural: they travel in metrics frames, not deltas.
_VOLATILE = METRIC_FIELDS | {"custom_metrics", "health", "updated_at"}
_STRUCTURAL_FIELDS = tuple(f for f in _ENTITY_FIELDS if f not in _VOLATILE)
_METRIC_FIELD_NAMES = tuple(sorted(METRIC_FIELDS))


def merge_entity(
    sources: Sequence[str], views: Sequence[Entity], metrics: Iterable[Mapping[str, Any]] = ()
) -> Entity:
    """One entity from its sources' views (`views[i]` is what `sources[i]` says), in
    precedence order, at least one, with the metric values reported for it laid over
    (rules 2 to 4). Health is left as the first view says, for the engine to score."""
    merged = msgspec.structs.replace(
        views[0], sources=sources if isinstance(sources, list) else list(sources))
    for other in views[1:]:
        _overlay(merged, other)
    for values in metrics:
        apply_metrics(merged, values)
    return merged


def machine_clash(sources: Sequence[str], views: Sequence[Entity]) -> str | None:
    """Why a host node stands for two machines, or None.

    A host's ids carry its host name (`node:host/<name>`, `process:<name>/<pid>`), so two
    machines of one name (cloned VMs, each `ubuntu`) that report to one hub, as two sites or
    as a site and the hub's own host source, become one node holding both machines'
    processes and volumes. Merging on is still right for the sources of one machine (a
    site's agent and a hub on the same host), which report the same boot time; two boot
    times are two machines."""
    booted: dict[Any, list[str]] = {}
    for source, view in zip(sources, views, strict=True):
        boot = view.attrs.get("boot_time")
        if boot is not None:
            booted.setdefault(boot, []).append(source)
    if len(booted) < 2:
        return None
    name = views[0].name
    who = "; ".join(", ".join(group) for group in booted.values())
    return (f"{len(booted)} machines report the host name {name} ({who}): their processes "
            "and volumes are shown as one machine's; give each machine its own host name")


def reported_health(views: Iterable[Entity]) -> tuple[Health, list[str]]:
    """The worst health any source itself reported for an entity, with its reasons."""
    worst, reasons = Health.UNKNOWN, []
    for entity in views:
        if entity.health_status.rank > worst.rank:
            worst, reasons = entity.health_status, list(entity.health_reasons)
    return worst, reasons


def apply_metrics(merged: Entity, values: Mapping[str, Any]) -> None:
    """Metric fields set as given; any other name is a custom metric."""
    custom: dict[str, float] | None = None
    for name, value in values.items():
        if name in METRIC_FIELDS:
            setattr(merged, name, value)
        elif value is not None:
            if custom is None:
                custom = dict(merged.custom_metrics)
            custom[name] = float(value)
    if custom is not None:
        merged.custom_metrics = custom


def combine_edges(cid: str, source_id: str, target_id: str,
                  raws: Sequence[Connection]) -> Connection:
    """One connection from the views of several sources, in precedence order (rule 5)."""
    figures = {name: next((v for raw in raws if (v := getattr(raw, name)) is not None), None)
               for name in _EDGE_FIGURES}
    attrs: dict[str, Any] = {}
    for raw in reversed(raws):
        attrs.update(raw.attrs)
    return msgspec.structs.replace(raws[0], id=cid, source_id=source_id, target_id=target_id,
                                   attrs=attrs, **figures)


# -- what kind of change -------------------------------------------------------------------

def structural_key(entity: Entity) -> tuple[Any, ...]:
    """What the picture shows: a change here is a new topology version."""
    return tuple(getattr(entity, name) for name in _STRUCTURAL_FIELDS)


def metric_key(entity: Entity) -> tuple[Any, ...]:
    """What a metrics frame carries, for comparing without building the frame's dict."""
    return (*(getattr(entity, name) for name in _METRIC_FIELD_NAMES),
            entity.custom_metrics, entity.health)


def metric_values(entity: Entity) -> dict[str, Any]:
    """The entity's part of a metrics frame: the metric fields it has, custom metrics and
    its health score."""
    values: dict[str, Any] = {}
    for name in _METRIC_FIELD_NAMES:
        value = getattr(entity, name)
        if value is not None:
            values[name] = value
    if entity.custom_metrics:
        values["custom_metrics"] = entity.custom_metrics
    if entity.health is not None:
        values["health"] = entity.health
    return values


def _overlay(merged: Entity, other: Entity) -> None:
    """Fields `other` knows fill in or replace `merged`'s; maps and lists are combined."""
    defaults = _DEFAULTS
    for name in _ENTITY_FIELDS:
        if name in _NOT_OVERLAID:
            continue
        value = getattr(other, name)
        if value == defaults[name]:
            continue
        current = getattr(merged, name)
        if isinstance(value, dict):
            setattr(merged, name, {**current, **value})
        elif isinstance(value, list):
            setattr(merged, name, list(dict.fromkeys([*current, *value])))
        else:
            setattr(merged, name, value)
