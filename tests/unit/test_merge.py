"""The field merge (engine/merge.py): addition over values, with a written precedence.

The views are what the Docker and Kubernetes sources really emit (tests/fixtures/captured),
made to describe one container, as they do when a pod's container runs on a Docker engine.
"""

from __future__ import annotations

import copy
import itertools

import msgspec

from gestalt.engine.hub import Hub
from gestalt.engine.merge import combine_edges, merge_entity, reported_health
from gestalt.engine.registry import SOURCES, precedence
from gestalt.engine.store import Store
from gestalt.model import Connection, ConnectionKind, Entity, Health, SourceState
from tests.support.captured import first_view

KUBERNETES = first_view("kubernetes", "container")
# The same container as Docker sees it: one real thing, one id.
DOCKER = msgspec.structs.replace(first_view("docker", "container"), id=KUBERNETES.id)


def test_identity_is_the_first_sources_and_later_sources_fill_in_and_win_conflicts() -> None:
    merged = merge_entity(["docker", "kubernetes"], [DOCKER, KUBERNETES])
    assert (merged.id, merged.kind, merged.name) == (DOCKER.id, DOCKER.kind, DOCKER.name)
    assert merged.sources == ["docker", "kubernetes"]
    assert merged.namespace == KUBERNETES.namespace  # Docker says nothing: filled in
    assert merged.status == KUBERNETES.status  # both say: the later one wins
    assert merged.attrs == {**DOCKER.attrs, **KUBERNETES.attrs}  # maps combine key by key
    assert merged.labels == DOCKER.labels


def test_merging_changes_no_view_and_gives_the_same_answer_every_time() -> None:
    views = [DOCKER, KUBERNETES]
    before = copy.deepcopy(views)
    first = merge_entity(["docker", "kubernetes"], views, [{"cpu_percent": 3.0}])
    again = merge_entity(["docker", "kubernetes"], views, [{"cpu_percent": 3.0}])
    assert first == again
    assert views == before


def test_a_view_that_says_nothing_more_adds_nothing() -> None:
    alone = merge_entity(["docker"], [DOCKER])
    bare = Entity(id=DOCKER.id, kind=DOCKER.kind, name="checkout")
    with_bare = merge_entity(["docker", "otlp"], [DOCKER, bare])
    assert msgspec.structs.replace(with_bare, sources=["docker"]) == alone


def test_lists_are_united_in_order_and_metrics_laid_over() -> None:
    a = msgspec.structs.replace(DOCKER, endpoints=["172.17.0.5", "172.17.0.5:80"])
    b = msgspec.structs.replace(KUBERNETES, endpoints=["10.1.0.7", "172.17.0.5"])
    merged = merge_entity(["docker", "kubernetes"], [a, b],
                          [{"cpu_percent": 1.5}, {"cpu_percent": 2.5, "error_rate": 0.25}])
    assert merged.endpoints == ["172.17.0.5", "172.17.0.5:80", "10.1.0.7"]
    assert merged.cpu_percent == 2.5
    assert merged.custom_metrics == {"error_rate": 0.25}


def test_the_worst_health_a_source_reported_is_kept_with_its_reasons() -> None:
    sick = msgspec.structs.replace(KUBERNETES, health_status=Health.CRITICAL,
                                   health_reasons=["OOMKilled"])
    assert reported_health([DOCKER, sick]) == (Health.CRITICAL, ["OOMKilled"])
    assert reported_health([DOCKER]) == (Health.UNKNOWN, [])


def test_an_edge_takes_each_figure_from_the_first_source_that_has_it() -> None:
    first = Connection(source_id="a", target_id="b", kind=ConnectionKind.NETWORK,
                       latency_ms=3.0, attrs={"protocol": "sql"})
    second = Connection(source_id="a", target_id="b", kind=ConnectionKind.NETWORK,
                        latency_ms=9.0, requests_per_sec=4.0, attrs={"protocol": "pg", "db": "x"})
    edge = combine_edges(first.id, "a", "b", [first, second])
    assert (edge.latency_ms, edge.requests_per_sec) == (3.0, 4.0)
    assert edge.attrs == {"protocol": "sql", "db": "x"}


def test_precedence_is_the_registry_order_then_other_names_alphabetically() -> None:
    names = [spec.name for spec in SOURCES]
    assert sorted(reversed(names), key=precedence) == names
    assert sorted(["zeta", "alpha", "host"], key=precedence) == ["host", "alpha", "zeta"]


def test_the_hub_merges_the_same_whatever_order_sources_start_and_report_in() -> None:
    results = set()
    for order in itertools.permutations([("kubernetes", KUBERNETES), ("docker", DOCKER),
                                         ("otlp", Entity(id=DOCKER.id, kind=DOCKER.kind,
                                                         name="checkout"))]):
        store = Store()
        hub = Hub(store)
        for source, _ in order:
            hub.sink(source).status(SourceState.OK)
        for source, view in order:
            hub.sink(source).snapshot([view])
        hub.sink(order[0][0]).snapshot([order[0][1]])  # the same observation again
        results.add(msgspec.json.encode(store.entities[DOCKER.id]))
        assert store.version == 3  # one version per source's first view, none for the repeat
        assert store.entities[DOCKER.id].name == DOCKER.name  # Docker precedes otlp
    assert len(results) == 1
