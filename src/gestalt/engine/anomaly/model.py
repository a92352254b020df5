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
  that always runs at 03:00 is expected at 03:00, not at 15:00.

Cold start is honest: for the first `warmup` samples the model is `learning` and judges
nothing. Every step is O(1) in time and memory (about 1 KB per series with its buckets).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

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
    warmup: int = 30  # samples before judging
    confirm: int = 3  # unusual samples in a row that make an anomaly (and usual that end it)
    accept_after: float = 1800.0  # seconds: an anomaly this long is the new normal
    season_alpha: float = 0.02  # weight within an hourly bucket (it sees 1/24 of samples)
    season_min: int = 600  # samples in an hourly bucket before it is trusted (~2 days at 10 s)
    relative_floor: float = 0.05  # the band is at least this fraction of the baseline


DEFAULT_TUNING = Tuning()


class SeriesModel:
    __slots__ = ("accepted", "base", "count", "floor", "level", "out", "run", "season", "shifted",
                 "since", "spread", "state", "last", "low", "high")

    def __init__(self, floor: float) -> None:
        self.floor = floor  # the least half-width of the band, in the series' unit
        self.count = 0
        self.base = 0.0
        self.spread = 0.0
        self.state = LEARNING
        self.out = 0  # consecutive unusual (while normal) or usual (while unusual) samples
        self.since = 0.0  # when the current anomaly's first unusual sample came
        self.shifted = 0.0  # the level the series holds during an anomaly
        self.run = 0  # samples in the current anomaly
        self.season: array[float] | None = None  # 24 × (count, base, spread), made lazily
        self.accepted = False  # the last anomaly ended as the new normal
        self.last = 0.0
        self.low = 0.0
        self.high = 0.0

    def half_width(self, base: float, spread: float, tuning: Tuning) -> float:
        return max(tuning.k * spread, self.floor, tuning.relative_floor * abs(base))

    def update(self, value: float, now: float, tuning: Tuning = DEFAULT_TUNING) -> str:
        """Take one sample; the state after it (learning, normal or unusual)."""
        self.last = value
        if self.count == 0:
            self.base, self.count = value, 1
            self.low = self.high = value
            return self.state
        width = self.half_width(self.base, self.spread, tuning)
        low, high = self.base - width, self.base + width
        outside = not low <= value <= high
        hour = int(now // 3600) % 24
        season = self.season
        if season is not None and season[hour * 3] >= tuning.season_min:
            s_base, s_spread = season[hour * 3 + 1], season[hour * 3 + 2]
            s_width = self.half_width(s_base, s_spread, tuning)
            outside = outside and not s_base - s_width <= value <= s_base + s_width
            low, high = min(low, s_base - s_width), max(high, s_base + s_width)
        self.low, self.high = low, high

        self._learn_season(value, now, tuning)
        if self.count < tuning.warmup:
            self._learn(value, tuning)
            self.count += 1
            if self.count >= tuning.warmup:
                self.state = NORMAL
            return self.state
        if self.state == UNUSUAL:
            self._during_anomaly(value, outside, now, tuning)
        else:
            self.out = self.out + 1 if outside else 0
            if self.out == 1:
                self.since = now
            if self.out >= tuning.confirm:
                self.state, self.out, self.run = UNUSUAL, 0, 0
                self.shifted = value
            else:
                self._learn(value, tuning, low, high)
        self.count += 1
        return self.state

    def _during_anomaly(self, value: float, outside: bool, now: float, tuning: Tuning) -> None:
        self.run += 1
        self.shifted += tuning.alpha * 4 * (value - self.shifted)  # follows the new level
        self.out = 0 if outside else self.out + 1
        if self.out >= tuning.confirm:
            self.state, self.out, self.accepted = NORMAL, 0, False  # back in the band
        elif now - self.since >= tuning.accept_after:
            # Long enough to be the new normal: start from the level it holds.
            self.spread = max(self.spread, abs(value - self.shifted))
            self.base = self.shifted
            self.state, self.out, self.accepted = NORMAL, 0, True

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
        season = self.season
        if season is None:
            season = self.season = array("d", bytes(8 * 72))
        i = (int(now // 3600) % 24) * 3
        if season[i] == 0:
            season[i + 1] = value
        else:
            sa = tuning.season_alpha
            s_width = self.half_width(season[i + 1], season[i + 2], tuning)
            x = min(max(value, season[i + 1] - s_width), season[i + 1] + s_width) \
                if season[i] >= tuning.warmup else value
            season[i + 2] += sa * (abs(x - season[i + 1]) - season[i + 2])
            season[i + 1] += sa * (x - season[i + 1])
        season[i] += 1

    def band(self) -> tuple[float, float]:
        """The expected band as of the last sample."""
        return self.low, self.high
