"""An evaluation judges again only what changed or whose reading expired (engine/alerts/
judged.py), and its alerts are exactly those of judging everything every time: two alert
managers read one store, one judging what changed, the other every subject at each step,
and after each step their alerts (state, severity, message, labels, times) and the changes
they reported are the same. The clock is passed in; nothing sleeps.

Covered: a `for` that fires by the clock alone (2m), a pod pending too long (60 s, 300 s),
a counter whose rise leaves its window, a Docker crash loop that ends by the clock, an
anomaly that begins and ends in the detector without the entity changing, a source that
goes down (stale -> unknown) and comes back, entities and an edge that vanish (resolved,
or unknown while their source has not reported), then the project's synthetic world
churning through a real Hub for 150 steps."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.alerts import AlertManager, Change
from gestalt.engine.anomaly import ANOMALIES
from gestalt.engine.anomaly.model import DEFAULT_TUNING, UNUSUAL, Tuning
from gestalt.engine.counters import COUNTERS
from gestalt.engine.health import CHECKS
from gestalt.engine.history import History
from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import (
    Alert,
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Event,
    SourceState,
    SourceStatus,
)
from gestalt.model.config import AlertRule, AlertsConfig, Config, SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld

RULES = [AlertRule(name=c.id, check=c.id, for_=c.for_seconds) for c in CHECKS] + [
    AlertRule(name="cpu-2m", check="cpu", severity="critical", for_="2m")]


@pytest.fixture(autouse=True)
def fresh_globals() -> Iterator[None]:
    """The counters and the detector serve the whole process: start and end empty."""
    COUNTERS.clear()
    ANOMALIES.configure(Tuning(warmup=5, confirm=1), 100_000)
    ANOMALIES.reset()
    yield
    COUNTERS.clear()
    ANOMALIES.configure(DEFAULT_TUNING, 100_000)
    ANOMALIES.reset()


class Twins:
    """Two alert managers over one store: `judging` judges what changed, `full` every
    subject at every evaluation."""

    def __init__(self, tmp: Path, store: Store, statuses: Any) -> None:
        config = Config(alerts=AlertsConfig(rules=RULES))
        self.events: dict[str, list[Event]] = {"judging": [], "full": []}
        self.judging = AlertManager(config, store, History(tmp / "a.sqlite3"),
                                    statuses=statuses, emit=self.events["judging"].append)
        self.full = AlertManager(config, store, History(tmp / "b.sqlite3"),
                                 statuses=statuses, emit=self.events["full"].append)
        self.store = store

    def evaluate(self, now: float) -> dict[str, str]:
        """Both evaluate at `now`; their outcomes must be the same. {rule: state} of the
        alerts (the judging one's)."""
        changed = self.judging.evaluate(now)
        expected = self.full.evaluate(now, full=True)
        assert _changes(changed) == _changes(expected), now
        assert _alerts(self.judging.alerts()) == _alerts(self.full.alerts()), now
        assert _events(self.events["judging"]) == _events(self.events["full"]), now
        return {f"{a.rule}@{a.entity_id}": a.state for a in self.judging.alerts()}


def _changes(changes: list[Change]) -> set[tuple[str, str]]:
    return {(c.alert.id, c.what) for c in changes}


def _alerts(alerts: list[Alert]) -> dict[str, bytes]:
    return {a.id: msgspec.json.encode(a) for a in alerts}


def _events(events: list[Event]) -> list[tuple[str, str, str, float]]:
    return sorted((e.id, e.reason, e.message, e.timestamp) for e in events)


def _statuses(states: dict[str, SourceState], now: list[float]) -> Any:
    def statuses() -> list[SourceStatus]:
        return [SourceStatus(name=name, state=state, last_ok=now[0] if state is
                             SourceState.OK else None) for name, state in states.items()]

    return statuses


def container(name: str, **kw: Any) -> Entity:
    return Entity(id=f"container:{name}", kind=EntityKind.CONTAINER, name=name,
                  status=kw.pop("status", EntityStatus.RUNNING), sources=["docker"], **kw)


def pod(name: str, **kw: Any) -> Entity:
    return Entity(id=f"pod:c1/shop/{name}", kind=EntityKind.POD, name=name, namespace="shop",
                  status=kw.pop("status", EntityStatus.RUNNING), sources=["kubernetes"], **kw)


def test_judging_what_changed_fires_and_resolves_as_judging_everything(tmp_path: Path) -> None:
    t0 = datetime.now(UTC).timestamp()
    clock = [t0]
    states = {"docker": SourceState.OK, "kubernetes": SourceState.OK}
    store = Store()
    twins = Twins(tmp_path, store, _statuses(states, clock))
    iso = datetime.fromtimestamp(t0 - 2, UTC).isoformat()
    store.apply(upserts=[
        container("hot", cpu_percent=95.0),
        container("quiet", cpu_percent=5.0),
        container("looping", attrs={"restart_policy": "always", "restart_count": 2,
                                    "state": "running", "started_at": iso}),
        container("learned", cpu_percent=10.0),
        pod("waiting", status=EntityStatus.PENDING, created_at=t0),
        pod("restarting", attrs={"restart_count": 0}),
        pod("broken", status=EntityStatus.FAILED, attrs={"reason": "Error"}),
    ], edge_upserts=[Connection(source_id="container:quiet", target_id="container:hot",
                                kind=ConnectionKind.HTTP, error_rate=0.5)])
    edge = "edge_error_rate@" + next(iter(store.connections))
    seen: list[dict[str, str]] = []

    def step(seconds: float) -> dict[str, str]:
        clock[0] += seconds
        seen.append(twins.evaluate(clock[0]))
        return seen[-1]

    # The anomaly detector learns "learned" at 10 % CPU (5 samples), outside the store.
    for i in range(6):
        ANOMALIES.observe("container:learned", "cpu_percent", 10.0, t0 - 60 + i)
    now = step(0)
    assert now["cpu@container:hot"] == "pending"
    assert now["crash_loop@container:looping"] == "firing"
    assert now["failed@pod:c1/shop/broken"] == "firing"
    assert "restarts@pod:c1/shop/restarting" not in now

    store.apply(upserts=[pod("restarting", attrs={"restart_count": 3})])
    now = step(5)  # a rise of 3: at the rule's critical level, no `for`
    assert now["restarts@pod:c1/shop/restarting"] == "firing"
    # The crash loop ends by the clock alone (10 s after the last start).
    now = step(5)
    assert now["crash_loop@container:looping"] == "resolved"
    # `for` by the clock alone: 60 s (cpu), then 2m (cpu-2m); the pod pending over 60 s.
    now = step(55)
    assert now["cpu@container:hot"] == "firing"
    assert now["cpu-2m@container:hot"] == "pending"
    assert now["pending@pod:c1/shop/waiting"] == "firing"
    assert twins.judging.judged.last_judged < len(store.entities)  # not every subject
    now = step(60)
    assert now["cpu-2m@container:hot"] == "firing"
    assert now[edge] == "firing"

    # The detector finds "learned" unusual: no change in the store says so.
    ANOMALIES.observe("container:learned", "cpu_percent", 95.0, clock[0])
    assert ANOMALIES.unusual("container:learned")
    now = step(1)
    assert now["anomaly@container:learned"] == "firing"
    for i in range(3):
        ANOMALIES.observe("container:learned", "cpu_percent", 10.0, clock[0] + i)
    learned = ANOMALIES.model("container:learned", "cpu_percent")
    assert learned is not None and learned.state != UNUSUAL
    now = step(1)
    assert now["anomaly@container:learned"] == "resolved"

    # Docker goes down: its entities are put again, stale; their alerts are unknown.
    states["docker"] = SourceState.DOWN
    store.apply(upserts=[msgspec.structs.replace(e, stale=True)
                         for e in store.entities.values() if "docker" in e.sources])
    now = step(1)
    assert now["cpu@container:hot"] == "unknown"
    states["docker"] = SourceState.OK
    store.apply(upserts=[msgspec.structs.replace(e, stale=False)
                         for e in store.entities.values() if "docker" in e.sources])
    now = step(1)
    assert now["cpu@container:hot"] == "firing"

    # The rise of the restarts leaves its 10-minute window: resolved by the clock.
    now = step(600)
    assert now["restarts@pod:c1/shop/restarting"] == "resolved"
    assert now["pending@pod:c1/shop/waiting"] == "firing"

    # Vanishing: the failed pod (its source has reported: resolved), the hot container
    # while Docker is starting again (unknown), and with it the edge to it.
    states["docker"] = SourceState.STARTING
    store.apply(removals=["pod:c1/shop/broken", "container:hot"])
    now = step(1)
    assert now["failed@pod:c1/shop/broken"] == "resolved"
    assert now["cpu@container:hot"] == "unknown"
    assert now[edge] == "resolved"
    states["docker"] = SourceState.OK
    now = step(1)
    assert now["cpu@container:hot"] == "resolved"
    # A quiet evaluation judges (almost) nothing: the one pending pod, whose reading
    # moves with the clock.
    now = step(1)
    assert twins.judging.judged.last_judged == 1


def test_judging_what_changed_matches_judging_everything_under_churn(tmp_path: Path) -> None:
    world = SyntheticWorld(SyntheticCollector(enabled=True, entities=400, edges=400, seed=11))
    store = Store()
    hub = Hub(store)
    sink = hub.sink("synthetic")
    twins = Twins(tmp_path, store, lambda: list(hub.statuses.values()))
    sink.status(SourceState.OK)
    sink.snapshot(world.entities.values(), world.connections.values())
    rng = random.Random(5)
    clock = datetime.now(UTC).timestamp()
    fired = resolved = unknown = 0
    judged = []
    for index in range(150):
        for _ in range(rng.randrange(0, 12)):
            world.churn()
        sink.snapshot(world.entities.values(), world.connections.values())
        if index % 60 == 30:
            sink.status(SourceState.DOWN, "flap")
        elif index % 60 == 35:
            sink.status(SourceState.OK)
        clock += rng.choice((0.5, 1.0, 1.0, 2.0, 7.0, 31.0))
        states = twins.evaluate(clock)
        judged.append(twins.judging.judged.last_judged)
        fired += sum(s == "firing" for s in states.values())
        resolved += sum(s == "resolved" for s in states.values())
        unknown += sum(s == "unknown" for s in states.values())
    # Enough of each outcome to mean something, and most subjects left alone.
    assert fired and resolved and unknown, (fired, resolved, unknown)
    subjects = len(store.entities) + len(store.connections)
    assert sorted(judged)[len(judged) // 2] < subjects / 4, (judged, subjects)


def test_nothing_is_collected_for_an_evaluation_that_never_runs(tmp_path: Path) -> None:
    """With alerts disabled nobody takes what changed: the store must not keep every id
    that ever changed for it (pods are replaced all day long)."""
    world = SyntheticWorld(SyntheticCollector(enabled=True, entities=300, edges=300, seed=3))
    store = Store()
    twins = Twins(tmp_path, store, lambda: [])
    sink = Hub(store).sink("synthetic")
    sink.status(SourceState.OK)
    for _ in range(50):
        world.churn()
        sink.snapshot(world.entities.values(), world.connections.values())
    assert store.footprint()["touched"] == 0
    clock = datetime.now(UTC).timestamp()
    twins.evaluate(clock)  # from the first evaluation on, changes are collected and taken
    world.churn()
    sink.snapshot(world.entities.values(), world.connections.values())
    assert store.footprint()["touched"] > 0
    twins.evaluate(clock + 1)
    assert store.footprint()["touched"] == 0
