"""The past, rebuilt from history: the topology at any kept moment, what changed between
two moments, the recorded deltas in order (replay), and the alerts as they stood.

The topology at `t` is the last keyframe at or before `t` in the run that holds `t`, plus
the deltas after it up to `t` (engine/recording.py writes them). A run begins empty (the
live store started empty too) or with a keyframe; between runs Gestalt was down or
history paused, and a moment there answers the last recorded state with the gap named.

Everything here reads a `sqlite3.Connection` and runs in history's reading thread
(`History.read`); decoded keyframes are cached, as scrubbing asks for moments close
together.
"""

from __future__ import annotations

import gc
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from gestalt.engine.compression import load_dictionaries, trained_with
from gestalt.engine.history_layout import HistoryError, oldest_moment
from gestalt.engine.recording import (
    BY_REFERENCE,
    decode_connections,
    decode_entities,
    delta_refs,
    incremental_refs,
    keyframe_refs,
)
from gestalt.model import Alert, Connection, Delta, Entity
from gestalt.model.changes import decode_delta

_alerts = msgspec.json.Decoder(Alert)
Item = TypeVar("Item", Entity, Connection)
# SQLite's limit on host parameters is higher; this keeps each statement small.
_CHUNK = 900
KEYFRAME_CACHE = 6
# Rebuilding through many deltas leaves a copy of the state every this many deltas, kept in
# memory (at most CHECKPOINTS of them): the next moment nearby starts from there.
CHECKPOINT_EVERY = 500
CHECKPOINTS = 12
# Decoded bodies kept by hash: keyframes a few minutes apart share nearly all of theirs,
# so an arbitrary moment decodes only what changed since a moment already asked.
BODY_CACHE = 120_000
# The JSON of decoded bodies, kept as long as as many of them: encoding a topology of 30,000
# objects took 45 ms, copying what is already encoded a few.
ENCODED_CACHE = BODY_CACHE
# Unasked this long, the caches go (History.release_idle_past): they are there for an
# operator stepping through an incident, and hold tens of MB at 10,000 entities.
IDLE_SECONDS = 300.0
_encode = msgspec.json.Encoder().encode
# The moments a request may name: the years a date has (1 to 9999, as RFC 3339 and Python's
# datetime). Past them `iso` cannot write the moment (an epoch of 1e20, or 9999-12-31 at
# -05:00, which is year 10000 in UTC).
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


class OutsideRetention(LookupError):
    """The moment asked for is not kept (too old, or before anything was recorded)."""

    def __init__(self, at: float, oldest: float | None, *, name: str | None = None) -> None:
        self.at, self.oldest = at, oldest
        kept = (f"the oldest moment kept is {iso(oldest)} ({oldest:.3f})" if oldest is not None
                else "nothing is recorded yet")
        said = f"{name}: " if name else ""
        super().__init__(f"{said}{iso(at)} is outside history: {kept}")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def parse_moment(text: str, *, name: str = "at") -> float:
    """RFC 3339 (`2026-11-30T02:30:00Z`, offsets allowed) or epoch seconds -> epoch seconds,
    within EARLIEST..LATEST. Raises ValueError with a one-line message naming the parameter:
    every moment a request passes comes through here, so none reaches `iso` or history
    unchecked."""
    value = text.strip()
    try:
        when = float(value)
    except ValueError:
        when = _rfc3339(value, text, name)
    else:
        if not math.isfinite(when):  # float() reads "nan" and "inf": neither is a time
            raise ValueError(_unparsable(text, name))
    if not EARLIEST <= when <= LATEST:
        raise ValueError(f"{name}: {text!r} is out of range (a moment lies between "
                         f"{iso(EARLIEST)} and {iso(LATEST)})")
    return when


def _rfc3339(value: str, text: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(_unparsable(text, name)) from None
    if moment.tzinfo is None:
        raise ValueError(f"{name}: {text!r} has no time zone; add Z or an offset like +01:00")
    return moment.timestamp()


def _unparsable(text: str, name: str) -> str:
    return f"{name}: expected RFC 3339 (2026-11-30T02:30:00Z) or epoch seconds, got {text!r}"


@dataclass
class State:
    """The topology as it was at `at`: recorded at `version`, last changed at `timestamp`."""

    at: float
    version: int
    timestamp: float
    entities: dict[str, Entity] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    # `at` falls where nothing was recorded: (recording stopped, recording began again or
    # None when it has not).
    gap: tuple[float, float | None] | None = None


class Past:
    def __init__(self) -> None:
        # keyframe version -> (entities, connections): decoded once, copied per answer.
        self._keyframes: OrderedDict[int, tuple[dict[str, Entity], dict[str, Connection]]] = \
            OrderedDict()
        # Insertion order is age: the oldest go first when the cache is full.
        self._decoded: dict[bytes, Entity | Connection] = {}
        self._dictionaries: dict[int, bytes] = {}  # trained ones, loaded when first met
        # version -> (time, run's start version, entities, connections).
        self._checkpoints: OrderedDict[
            int, tuple[float, int, dict[str, Entity], dict[str, Connection]]] = OrderedDict()
        # id(item) -> (item, its JSON): an item is held while its JSON is, so its id stays
        # its own; the oldest go first.
        self._encoded: OrderedDict[int, tuple[Entity | Connection, msgspec.Raw]] = \
            OrderedDict()
        self.used_at = time.monotonic()  # when it was last asked something

    @property
    def holds(self) -> int:
        """How many decoded bodies its caches hold."""
        return len(self._decoded)

    def encoded(self, items: Iterable[Entity | Connection]) -> list[msgspec.Raw]:
        """Each item's JSON (as the encoder writes it), encoded once per decoded body:
        the items of a past state are the cached decoded ones, shared between moments."""
        self.used_at = time.monotonic()
        cache = self._encoded
        out = []
        for item in items:
            hit = cache.get(id(item))
            if hit is None or hit[0] is not item:
                hit = cache[id(item)] = (item, msgspec.Raw(_encode(item)))
            out.append(hit[1])
        for _ in range(len(cache) - ENCODED_CACHE):
            cache.popitem(last=False)
        return out

    def state_at(self, conn: sqlite3.Connection, at: float) -> State:
        self.used_at = time.monotonic()
        run = conn.execute("SELECT start_version, start_ts, end_ts FROM runs WHERE start_ts <= ? "
                           "ORDER BY start_ts DESC LIMIT 1", (at,)).fetchone()
        if run is None:
            raise OutsideRetention(at, oldest_moment(conn))
        start_version, start_ts, end_ts = run
        state = State(at=at, version=start_version, timestamp=start_ts)
        frame = conn.execute("SELECT version, ts FROM keyframes WHERE version >= ? "
                             "AND ts <= ? ORDER BY version DESC LIMIT 1",
                             (start_version, at)).fetchone()
        base = self._checkpoint(start_version, frame[0] if frame else start_version, at)
        if base is not None:
            version, (ts, _, entities, connections) = base
            state.entities, state.connections = dict(entities), dict(connections)
            state.version, state.timestamp = version, ts
        elif frame is not None:
            entities, connections = self._keyframe(conn, frame[0])
            state.entities, state.connections = dict(entities), dict(connections)
            state.version, state.timestamp = frame[0], frame[1]
        rows = conn.execute("SELECT version, ts, body, form FROM deltas WHERE version > ? "
                            "AND ts <= ? ORDER BY version", (state.version, at)).fetchall()
        self._follow(conn, state, rows, start_version)
        if end_ts is not None and at > end_ts:
            (resumed,) = conn.execute("SELECT MIN(start_ts) FROM runs WHERE start_ts > ?",
                                      (start_ts,)).fetchone()
            state.gap = (end_ts, resumed)
        return state

    def _follow(self, conn: sqlite3.Connection, state: State,
                rows: list[tuple[int, float, bytes, int]], run: int) -> None:
        """Apply recorded deltas to `state` (straight from their references: no Delta
        values), leaving checkpoints on the way."""
        words = self._words(conn, (body for _, _, body, form in rows if form == BY_REFERENCE))
        refs = [(version, ts, delta_refs(body, words) if form == BY_REFERENCE
                 else decode_delta(body)) for version, ts, body, form in rows]
        ups = {h for _, _, r in refs if isinstance(r, tuple) for h in r[1]}
        edge_ups = {h for _, _, r in refs if isinstance(r, tuple) for h in r[3]}
        entity_list, edge_list = list(ups), list(edge_ups)
        bodies: dict[bytes, Any] = dict(zip(entity_list, self._items(conn, entity_list,
                                                                     edges=False), strict=True))
        bodies.update(zip(edge_list, self._items(conn, edge_list, edges=True), strict=True))
        entities, connections = state.entities, state.connections
        for index, (version, ts, r) in enumerate(refs, 1):
            if not isinstance(r, tuple):
                _apply(state, r)  # written whole, before layout 2
            else:
                for eid in r[2]:
                    entities.pop(eid, None)
                for h in r[1]:
                    entity = bodies[h]
                    entities[entity.id] = entity
                for cid in r[4]:
                    connections.pop(cid, None)
                for h in r[3]:
                    edge = bodies[h]
                    connections[edge.id] = edge
            state.version, state.timestamp = version, ts
            if index % CHECKPOINT_EVERY == 0:
                self._checkpoints[version] = (ts, run, dict(entities), dict(connections))
                while len(self._checkpoints) > CHECKPOINTS:
                    self._checkpoints.popitem(last=False)

    def _checkpoint(self, run: int, after: int, at: float
                    ) -> tuple[int, tuple[float, int, dict[str, Entity],
                                          dict[str, Connection]]] | None:
        """The latest checkpoint in run `run`, past version `after`, at or before `at`."""
        best = None
        for version, point in self._checkpoints.items():
            if point[1] == run and version > after and point[0] <= at and \
                    (best is None or version > best[0]):
                best = (version, point)
        return best

    def _keyframe(self, conn: sqlite3.Connection, version: int
                  ) -> tuple[dict[str, Entity], dict[str, Connection]]:
        """The topology at keyframe `version`: the full keyframe at or before it and the
        incremental ones up to it (from the nearest one already decoded)."""
        cached = self._keyframes.get(version)
        if cached is not None:
            self._keyframes.move_to_end(version)
            return cached
        (full,) = conn.execute("SELECT MAX(version) FROM keyframes WHERE version <= ? AND "
                               "base IS NULL", (version,)).fetchone()
        if full is None:
            raise HistoryError(f"keyframe {version} has no full keyframe before it")
        start = max((v for v in self._keyframes if full <= v < version), default=full - 1)
        chain = conn.execute("SELECT version, body, base FROM keyframes WHERE version > ? "
                             "AND version <= ? ORDER BY version", (start, version)).fetchall()
        entities: dict[str, Entity] = {}
        connections: dict[str, Connection] = {}
        if start >= full:
            base_entities, base_connections = self._keyframes[start]
            entities, connections = dict(base_entities), dict(base_connections)
        previous = start
        for at_version, body, base in chain:
            if base is None:
                entity_hashes, edge_hashes = keyframe_refs(body)
                entities = {e.id: e for e in self._items(conn, entity_hashes, edges=False)}
                connections = {c.id: c for c in self._items(conn, edge_hashes, edges=True)}
            elif base != previous:
                raise HistoryError(f"keyframe {at_version} builds on {base}, which is not kept")
            else:
                new_entities, gone_entities, new_edges, gone_edges = incremental_refs(
                    body, self._words(conn, (body,)))
                for eid in gone_entities:
                    entities.pop(eid, None)
                for entity in self._items(conn, new_entities, edges=False):
                    entities[entity.id] = entity
                for cid in gone_edges:
                    connections.pop(cid, None)
                for edge in self._items(conn, new_edges, edges=True):
                    connections[edge.id] = edge
            previous = at_version
        decoded = (entities, connections)
        self._keyframes[version] = decoded
        while len(self._keyframes) > KEYFRAME_CACHE:
            self._keyframes.popitem(last=False)
        return decoded

    def _words(self, conn: sqlite3.Connection, blobs: Iterable[bytes]) -> dict[int, bytes]:
        """The trained dictionaries, loaded again when `blobs` need one not loaded yet."""
        if not trained_with(blobs) <= self._dictionaries.keys():
            self._dictionaries = load_dictionaries(conn)
        return self._dictionaries

    def _items(self, conn: sqlite3.Connection, hashes: list[bytes], *, edges: bool
               ) -> list[Any]:
        """The entities (or connections) stored under `hashes`, decoded once each."""
        cache = self._decoded
        try:  # a moment near one already asked: every body is decoded already
            return [cache[h] for h in hashes]
        except KeyError:
            pass
        missing = [h for h in set(hashes) if h not in cache]
        if missing:
            bodies = _bodies(conn, missing)
            packed = [bodies[h] for h in missing]
            self._words(conn, packed)
            # Decoding allocates a dict per label set and attribute map: the collector
            # would scan the whole heap several times over for nothing.
            collecting = gc.isenabled()
            gc.disable()
            try:
                values = decode_connections(packed, self._dictionaries) if edges \
                    else decode_entities(packed, self._dictionaries)
            finally:
                if collecting:
                    gc.enable()
            cache.update(zip(missing, values, strict=True))
        found = [cache[h] for h in hashes]
        if len(cache) > BODY_CACHE:
            for old in list(cache)[:len(cache) - BODY_CACHE]:
                del cache[old]
        return found

    def deltas(self, conn: sqlite3.Connection, rows: Iterable[tuple[int, float, bytes, int]]
               ) -> list[Delta]:
        self.used_at = time.monotonic()
        rows = list(rows)
        words = self._words(conn, (body for _, _, body, form in rows if form == BY_REFERENCE))
        refs = {v: delta_refs(body, words) for v, _, body, form in rows if form == BY_REFERENCE}
        entity_hashes = list({h for r in refs.values() for h in r[1]})
        edge_hashes = list({h for r in refs.values() for h in r[3]})
        entities = dict(zip(entity_hashes, self._items(conn, entity_hashes, edges=False),
                            strict=True))
        edges = dict(zip(edge_hashes, self._items(conn, edge_hashes, edges=True), strict=True))
        out = []
        for version, ts, body, form in rows:
            if form != BY_REFERENCE:
                out.append(decode_delta(body))  # written whole, before layout 2
                continue
            observed, ups, rems, edge_ups, edge_rems = refs[version]
            out.append(Delta(version=version, timestamp=ts, observed_at=observed,
                             upserts=[entities[h] for h in ups], removals=rems,
                             edge_upserts=[edges[h] for h in edge_ups],
                             edge_removals=edge_rems))
        return out


def read_deltas(conn: sqlite3.Connection, since: int = 0, *, limit: int = 1000,
                until: float | None = None, past: Past | None = None) -> list[Delta]:
    """The recorded deltas after version `since`, oldest first (up to `until`)."""
    sql = "SELECT version, ts, body, form FROM deltas WHERE version > ?"
    params: list[Any] = [since]
    if until is not None:
        sql += " AND ts <= ?"
        params.append(until)
    rows = conn.execute(sql + " ORDER BY version LIMIT ?", (*params, limit)).fetchall()
    return (past or Past()).deltas(conn, rows)


def runs(conn: sqlite3.Connection) -> list[tuple[int, float, float | None, str]]:
    """Every run kept: (start version, start, end or None for the one going on, kind)."""
    return [tuple(row) for row in conn.execute(
        "SELECT start_version, start_ts, end_ts, kind FROM runs ORDER BY start_ts")]


def alerts_at(conn: sqlite3.Connection, at: float) -> list[Alert]:
    """Each alert as it stood at `at` (its last change until then), newest first."""
    rows = conn.execute(
        "SELECT body FROM alert_log WHERE rowid IN (SELECT MAX(rowid) FROM alert_log "
        "WHERE ts <= ? GROUP BY id) ORDER BY ts DESC", (at,)).fetchall()
    return [_alerts.decode(body) for (body,) in rows]


def sample_at(conn: sqlite3.Connection, entity_id: str, at: float,
              window: float) -> dict[str, float]:
    """An entity's metric values at `at`: each metric's last sample in `window` before it."""
    rows = conn.execute(
        "SELECT name, value, MAX(ts) FROM samples WHERE entity_id = ? AND ts <= ? AND ts >= ? "
        "GROUP BY name", (entity_id, at, at - window)).fetchall()
    return {name: value for name, value, _ in rows}


_ENTITY_FIELDS = frozenset(Entity.__struct_fields__)


def sample_frames(conn: sqlite3.Connection, after: float, until: float, limit: int = 5000
                  ) -> list[tuple[float, dict[str, dict[str, Any]]]]:
    """The metric samples recorded after `after` up to `until`, oldest first, as the metrics
    frames they came from: (time, entity id -> values), an Entity field by its name and any
    other metric in `custom_metrics` (as History.record_metrics flattened them). Samples
    of one frame share its time, so a page ends on a whole frame."""
    rows = conn.execute("SELECT ts, entity_id, name, value FROM samples WHERE ts > ? AND ts <= ? "
                        "ORDER BY ts LIMIT ?", (after, until, limit)).fetchall()
    if len(rows) == limit:
        last = rows[-1][0]
        if rows[0][0] == last:  # one frame larger than a page: that frame whole
            rows = conn.execute("SELECT ts, entity_id, name, value FROM samples WHERE ts = ?",
                                (last,)).fetchall()
        else:
            rows = [row for row in rows if row[0] != last]
    frames: dict[float, dict[str, dict[str, Any]]] = {}
    for ts, entity_id, name, value in rows:
        fields = frames.setdefault(ts, {}).setdefault(entity_id, {})
        if name in _ENTITY_FIELDS:
            fields[name] = value
        else:
            fields.setdefault("custom_metrics", {})[name] = value
    return list(frames.items())


def change_times(conn: sqlite3.Connection, since: float, until: float,
                 limit: int = 10000) -> list[tuple[int, float]]:
    """(version, time) of each recorded change in a window: where "step" can land."""
    return [tuple(row) for row in conn.execute(
        "SELECT version, ts FROM deltas WHERE ts >= ? AND ts <= ? ORDER BY version LIMIT ?",
        (since, until, limit))]


def diff(before: State, after: State) -> dict[str, Any]:
    """What appeared, disappeared and changed (field by field) from `before` to `after`."""
    return {
        "from": before.at, "to": after.at,
        "from_version": before.version, "to_version": after.version,
        "entities": _diff_items(before.entities, after.entities),
        "connections": _diff_items(before.connections, after.connections),
    }


def changes(before: dict[str, Item], after: dict[str, Item]) -> tuple[list[Item], list[str]]:
    """What turns `before` into `after`: the items that came or changed (whole), and the
    ids that went. Moments close together share their decoded items (Past caches bodies
    by hash), so an unchanged one is the same object and costs no comparison of fields."""
    upserts = [item for key, item in after.items()
               if (old := before.get(key)) is not item and old != item]
    return upserts, [key for key in before if key not in after]


def _diff_items(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, dict[str, list[Any]]] = {}
    for key in old.keys() & new.keys():
        if old[key] != new[key]:
            a, b = msgspec.to_builtins(old[key]), msgspec.to_builtins(new[key])
            changed[key] = {name: [a.get(name), b.get(name)]
                            for name in sorted(a.keys() | b.keys()) if a.get(name) != b.get(name)}
    return {
        "added": msgspec.to_builtins([new[k] for k in sorted(new.keys() - old.keys())]),
        "removed": msgspec.to_builtins([old[k] for k in sorted(old.keys() - new.keys())]),
        "changed": dict(sorted(changed.items())),
    }


# -- decoding -----------------------------------------------------------------------------

def _apply(state: State, delta: Delta) -> None:
    for eid in delta.removals:
        state.entities.pop(eid, None)
    for entity in delta.upserts:
        state.entities[entity.id] = entity
    for cid in delta.edge_removals:
        state.connections.pop(cid, None)
    for edge in delta.edge_upserts:
        state.connections[edge.id] = edge
    state.version, state.timestamp = delta.version, delta.timestamp


def _bodies(conn: sqlite3.Connection, hashes: list[bytes]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for start in range(0, len(hashes), _CHUNK):
        chunk = hashes[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(f"SELECT hash, body FROM bodies WHERE hash IN ({marks})",
                                  chunk).fetchall())
    return found
