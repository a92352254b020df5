"""An evaluation reads each rule's check on every subject each second and makes a verdict
(level, words) only for those at the rule's level. The observations are exactly those of
judging every subject in full (engine/health.py `judge`), for warning and critical rules,
with and without thresholds of their own, over a synthetic world of a few thousand
entities and connections (the project's own generator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gestalt.engine.alerts import RuleSet, compile_rules
from gestalt.engine.alerts import rules as rules_module
from gestalt.engine.health import judge
from gestalt.engine.runtime import Engine
from gestalt.model import Connection, Entity, SourceState
from gestalt.model.config import (
    AlertRule,
    AlertsConfig,
    Config,
    HealthConfig,
    ServerConfig,
    SyntheticCollector,
)
from gestalt.sources.synthetic import SyntheticWorld

NOW = 1_800_000_000.0


def test_observations_are_those_of_judging_every_subject_in_full() -> None:
    world = SyntheticWorld(SyntheticCollector(enabled=True, entities=3000, edges=3000, seed=7))
    for _ in range(200):
        world.churn()
    rules = compile_rules(AlertsConfig(rules=[
        AlertRule(name="cpu-warning", check="cpu", warning=0.3, critical=0.5),
        AlertRule(name="cpu-critical", check="cpu", severity="critical", warning=0.3,
                  critical=0.5),
        AlertRule(name="cpu-critical-only", check="cpu", severity="critical", critical=0.4),
        AlertRule(name="memory", check="memory"),
        AlertRule(name="paused-critical", check="paused", severity="critical"),
        AlertRule(name="edges", check="edge_error_rate"),
    ]), HealthConfig())
    entities, connections = list(world.entities.values()), list(world.connections.values())
    names = dict(world.entities)

    seen = {(o.rule.name, o.subject_id, o.level, o.message)
            for o in RuleSet(rules).observe(entities, connections, (), NOW, names=names)}

    expected = set()
    for rule in rules:
        subjects: list[Entity | Connection] = list(connections) \
            if rule.check.target == "connection" else \
            [e for e in entities if rule.applies_to(e)]
        for subject in subjects:
            result = judge(rule.check, subject, NOW, rule.warning, rule.critical)
            if result is not None and result.level.rank >= rule.min_level.rank:
                expected.add((rule.name, subject.id, result.level, result.message))
    assert seen == expected
    by_rule = {name for name, *_ in seen}
    # Enough of each kind of outcome to mean something.
    assert {"cpu-warning", "cpu-critical", "cpu-critical-only"} <= by_rule, by_rule
    assert len(seen) > 100


async def test_an_evaluation_lets_other_tasks_run_every_250_subjects(tmp_path: Path) -> None:
    """Each other task gets one turn per step, and a message from NATS takes several turns
    to reach the hub: steps of 1,000 subjects (20-30 ms on a loaded machine) made the
    federation's latency tail."""
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
    await engine.start()
    try:
        world = SyntheticWorld(SyntheticCollector(enabled=True, entities=2000, edges=2000,
                                                  seed=7))
        engine.hub.sink("synthetic").snapshot(world.entities.values(),
                                              world.connections.values())
        store = engine.store
        subjects = len(store.entities) + len(store.connections)
        turns = 0

        async def other_task() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        turns = 0
        # A full one (the engine's own first evaluation may have judged everything already).
        engine.alert_manager.judged.judge_all()
        await engine.alert_manager.evaluate_in_steps()
        ticker.cancel()
        assert turns >= subjects // 250, (turns, subjects)
    finally:
        await engine.stop()


async def test_an_evaluation_hashes_no_alert_id_it_hashed_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entities of a silent source stay, stale: one observation per rule on each, kept
    until judged again and read at every evaluation. Each one's alert id is hashed once,
    not at every evaluation (that was a third of a hub's loop with ten silent sites of
    10,000 entities)."""
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[])
    await engine.start()
    try:
        world = SyntheticWorld(SyntheticCollector(enabled=True, entities=2000, edges=2000,
                                                  seed=7))
        sink = engine.hub.sink("synthetic")
        sink.status(SourceState.OK)
        sink.snapshot(world.entities.values(), world.connections.values())
        sink.status(SourceState.DOWN, "gone silent")
        manager = engine.alert_manager
        manager.judged.judge_all()
        await manager.evaluate_in_steps()
        stale = [o for o in manager.judged.observations() if o.active is None]
        assert len(stale) > 1000  # the world's entities, stale, observed as such
        hashed = []
        alert_id = rules_module.alert_id

        def counting(rule: str, subject_id: str) -> str:
            hashed.append(subject_id)
            return alert_id(rule, subject_id)

        monkeypatch.setattr("gestalt.engine.alerts.rules.alert_id", counting)
        await manager.evaluate_in_steps()
        # Only the sources' own observations are made anew at each evaluation.
        assert [h for h in hashed if not h.startswith("source:")] == []
    finally:
        await engine.stop()
