"""The change log: every change the engine makes, as values, and their one encoding.

Three readers consume the same log: the browser (SSE, live), history (SQLite, for restarts
and time travel) and, next, a JetStream publisher when Gestalt runs as an agent. They all
take the bytes of `encode`, so what history keeps is exactly what the browser saw.

The log has three kinds of entry, because each is numbered its own way:

- `Delta`: a structural change, from topology `version - 1` to `version`. Versions are
  gapless; a browser resumes from one (SSE `Last-Event-ID`).
- `MetricsFrame`: metric-only changes, coalesced (one frame per interval). They do not
  bump the version (numbers move every second; the picture does not): a frame carries
  the version it follows, which orders it among the deltas.
- `Event`: the feed (model/events.py), numbered by its own sequence.

Every document says its schema: `"schema": 1`, first. A document without it was written
before the field existed and is schema 1 (history written by earlier versions). A
change that old readers cannot read bumps `SCHEMA_VERSION`; decoding a newer document
with an older Gestalt then fails with a clear error instead of reading it wrong.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gestalt.model.entities import Connection, Entity
from gestalt.model.events import Event
from gestalt.model.schema import SCHEMA_VERSION

# What a metrics frame holds for one entity: the metric fields of Entity that changed
# (cpu_percent, memory_bytes, ...), `custom_metrics` and `health`.
MetricValues = dict[str, Any]


class Delta(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
            tag=SCHEMA_VERSION):
    """What changed between `version - 1` and `version`. Upserts are whole values: replace
    by id.

    `observed_at` is when the source saw the change, so latency can be measured from the
    source all the way to the screen.
    """

    version: int
    timestamp: float
    observed_at: float | None = None
    upserts: list[Entity] = []
    removals: list[str] = []
    edge_upserts: list[Connection] = []
    edge_removals: list[str] = []

    def is_empty(self) -> bool:
        return not (self.upserts or self.removals or self.edge_upserts or self.edge_removals)


class MetricsFrame(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
                   tag=SCHEMA_VERSION):
    """Metric-only changes since the last frame: entity id -> the values to merge into it.
    `version` is the topology version the values apply to (not a new version)."""

    version: int
    timestamp: float
    observed_at: float | None = None
    values: dict[str, MetricValues] = {}


Change = Delta | MetricsFrame | Event

_encoder = msgspec.json.Encoder()
_delta_decoder = msgspec.json.Decoder(Delta)
_metrics_decoder = msgspec.json.Decoder(MetricsFrame)
_event_decoder = msgspec.json.Decoder(Event)


def encode(change: Change) -> bytes:
    """The one encoding of a change, for every reader (JSON, `schema` first)."""
    return _encoder.encode(change)


def decode_delta(body: bytes) -> Delta:
    return _delta_decoder.decode(body)


def decode_metrics(body: bytes) -> MetricsFrame:
    return _metrics_decoder.decode(body)


def decode_event(body: bytes) -> Event:
    return _event_decoder.decode(body)
