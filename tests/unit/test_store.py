"""The versioned store and its delta ring."""

from __future__ import annotations

from gestalt.engine.hub import Hub
from gestalt.engine.scoring import summarize
from gestalt.engine.store import Store
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticSource, SyntheticWorld


def ent(eid: str) -> Entity:
    return Entity(id=eid, kind=EntityKind.POD, name=eid)


def test_versions_and_resume_from_the_ring() -> None:
    store = Store(ring_size=3)
    for i in range(5):
        store.apply(upserts=[ent(f"p{i}")])
    assert store.version == 5
    assert [d.version for d in store.deltas_since(3) or []] == [4, 5]
    assert store.deltas_since(5) == []
    assert store.oldest_resumable == 2
    assert store.deltas_since(1) is None  # older than the ring: a snapshot is needed
    assert store.deltas_since(9) is None  # from the future (another server's version)


def test_a_continued_log_resumes_nothing_of_the_earlier_run() -> None:
    store = Store()
    store.continue_log("abc", 7)
    assert (store.log_id, store.version) == ("abc", 7)
    assert store.deltas_since(7) is None  # the earlier run's map: only a snapshot is true
    store.apply(upserts=[ent("p")])
    store.apply(upserts=[ent("q")])
    assert store.deltas_since(7) is None
    assert [d.version for d in store.deltas_since(8) or []] == [9]
    assert [d.version for d in store.recent()] == [8, 9]


def test_nothing_changed_means_no_delta() -> None:
    store = Store()
    assert store.apply() is None
    assert store.apply(removals=["nope"], edge_removals=["nope"]) is None
    assert store.version == 0


def test_incomplete_edges_are_refused_and_removing_an_entity_removes_its_edges() -> None:
    store = Store()
    edge = Connection(source_id="a", target_id="b", kind=ConnectionKind.HTTP)
    delta = store.apply(upserts=[ent("a")], edge_upserts=[edge])
    assert delta is not None and delta.edge_upserts == []
    store.apply(upserts=[ent("b")], edge_upserts=[edge])
    assert edge.id in store.connections
    delta = store.apply(removals=["b"])
    assert delta is not None and delta.edge_removals == [edge.id]
    assert store.edges_of("a") == ()


def test_summary_kept_current_equals_one_made_afresh() -> None:
    """The store's running sums of health go up and down with every change; after a churn
    of replacements, restarts and metric moves they match a summary of the entities."""
    store = Store(ring_size=10)
    hub = Hub(store)
    config = SyntheticCollector(entities=400, edges=800, seed=3)
    source = SyntheticSource(config)
    source.world = SyntheticWorld(config)
    sink = hub.sink(source.name)
    source.report(sink)
    for _ in range(1500):
        source.step(sink)
    assert store.summary() == summarize(store.entities.values())
    assert store.summary().total == len(store.entities)
    sink.snapshot([], [])
    assert store.summary() == summarize([])
