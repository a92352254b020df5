"""The synthetic source as the hub sees it."""

from __future__ import annotations

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import Delta, EntityKind
from gestalt.model.config import SyntheticCollector
from gestalt.sources.synthetic import SyntheticSource, SyntheticWorld


def test_first_report_is_one_fresh_delta() -> None:
    """Reported while the source is still starting, the world would be shown stale and
    then merged, scored and encoded a second time when the source turned OK."""
    store = Store(ring_size=10)
    deltas: list[Delta] = []
    store.subscribe(deltas.append)
    hub = Hub(store)
    config = SyntheticCollector(entities=300, edges=600, seed=5)
    source = SyntheticSource(config)
    source.world = SyntheticWorld(config)
    source.report(hub.sink(source.name))
    assert len(deltas) == 1
    assert len(deltas[0].upserts) == len(source.world.entities)
    assert not any(e.stale for e in store.entities.values())


def test_entities_with_the_same_attributes_share_one_dict() -> None:
    """Memory at 10,000 entities: a dict of attributes per entity was 1.2 MB, though most
    entities have none but `simulated` (a pod's own are its own)."""
    world = SyntheticWorld(SyntheticCollector(entities=2000, edges=3000, seed=5))
    for _ in range(200):
        world.churn()  # new pods and containers, restarts
    entities = list(world.entities.values())
    assert all(e.attrs.get("simulated") is True for e in entities)
    pods = [e for e in entities if e.kind is EntityKind.POD]
    others = [e for e in entities if e.kind is not EntityKind.POD]
    distinct = {id(e.attrs) for e in others}
    assert len(distinct) == len({tuple(e.attrs.items()) for e in others})
    assert len(distinct) < len(others) / 4, (len(distinct), len(others))
    assert len({id(e.attrs) for e in pods}) == len(pods)


def test_replaced_pods_take_their_connections_along_and_bring_their_own() -> None:
    """The world's index of each pod's connections stays the world's connections through
    churn (a pod replaced reads its own connections from it, not every connection's)."""
    world = SyntheticWorld(SyntheticCollector(entities=500, edges=1000, seed=3))
    replaced = 0
    for _ in range(400):
        upserts, edges, removals, edge_removals, _ = world.churn()
        if removals:
            replaced += 1
            new_pod = upserts[0].id
            assert {e.id for e in edges} == {
                c.id for c in world.connections.values() if new_pod in (c.source_id, c.target_id)}
            assert all(c not in world.connections for c in edge_removals)
    assert replaced > 50
    for pod in world.pods:
        assert world.pod_edges(pod) == [c for c in world.connections.values()
                                        if pod in (c.source_id, c.target_id)]
    # Nothing indexed for pods that are gone.
    assert set(world._pod_edges) == set(world.pods)


def test_two_runs_of_one_world_name_their_events_apart() -> None:
    """The history keeps events by id: a restarted server's synthetic events, numbered from 1
    again, overwrote the last run's (a "BackOff" row became another pod's "Started")."""
    config = SyntheticCollector(entities=300, edges=600, seed=5, churn_per_second=50)

    def event_ids(world: SyntheticWorld) -> set[str]:
        ids: set[str] = set()
        while len(ids) < 5:
            ids.update(e.id for e in world.churn()[4])
        return ids

    first, second = SyntheticWorld(config), SyntheticWorld(config)
    assert set(first.entities) == set(second.entities)  # the same world...
    assert not event_ids(first) & event_ids(second)  # ...and events of their own
