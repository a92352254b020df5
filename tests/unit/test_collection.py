"""The garbage collector in `gestalt serve` (engine/collection.py): long-lived objects
found by a full pass are frozen out of the next ones, garbage is never frozen, and what
was frozen and died in a cycle is collected after a thaw."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gestalt.engine.collection import Collection


class Node:
    """An object that can be in a reference cycle and be watched (weakref)."""

    def __init__(self) -> None:
        self.me: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    node = Node()
    node.me = node
    return node, weakref.ref(node)


@pytest.fixture
def collection() -> Iterator[Collection]:
    gc.unfreeze()  # whatever an earlier test froze: this one counts from nothing
    gc.collect()
    # Frozen at 50,000 survivors more than this process holds already.
    watched = Collection(freeze_at=len(gc.get_objects()) + 50_000)
    watched.install()
    try:
        yield watched
    finally:
        watched.uninstall()
        gc.unfreeze()


def test_a_full_pass_over_many_survivors_freezes_them_and_the_next_passes_skip_them(
        collection: Collection) -> None:
    # Long-lived containers, as a map's entities' lists (sources, endpoints, reasons).
    kept = [[str(i)] for i in range(60_000)]
    node, alive = cycle()
    del node  # garbage in a cycle: the pass must collect it, not freeze it
    gc.collect()
    assert alive() is None
    assert collection.freezes == 1
    assert gc.get_freeze_count() >= len(kept)
    # Counted as they were frozen (the callback's own few objects are frozen too).
    assert abs(collection.frozen() - gc.get_freeze_count()) < 100
    pauses = collection.pauses
    assert pauses.count[2] >= 1 and pauses.longest[2] > 0 and pauses.cpu_seconds[2] > 0
    # The next full pass walks what lived long since, not the map.
    gc.collect()
    assert len(gc.get_objects(generation=2)) < len(kept)
    assert collection.freezes == 1  # too few new survivors to freeze again


def test_few_survivors_are_not_frozen(collection: Collection) -> None:
    kept = [[str(i)] for i in range(1_000)]
    gc.collect()
    assert collection.freezes == 0 and gc.get_freeze_count() == 0
    assert kept


def test_what_was_frozen_and_died_in_a_cycle_is_collected_after_a_thaw(
        collection: Collection) -> None:
    collection.freeze_at = 1
    node, alive = cycle()
    gc.collect()  # the node survives, and is frozen with the rest
    assert collection.freezes == 1
    del node
    gc.collect()
    assert alive() is not None  # frozen: a full pass leaves it alone
    collection.thaw_after = 0.0
    gc.collect()  # thaws what is frozen, at its end
    assert collection.thaws == 1 and gc.get_freeze_count() == 0 and collection.frozen() == 0
    gc.collect()
    assert alive() is None


def test_reading_the_count_of_frozen_objects_does_not_walk_them(
        collection: Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    """/metrics reads it on the event loop at every scrape, and `gc.get_freeze_count()`
    walks every frozen object (46 ms for a hub's 700,000 on an idle core)."""
    kept = [[str(i)] for i in range(60_000)]
    gc.collect()
    assert collection.freezes == 1

    def walk() -> int:
        raise AssertionError("gc.get_freeze_count() walks every frozen object")

    monkeypatch.setattr(gc, "get_freeze_count", walk)
    assert collection.frozen() >= len(kept)


async def test_a_bulk_change_is_followed_by_a_full_pass_that_freezes_its_survivors(
        collection: Collection) -> None:
    """A site handed over whole (a delta of `bulk` entities) is frozen by a pass right after
    it, however few objects survive: later passes do not walk it again and again."""
    import asyncio

    from gestalt.engine.store import Store
    from gestalt.model import Entity, EntityKind

    store = Store(ring_size=10)
    store.subscribe(collection.committed)
    collection.bulk = 1_000
    store.apply(upserts=[Entity(id=f"pod:x/{i}", kind=EntityKind.POD, name=str(i),
                                endpoints=[f"10.0.0.1:{i}"]) for i in range(999)])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert collection.settles == 0  # below bulk: CPython's own passes as ever
    node, alive = cycle()
    del node  # garbage of the commit's making: collected by the pass, never frozen
    store.apply(upserts=[Entity(id=f"pod:y/{i}", kind=EntityKind.POD, name=str(i),
                                endpoints=[f"10.0.0.2:{i}"]) for i in range(1_000)])
    assert collection.settles == 0  # not inside the commit: after it, on the loop
    await asyncio.sleep(0)
    assert collection.settles == 1 and collection.freezes == 1
    assert alive() is None
    # The map's own containers (endpoints of 1,999 entities) are out of later passes.
    assert gc.get_freeze_count() >= 1_999
    endpoints = store.entities["pod:y/7"].endpoints
    assert gc.is_tracked(endpoints)
    assert not any(endpoints in gc.get_objects(generation=g) for g in range(3))
