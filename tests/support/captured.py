"""What the sources really emit (tests/fixtures/captured, recorded from real servers by
scripts/capture-fixtures.py), as model values."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from gestalt.model import Entity

CAPTURED = Path(__file__).resolve().parent.parent / "fixtures" / "captured"
# Fields the engine sets on the merged entity, not the source on its view.
_ENGINE_FIELDS = ("health", "health_status", "health_reasons", "sources", "stale")


def first_view(source: str, kind: str) -> Entity:
    """The first entity of `kind` the source reported, as the source reported it."""
    doc = json.loads((CAPTURED / f"{source}.json").read_text())
    raw = next(e for e in doc["entities"] if e["kind"] == kind)
    for name in _ENGINE_FIELDS:
        raw.pop(name, None)
    return msgspec.convert(raw, Entity)
