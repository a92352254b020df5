"""The `anomaly` and `cost` sections: what is unusual, and what it costs."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gestalt.model.config.types import Duration, Positive, Seconds, Section


class AnomalyConfig(Section):
    """Online anomaly detection on every metric series (engine/anomaly/model.py says how)."""

    enabled: bool = True
    # Every series is sampled this often (sources poll every 1-15 s).
    interval: Seconds = 10.0
    # The expected band is baseline ± band × spread (the mean absolute deviation).
    band: Annotated[float, msgspec.Meta(ge=1.0, le=50.0)] = 5.0
    # Samples before a series is judged ("learning" until then).
    warmup: Positive = 30
    # Unusual samples in a row that make an anomaly, and usual ones that end it.
    confirm: Positive = 3
    # An anomaly that lasts this long is accepted as the new normal.
    accept_after: Duration = "30m"
    # At most this many series are modelled (about 1 KB each); more are left unjudged.
    max_series: Positive = 100_000
