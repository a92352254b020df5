"""Recording the topology for time travel: bodies stored once, deltas by reference, keyframes.

Each entity and connection is stored once per distinct content, keyed by a hash of its
body with the noise stripped first (metric values, the health score, `updated_at`,
connection figures: they move every second and travel as metric samples instead), so an
object that did not change costs nothing however often it is listed. A delta row holds
only hashes and removed ids; a keyframe, the topology at one version, written every
`keyframe_interval` seconds or `keyframe_deltas` deltas. A *full* keyframe holds the hashes
of the whole topology (14 bytes an object: 420 KB at 30,000); the next few are
*incremental*: what changed since the keyframe before (`base`), usually a tenth of that,
so keyframes can be close together (a moment is rebuilt from few deltas) without costing
a full one each time. The past at a moment is the last full keyframe before it, the
incremental ones up to it, and the deltas after those (engine/past.py).

A *run* is a stretch of recording without a hole: it starts empty when Gestalt starts
(the live store starts empty too, and fills as sources report) or from a keyframe when
recording resumes after a pause (a full disk). Between two runs Gestalt was down or
paused; the runs table is what marks that downtime.

Bodies are compressed (engine/compression.py) with a dictionary trained on the topology
itself (layout 3): a new pod's body is mostly the same keys and values as the pods already
seen, so it shrinks to a third of what deflate with a generic preset makes of it. A
dictionary is trained when a full keyframe is written and there is none yet, or the
topology has doubled since; each is kept for good (at most `MAX_DICTIONARIES`, 32 KB
each), and a stored body's first byte names its dictionary (bodies from before start with
zlib's 0x78 and keep the preset).

Every body that a delta refers to is written by that same delta, and a keyframe moves up
the `last_used` of every body it refers to, so pruning drops the bodies nothing newer than
the oldest kept version uses. The recorder keeps only the hashes of the recorded topology,
not its bodies (they were 4 MB at 10,000 entities and 20,000 edges): the bodies of deltas
not yet committed are kept until their batch is, and when one is lost (a full disk, an
error), until the next keyframe has written them again, so a batch lost never leaves a
reference to a body that is not there.

The `Recorder` lives in history's writer thread; nothing here touches the event loop.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import msgspec

from gestalt.engine.aside import aside
from gestalt.engine.compression import (
    MAX_DICTIONARIES,
    Dictionaries,
    load_dictionaries,
    pack,
    pack_with,
    train,
    unpack_body,
)
from gestalt.model import METRIC_FIELDS, Connection, Delta, Entity

# Fields that change without the thing changing: not part of the stored body.
ENTITY_NOISE: dict[str, Any] = {
    **dict.fromkeys(METRIC_FIELDS), "custom_metrics": {}, "health": None, "updated_at": None}
EDGE_NOISE: dict[str, Any] = dict.fromkeys(
    ("requests_per_sec", "bytes_per_sec", "error_rate", "latency_ms"))


class _StoredEdge(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A connection as stored: no noise, and no id (made from its kind and ends, as
    Connection.__post_init__ makes it again when decoding): a third of an edge body."""

    source_id: str
    target_id: str
    kind: str
    attrs: dict[str, Any] = {}
    sources: list[str] = []

_encode = msgspec.json.Encoder().encode
_entities = msgspec.json.Decoder(list[Entity])
_connections = msgspec.json.Decoder(list[Connection])
_pack_refs = msgspec.msgpack.Encoder().encode
# A delta row: (observed_at, entity hashes, removed ids, connection hashes, removed ids).
DeltaRefs = tuple[float | None, list[bytes], list[str], list[bytes], list[str]]
_delta_refs = msgspec.msgpack.Decoder(DeltaRefs)
_keyframe_refs = msgspec.msgpack.Decoder(tuple[list[bytes], list[bytes]])
# An incremental keyframe: (entity hashes, removed ids, connection hashes, removed ids).
IncrementalRefs = tuple[list[bytes], list[str], list[bytes], list[str]]
_incremental_refs = msgspec.msgpack.Decoder(IncrementalRefs)
# A full keyframe at least this often (counted in keyframes): the chain a moment is rebuilt
# through stays short, and pruning (which starts at a full one) frees space.
FULL_KEYFRAME_EVERY = 10
# `deltas.form`: 0 is a layout-1 row (the whole delta as JSON), 1 a row of references.
BY_REFERENCE = 1

Stored = tuple[bytes, bytes]  # (hash, compressed body)
# A body's hash: 96 bits (a collision among a hundred million bodies: about 1e-13), every
# reference costs 14 bytes. Bodies from before (16-byte hashes) are found by theirs; an
# unchanged object written again after an upgrade is stored once more, under its new hash.
HASH_BYTES = 12
# Below this many items a rebuild from deltas is cheap whatever the topology's size.
KEYFRAME_MIN_ITEMS = 2000


TRAINING_SAMPLES = 2000  # bodies looked at, of entities and of connections each
# Items history's writer thread handles between two hand-overs of the GIL to the event
# loop (engine/aside.py). The loop, each time it lets the GIL go (every select, send and
# receive), waits for the writer's next hand-over to have it back, and a message from a
# site costs it several of those: a body packed and written is 30-50 us of work, so 25 make
# the wait under a millisecond and cost the writer a sixth more time. A site's first
# picture is 28,000 bodies.
WRITER_STEP = 25


class _Kind(msgspec.Struct):
    kind: str = ""


_kind_of = msgspec.json.Decoder(_Kind)


def body_of(item: Entity | Connection) -> bytes:
    if isinstance(item, Entity):
        return _encode(msgspec.structs.replace(item, **ENTITY_NOISE))
    return _encode(_StoredEdge(source_id=item.source_id, target_id=item.target_id,
                               kind=item.kind.value, attrs=item.attrs, sources=item.sources))


def stored(item: Entity | Connection, dictionary: tuple[int, bytes] | None = None) -> Stored:
    body = body_of(item)
    packed = pack(body) if dictionary is None else pack_with(body, dictionary)
    return hashlib.blake2b(body, digest_size=HASH_BYTES).digest(), packed


def decode_entities(bodies: list[bytes], dictionaries: Dictionaries) -> list[Entity]:
    """Compressed entity bodies -> entities, in one decode."""
    return _entities.decode(
        b"[" + b",".join(unpack_body(b, dictionaries) for b in bodies) + b"]")


def decode_connections(bodies: list[bytes], dictionaries: Dictionaries) -> list[Connection]:
    return _connections.decode(
        b"[" + b",".join(unpack_body(b, dictionaries) for b in bodies) + b"]")


# A msgpack array of five (what a row of references is) starts with this byte; a zlib
# stream never does (0x78).
_RAW_REFS = 0x95
_RAW_INCREMENTAL = 0x94  # an array of four
# References shorter than this are stored as they are: deflate would add more than it saves,
# and reading them back skips a decompressor.
_PACK_REFS_FROM = 96


def delta_refs(body: bytes, dictionaries: Dictionaries) -> DeltaRefs:
    refs: DeltaRefs = _delta_refs.decode(body if body[0] == _RAW_REFS
                                         else unpack_body(body, dictionaries))
    return refs


def keyframe_refs(body: bytes) -> tuple[list[bytes], list[bytes]]:
    return _keyframe_refs.decode(body)


def incremental_refs(body: bytes, dictionaries: Dictionaries) -> IncrementalRefs:
    refs: IncrementalRefs = _incremental_refs.decode(body if body[0] == _RAW_INCREMENTAL
                                                     else unpack_body(body, dictionaries))
    return refs


_PUT_BODY = ("INSERT INTO bodies (hash, body, last_used) VALUES (?, ?, ?) "
             "ON CONFLICT(hash) DO UPDATE SET last_used = excluded.last_used")
_USE_BODY = "UPDATE bodies SET last_used = ? WHERE hash = ?"
# Bodies are written and marked used in the order of their hashes, the table's key: in the
# order they came, each went to a random page of the table, most of them not in the
# writer's small page cache (history.WRITER_CACHE_KIB), and writing a site's first picture
# took 25-35 us a body once a few sites were in (11 in hash order), on the writer thread
# that competes with the event loop for the GIL.


class Recorder:
    """The topology as recorded so far (by hash), and the writing of deltas and keyframes."""

    def __init__(self, *, keyframe_seconds: float = 600.0, keyframe_deltas: int = 1000) -> None:
        self.keyframe_seconds = keyframe_seconds
        self.keyframe_deltas = keyframe_deltas
        # The recorded topology at `version`: id -> the hash of its body. Kept while paused
        # too, so recording resumes with a keyframe of the present.
        self.entities: dict[str, bytes] = {}
        self.edges: dict[str, bytes] = {}
        # Bodies followed since the last commit, by id (entities, connections): the ones a
        # lost batch did not write (`_lost`) are written by the next keyframe. By id, so a
        # long pause keeps at most one body per item.
        self._unwritten: tuple[dict[str, Stored], dict[str, Stored]] = ({}, {})
        self._lost = False  # a batch was rolled back since the last commit
        self.version = 0
        self.timestamp = 0.0  # of the last delta followed
        self._since_keyframe = 0
        # Entities and connections written by deltas since the last keyframe: once they are
        # twice as many as the topology holds, rebuilding from deltas costs more than a
        # keyframe (a keyframe right after a source's first snapshot, say).
        self._items_since_keyframe = 0
        self._big_delta = False
        self._keyframe_at: float | None = None
        # What an incremental keyframe is made against: for each entity and connection
        # written since the last keyframe, its hash then (None: there was none). Only what
        # changed, not a copy of the whole topology. None: the next keyframe is full (a run
        # starts, or recording resumes).
        self._keyframed: tuple[dict[str, bytes | None], dict[str, bytes | None]] | None = None
        self._keyframed_version = -1
        self._incrementals = 0
        # Trained dictionaries by id, the one new bodies are packed with, and how many
        # items the topology held when that one was trained.
        self.dictionaries: dict[int, bytes] = {}
        self._dictionary: tuple[int, bytes] | None = None
        self._trained_on = 0
        self._unsaved_dictionary: int | None = None  # trained in the batch being written

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, conn: sqlite3.Connection, version: int, now: float) -> None:
        """Gestalt starts: the previous run ends where its last record is (a crash wrote no
        end), and a new, empty one begins at `version`."""
        conn.execute(
            "UPDATE runs SET end_ts = MAX(start_ts, COALESCE((SELECT MAX(ts) FROM deltas "
            "WHERE version > runs.start_version), start_ts), COALESCE((SELECT MAX(ts) "
            "FROM samples WHERE ts >= runs.start_ts AND ts <= ?), start_ts)) "
            "WHERE end_ts IS NULL", (now,))
        conn.execute("INSERT INTO runs (start_version, start_ts, end_ts, kind) "
                     "VALUES (?, ?, NULL, 'start')", (version, now))
        self.entities.clear()
        self.edges.clear()
        for unwritten in self._unwritten:
            unwritten.clear()
        self._lost = False
        self.version = version
        self._since_keyframe, self._items_since_keyframe, self._keyframe_at = 0, 0, now
        self._big_delta = False
        self._keyframed = None
        self._load_dictionaries(conn)

    def _load_dictionaries(self, conn: sqlite3.Connection) -> None:
        """The dictionaries in the file; new bodies are packed with the latest."""
        self.dictionaries = load_dictionaries(conn)
        row = conn.execute("SELECT id, body, items FROM dictionaries ORDER BY id DESC "
                           "LIMIT 1").fetchone()
        self._dictionary = (row[0], row[1]) if row else None
        self._trained_on = row[2] if row else 0
        self._unsaved_dictionary = None

    def resume_run(self, conn: sqlite3.Connection, paused_at: float, now: float) -> None:
        """Recording resumes after a pause: the run before ends at the pause, a new one
        begins with a keyframe of the present (the deltas in between are lost)."""
        conn.execute("UPDATE runs SET end_ts = ? WHERE end_ts IS NULL", (paused_at,))
        conn.execute("INSERT INTO runs (start_version, start_ts, end_ts, kind) "
                     "VALUES (?, ?, NULL, 'resume')", (self.version, now))
        self._keyframed = None  # a run starts with a full keyframe
        self._load_dictionaries(conn)  # (a full disk may have stopped start_run before)
        self.write_keyframe(conn, now, now)

    @staticmethod
    def end_run(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("UPDATE runs SET end_ts = ? WHERE end_ts IS NULL", (now,))

    # -- deltas and keyframes -----------------------------------------------------------------
    def follow(self, delta: Delta) -> tuple[tuple[int, float, bytes], list[tuple[bytes, bytes]]]:
        """Apply a delta to the recorded topology; returns its row and the bodies it uses."""
        bodies: list[tuple[bytes, bytes]] = []
        hashes: list[bytes] = []
        before_entities, before_edges = self._keyframed or (None, None)
        unwritten_entities, unwritten_edges = self._unwritten
        for entity in aside(delta.upserts, WRITER_STEP):
            item = stored(entity, self._dictionary)
            _note_before(before_entities, self.entities, entity.id)
            self.entities[entity.id] = item[0]
            unwritten_entities[entity.id] = item
            bodies.append(item)
            hashes.append(item[0])
        for eid in delta.removals:
            _note_before(before_entities, self.entities, eid)
            self.entities.pop(eid, None)
            unwritten_entities.pop(eid, None)
        edge_hashes: list[bytes] = []
        for edge in aside(delta.edge_upserts, WRITER_STEP):
            item = stored(edge, self._dictionary)
            _note_before(before_edges, self.edges, edge.id)
            self.edges[edge.id] = item[0]
            unwritten_edges[edge.id] = item
            bodies.append(item)
            edge_hashes.append(item[0])
        for cid in delta.edge_removals:
            _note_before(before_edges, self.edges, cid)
            self.edges.pop(cid, None)
            unwritten_edges.pop(cid, None)
        self.version, self.timestamp = delta.version, delta.timestamp
        self._since_keyframe += 1
        items = len(bodies) + len(delta.removals) + len(delta.edge_removals)
        self._items_since_keyframe += items
        # A delta that rewrites much of the map (a source's first snapshot, a relist): the
        # state after it is worth a keyframe at once.
        self._big_delta = self._big_delta or items >= max(
            KEYFRAME_MIN_ITEMS, (len(self.entities) + len(self.edges)) // 2)
        # Compressed when long: removed ids share long prefixes (an entity and its edges).
        refs = _pack_refs((delta.observed_at, hashes, delta.removals, edge_hashes,
                           delta.edge_removals))
        if len(refs) >= _PACK_REFS_FROM:
            refs = self._pack(refs)
        return (delta.version, delta.timestamp, refs), bodies

    @staticmethod
    def write_delta(conn: sqlite3.Connection, row: tuple[int, float, bytes],
                    bodies: list[tuple[bytes, bytes]]) -> None:
        version = row[0]
        conn.executemany(_PUT_BODY, aside(((h, b, version) for h, b in sorted(bodies)),
                                          WRITER_STEP))
        conn.execute("INSERT OR REPLACE INTO deltas (version, ts, body, form) "
                     "VALUES (?, ?, ?, ?)", (*row, BY_REFERENCE))

    def keyframe_due(self, now: float) -> bool:
        if self._since_keyframe == 0:
            return False
        if self._since_keyframe >= self.keyframe_deltas or self._big_delta:
            return True
        if self._items_since_keyframe >= max(KEYFRAME_MIN_ITEMS,
                                             2 * (len(self.entities) + len(self.edges))):
            return True
        return self._keyframe_at is None or now - self._keyframe_at >= self.keyframe_seconds

    def write_keyframe(self, conn: sqlite3.Connection, now: float,
                       ts: float | None = None) -> None:
        """The recorded topology at its version, valid from `ts` (default: the time of the
        last delta followed): incremental when little changed since the last keyframe."""
        version = self.version
        ts = self.timestamp if ts is None else ts
        if self._lost:
            # What a lost batch did not write, before anything refers to it.
            for unwritten in self._unwritten:
                conn.executemany(_PUT_BODY, aside(((*item, version)
                                                   for item in sorted(unwritten.values())),
                                                  WRITER_STEP))
        if not self._write_incremental(conn, version, ts):
            entities, edges = list(self.entities.values()), list(self.edges.values())
            conn.executemany(_USE_BODY, aside(((version, h) for h in sorted(entities)),
                                              WRITER_STEP))
            conn.executemany(_USE_BODY, aside(((version, h) for h in sorted(edges)),
                                              WRITER_STEP))
            conn.execute("INSERT OR REPLACE INTO keyframes (version, ts, body, base) "
                         "VALUES (?, ?, ?, NULL)", (version, ts, _pack_refs((entities, edges))))
            self._incrementals = 0
            self._maybe_train(conn, len(entities) + len(edges))
        self._keyframed, self._keyframed_version = ({}, {}), version
        self._since_keyframe, self._items_since_keyframe, self._keyframe_at = 0, 0, now
        self._big_delta = False

    def _pack(self, data: bytes) -> bytes:
        """References compressed: with the trained dictionary, which holds ids like theirs."""
        return pack(data) if self._dictionary is None else pack_with(data, self._dictionary)

    def rolled_back(self) -> None:
        """A batch was not written: the keyframe it may have held is not there to build on,
        nor the dictionary it may have trained (no body kept in memory uses it yet)."""
        self._keyframed = None
        self._lost = True
        if self._unsaved_dictionary is not None:
            self.dictionaries.pop(self._unsaved_dictionary, None)
            latest = max(self.dictionaries, default=None)
            self._dictionary = (latest, self.dictionaries[latest]) if latest else None
            self._unsaved_dictionary = None

    def committed(self) -> None:
        """The batch is written, and with it every body followed so far."""
        self._unsaved_dictionary = None
        for unwritten in self._unwritten:
            unwritten.clear()
        self._lost = False

    def _maybe_train(self, conn: sqlite3.Connection, items: int) -> None:
        """A dictionary from the topology when there is none, or it has doubled since."""
        if items < 50 or len(self.dictionaries) >= MAX_DICTIONARIES or \
                (self._dictionary is not None and items < 2 * self._trained_on):
            return
        samples: list[tuple[str, bytes]] = []
        for prefix, table in (("e:", self.entities), ("c:", self.edges)):
            # Every n-th: a few thousand show the kinds that matter, and cost little. Read
            # back from the file: every body the topology uses is there (written by the
            # deltas or by this keyframe).
            for h in list(table.values())[::max(1, len(table) // TRAINING_SAMPLES)]:
                row = conn.execute("SELECT body FROM bodies WHERE hash = ?", (h,)).fetchone()
                if row is None:
                    continue
                body = unpack_body(row[0], self.dictionaries)
                samples.append((prefix + _kind_of.decode(body).kind, body))
        words = train(samples)
        number = max(self.dictionaries, default=0) + 1
        conn.execute("INSERT INTO dictionaries (id, body, items) VALUES (?, ?, ?)",
                     (number, words, items))
        self.dictionaries[number] = words
        self._dictionary, self._trained_on = (number, words), items
        self._unsaved_dictionary = number

    def _write_incremental(self, conn: sqlite3.Connection, version: int, ts: float) -> bool:
        """What changed since the last keyframe, when that is worth less than a full one."""
        before = self._keyframed
        if before is None or self._incrementals + 1 >= FULL_KEYFRAME_EVERY \
                or version <= self._keyframed_version:
            return False
        old_entities, old_edges = before
        new_entities = _changed(old_entities, self.entities)
        gone_entities = [eid for eid, h in old_entities.items()
                         if h is not None and eid not in self.entities]
        new_edges = _changed(old_edges, self.edges)
        gone_edges = [cid for cid, h in old_edges.items()
                      if h is not None and cid not in self.edges]
        changed = len(new_entities) + len(gone_entities) + len(new_edges) + len(gone_edges)
        if changed * 2 > len(self.entities) + len(self.edges):
            return False
        # Each body it refers to is used (last_used) by it.
        entity_hashes = [self.entities[eid] for eid in new_entities]
        edge_hashes = [self.edges[cid] for cid in new_edges]
        conn.executemany(_USE_BODY, aside(((version, h) for h in sorted(entity_hashes)),
                                          WRITER_STEP))
        conn.executemany(_USE_BODY, aside(((version, h) for h in sorted(edge_hashes)),
                                          WRITER_STEP))
        # Compressed: the removed ids (an edge's is its kind and both ends) are most of it.
        refs = self._pack(_pack_refs((entity_hashes, gone_entities, edge_hashes, gone_edges)))
        conn.execute("INSERT OR REPLACE INTO keyframes (version, ts, body, base) "
                     "VALUES (?, ?, ?, ?)", (version, ts, refs, self._keyframed_version))
        self._incrementals += 1
        return True

    # -- retention ---------------------------------------------------------------------------
    @staticmethod
    def prune(conn: sqlite3.Connection, cutoff: float) -> None:
        """Forget the topology before `cutoff`: the oldest moment kept becomes the last full
        keyframe or run start at or before it (nothing later loses its base: incremental
        keyframes after it build on it, and every body they or later deltas use was
        written, `last_used`, at or after it)."""
        runs = conn.execute("SELECT rowid, start_version, start_ts FROM runs WHERE start_ts <= ? "
                            "ORDER BY start_ts DESC LIMIT 1", (cutoff,)).fetchone()
        if runs is None:
            return
        rowid, base_version, base_ts = runs
        frame = conn.execute("SELECT version, ts FROM keyframes WHERE version >= ? AND ts <= ? "
                             "AND base IS NULL ORDER BY version DESC LIMIT 1",
                             (base_version, cutoff)).fetchone()
        if frame is not None and frame[0] > base_version:
            # The run now begins at that keyframe.
            base_version, base_ts = frame
            conn.execute("UPDATE runs SET start_version = ?, start_ts = ?, kind = 'resume' "
                         "WHERE rowid = ?", (base_version, base_ts, rowid))
        conn.execute("DELETE FROM runs WHERE start_ts < ?", (base_ts,))
        conn.execute("DELETE FROM deltas WHERE version <= ?", (base_version,))
        conn.execute("DELETE FROM keyframes WHERE version < ?", (base_version,))
        conn.execute("DELETE FROM bodies WHERE last_used < ?", (base_version,))


def _note_before(before: dict[str, bytes | None] | None, now: dict[str, bytes],
                 key: str) -> None:
    """Keep what `key` was at the last keyframe, the first time it changes after it."""
    if before is not None and key not in before:
        before[key] = now.get(key)


def _changed(before: dict[str, bytes | None], now: dict[str, bytes]) -> list[str]:
    """The keys present now whose hash is not the one they had at the last keyframe."""
    return [key for key, h in before.items() if (held := now.get(key)) is not None and held != h]
