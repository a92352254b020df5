"""The whole graph at one version (its changes are model/changes.py)."""

from __future__ import annotations

from typing import Any

import msgspec

from gestalt.model.entities import Connection, Entity
from gestalt.model.kinds import SourceState


class KindSummary(msgspec.Struct, kw_only=True):
    count: int = 0
    health: float | None = None  # mean score of those with a score
    ok: int = 0
    warning: int = 0
    critical: int = 0
    unknown: int = 0


class Summary(msgspec.Struct, kw_only=True):
    total: int = 0
    overall: float | None = None  # mean health score; None when nothing is scored
    healthy: int = 0
    warning: int = 0
    critical: int = 0
    unknown: int = 0
    by_kind: dict[str, KindSummary] = {}


class SourceStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    state: SourceState
    reason: str = ""
    since: float = 0.0
    last_ok: float | None = None
    entities: int = 0
    # What the source may not read (RBAC), one name per kind: "nodes", "secrets in shop".
    not_permitted: list[str] = []
    # What the source says of itself beyond its state (a site: agent, lag, drops, refusals).
    details: dict[str, Any] = {}


class Topology(msgspec.Struct, kw_only=True):
    version: int
    timestamp: float
    entities: list[Entity]
    connections: list[Connection]
    summary: Summary
    sources: list[SourceStatus] = []
