"""The models outlive a restart (engine/anomaly/persist.py): saved to a real file and read
into a fresh detector, a series keeps what it learned (its weekly buckets included); a
damaged file means learning anew, not a failed start."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

from gestalt.engine.anomaly import LEARNING, NORMAL, Detector, persist

T0 = 1_796_428_800.0  # a Monday, 00:00 UTC
HOUR, WEEK, STEP = 3600.0, 7 * 86400.0, 30.0


def report(rng: random.Random, t: float) -> float:
    """A weekly report: Mondays 09:00-10:00 the rate jumps."""
    return 50 + rng.gauss(0, 1) + (300 if 9 <= (t - T0) % WEEK / HOUR < 10 else 0)


def feed(detector: Detector, rng: random.Random, start: float, end: float) -> int:
    """Samples from start to end; the anomalies that began meanwhile."""
    before = len(detector.ended) + len(detector.current())
    t = start
    while t < end:
        detector.observe("db", "tx_rate", report(rng, t), t)
        t += STEP
    return len(detector.ended) + len(detector.current()) - before


def test_weekly_buckets_learned_before_a_restart_hold_after_it(tmp_path: Path) -> None:
    rng = random.Random(1)
    before = Detector()
    feed(before, rng, T0, T0 + 3 * WEEK - HOUR)
    path = tmp_path / persist.FILE_NAME
    assert persist.save(before, path, T0 + 3 * WEEK) == 1

    after = Detector()
    assert persist.load(after, path, T0 + 3 * WEEK) == 1
    model = after.models_of("db")["tx_rate"]
    assert model.state == NORMAL and model.count == before.models_of("db")["tx_rate"].count
    # Week 4's report is expected by the restored model; a fresh one is surprised.
    assert feed(after, random.Random(2), T0 + 3 * WEEK, T0 + 4 * WEEK) == 0
    assert feed(Detector(), random.Random(2), T0 + 3 * WEEK, T0 + 4 * WEEK) >= 1


def test_a_subject_not_yet_reported_after_a_restart_is_kept_for_a_while(tmp_path: Path) -> None:
    rng = random.Random(3)
    before = Detector()
    feed(before, rng, T0, T0 + HOUR)
    path = tmp_path / persist.FILE_NAME
    persist.save(before, path, T0 + HOUR)
    after = Detector()
    persist.load(after, path, T0 + 2 * HOUR)
    after.sample([], [], T0 + 2 * HOUR + 10)  # the sources have not reported yet
    assert "db" in after.by_subject
    after.sample([], [], T0 + 2 * HOUR + persist.GRACE_SECONDS)
    assert "db" not in after.by_subject and after.series_count == 0


def test_a_damaged_or_missing_file_means_learning_anew(tmp_path: Path) -> None:
    path = tmp_path / persist.FILE_NAME
    detector = Detector()
    assert persist.load(detector, path, T0) == 0
    path.write_bytes(b"\x93not msgpack of models")
    assert persist.load(detector, path, T0) == 0
    assert detector.series_count == 0
    assert detector.observe("db", "tx_rate", 1.0, T0) == LEARNING


def test_a_file_of_the_first_format_is_read_into_todays_buckets(tmp_path: Path) -> None:
    """Format 1 kept the buckets as float64 (count, base, spread) by hour of the day and
    float32 (count, base) by hour of the week: an upgrade keeps what they learned."""
    import msgspec

    rng = random.Random(1)
    before = Detector()
    feed(before, rng, T0, T0 + 3 * WEEK - HOUR)
    model = before.models_of("db")["tx_rate"]
    assert model.buckets is not None and model.counts is not None
    day = array("d", [x for h in range(24) for x in (
        model.counts[h], model.buckets[2 * h], model.buckets[2 * h + 1])])
    week = array("f", [x for w in range(168) for x in (model.counts[24 + w],
                                                        model.buckets[48 + w])])
    row = [ "db", "tx_rate", model.floor, model.count, model.base, model.spread, False,
            model.born, model.step, model.steps, day.tobytes(), week.tobytes()]
    path = tmp_path / persist.FILE_NAME
    path.write_bytes(msgspec.msgpack.encode(
        {"format": 1, "saved_at": T0 + 3 * WEEK, "models": [row]}))

    after = Detector()
    assert persist.load(after, path, T0 + 3 * WEEK) == 1
    restored = after.models_of("db")["tx_rate"]
    assert restored.counts == model.counts and restored.buckets == model.buckets
    assert feed(after, random.Random(2), T0 + 3 * WEEK, T0 + 4 * WEEK) == 0


def test_a_flat_series_keeps_no_buckets_until_it_moves() -> None:
    detector = Detector()
    for i in range(200):
        detector.observe("pod", "restarts", 3.0, T0 + i * STEP)
    model = detector.models_of("pod")["restarts"]
    assert model.state == NORMAL and model.buckets is None and model.counts is None
    detector.observe("pod", "restarts", 7.0, T0 + 200 * STEP)  # more than half its floor
    assert model.buckets is not None and model.counts is not None
    assert model.counts[int((T0 + 200 * STEP) // HOUR) % 24] == 1
