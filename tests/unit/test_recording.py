"""The recorder keeps the recorded topology as hashes; a body a lost batch did not write
is written by the keyframe that follows, before anything refers to it."""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from gestalt.engine import compression
from gestalt.engine.compression import MEM_LEVEL, pack, pack_with, train, unpack, unpack_body
from gestalt.engine.history_layout import migrate
from gestalt.engine.recording import (
    HASH_BYTES,
    WRITER_STEP,
    Recorder,
    body_of,
    keyframe_refs,
)
from gestalt.model import Connection, ConnectionKind, Delta, Entity, EntityKind
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld

NOW = time.time()


def _recording(tmp_path: Path) -> tuple[sqlite3.Connection, Recorder]:
    """A history database with a run started, and its recorder."""
    path = tmp_path / "h.sqlite3"
    conn = sqlite3.connect(path)
    migrate(conn, path)
    recorder = Recorder()
    with conn:
        recorder.start_run(conn, 0, NOW)
    return conn, recorder


def _site_picture(entities: int) -> Delta:
    """A site's first picture: a synthetic world of `entities` (and as many edges)."""
    world = SyntheticWorld(SyntheticCollector(entities=entities, edges=entities, cluster="east"))
    return Delta(version=1, timestamp=NOW, upserts=list(world.entities.values()),
                 edge_upserts=list(world.connections.values()))


def test_hashes_only_and_a_lost_batch_is_written_by_the_next_keyframe(tmp_path: Path) -> None:
    conn, recorder = _recording(tmp_path)
    pods = [Entity(id=f"pod:c/ns/p{i}", kind=EntityKind.POD, name=f"p{i}") for i in range(3)]
    edge = Connection(source_id=pods[0].id, target_id=pods[1].id, kind=ConnectionKind.HTTP)
    row, bodies = recorder.follow(Delta(version=1, timestamp=NOW, upserts=pods[:2],
                                        edge_upserts=[edge]))
    with conn:
        recorder.write_delta(conn, row, bodies)
    recorder.committed()
    # Memory: the bodies are in the file, not kept (4 MB at 10,000 entities, 20,000 edges).
    held = [*recorder.entities.values(), *recorder.edges.values()]
    assert len(held) == 3 and all(len(h) == HASH_BYTES for h in held)

    # A batch lost (a full disk): its delta was followed, nothing of it written.
    recorder.follow(Delta(version=2, timestamp=NOW + 1, upserts=[pods[2]],
                          edge_removals=[edge.id]))
    recorder.rolled_back()
    assert conn.execute("SELECT COUNT(*) FROM bodies").fetchone() == (3,)
    with conn:
        recorder.resume_run(conn, NOW + 1, NOW + 2)  # a keyframe of the present
    recorder.committed()
    (body,) = conn.execute("SELECT body FROM keyframes ORDER BY version DESC").fetchone()
    entity_hashes, edge_hashes = keyframe_refs(body)
    in_file = {h for (h,) in conn.execute("SELECT hash FROM bodies WHERE last_used = 2")}
    assert len(entity_hashes) == 3 and edge_hashes == []
    assert set(entity_hashes) <= in_file
    conn.close()


def test_bodies_packed_by_a_primed_copy_are_those_a_fresh_compressor_makes() -> None:
    """Each body is packed by a copy of one compressor that took in the dictionary (not a
    new compressor per body): the bytes are the same, and each body unpacks alone."""
    world = SyntheticWorld(SyntheticCollector(entities=300, edges=300, cluster="east"))
    bodies = [body_of(e) for e in world.entities.values()] + \
        [body_of(c) for c in world.connections.values()]
    words = train((str(e.kind), body_of(e)) for e in world.entities.values())
    for body in bodies:
        fresh = zlib.compressobj(6, zlib.DEFLATED, -15, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                                 words)
        packed = pack_with(body, (7, words))
        assert packed == bytes((7,)) + fresh.compress(body) + fresh.flush()
        assert unpack_body(packed, {7: words}) == body
        assert unpack(pack(body)) == body


def test_a_bodys_packer_keeps_deflates_state_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each body is packed by a copy of a primed compressor, and the copy allocates
    deflate's whole state. Arrays of 128 KiB (memLevel 9: the hash heads and the pending
    buffer) were mapped and unmapped by glibc for every body (`gestalt serve` keeps the mmap
    threshold at 128 KiB), 64 KiB ones (memLevel 8) made it trim the heap's top and fault
    it back in: 130-275 us a body against 10-15 us at 16 KiB, on history's writer thread,
    competing with the event loop for the GIL (compression.MEM_LEVEL)."""
    made: list[int] = []
    real = zlib.compressobj

    def recorded(level: int, method: int, wbits: int, mem_level: int,
                 *rest: object) -> object:
        made.append(mem_level)
        return real(level, method, wbits, mem_level, *rest)  # type: ignore[arg-type]

    compression._primed.cache_clear()
    monkeypatch.setattr(zlib, "compressobj", recorded)
    try:
        assert unpack(pack(b'{"id":"pod:c/ns/p"}')) == b'{"id":"pod:c/ns/p"}'
        pack_with(b'{"id":"pod:c/ns/p"}', (7, b'{"kind":"pod","id":"pod:'))
    finally:
        compression._primed.cache_clear()
    assert len(made) == 2
    # deflate's hash heads: 2^(memLevel+7) of 2 bytes; pending: 2^(memLevel+6) of 4 bytes.
    assert all(2 ** (level + 8) <= 16 * 1024 for level in made), made


def test_the_writer_hands_the_gil_over_as_it_packs_and_writes_a_sites_picture(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """History's writer thread packs and writes every body of each site's first picture
    (28,000 a site at the issue's scale). Holding the GIL through it, while zlib and SQLite
    let it go and take it back at every body, the writer left the event loop the GIL so
    rarely that the sites' messages waited hundreds of milliseconds (bench/federation.py
    --full measures that); this checks the mechanism: a hand-over (engine/aside.py) every
    WRITER_STEP bodies packed, and every WRITER_STEP rows written."""
    conn, recorder = _recording(tmp_path)
    picture = _site_picture(1000)
    handed: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        handed.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)  # the module engine/aside.py calls
    row, bodies = recorder.follow(picture)
    assert len(bodies) > 1500
    assert len(handed) >= len(bodies) // WRITER_STEP - 2  # the entities', then the edges'
    packing = len(handed)
    with conn:
        recorder.write_delta(conn, row, bodies)
    assert len(handed) - packing >= len(bodies) // WRITER_STEP
    conn.close()


class _Written:
    """A connection that notes the rows of each statement, and passes them on."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[tuple[object, ...]]] = {}

    def executemany(self, sql: str, rows: Iterable[tuple[object, ...]]) -> sqlite3.Cursor:
        listed = list(rows)
        self.rows.setdefault(sql.split()[0] + " " + sql.split()[1], []).extend(listed)
        return self.conn.executemany(sql, listed)

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        return self.conn.execute(sql, *args)


def test_bodies_are_written_and_marked_used_in_the_order_of_their_hashes(
        tmp_path: Path) -> None:
    """The bodies table is keyed by hash: written in the order they came, a site's first
    picture went to random pages, most of them outside the writer's small page cache
    (25-35 us a body against 8-11 in hash order, at a few sites of 28,000 bodies)."""
    conn, recorder = _recording(tmp_path)
    row, bodies = recorder.follow(_site_picture(300))
    written = _Written(conn)
    with conn:
        recorder.write_delta(written, row, bodies)  # type: ignore[arg-type]
        recorder.write_keyframe(written, NOW)  # type: ignore[arg-type]
    put = [r[0] for r in written.rows["INSERT INTO"]]
    used = [r[1] for r in written.rows["UPDATE bodies"]]
    assert len(put) == len(bodies) and put == sorted(put)
    # The keyframe's marks, entities' then edges': each in order.
    entities = [h for h in used if h in set(recorder.entities.values())]
    assert entities and entities == sorted(entities)
    conn.close()
