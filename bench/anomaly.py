"""Anomaly detection: accuracy on labelled series, false alarms on healthy churn, detection
delay, CPU and memory per series.

    python bench/anomaly.py [--quick]      # writes bench/results/anomaly.json

Series are generated (seeded, so every run sees the same ones) and fed to the engine's own
`Detector` (engine/anomaly/) at its default tuning, one sample per `anomaly.interval`
(10 s) of simulated time:

- healthy churn: noise of several shapes (gaussian, heavy-tailed with one-sample blips, a
  slow random walk, counts near zero, a daily cycle), no label: every anomaly is a false
  alarm, reported per 1,000 series per hour (target < 1);
- labelled faults, one per series, after the warm-up: a level shift (held 20 min), a
  spike (held 30-60 s), a trend change (a ramp that starts and keeps going: +100 % of the
  level per 10 min, and per hour), an outlier
  on a daily-cycle series (a jump at an hour it never jumps). A fault is found when an
  anomaly starts within its window (plus 5 min); precision counts every anomaly, but for
  one later in a fault that keeps going (a ramp, a leak, a backlog);
- the fault-injection benchmark's faults (bench/faults.py), as the metric series they make
  in the engine (the metric names its sources report, its parameters): PostgreSQL
  connection exhaustion (`connections` from a handful to `max_connections`), a stalled NATS
  consumer (`num_pending` growing linearly at the publish rate: a queue nobody drains), an
  OOM on its way (`memory_bytes` leaking 1 % of the level per minute; the kill itself is a
  status, which the faults benchmark measures), a paused container (`cpu_percent` of a
  busy one falls to zero). Each has its healthy twin in the churn (connection bursts, a
  consumer that keeps up, a GC's sawtooth). They are generated, not recorded: the faults
  benchmark holds a fault 12 s, too short for a model that samples every 10 s;
- a daily batch job (a jump every day at 03:00 for an hour): alarms per day, to show the
  seasonal buckets taking it as normal once they have seen it; and a weekly one (Mondays
  09:00-10:00, four weeks): alarms per week;
- cost: one pass of the detector over 10,000 series made of real `Entity` values (CPU,
  memory, network rx/tx), as CPU seconds per second of wall time at the 10 s interval
  (target < 5 % of a core), and memory per series (tracemalloc).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from benchlib import command_line, write_result  # noqa: E402

from gestalt.engine.anomaly import Detector  # noqa: E402
from gestalt.model import Entity, EntityKind, EntityStatus  # noqa: E402

STEP = 10.0  # seconds between samples (anomaly.interval)
DAY = 86400.0
# A Monday 00:00 UTC, so the hours of the day are where they look.
T0 = 1_796_428_800.0
GRACE = 300.0  # a fault found up to 5 min after its window still counts

Shape = Callable[[random.Random, float], float]


def healthy(kind: str, rng: random.Random) -> Shape:
    level = rng.uniform(5, 500)
    sigma = level * rng.uniform(0.01, 0.1)
    if kind == "gaussian":
        return lambda r, t: level + r.gauss(0, sigma)
    if kind == "heavy":  # mostly calm, a one-sample blip now and then (a GC, a cron tick)
        return lambda r, t: level + r.gauss(0, sigma) + (
            r.uniform(3, 8) * sigma if r.random() < 0.01 else 0.0)
    if kind == "walk":
        state = {"x": level}

        def walk(r: random.Random, t: float) -> float:
            state["x"] += r.gauss(0, sigma * 0.05) + (level - state["x"]) * 0.001
            return state["x"] + r.gauss(0, sigma * 0.5)
        return walk
    if kind == "counts":  # a queue that is mostly empty
        return lambda r, t: float(max(0, round(r.gauss(0.5, 1.0))))
    if kind == "sawtooth":  # a GC'd heap: a linear climb, then a drop, every few minutes
        period, rise = rng.uniform(120, 900), level * rng.uniform(0.1, 0.4)
        return lambda r, t: level + rise * ((t % period) / period) + r.gauss(0, sigma * 0.2)
    if kind == "bursty_queue":  # a consumer that keeps up: a batch now and then, drained
        return lambda r, t: float(r.randint(5, 40)) if r.random() < 0.02 else 0.0
    if kind == "connections":  # a pool of a few, with bursts of work holding ten more
        idle = round(rng.uniform(3, 8))
        return lambda r, t: float(idle + r.randint(-1, 1) + (10 if r.random() < 0.01 else 0))
    if kind == "daily":
        amplitude = level * rng.uniform(0.2, 0.5)
        phase = rng.uniform(0, 2 * math.pi)
        return lambda r, t: level + amplitude * math.sin(2 * math.pi * t / DAY + phase) + \
            r.gauss(0, sigma)
    raise ValueError(kind)


HEALTHY_KINDS = ("gaussian", "heavy", "walk", "counts", "daily", "sawtooth", "bursty_queue",
                 "connections")


def run_series(detector: Detector, sid: str, shape: Shape, rng: random.Random,
               start: float, samples: int,
               series: str = "value") -> list[tuple[float, float | None]]:
    """Feed one series; its anomalies as (detected, ended) pairs."""
    for i in range(samples):
        t = start + i * STEP
        detector.observe(sid, series, shape(rng, t), t)
    spans = [(a.detected_at, a.ended_at) for a in detector.ended if a.subject_id == sid]
    spans += [(a.detected_at, None) for a in detector.current(sid)]
    return spans


def false_alarms(series: int, hours: float, seed: int) -> dict[str, float]:
    detector = Detector()
    rng = random.Random(seed)
    warm = detector.tuning.warmup * STEP
    alarms = 0
    by_kind: dict[str, int] = dict.fromkeys(HEALTHY_KINDS, 0)
    samples = int((hours * 3600 + warm) / STEP)
    for i in range(series):
        kind = HEALTHY_KINDS[i % len(HEALTHY_KINDS)]
        spans = run_series(detector, f"h{i}", healthy(kind, rng), rng,
                           T0 + rng.uniform(0, DAY), samples)
        alarms += len(spans)
        by_kind[kind] += len(spans)
        detector.forget(f"h{i}", 0)
    per = alarms / (series / 1000) / hours
    return {"series": series, "hours": hours, "false_alarms": alarms,
            "per_1000_series_per_hour": round(per, 3), "by_shape": by_kind}


def injected(kind: str, rng: random.Random, fault_at: float) -> tuple[Shape, float, str]:
    """One of the fault-injection benchmark's faults, as its series shows it; (shape, fault
    end, series name)."""
    if kind == "pg_connection_exhaustion":  # lab.connect(200) against max_connections 100
        base = healthy("connections", rng)
        return (lambda r, t: 100.0 - r.randint(0, 2) if fault_at <= t < fault_at + 1200
                else base(r, t)), fault_at + 1200, "connections"
    if kind == "nats_stalled_consumer":  # MaxAckPending reached: the backlog grows
        base, rate = healthy("bursty_queue", rng), rng.uniform(0.05, 2.0)  # msgs/s
        return (lambda r, t: base(r, t) if t < fault_at else float(int((t - fault_at) * rate))),\
            fault_at + 3600, "num_pending"
    if kind == "docker_memory_leak":  # 1 % of the level a minute, on towards the OOM kill
        level = rng.uniform(64, 2048) * 1024 * 1024

        def leak(r: random.Random, t: float) -> float:
            return level * (1 + max(0.0, t - fault_at) / 60 * 0.01) + r.gauss(0, level * 0.003)
        return leak, fault_at + 3600, "memory_bytes"
    if kind == "docker_pause":  # a busy container's CPU falls to nothing
        busy, end = rng.uniform(10, 60), fault_at + 1200
        return (lambda r, t: (0.0 if fault_at <= t < end else busy + r.gauss(0, busy * 0.1))),\
            end, "cpu_percent"
    shape, end = faulty(kind, rng, fault_at)
    return shape, end, "value"


def faulty(kind: str, rng: random.Random, fault_at: float) -> tuple[Shape, float]:
    """A generated series with one fault at `fault_at`; (shape, fault end)."""
    base = healthy("daily" if kind == "seasonal" else "gaussian", rng)
    level = base(random.Random(0), fault_at)
    if kind == "level_shift":
        size, end = max(abs(level), 5) * rng.uniform(0.5, 2.0), fault_at + 1200
        return (lambda r, t: base(r, t) + (size if fault_at <= t < end else 0.0)), end
    if kind == "spike":
        size, end = max(abs(level), 5) * rng.uniform(1, 4), fault_at + rng.choice((30, 60))
        return (lambda r, t: base(r, t) + (size if fault_at <= t < end else 0.0)), end
    if kind in ("trend", "steep_trend"):  # +100 % of the level per hour (or 10 min), on
        slope = max(abs(level), 5) / (3600 if kind == "trend" else 600)
        return (lambda r, t: base(r, t) + max(0.0, t - fault_at) * slope), fault_at + 3600
    if kind == "seasonal":  # a jump to the day's peak level at an hour it never happens
        size, end = max(abs(level), 5) * 0.8, fault_at + 1200
        return (lambda r, t: base(r, t) + (size if fault_at <= t < end else 0.0)), end
    raise ValueError(kind)


GENERATED_KINDS = ("level_shift", "spike", "steep_trend", "trend", "seasonal")
INJECTED_KINDS = ("pg_connection_exhaustion", "nats_stalled_consumer", "docker_memory_leak",
                  "docker_pause")
FAULT_KINDS = GENERATED_KINDS + INJECTED_KINDS
# Faults that go on past their window (a ramp, a leak, a backlog): an alarm later on is
# still the fault, not a false one.
CONTINUING = {"steep_trend", "trend", "nats_stalled_consumer", "docker_memory_leak"}


def labelled(per_kind: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    results: dict[str, object] = {}
    total_tp = total_fp = total_faults = 0
    for kind in FAULT_KINDS:
        detector = Detector()
        # Seasonal outliers need the daily buckets: two days of history first.
        history = 2.2 * DAY if kind == "seasonal" else 3600.0
        found, delays, false_pos = 0, [], 0
        for i in range(per_kind):
            start = T0 + rng.uniform(0, DAY)
            fault_at = start + history
            shape, end, series = injected(kind, rng, fault_at)
            samples = int((end - start + 1800) / STEP)
            spans = run_series(detector, f"{kind}{i}", shape, rng, start, samples, series)
            hits = [s for s, _ in spans if fault_at <= s <= end + GRACE]
            active = math.inf if kind in CONTINUING else end
            false_pos += len([s for s, _ in spans if not fault_at <= s <= active + GRACE])
            if hits:
                found += 1
                delays.append(min(hits) - fault_at)
            detector.forget(f"{kind}{i}", 0)
        precision = found / (found + false_pos) if found + false_pos else 1.0
        delays.sort()
        results[kind] = {"faults": per_kind, "found": found, "recall": round(found / per_kind, 3),
                         "precision": round(precision, 3), "false_positives": false_pos,
                         "delay_p50_s": delays[len(delays) // 2] if delays else None,
                         "delay_max_s": delays[-1] if delays else None}
        total_tp, total_fp, total_faults = total_tp + found, total_fp + false_pos, \
            total_faults + per_kind
    results["all"] = {"recall": round(total_tp / total_faults, 3),
                      "precision": round(total_tp / max(1, total_tp + total_fp), 3)}
    for group, kinds in (("generated", GENERATED_KINDS), ("fault_injection", INJECTED_KINDS)):
        rows = [results[k] for k in kinds]
        found = sum(r["found"] for r in rows)  # type: ignore[index]
        fp = sum(r["false_positives"] for r in rows)  # type: ignore[index]
        results[f"all_{group}"] = {"recall": round(found / (per_kind * len(kinds)), 3),
                                   "precision": round(found / max(1, found + fp), 3)}
    return results


def daily_batch(series: int, days: int, seed: int) -> dict[str, object]:
    """A jump every day at 03:00-04:00: alarms per day."""
    rng = random.Random(seed)
    detector = Detector()
    per_day = [0] * days
    for i in range(series):
        base = healthy("gaussian", rng)
        size = 200.0 + rng.uniform(0, 300)

        def shape(r: random.Random, t: float, base: Shape = base, size: float = size) -> float:
            return base(r, t) + (size if 3 <= (t % DAY) / 3600 < 4 else 0.0)
        spans = run_series(detector, f"b{i}", shape, rng, T0, int(days * DAY / STEP))
        for s, _ in spans:
            per_day[int((s - T0) // DAY)] += 1
        detector.forget(f"b{i}", 0)
    return {"series": series, "alarms_per_day": per_day}


def weekly_batch(series: int, weeks: int, seed: int) -> dict[str, object]:
    """A jump every Monday at 09:00-10:00 (a weekly report): alarms per week."""
    rng = random.Random(seed)
    detector = Detector()
    per_week = [0] * weeks
    week = 7 * DAY
    for i in range(series):
        base = healthy("gaussian", rng)
        size = 200.0 + rng.uniform(0, 300)

        def shape(r: random.Random, t: float, base: Shape = base, size: float = size) -> float:
            return base(r, t) + (size if 9 <= (t % week) / 3600 < 10 else 0.0)
        spans = run_series(detector, f"w{i}", shape, rng, T0, int(weeks * week / STEP))
        for s, _ in spans:
            per_week[int((s - T0) // week)] += 1
        detector.forget(f"w{i}", 0)
    return {"series": series, "alarms_per_week": per_week}


def cost(series: int) -> dict[str, float]:
    entities = [Entity(id=f"container:{i:012x}", kind=EntityKind.CONTAINER, name=f"c{i}",
                       status=EntityStatus.RUNNING) for i in range(series // 4)]
    rng = random.Random(1)
    detector = Detector()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    passes, cpu = 40, 0.0
    for p in range(passes):
        for e in entities:
            e.cpu_percent = rng.uniform(1, 50)
            e.memory_bytes = int(rng.uniform(1e8, 2e8))
            e.network_rx_rate = rng.uniform(0, 1e5)
            e.network_tx_rate = rng.uniform(0, 1e5)
        if p < 2:  # the first two passes build the models (and their hourly buckets)
            detector.sample(entities, (), T0 + p * STEP)
            if p == 1:
                memory = tracemalloc.get_traced_memory()[0] - before
                tracemalloc.stop()
            continue
        started = time.process_time()
        detector.sample(entities, (), T0 + p * STEP)
        cpu += time.process_time() - started
    per_pass = cpu / (passes - 2)
    return {"series": detector.series_count, "cpu_ms_per_pass": round(per_pass * 1000, 2),
            "core_fraction_per_10000_series_at_10s": round(
                per_pass / STEP * 10_000 / detector.series_count, 5),
            "memory_bytes_per_series": round(memory / detector.series_count)}


def main() -> None:
    quick = command_line(__doc__, lambda parser: parser.add_argument(
        "--quick", action="store_true",
        help="about a fifth of the series: a quick look, not figures to keep")).quick
    started = time.monotonic()
    result: dict[str, object] = {
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "step_seconds": STEP,
        "healthy_churn": false_alarms(200 if quick else 1000, 2 if quick else 6, seed=1),
        "labelled": labelled(20 if quick else 100, seed=2),
        "daily_batch": daily_batch(5 if quick else 20, 4, seed=3),
        "weekly_batch": weekly_batch(2 if quick else 5, 4, seed=4),
        "cost": cost(10_000),
    }
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.monotonic() - started, 1)
    write_result("anomaly", result)


if __name__ == "__main__":
    main()
