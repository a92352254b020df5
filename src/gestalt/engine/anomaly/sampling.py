"""The detector's place in the engine: configured from the `anomaly` section, sampling the
store every interval, and telling the feed when an anomaly begins and ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gestalt.engine.anomaly.detector import Anomaly, Detector
from gestalt.engine.anomaly.model import Tuning
from gestalt.engine.memory import release
from gestalt.engine.store import Store
from gestalt.model import Event, Severity
from gestalt.model.config import AnomalyConfig, duration_seconds


def configure(detector: Detector, config: AnomalyConfig) -> None:
    """A fresh detector with the configured tuning (a new engine starts learning anew)."""
    tuning = Tuning(k=config.band, warmup=config.warmup, confirm=config.confirm,
                    accept_after=duration_seconds(config.accept_after, "anomaly.accept_after"))
    detector.configure(tuning, config.max_series)
    detector.reset()


async def run(detector: Detector, store: Store, interval: float) -> None:
    """Sample the graph every `interval` seconds, until cancelled. After each pass the
    heap pages it freed go back to the system (engine/memory.py): a pass makes and drops
    a float or two per series and a set of every subject, and glibc kept about 6 MB of
    them at 10,000 entities (bench/server_rss.py's steady state)."""
    while True:
        await asyncio.sleep(interval)
        await detector.sample_in_steps(store.entities.values(), store.connections.values(),
                                       time.time())
        release()


def feed_events(detector: Detector, store: Store, emit: Callable[[Event], None]) -> None:
    """An event for each anomaly of an entity that begins or ends (an edge's show on the
    alert that the `edge_anomaly` check raises)."""

    def on_anomaly(anomaly: Anomaly) -> None:
        entity = store.entities.get(anomaly.subject_id)
        if entity is None:
            return
        began = anomaly.ended_at is None
        now = anomaly.detected_at if began else anomaly.ended_at or time.time()
        band = f"{anomaly.low:.4g}..{anomaly.high:.4g}"
        message = (f"{anomaly.series} {anomaly.how}: {anomaly.observed:.4g}, expected {band}"
                   if began else f"{anomaly.series} usual again ({anomaly.outcome})")
        if anomaly.expected:
            message += f"; expected: {anomaly.expected}"
        emit(Event(id=f"anomaly:{anomaly.subject_id}:{anomaly.series}:{int(now * 1000)}",
                   type="Warning" if began and not anomaly.expected else "Normal",
                   reason="AnomalyStarted" if began else "AnomalyEnded", message=message,
                   entity_id=entity.id, entity_kind=entity.kind, entity_name=entity.name,
                   namespace=entity.namespace, timestamp=now, source="anomaly",
                   severity=Severity.WARNING if began and not anomaly.expected
                   else Severity.INFO))

    detector.listeners.append(on_anomaly)
