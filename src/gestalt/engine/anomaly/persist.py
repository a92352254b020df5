"""What each series' model learned outlives a restart.

Seasonality needs history: the hourly buckets trust a bucket after two days, the weekly
ones after two weeks. A model that starts afresh on every restart (an upgrade, a node
drain) would never get there, so the engine saves the models when it stops
(`<data_dir>/anomaly-models.msgpack`, written whole then renamed, so a crash leaves the
last good file) and reads them back when it starts. What is saved is what was learned
(level, spread, hourly and weekly buckets, the usual step between 5-minute means), not
the moment: a series unusual when Gestalt stopped starts usual and is judged afresh, and
the trend means start again (the gap broke them). An unreadable file is logged and
ignored: the models learn anew, as before.
"""

from __future__ import annotations

import logging
import os
from array import array
from pathlib import Path

import msgspec

from gestalt.engine.anomaly.detector import Detector
from gestalt.engine.anomaly.model import BUCKETS, COUNT_MAX, COUNTS, LEARNING, NORMAL, SeriesModel

log = logging.getLogger(__name__)

FILE_NAME = "anomaly-models.msgpack"
FORMAT = 2  # 1: the buckets as float64 (count, base, spread) × 24 and float32 (count, base) × 168
# Sources report their first snapshots within seconds, but a slow one (a big cluster's
# first list) may take longer: a restored model waits this long for its subject to show.
GRACE_SECONDS = 300.0


class _Saved(msgspec.Struct, array_like=True):
    subject_id: str
    series: str
    floor: float
    count: int
    base: float
    spread: float
    learning: bool
    born: float
    step: float
    steps: int
    buckets: bytes  # format 1: the day's buckets
    counts: bytes  # format 1: the week's buckets


class _File(msgspec.Struct):
    format: int
    saved_at: float
    models: list[_Saved]


def save(detector: Detector, path: Path, now: float) -> int:
    """Write every model; how many."""
    models = [
        _Saved(subject_id, m.series, m.floor, m.count, m.base, m.spread, m.state == LEARNING,
               m.born, m.step, m.steps, m.buckets.tobytes() if m.buckets is not None else b"",
               m.counts.tobytes() if m.counts is not None else b"")
        for subject_id, by_series in detector.by_subject.items()
        for m in by_series]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(msgspec.msgpack.encode(_File(FORMAT, now, models)))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk keeps no half-written file
        raise
    return len(models)


def load(detector: Detector, path: Path, now: float) -> int:
    """Read the models back into a fresh detector; how many."""
    try:
        saved = msgspec.msgpack.decode(path.read_bytes(), type=_File)
    except FileNotFoundError:
        return 0
    except (OSError, msgspec.DecodeError) as exc:
        log.warning("anomaly: cannot read the saved models in %s (%s): learning anew", path, exc)
        return 0
    if saved.format not in (1, FORMAT):
        log.warning("anomaly: %s has models of format %s (this Gestalt reads %s): learning "
                    "anew", path, saved.format, FORMAT)
        return 0
    restored = 0
    for row in saved.models:
        if detector.series_count >= detector.max_series:
            break
        if detector.model(row.subject_id, row.series) is not None:
            continue  # a file written by hand, or by a Gestalt that kept one twice
        model = SeriesModel(row.floor, row.series)
        model.count, model.base, model.spread = row.count, row.base, row.spread
        model.state = LEARNING if row.learning else NORMAL
        model.born, model.step, model.steps = row.born, row.step, row.steps
        model.low = model.high = model.last = row.base
        if saved.format == 1:
            model.buckets, model.counts = _from_format_1(row.buckets, row.counts)
        elif len(row.buckets) == 4 * BUCKETS and len(row.counts) == 2 * COUNTS:
            model.buckets, model.counts = array("f", row.buckets), array("H", row.counts)
        detector.add(row.subject_id, model)
        detector.touch(row.subject_id)
        restored += 1
    detector.keep_until = now + GRACE_SECONDS
    return restored


def _from_format_1(day: bytes, week: bytes) -> tuple[array[float] | None, array[int] | None]:
    """Format 1's buckets (float64 day, float32 week, each with its count) as today's."""
    if len(day) != 8 * 72 or len(week) != 4 * 336:
        return None, None
    old_day, old_week = array("d", day), array("f", week)
    buckets, counts = array("f", bytes(4 * BUCKETS)), array("H", bytes(2 * COUNTS))
    for hour in range(24):
        counts[hour] = min(int(old_day[hour * 3]), COUNT_MAX)
        buckets[hour * 2], buckets[hour * 2 + 1] = old_day[hour * 3 + 1], old_day[hour * 3 + 2]
    for w in range(168):
        counts[24 + w] = min(int(old_week[w * 2]), COUNT_MAX)
        buckets[48 + w] = old_week[w * 2 + 1]
    return buckets, counts
