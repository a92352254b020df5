"""The per-series model and the detector on generated series (seeded noise): cold start,
level shifts, one-sample blips, acceptance of a new normal, the daily buckets, muting."""

from __future__ import annotations

import gc
import random

from gestalt.engine.anomaly import LEARNING, NORMAL, UNUSUAL, Detector, SeriesModel, Tuning

STEP = 10.0
T0 = 1_796_428_800.0  # 00:00 UTC
TUNING = Tuning()


def feed(model: SeriesModel, values: list[float], start: float = T0) -> list[str]:
    return [model.update(v, start + i * STEP, TUNING) for i, v in enumerate(values)]


def noise(n: int, level: float = 100.0, sigma: float = 2.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, sigma) for _ in range(n)]


def test_learning_until_warmed_up_then_normal() -> None:
    states = feed(SeriesModel(1.0), noise(TUNING.warmup + 5))
    assert set(states[: TUNING.warmup - 1]) == {LEARNING}
    assert set(states[TUNING.warmup:]) == {NORMAL}


def test_a_level_shift_is_an_anomaly_after_confirm_samples_and_ends_when_it_goes() -> None:
    model = SeriesModel(1.0)
    feed(model, noise(200))
    low, high = model.band()
    assert low < 100 < high and high - low < 40  # about ±5 spreads of sigma 2
    states = feed(model, noise(10, level=160, seed=2), T0 + 200 * STEP)
    assert states[: TUNING.confirm - 1] == [NORMAL] * (TUNING.confirm - 1)
    assert states[TUNING.confirm - 1:] == [UNUSUAL] * (10 - TUNING.confirm + 1)
    assert model.band()[1] < 130  # it did not learn the shift
    states = feed(model, noise(10, seed=3), T0 + 210 * STEP)
    assert states[-1] == NORMAL and not model.accepted


def test_one_odd_sample_is_noise() -> None:
    model = SeriesModel(1.0)
    values = noise(300)
    values[150] = 1000.0
    assert UNUSUAL not in feed(model, values)
    assert model.band()[1] < 130  # the blip barely moved the model


def test_an_anomaly_that_lasts_becomes_the_new_normal() -> None:
    model = SeriesModel(1.0)
    feed(model, noise(100))
    hold = int(TUNING.accept_after / STEP) + 5
    states = feed(model, noise(hold, level=300, seed=4), T0 + 100 * STEP)
    assert UNUSUAL in states and states[-1] == NORMAL and model.accepted
    assert model.band()[0] < 300 < model.band()[1]


def test_the_daily_batch_job_is_expected_once_its_hour_has_been_seen() -> None:
    detector = Detector(Tuning(season_min=300))
    rng = random.Random(5)
    alarms_by_day = [0, 0, 0, 0]
    for i in range(int(4 * 86400 / STEP)):
        t = T0 + i * STEP
        batch = 3 <= (t % 86400) / 3600 < 4
        detector.observe("db", "tx_rate", 50 + rng.gauss(0, 1) + (400 if batch else 0), t)
    for a in (*detector.ended, *detector.current()):
        alarms_by_day[int((a.since - T0) // 86400)] += 1
    assert alarms_by_day[0] >= 1  # the first night it is news
    assert alarms_by_day[2:] == [0, 0]  # from the third, the 03:00 bucket knows it


def test_muted_series_stay_listed_but_the_verdict_is_usual() -> None:
    detector = Detector()
    for i, v in enumerate(noise(100) + [500.0] * 5):
        detector.observe("pod:c/ns/a", "cpu_percent", v, T0 + i * STEP)
    assert detector.verdict("pod:c/ns/a") == 1.0
    assert detector.message_fields("pod:c/ns/a")["series"] == "cpu_percent"
    detector.mute("pod:c/ns/a", "cpu_percent", until=2e9 * 10, reason="load test")
    assert detector.verdict("pod:c/ns/a") == 0.0
    assert [a.expected for a in detector.current()] == ["load test"]
    assert detector.verdict("pod:c/ns/other") is None  # never seen: no data, not "normal"


def test_a_subjects_models_are_one_tuple_found_by_series_name() -> None:
    """Memory at 10,000 entities and 20,000 edges: a dict of models per subject (one to
    four series each) was 1.2 MB more than a tuple of them."""
    detector = Detector()
    for series in ("cpu_percent", "memory_bytes", "queue_depth"):
        detector.observe("pod", series, 1.0, 1000.0)
    detector.observe("edge", "latency_ms", 5.0, 1000.0)
    models = detector.by_subject["pod"]
    assert type(models) is tuple and [m.series for m in models] == [
        "cpu_percent", "memory_bytes", "queue_depth"]
    assert detector.model("pod", "memory_bytes") is models[1]
    assert detector.model("pod", "latency_ms") is None
    assert list(detector.models_of("edge")) == ["latency_ms"]
    assert detector.series_count == 4
    detector.forget("pod", 1010.0)
    assert detector.series_count == 1 and detector.model("pod", "cpu_percent") is None
    assert [row["series"] for row in detector.series_of("edge")] == ["latency_ms"]


def test_models_are_not_walked_by_the_garbage_collector() -> None:
    """A hub models up to 100,000 series, made after the collector froze its map: tracked,
    a model, its trend means and the tuple holding a subject's models were 240,000 of the
    310,000 objects a full collection walked (325 ms of CPU in bench/federation.py --full).
    None of them can be in a cycle."""
    detector = Detector()
    # Long enough to close trend segments (5 min each) and to make the buckets.
    for i, value in enumerate(noise(200, sigma=20.0)):
        detector.observe("pod", "cpu_percent", value, T0 + i * STEP)
        detector.observe("pod", "memory_bytes", value, T0 + i * STEP)
    model = detector.model("pod", "cpu_percent")
    assert model is not None and model.segs and model.buckets is not None
    gc.collect(0)  # untracks the tuples that hold only untracked objects
    assert not gc.is_tracked(model)
    assert not gc.is_tracked(model.segs)
    assert not gc.is_tracked(detector.by_subject["pod"])
