"""What the live graph costs in memory: the store's JSON in blocks (engine/blocks.py), a
snapshot, giving freed memory back, connections' empty containers."""

from __future__ import annotations

import asyncio
import json
import platform
import random
import tracemalloc
from pathlib import Path

import msgspec
import pytest

from gestalt.engine import blocks as blocks_module
from gestalt.engine import cost_book, history_writer, memory, runtime
from gestalt.engine import store as store_module
from gestalt.engine.blocks import Blocks
from gestalt.engine.hub import Hub
from gestalt.engine.runtime import Engine
from gestalt.engine.store import Store
from gestalt.model.config import Config, ServerConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticSource, SyntheticWorld
from tests.support.wait import eventually

WORLD = SyntheticWorld(SyntheticCollector(entities=10_000, edges=20_000))


def document(parts: list[bytes]) -> list[object]:
    return json.loads(b"[" + b",".join(parts) + b"]")


def test_the_parts_are_every_item_as_it_is_now_whatever_was_put_and_removed() -> None:
    blocks: Blocks[object] = Blocks(size=50)
    entities = list(WORLD.entities.values())[:400]
    rng = random.Random(7)
    held: dict[str, object] = {}
    for step in range(3000):
        entity = rng.choice(entities)
        if entity.id in held and rng.random() < 0.5:
            blocks.remove(entity.id)
            del held[entity.id]
        else:
            blocks.put(entity.id, entity)
            held[entity.id] = entity
        if step % 500 == 0:
            parts = blocks.parts()
            assert sorted(document(parts), key=str) == \
                sorted(msgspec.to_builtins(list(held.values())), key=str)
            assert len(parts) <= len(held) // 50 + 9  # removals leave room, refilled first
    assert len(blocks) == len(held)
    assert sorted(json.loads(b) == msgspec.to_builtins(held[json.loads(b)["id"]])
                  for b in blocks.each()) == [True] * len(held)


def test_churn_encodes_again_only_the_block_it_touched() -> None:
    blocks: Blocks[object] = Blocks(size=100)
    entities = list(WORLD.entities.values())[:1000]
    for entity in entities[:900]:
        blocks.put(entity.id, entity)
    before = blocks.parts()
    # A pod replaced: one gone, another come (into the room the first one left).
    blocks.remove(entities[450].id)
    blocks.put(entities[950].id, entities[950])
    after = blocks.parts()
    assert len(after) == len(before) == 9
    assert sum(a is not b for a, b in zip(before, after, strict=True)) == 1
    assert blocks.parts() == after and all(a is b for a, b in zip(blocks.parts(), after,
                                                                  strict=True))


def test_a_snapshot_at_10k_entities_costs_little_above_its_own_json(tmp_path: Path) -> None:
    """The store's JSON used to be one bytes object per item (each with msgspec's spare
    room) plus a cached copy of the whole document: 2.6 times the JSON itself."""
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
    entities, connections = list(WORLD.entities.values()), list(WORLD.connections.values())
    tracemalloc.start()
    try:
        engine.store.apply(upserts=entities, edge_upserts=connections)
        parts = engine.topology_parts()
        size = sum(map(len, parts))
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    wanted = {module.__file__ for module in (store_module, blocks_module, runtime)}
    held = sum(stat.size for stat in snapshot.statistics("filename")
               if stat.traceback[0].filename in wanted)
    assert json.loads(b"".join(parts))["entities"]
    print(f"held {held} for {size} bytes of JSON: {held / size:.2f}")
    assert held < 1.8 * size, (held, size)


def test_memory_goes_back_after_a_large_commit_or_many_small_ones(tmp_path: Path) -> None:
    assert memory.release() is (platform.libc_ver()[0] == "glibc")

    async def run() -> None:
        engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
        engine.releaser.settle = 0.01
        store = engine.store
        entities = list(WORLD.entities.values())
        before = memory.trims
        store.apply(upserts=entities[:999])  # not large: nothing to give back
        await asyncio.sleep(0.05)
        assert memory.trims == before
        store.apply(upserts=entities[999:1001])  # with the earlier ones: 1,001 items
        store.apply(upserts=entities[1001:3001])  # a burst: one release
        await eventually(lambda: memory.trims == before + 1, what="a release")
        await asyncio.sleep(0.05)
        assert memory.trims == before + 1
        store.apply(upserts=entities[3001:5001])
        await eventually(lambda: memory.trims == before + 2, what="the next release")

    if platform.libc_ver()[0] == "glibc":
        asyncio.run(run())


def test_store_alone_keeps_its_json_current() -> None:
    store = Store()
    entities = list(WORLD.entities.values())[:3]
    store.apply(upserts=entities)
    store.apply(removals=[entities[0].id])
    assert document(store.entity_json.parts()) == msgspec.to_builtins(entities[1:])


def test_decoded_entities_with_the_same_sources_share_one_list_of_them() -> None:
    """A hub's site mirrors decode every entity their agents publish, each with its
    `["synthetic"]`: 100,000 lists at 10 sites of 10,000 entities, which the garbage
    collector's full passes walked. They are values, so they share, as the empty ones."""
    from gestalt.model.federation import decode_connection, decode_entity

    published = [msgspec.json.encode(msgspec.structs.replace(e, sources=["synthetic"]))
                 for e in list(WORLD.entities.values())[:2]]
    a, b = (decode_entity(msgspec.Raw(body)) for body in published)
    assert a.sources == ["synthetic"] and a.sources is b.sources
    edge = msgspec.structs.replace(next(iter(WORLD.connections.values())),
                                   sources=["docker", "otlp"])
    decoded = decode_connection(msgspec.Raw(msgspec.json.encode(edge)))
    assert decoded.sources == ["docker", "otlp"] and decoded.sources is edge.sources
    # The hub's merged views pass their owners as a tuple: the same list.
    from gestalt.model.entities import shared_sources
    assert shared_sources(("docker", "otlp")) is edge.sources


def test_entities_and_connections_share_their_empty_containers() -> None:
    """msgspec gives each struct its own empty dict and list for `{}` and `[]` defaults:
    120 bytes an edge, more for an entity. They are values, so they share."""
    from gestalt.model import entities

    plain = [c for c in WORLD.connections.values() if not c.attrs and not c.sources]
    assert len(plain) > 1000
    assert len({id(c.attrs) for c in plain}) == 1 and len({id(c.sources) for c in plain}) == 1
    decoded = msgspec.json.decode(msgspec.json.encode(plain[0]), type=type(plain[0]))
    assert decoded.attrs is plain[0].attrs and msgspec.json.encode(decoded) == \
        msgspec.json.encode(plain[0]) and b"attrs" not in msgspec.json.encode(decoded)
    pods = [e for e in WORLD.entities.values() if e.kind.value == "pod"]
    assert pods[0].annotations is pods[1].annotations is pods[0].custom_metrics
    assert pods[0].endpoints is pods[1].health_reasons is plain[0].sources
    # The hub and the store, fed a churning world, never change them in place.
    world = SyntheticWorld(SyntheticCollector(entities=300, edges=600, seed=5))
    source = SyntheticSource(SyntheticCollector(entities=300, edges=600, seed=5))
    source.world = world
    store = Store()
    sink = Hub(store).sink("synthetic")
    source.report(sink)
    for _ in range(300):
        source.step(sink)
    assert store.version > 100
    assert entities.EMPTY_DICT == {} and entities.EMPTY_LIST == []


def test_recording_and_pricing_a_whole_map_give_their_temporaries_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history writer records a large change, and the cost book prices a whole map,
    seconds after the engine's own release (in threads, on a busy machine): each gives back
    what it freed (bench/server_rss.py's loaded reading: 101 -> 99 MB); a small change
    does not trim."""
    released: list[str] = []
    for module in (history_writer, cost_book):
        monkeypatch.setattr(module, "release", lambda name=module.__name__: released.append(name))

    async def run() -> None:
        engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
        engine.releaser.settle = 3600.0  # the engine's own release stays out of the way
        entities = list(WORLD.entities.values())
        await engine.start()
        try:
            engine.store.apply(upserts=entities[:10])
            await engine.history.flushed()
            assert "gestalt.engine.history_writer" not in released
            engine.store.apply(upserts=entities[10:3010])
            await engine.history.flushed()
            assert "gestalt.engine.history_writer" in released
            await engine.cost.book.keep_up()  # its first look: the whole map
            assert "gestalt.engine.cost_book" in released
        finally:
            await engine.stop()

    asyncio.run(run())
