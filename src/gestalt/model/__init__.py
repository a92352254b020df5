"""The model: plain, fast value types shared by every layer."""

from gestalt.model import ids
from gestalt.model.changes import Change, Delta, MetricsFrame
from gestalt.model.entities import METRIC_FIELDS, Connection, Entity, Locator, Scalar
from gestalt.model.events import Alert, Event
from gestalt.model.kinds import (
    ConnectionKind,
    EntityKind,
    EntityStatus,
    Health,
    Severity,
    SourceState,
)
from gestalt.model.schema import SCHEMA_VERSION
from gestalt.model.topology import KindSummary, SourceStatus, Summary, Topology

__all__ = [
    "METRIC_FIELDS",
    "SCHEMA_VERSION",
    "Alert",
    "Change",
    "Connection",
    "ConnectionKind",
    "Delta",
    "Entity",
    "EntityKind",
    "EntityStatus",
    "Event",
    "Health",
    "KindSummary",
    "Locator",
    "MetricsFrame",
    "Scalar",
    "Severity",
    "SourceState",
    "SourceStatus",
    "Summary",
    "Topology",
    "ids",
]
