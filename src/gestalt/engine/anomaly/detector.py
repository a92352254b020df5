"""Every metric series the engine keeps, modelled: which are unusual now, since when,
against which band; which were; which a user said to expect.

The detector samples the store every `anomaly.interval` seconds (one pass over the
entities and connections: their CPU, memory, network rates, custom metrics such as NATS
message rates and pending counts or a database's pool and transaction rates, and each
edge's request rate, error rate and latency). The `anomaly` and `edge_anomaly` checks of
the health table (engine/health.py) read its verdicts, so alert rules, scores, blast
radius and history treat an anomaly as any other check; the verdict of an entity's score
follows at its next change (the check reads the detector's last pass).

Like `COUNTERS`, one detector serves the process (`ANOMALIES`): a check's reader has only
the subject to go on. `Engine` configures it and runs its sampling.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gestalt.engine.anomaly.model import DEFAULT_TUNING, NORMAL, UNUSUAL, SeriesModel, Tuning
from gestalt.engine.touched import Touched
from gestalt.model import Connection, Entity

MiB = 1024 * 1024
# Subjects sampled between two yields to the event loop (`sample_in_steps`).
SAMPLE_STEP = 500
# The least half-width of a band, per series, in its unit: a move smaller than this is
# not worth anyone's attention, however still the series was before.
FLOORS: dict[str, float] = {
    "cpu_percent": 2.0,  # percentage points (of one core, or of a host)
    "cpu_usage": 20.0,  # millicores
    "memory_bytes": 16 * MiB,
    "network_rx_rate": 16 * 1024,  # bytes/s
    "network_tx_rate": 16 * 1024,
    "requests_per_sec": 0.5,
    "bytes_per_sec": 16 * 1024,
    "error_rate": 0.02,  # a fraction
    "latency_ms": 10.0,
    "latency_p99_ms": 10.0,
}
DEFAULT_FLOOR = 1.0  # custom metrics: counts, rates and percentages
ENTITY_FIELDS = ("cpu_percent", "memory_bytes", "network_rx_rate", "network_tx_rate")
EDGE_FIELDS = ("requests_per_sec", "error_rate", "latency_ms")
TRENDS = {1: "rising", -1: "falling"}
ENDED_KEPT = 10_000  # ended anomalies remembered (for "what changed around this alert")


@dataclass(slots=True)
class Anomaly:
    subject_id: str
    series: str
    since: float
    observed: float
    low: float
    high: float
    detected_at: float = 0.0  # when it was confirmed (`confirm` samples after `since`)
    ended_at: float | None = None
    outcome: str = ""  # "back in band" or "accepted as the new normal"
    expected: str = ""  # the reason a user gave when they said to expect it
    # "rising" or "falling": a steady drift out of the band it had `since` (model.py);
    # "" for a departure from the band it has now.
    trend: str = ""

    def document(self) -> dict[str, Any]:
        return {"entity_id": self.subject_id, "series": self.series, "since": self.since,
                "detected_at": self.detected_at, "observed": self.observed,
                "expected_low": self.low, "expected_high": self.high, "ended_at": self.ended_at,
                "outcome": self.outcome, "muted": self.expected or None,
                "trend": self.trend or None}

    @property
    def how(self) -> str:
        return f"{self.trend} steadily" if self.trend else "unusual"


@dataclass(slots=True)
class Mute:
    subject_id: str
    series: str | None  # None: every series of the subject
    until: float
    reason: str
    at: float = field(default_factory=time.time)


AnomalyListener = Callable[[Anomaly], None]


class Detector:
    def __init__(self, tuning: Tuning = DEFAULT_TUNING, max_series: int = 100_000) -> None:
        # Readers told whose verdict may have moved (`watch`); one detector serves every
        # engine of the process, so a reader that goes away drops out by itself.
        self._watchers: weakref.WeakSet[Touched] = weakref.WeakSet()
        self.configure(tuning, max_series)
        self.reset()

    def configure(self, tuning: Tuning, max_series: int) -> None:
        self.tuning = tuning
        self.max_series = max_series

    def reset(self) -> None:
        """Forget every model, anomaly and mute (a new engine starts afresh)."""
        # Each subject's models, in the order their series came: a tuple, not a dict of
        # them by name (a subject has one to four series; a dict each was 1.2 MB more at
        # 10,000 entities and 20,000 edges). `model` and `models_of` find them.
        self.by_subject: dict[str, tuple[SeriesModel, ...]] = {}
        self.active: dict[tuple[str, str], Anomaly] = {}
        self.ended: deque[Anomaly] = deque(maxlen=ENDED_KEPT)
        self.mutes: list[Mute] = []
        self.series_count = 0
        self.dropped = 0  # series not modelled (max_series)
        self.listeners: list[AnomalyListener] = []
        self.last_pass: float | None = None
        # Until then a subject missing from a pass is kept (models read back after a
        # restart wait for their sources' first reports: persist.py).
        self.keep_until = 0.0
        for touched in self._watchers:
            touched.everything = True

    def watch(self) -> Touched:
        """The subjects whose `verdict` may change from now on without a pass telling
        anyone (a series that starts or stops learning or being unusual, a subject
        forgotten or read back): the alert evaluation judges those again. Those with an
        unusual series move with every sample and mute (`unusual`)."""
        touched = Touched()
        self._watchers.add(touched)
        return touched

    def touch(self, subject_id: str) -> None:
        for touched in self._watchers:
            touched.ids.add(subject_id)

    def unusual(self, subject_id: str) -> bool:
        """Whether a series of the subject is unusual now (muted or not)."""
        models = self.by_subject.get(subject_id)
        return models is not None and any(m.state == UNUSUAL for m in models)

    # -- the models ----------------------------------------------------------------------
    def model(self, subject_id: str, series: str) -> SeriesModel | None:
        for model in self.by_subject.get(subject_id, ()):
            if model.series == series:
                return model
        return None

    def models_of(self, subject_id: str) -> dict[str, SeriesModel]:
        """A subject's models by series name."""
        return {model.series: model for model in self.by_subject.get(subject_id, ())}

    def add(self, subject_id: str, model: SeriesModel) -> None:
        """A model of a series not modelled yet (`model.series` names it)."""
        self.by_subject[subject_id] = (*self.by_subject.get(subject_id, ()), model)
        self.series_count += 1

    # -- learning ----------------------------------------------------------------------
    def observe(self, subject_id: str, series: str, value: float, now: float) -> str:
        """One sample of one series; its state after it."""
        model = self.model(subject_id, series)
        if model is None:
            if self.series_count >= self.max_series:
                self.dropped += 1
                return "unmodelled"
            model = SeriesModel(FLOORS.get(series, DEFAULT_FLOOR), series)
            self.add(subject_id, model)
        before = model.state
        state = model.update(value, now, self.tuning)
        if state != before:
            self.touch(subject_id)
            self._transition(subject_id, series, model, before, state, now)
        elif state == UNUSUAL:
            self.active[subject_id, series].observed = value
        return state

    def _transition(self, subject_id: str, series: str, model: SeriesModel, before: str,
                    state: str, now: float) -> None:
        key = (subject_id, series)
        if state == UNUSUAL:
            anomaly = Anomaly(subject_id, series, model.since, model.last, model.low,
                              model.high, detected_at=now,
                              expected=self._muted_reason(subject_id, series, now),
                              trend=TRENDS.get(model.trend, ""))
            self.active[key] = anomaly
        elif before == UNUSUAL and state == NORMAL:
            anomaly = self.active.pop(key)
            anomaly.ended_at = now
            anomaly.outcome = "accepted as the new normal" if model.accepted else "back in band"
            self.ended.append(anomaly)
        else:
            return
        for listener in self.listeners:
            listener(anomaly)

    def sample(self, entities: Iterable[Entity], connections: Iterable[Connection],
               now: float) -> None:
        """One pass over the graph: every series' current value, learned and judged."""
        present: set[str] = set()
        self._sample_entities(entities, now, present)
        self._sample_connections(connections, now, present)
        self._end_pass(present, now)

    async def sample_in_steps(self, entities: Iterable[Entity],
                              connections: Iterable[Connection], now: float) -> None:
        """The same, yielding to the event loop every SAMPLE_STEP subjects: a pass over
        10,000 entities takes a few hundred milliseconds of CPU, seconds on a busy
        machine, which must not hold up the streams (a federated site's changes waited
        for it: bench/federation.py's p99)."""
        entities, connections = list(entities), list(connections)
        present: set[str] = set()
        for start in range(0, len(entities), SAMPLE_STEP):
            self._sample_entities(entities[start:start + SAMPLE_STEP], now, present)
            await asyncio.sleep(0)
        for start in range(0, len(connections), SAMPLE_STEP):
            self._sample_connections(connections[start:start + SAMPLE_STEP], now, present)
            await asyncio.sleep(0)
        self._end_pass(present, now)

    def _sample_entities(self, entities: Iterable[Entity], now: float,
                         present: set[str]) -> None:
        observe = self.observe
        for e in entities:
            present.add(e.id)
            if e.stale:
                continue  # its numbers are the last ones seen, not new samples
            for name in ENTITY_FIELDS:
                value = getattr(e, name)
                if value is not None:
                    observe(e.id, name, float(value), now)
            for name, value in e.custom_metrics.items():
                if type(value) is not bool:
                    observe(e.id, name, float(value), now)

    def _sample_connections(self, connections: Iterable[Connection], now: float,
                            present: set[str]) -> None:
        observe = self.observe
        for c in connections:
            present.add(c.id)
            for name in EDGE_FIELDS:
                value = getattr(c, name)
                if value is not None:
                    observe(c.id, name, float(value), now)

    def _end_pass(self, present: set[str], now: float) -> None:
        if now >= self.keep_until:
            for gone in [s for s in self.by_subject if s not in present]:
                self.forget(gone, now)
        self.mutes = [m for m in self.mutes if m.until > now]
        self.last_pass = now

    def forget(self, subject_id: str, now: float) -> None:
        models = self.by_subject.pop(subject_id, ())
        if models:
            self.touch(subject_id)
        self.series_count -= len(models)
        for model in models:
            anomaly = self.active.pop((subject_id, model.series), None)
            if anomaly is not None:
                anomaly.ended_at, anomaly.outcome = now, "its subject is gone"
                self.ended.append(anomaly)

    # -- muting ------------------------------------------------------------------------
    def mute(self, subject_id: str, series: str | None, until: float, reason: str,
             at: float | None = None) -> Mute:
        mute = Mute(subject_id, series, until, reason)
        if at is not None:
            mute.at = at
        self.mutes.append(mute)
        for (sid, name), anomaly in self.active.items():
            if sid == subject_id and (series is None or series == name):
                anomaly.expected = reason
        return mute

    def _muted_reason(self, subject_id: str, series: str, now: float) -> str:
        for m in self.mutes:
            if m.subject_id == subject_id and m.series in (None, series) and m.until > now:
                return m.reason or "expected"
        return ""

    # -- reading (the checks, the paths, the API) --------------------------------------
    def verdict(self, subject_id: str) -> float | None:
        """For the checks: 1.0 while a series of the subject is unusual (and not said to be
        expected), 0.0 when its series are judged and usual, None while they all learn."""
        models = self.by_subject.get(subject_id)
        if not models:
            return None
        now = time.time()
        judged = False
        for model in models:
            if model.state == UNUSUAL and not self._muted_reason(subject_id, model.series, now):
                return 1.0
            judged = judged or model.state == NORMAL or model.state == UNUSUAL
        return 0.0 if judged else None

    def message_fields(self, subject_id: str) -> dict[str, Any]:
        """The worst current anomaly of a subject, for the check's message."""
        now = time.time()
        found = [a for (sid, name), a in self.active.items()
                 if sid == subject_id and not self._muted_reason(sid, name, now)]
        if not found:
            return {}
        a = max(found, key=lambda a: _distance(a))
        return {"series": a.series, "how": a.how, "observed": _number(a.observed),
                "expected": f"{_number(a.low)}..{_number(a.high)}",
                "since": time.strftime("%H:%M:%S", time.localtime(a.since)),
                "more": f" (+{len(found) - 1} more)" if len(found) > 1 else ""}

    def current(self, subject_id: str | None = None) -> list[Anomaly]:
        return sorted((a for a in self.active.values()
                       if subject_id is None or a.subject_id == subject_id),
                      key=lambda a: a.since)

    def overlapping(self, start: float, end: float) -> list[dict[str, Any]]:
        """Anomalies (current and ended) that overlapped [start, end], oldest first."""
        found = [a for a in (*self.ended, *self.active.values())
                 if a.since <= end and (a.ended_at is None or a.ended_at >= start)]
        return [a.document() for a in sorted(found, key=lambda a: a.since)]

    def series_of(self, subject_id: str) -> list[dict[str, Any]]:
        """Each series of a subject: its state, last value and expected band."""
        rows = []
        for name, model in sorted(self.models_of(subject_id).items()):
            low, high = model.band()
            rows.append({"series": name, "state": model.state, "observed": model.last,
                         "expected_low": low, "expected_high": high,
                         "samples": model.count})
        return rows

    def counts(self) -> dict[str, int]:
        states = {"learning": 0, "normal": 0, "unusual": 0}
        for models in self.by_subject.values():
            for model in models:
                states[model.state] += 1
        return {**states, "series": self.series_count, "unmodelled": self.dropped}


def _distance(a: Anomaly) -> float:
    width = max(a.high - a.low, 1e-12)
    return max(a.low - a.observed, a.observed - a.high) / width


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


ANOMALIES = Detector()
