"""Sliding-window request statistics: rate, error rate and latency percentiles.

Samples are kept in one-second buckets keyed by the span's end time (not its arrival), so
SDK batching does not make rates bursty. Each bucket holds a log-scaled latency histogram
(DDSketch's mapping, 1% relative accuracy), so memory per edge is bounded by the window
length and the spread of latencies, never by the request count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_ALPHA = 0.01  # relative accuracy of the latency percentiles
_GAMMA = (1 + _ALPHA) / (1 - _ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_MS = 1e-3  # durations below a microsecond share one bucket


def _index(duration_ms: float) -> int:
    return math.ceil(math.log(max(duration_ms, _MIN_MS)) / _LOG_GAMMA)


def _value(index: int) -> float:
    # The bucket's midpoint in DDSketch's sense: within ALPHA of every value in it.
    return 2 * _GAMMA**index / (_GAMMA + 1)


@dataclass(slots=True)
class _Bucket:
    count: int = 0
    errors: int = 0
    first: float = math.inf
    last: float = -math.inf
    latency: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Summary:
    count: int
    errors: int
    requests_per_sec: float
    error_rate: float
    p50_ms: float
    p99_ms: float


class WindowStats:
    """Requests observed over the last `window` seconds of span time."""

    __slots__ = ("_buckets", "_window")

    def __init__(self, window: float) -> None:
        self._window = window
        self._buckets: dict[int, _Bucket] = {}

    def add(self, end_s: float, duration_ms: float, error: bool) -> None:
        second = int(end_s)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = _Bucket()
        bucket.count += 1
        bucket.errors += error
        bucket.first = min(bucket.first, end_s)
        bucket.last = max(bucket.last, end_s)
        index = _index(duration_ms)
        bucket.latency[index] = bucket.latency.get(index, 0) + 1

    def prune(self, now: float) -> bool:
        """Drop buckets that left the window; True when nothing is left."""
        oldest = now - self._window
        for second in [s for s in self._buckets if s + 1 <= oldest]:
            del self._buckets[second]
        return not self._buckets

    def summary(self, now: float, *, export_delay: float) -> Summary | None:
        """The window's figures, or None when it holds nothing.

        The rate is the count over the span-time interval the samples cover, extended to
        `now - export_delay` when traffic stopped: a steady stream is measured exactly
        whatever its batching, and a silent edge decays instead of keeping its last rate.
        """
        buckets = [b for s, b in self._buckets.items() if s + 1 > now - self._window]
        if not buckets:
            return None
        count = sum(b.count for b in buckets)
        errors = sum(b.errors for b in buckets)
        first = min(b.first for b in buckets)
        end = max(max(b.last for b in buckets), now - export_delay)
        interval = max(end - first, 1.0)
        latency: dict[int, int] = {}
        for bucket in buckets:
            for index, n in bucket.latency.items():
                latency[index] = latency.get(index, 0) + n
        p50, p99 = _percentiles(latency, count, (0.5, 0.99))
        return Summary(
            count=count,
            errors=errors,
            requests_per_sec=count / interval,
            error_rate=errors / count,
            p50_ms=p50,
            p99_ms=p99,
        )


def _percentiles(
    histogram: dict[int, int], count: int, quantiles: tuple[float, ...]
) -> list[float]:
    """Nearest-rank percentiles (the value at rank ceil(q * count)) from the histogram."""
    ranks = [max(1, math.ceil(q * count)) for q in quantiles]
    results: list[float] = []
    seen = 0
    pending = iter(ranks)
    rank = next(pending)
    for index in sorted(histogram):
        seen += histogram[index]
        while seen >= rank:
            results.append(_value(index))
            next_rank = next(pending, None)
            if next_rank is None:
                return results
            rank = next_rank
    return results
