"""The agent's keyframe schedule: the first keyframe at once, each later one a random 0.8
to 1.2 `keyframe_interval`s after the last. Agents started together used to keyframe in
lockstep for ever after (a fixed interval from the same start), and a hub took every
site's whole map in the same moment (bench/federation.py --full: ten 10,000-entity
keyframes in one second, the agents' latency p99 over its target)."""

from __future__ import annotations

import time

from gestalt.engine.changelog import ChangeLog
from gestalt.engine.publisher import Publisher
from gestalt.engine.store import Store
from gestalt.model.config import AgentConfig

INTERVAL = 60.0


def publisher() -> Publisher:
    return Publisher(Store(), ChangeLog(), AgentConfig(site="east", keyframe_interval=INTERVAL),
                     name="test")


def test_the_first_keyframe_is_due_at_once() -> None:
    assert publisher()._keyframe_due()


def test_a_fleet_started_together_keyframes_apart_within_the_band() -> None:
    fleet = [publisher() for _ in range(200)]
    now = time.monotonic()
    for agent in fleet:
        agent._keyframe_sent(1, now)
    after = [agent.next_keyframe - now for agent in fleet if agent.next_keyframe is not None]
    assert len(after) == len(fleet)
    assert min(after) >= 0.8 * INTERVAL
    assert max(after) <= 1.2 * INTERVAL
    # In lockstep the spread is nil; 200 uniform draws cover far more than half the band.
    assert max(after) - min(after) > 0.2 * INTERVAL


def test_one_agent_draws_each_interval_afresh() -> None:
    agent = publisher()
    now = time.monotonic()
    drawn = set()
    for _ in range(50):
        agent._keyframe_sent(1, now)
        assert agent.next_keyframe is not None
        drawn.add(agent.next_keyframe - now)
    assert len(drawn) > 1


def test_a_keyframe_is_never_due_before_the_band_nor_late_after_it() -> None:
    fleet = [publisher() for _ in range(50)]
    for agent in fleet:
        agent._keyframe_sent(1, time.monotonic() - 0.79 * INTERVAL)
    assert not any(agent._keyframe_due() for agent in fleet)
    for agent in fleet:
        agent._keyframe_sent(1, time.monotonic() - 1.21 * INTERVAL)
    assert all(agent._keyframe_due() for agent in fleet)
