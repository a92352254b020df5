"""Snapshot files: one moment of the map, self-contained, to keep or send to a colleague.

A snapshot holds the topology at its moment, the metric samples and events of a window
around it, the alerts as they stood, and `snapshot_schema` (a reader refuses a newer one
rather than misread it). `gestalt serve --open-snapshot FILE` shows one read-only, even
after the data it came from has aged out of retention. Like every export, it carries
what the map carries: Secrets are metadata only (their values never enter the process).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Literal

import msgspec

import gestalt
from gestalt.engine.moments import alerts_then, topology_at
from gestalt.engine.past import iso
from gestalt.engine.runtime import Engine
from gestalt.model import Alert, Connection, Entity, Event

SNAPSHOT_SCHEMA = 1
FORMAT = "gestalt-snapshot"
# Bounds on what one file holds (and what opening one reads).
MAX_SAMPLES = 500_000
MAX_EVENTS = 10_000
MAX_FILE_BYTES = 512 * 1024 * 1024


class SnapshotError(Exception):
    """A file that is not a snapshot this Gestalt can show; the message is one line."""


class SnapshotTopology(msgspec.Struct, kw_only=True):
    version: int
    timestamp: float
    entities: list[Entity]
    connections: list[Connection]


class Snapshot(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    format: Literal["gestalt-snapshot"]
    snapshot_schema: int
    at: float
    created_at: float
    gestalt_version: str
    window: tuple[float, float]
    topology: SnapshotTopology
    events: list[Event] = []
    # entity id -> metric -> [[ts, value], ...]
    metrics: dict[str, dict[str, list[tuple[float, float]]]] = {}
    alerts: list[Alert] = []


async def build_snapshot(engine: Engine, at: float, window: float) -> dict[str, Any]:
    start, end = at - window / 2, at + window / 2
    live = at >= engine.store.timestamp and at >= time.time() - 1
    if live:
        topology: dict[str, Any] = {"version": engine.store.version,
                                    "timestamp": engine.store.timestamp,
                                    "entities": list(engine.store.entities.values()),
                                    "connections": list(engine.store.connections.values())}
        alerts = engine.alerts()
    else:
        topology = await topology_at(engine, at)
        alerts = await alerts_then(engine, at)
    events = await engine.history.events(limit=MAX_EVENTS, since=start, until=end)
    rows = await engine.history.read(lambda c: c.execute(
        "SELECT entity_id, name, ts, value FROM samples WHERE ts >= ? AND ts <= ? "
        "ORDER BY ts LIMIT ?", (start, end, MAX_SAMPLES)).fetchall())
    metrics: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for entity_id, name, ts, value in rows:
        metrics.setdefault(entity_id, {}).setdefault(name, []).append((ts, value))
    return {
        "format": FORMAT, "snapshot_schema": SNAPSHOT_SCHEMA, "at": at, "at_iso": iso(at),
        "created_at": time.time(), "gestalt_version": gestalt.__version__,
        "window": [start, end],
        "topology": {k: topology[k] for k in ("version", "timestamp", "entities", "connections")},
        "events": events, "metrics": metrics, "alerts": alerts,
    }


def read_snapshot(path: Path) -> Snapshot:
    """The snapshot in `path`, checked; SnapshotError (one line) when it is not one."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read it ({exc.strerror})") from exc
    if size > MAX_FILE_BYTES:
        raise SnapshotError(f"{path}: {size} bytes is larger than a snapshot can be "
                            f"({MAX_FILE_BYTES})")
    raw = path.read_bytes()
    try:
        head = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"{path}: not a Gestalt snapshot (not JSON: {exc})") from exc
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not a Gestalt snapshot (no \"format\": \"{FORMAT}\"); "
                            "download one from /api/infra/snapshot")
    schema = head.get("snapshot_schema")
    if not isinstance(schema, int) or schema > SNAPSHOT_SCHEMA:
        raise SnapshotError(f"{path}: snapshot schema {schema!r} is newer than this Gestalt "
                            f"reads ({SNAPSHOT_SCHEMA}): open it with a newer version")
    try:
        return msgspec.json.decode(raw, type=Snapshot)
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"{path}: a damaged snapshot: {exc}") from exc


async def show_snapshot(engine: Engine, snapshot: Snapshot, path: Path) -> None:
    """Fill a started engine (no sources, its own scratch history) with a snapshot."""
    top = snapshot.topology
    engine.store.apply(upserts=top.entities, edge_upserts=top.connections)
    for event in sorted(snapshot.events, key=lambda e: e.timestamp):
        engine.changes.event(event)
    engine.history.import_samples([(eid, name, ts, value)
                                   for eid, series in snapshot.metrics.items()
                                   for name, points in series.items() for ts, value in points])
    engine.snapshot = {"file": path.name, "at": snapshot.at, "at_iso": iso(snapshot.at),
                       "created_at": snapshot.created_at,
                       "gestalt_version": snapshot.gestalt_version, "alerts": snapshot.alerts}
    await asyncio.sleep(0)
