"""Events (the feed) and alerts."""

from __future__ import annotations

import msgspec

from gestalt.model.kinds import EntityKind, Severity
from gestalt.model.schema import SCHEMA_VERSION


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
            tag=SCHEMA_VERSION):
    """One entry of the feed; part of the change log (model/changes.py), so it says its
    schema."""

    id: str
    type: str  # "Normal", "Warning", "Error" (Kubernetes' vocabulary)
    reason: str
    message: str
    entity_id: str
    entity_kind: EntityKind
    entity_name: str
    timestamp: float  # epoch seconds
    severity: Severity = Severity.INFO
    source: str = ""
    namespace: str | None = None
    count: int = 1


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    rule: str
    entity_id: str
    severity: Severity
    state: str  # pending | firing | resolved | unknown
    message: str
    started_at: float
    updated_at: float
    resolved_at: float | None = None
    entity_kind: EntityKind | None = None
    entity_name: str = ""
    labels: dict[str, str] = {}
    # Entities upstream/downstream of this one: what else the problem touches.
    blast_radius: list[str] = []
    # The sources that report the subject: after a restart, an alert whose subject is not
    # back is only resolved once these have reported (missing data never resolves).
    sources: list[str] = []
