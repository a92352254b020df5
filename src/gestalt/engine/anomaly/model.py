"""What is normal for one series, learned online, in a few numbers you can explain.

A series' normal is a **baseline** (an exponentially weighted mean of its samples) and a
**spread** (the weighted mean absolute deviation from that baseline). The expected band is
`baseline ± k × spread`, never narrower than the series' floor (a CPU that idles at 0.2 %
is not anomalous at 1 %). Robust by construction:

- a sample updates the baseline *clipped to the band*, and the spread only from inside the
  band, each deviation counted at most two spreads (Huber's scale), so one spike barely
  moves the model and a ramp cannot widen the band as fast as it climbs;
- a sample is unusual when it is outside the band; an **anomaly** begins after `confirm`
  unusual samples in a row (one odd sample is noise) and ends after `confirm` usual ones;
- during an anomaly the model stops learning (the anomaly must not become its own normal)
  and follows the new level on the side: if the anomaly lasts `accept_after` seconds, that
  level is accepted as the new normal (a deploy that doubled memory, a bigger queue) and
  the anomaly ends;
- **daily seasonality**: 24 hourly buckets learn the same baseline and spread per hour of
  the day (UTC). Once a bucket has seen `season_min` samples, a sample counts as unusual
  only if it is outside *both* the recent band and that hour's band: the nightly batch job
  that always runs at 03:00 is expected at 03:00, not at 15:00;
- **weekly seasonality**: 168 buckets, one per hour of the week, learn the level the same
  way (their spread is the hour's daily one). They are trusted once the series has been
  modelled for `week_min_age` (two weeks: each hour of the week seen twice): the Monday
  09:00 report is expected on Mondays at 09:00 from its third week;
- **trends**: a slow drift (a leak, a queue nobody drains) stays inside a band that
  follows it, so the model also keeps the mean of each `trend_segment` (5 min) of samples,
  the last `trend_segments` of them (an hour), and how far one mean usually is from the
  next (the step). When the last `trend_min_run` or more means each rose (or each fell)
  and together moved more than the band's noise (`k` spreads), more than a wandering
  series moves in as many steps (`trend_z` steps × √steps, as they were when the run
  began), more than a `trend_rise` fraction of the level (a day's slow swing is smaller)
  and more than the floor, the series is unusual *since the run began*, against the band
  it had then. It stays unusual until it is back in that band, or
  until it has held one level (no longer trending) for `accept_after`.

Cold start is honest: for the first `warmup` samples the model is `learning` and judges
nothing. Every step is O(1) in time and memory: about 0.9 KB per series, and 1.3 KB more
for its buckets, made the first time it leaves half its floor around its baseline (a flat
series, most of a cluster's, has no day or week to learn: any band it could have is its
floor).
What a model learned is saved when the engine stops and read back when it starts
(persist.py), so the buckets' days and weeks add up across restarts.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

import msgspec

LEARNING = "learning"
NORMAL = "normal"
UNUSUAL = "unusual"


@dataclass(frozen=True, slots=True)
class Tuning:
    alpha: float = 0.05  # weight of a new sample (about the last 20 samples count)
    k: float = 5.0  # band half-width in spreads (about 4 standard deviations)
    # The spread learns slower than the baseline: a ramp inside the band must not widen
    # the band as fast as it climbs.
    spread_weight: float = 0.2
    warmup: int = 90  # samples before judging (15 min at 10 s: a whole GC or cron cycle)
    confirm: int = 3  # unusual samples in a row that make an anomaly (and usual that end it)
    accept_after: float = 1800.0  # seconds: an anomaly this long is the new normal
    season_alpha: float = 0.02  # weight within an hourly bucket (it sees 1/24 of samples)
    season_min: int = 600  # samples in an hourly bucket before it is trusted (~2 days at 10 s)
    relative_floor: float = 0.05  # the band is at least this fraction of the baseline
    week_min_age: float = 14 * 86400.0  # seconds modelled before the weekly buckets count
    trend_segment: float = 300.0  # seconds of samples per mean the trend check compares
    trend_segments: int = 12  # means kept: the longest run looked at (an hour)
    trend_min_run: int = 3  # means in a row, each above (below) the last, that make a trend
    # A trend must move more than this fraction of the level: a day's swing moves less than
    # 15 % of a series' level in an hour, a leak of 1 %/min moves 25 % in 25 min.
    trend_rise: float = 0.25
    # A random walk moves about its step × √steps; a trend moves its slope × steps.
    trend_z: float = 4.0


DEFAULT_TUNING = Tuning()

# Where the week starts in a model's `buckets` (after the day's 24 × (base, spread)) and
# in its `counts` (after the day's 24); the most a count holds.
_WEEK_BASES = 48
_WEEK = 24
BUCKETS = _WEEK_BASES + 168
COUNTS = _WEEK + 168
COUNT_MAX = 65535


# A closed segment of the trend check: its mean, the band's spread then, the usual step.
_SEGMENT = struct.Struct("3d")


class SeriesModel(msgspec.Struct, eq=False, gc=False):
    """One series' model. Untracked by the cyclic garbage collector (`gc=False`, its means
    as bytes, not an array): it holds numbers, strings and its buckets, never a cycle, and
    a hub models up to `max_series` (100,000) series. Tracked, they were most of what a
    full collection walked once the map was complete (model, means and the tuple holding
    them: 240,000 of 310,000 objects, 325 ms of CPU in bench/federation.py --full), made
    after the collector had frozen the map (engine/collection.py). The buckets stay arrays
    (tracked): only a series that moves has them, and they are changed in place."""

    floor: float  # the least half-width of the band, in the series' unit
    series: str = ""  # its name (`cpu_percent`, a custom metric's...)
    count: int = 0
    base: float = 0.0
    spread: float = 0.0
    state: str = LEARNING
    out: int = 0  # consecutive unusual (while normal) or usual (while unusual) samples
    since: float = 0.0  # when the current anomaly's first unusual sample came
    shifted: float = 0.0  # the level the series holds during an anomaly
    run: int = 0  # samples in the current anomaly
    # The hourly buckets, made once the series moves (`_learn_season`): float32
    # 24 × (base, spread) of the day, then 168 bases of the week; and their sample
    # counts (uint16, saturating), the day's 24 then the week's 168.
    buckets: array[float] | None = None
    counts: array[int] | None = None
    born: float = 0.0  # when the first sample came
    held: float = 0.0  # since when the anomaly's level has held (the acceptance clock)
    trend: int = 0  # +1 rising, -1 falling: the current anomaly is a trend
    extreme: float = 0.0  # the trend's furthest mean so far
    # The trend check's means: the current segment's sum and count, then the closed
    # ones as (mean, spread, step) triples of float64, oldest first (`_means`); the step
    # is the weighted mean distance between one mean and the next while the series is
    # usual.
    step: float = 0.0
    steps: int = 0
    seg_at: int = -1
    seg_n: int = 0
    seg_sum: float = 0.0
    segs: bytes = b""
    accepted: bool = False  # the last anomaly ended as the new normal
    last: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def _means(self) -> memoryview[float]:
        """The closed segments' triples as float64s (indexed as the array they were)."""
        return memoryview(self.segs).cast("d")

    def half_width(self, base: float, spread: float, tuning: Tuning) -> float:
        return max(tuning.k * spread, self.floor, tuning.relative_floor * abs(base))

    def update(self, value: float, now: float, tuning: Tuning = DEFAULT_TUNING) -> str:
        """Take one sample; the state after it (learning, normal or unusual)."""
        self.last = value
        if self.count == 0:
            self.base, self.count, self.born = value, 1, now
            self.low = self.high = value
            return self.state
        width = self.half_width(self.base, self.spread, tuning)
        low, high = self.base - width, self.base + width
        outside = not low <= value <= high
        seasonal = self._seasonal_band(now, tuning)
        if seasonal is not None:
            s_low, s_high = seasonal
            outside = outside and not s_low <= value <= s_high
            low, high = min(low, s_low), max(high, s_high)
        self.low, self.high = low, high

        self._learn_season(value, now, tuning)
        if self.count < tuning.warmup:
            self._learn(value, tuning)
            self.count += 1
            if self.count >= tuning.warmup:
                self.state = NORMAL
            return self.state
        # Means of samples clipped to the band, so a blip cannot make a run (a drift stays
        # inside the band it drags along); while unusual, the band is frozen: as they come.
        closed = self._track(value if self.state == UNUSUAL else min(max(value, low), high),
                             now, tuning)
        if self.state == UNUSUAL:
            if closed and self.trend and (self._means()[-3] - self.extreme) * self.trend > \
                    (self.high - self.low) / 8:
                # A new extreme: still climbing (falling), not yet a level to accept.
                self.held, self.extreme = now, self._means()[-3]
            self._during_anomaly(value, outside, now, tuning)
        else:
            self.out = self.out + 1 if outside else 0
            if self.out == 1:
                self.since = self.held = now
            if self.out >= tuning.confirm:
                self._begin(value, 0)
            else:
                self._learn(value, tuning, low, high)
                # A run the hour's buckets expect (the morning's climb) is no trend.
                if closed and not self.out and not (
                        seasonal is not None and seasonal[0] <= value <= seasonal[1]):
                    self._check_trend(value, now, tuning)
        self.count += 1
        return self.state

    def _begin(self, value: float, trend: int) -> None:
        self.state, self.out, self.run, self.trend = UNUSUAL, 0, 0, trend
        self.shifted = value

    def _seasonal_band(self, now: float, tuning: Tuning) -> tuple[float, float] | None:
        """The band this hour of the day and of the week expect, where they are trusted."""
        buckets, counts = self.buckets, self.counts
        if buckets is None or counts is None:
            return None
        hour = int(now // 3600) % 24
        s_count, s_base, s_spread = counts[hour], buckets[hour * 2], buckets[hour * 2 + 1]
        band: tuple[float, float] | None = None
        if s_count >= tuning.season_min:
            s_width = self.half_width(s_base, s_spread, tuning)
            band = (s_base - s_width, s_base + s_width)
        if now - self.born >= tuning.week_min_age:
            w = int(now // 3600) % 168
            if counts[_WEEK + w] >= tuning.warmup:
                w_base = buckets[_WEEK_BASES + w]
                w_width = self.half_width(w_base, s_spread if s_count else self.spread, tuning)
                low, high = w_base - w_width, w_base + w_width
                band = (low, high) if band is None else (min(band[0], low), max(band[1], high))
        return band

    def _during_anomaly(self, value: float, outside: bool, now: float, tuning: Tuning) -> None:
        self.run += 1
        self.shifted += tuning.alpha * 4 * (value - self.shifted)  # follows the new level
        self.out = 0 if outside else self.out + 1
        if self.out >= tuning.confirm:
            self.state, self.out, self.accepted = NORMAL, 0, False  # back in the band
        elif now - self.held >= tuning.accept_after:
            # Long enough to be the new normal: start from the level it holds.
            self.spread = max(self.spread, abs(value - self.shifted))
            self.base = self.shifted
            self.state, self.out, self.accepted = NORMAL, 0, True
        if self.state == NORMAL:
            # The anomaly's means (the current one's too) are no run to compare with.
            self.trend, self.seg_n, self.seg_sum, self.segs = 0, 0, 0.0, b""

    # -- trends --------------------------------------------------------------------------
    def _track(self, value: float, now: float, tuning: Tuning) -> bool:
        """Add a sample to its segment's mean; True when it closed the one before (a gap
        of a segment or more breaks the run: the means must follow each other)."""
        at = int(now // tuning.trend_segment)
        closed = False
        if at != self.seg_at:
            segs = self.segs
            if self.seg_n and at == self.seg_at + 1:
                mean = self.seg_sum / self.seg_n
                if segs and self.state != UNUSUAL:
                    self.steps += 1
                    self.step += max(1.0 / self.steps, 0.1) * (
                        abs(mean - self._means()[-3]) - self.step)
                if len(segs) >= _SEGMENT.size * tuning.trend_segments:
                    segs = segs[_SEGMENT.size:]
                # Once a segment (5 min): a new bytes object each time costs nothing.
                self.segs = segs + _SEGMENT.pack(mean, self.spread, self.step)
                closed = True
            else:
                self.segs = b""
            self.seg_at, self.seg_sum, self.seg_n = at, 0.0, 0
        self.seg_sum += value
        self.seg_n += 1
        return closed

    def _check_trend(self, value: float, now: float, tuning: Tuning) -> None:
        """A steady run of means that left the band it started in: a trend anomaly."""
        segs = self._means()
        means = len(segs) // 3
        if means < tuning.trend_min_run:
            return
        last = segs[-3] - segs[-6]
        direction = 1 if last > 0 else -1 if last < 0 else 0
        if not direction:
            return
        run = 2
        while run < means and (segs[-3 * run] - segs[-3 * run - 3]) * direction > 0:
            run += 1
        if run < tuning.trend_min_run:
            return
        start, spread, step = segs[-3 * run], segs[-3 * run + 1], segs[-3 * run + 2]
        moved = (segs[-3] - start) * direction
        if moved < max(self.floor, tuning.trend_rise * abs(start), tuning.k * spread,
                       tuning.trend_z * step * math.sqrt(run - 1)):
            return
        # Unusual since the run began, against the band it had then.
        width = self.half_width(start, spread, tuning)
        self.base, self.spread = start, spread
        self.low, self.high = start - width, start + width
        self.since = (self.seg_at - run) * tuning.trend_segment
        self.held, self.extreme = now, segs[-3]
        self._begin(value, direction)

    def _learn(self, value: float, tuning: Tuning, low: float | None = None,
               high: float | None = None) -> None:
        """Learn from a sample: the baseline from it clipped to the band, the spread only
        from samples inside the band (else a ramp, each sample at the band's edge, would
        widen the band by a fifth every sample and never be seen)."""
        a = tuning.alpha
        if low is not None and high is not None and not low <= value <= high:
            self.base += a * (min(max(value, low), high) - self.base)
            return
        # While warming up: plain running means (the first samples weigh as much as later).
        ws = max(1.0 / self.count, a * tuning.spread_weight)
        deviation = abs(value - self.base)
        if self.count >= tuning.warmup:
            # Huber's scale: a deviation counts at most 2 spreads, so the band widens by at
            # most 1 % a sample (a ramp must outrun it to be seen).
            deviation = min(deviation, 2.0 * self.spread)
        self.spread += ws * (deviation - self.spread)
        self.base += max(1.0 / (self.count + 1), a) * (value - self.base)

    def _learn_season(self, value: float, now: float, tuning: Tuning) -> None:
        """Every sample teaches its hour's bucket, anomalies included: a bucket is slow, and
        what happens at this hour every day is exactly what it is there to learn."""
        buckets, counts = self.buckets, self.counts
        if buckets is None or counts is None:
            if abs(value - self.base) <= self.floor / 2:
                return  # still flat: its hours would all learn its baseline
            buckets = self.buckets = array("f", bytes(4 * BUCKETS))
            counts = self.counts = array("H", bytes(2 * COUNTS))
        hour = int(now // 3600) % 24
        i = hour * 2
        if counts[hour] == 0:
            buckets[i] = value
        else:
            sa = tuning.season_alpha
            s_width = self.half_width(buckets[i], buckets[i + 1], tuning)
            x = min(max(value, buckets[i] - s_width), buckets[i] + s_width) \
                if counts[hour] >= tuning.warmup else value
            buckets[i + 1] += sa * (abs(x - buckets[i]) - buckets[i + 1])
            buckets[i] += sa * (x - buckets[i])
        if counts[hour] < COUNT_MAX:
            counts[hour] += 1
        w = int(now // 3600) % 168
        wb, wc = _WEEK_BASES + w, _WEEK + w
        if counts[wc] == 0:
            buckets[wb] = value
        else:
            w_width = self.half_width(buckets[wb], buckets[i + 1], tuning)
            x = min(max(value, buckets[wb] - w_width), buckets[wb] + w_width) \
                if counts[wc] >= tuning.warmup else value
            buckets[wb] += tuning.season_alpha * (x - buckets[wb])
        if counts[wc] < COUNT_MAX:
            counts[wc] += 1

    def band(self) -> tuple[float, float]:
        """The expected band as of the last sample."""
        return self.low, self.high
