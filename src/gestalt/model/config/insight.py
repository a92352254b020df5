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
    # Samples before a series is judged ("learning" until then): 15 min at 10 s, a whole
    # cycle of a GC'd heap or a 5-min cron, so their first drop is not news.
    warmup: Positive = 90
    # Unusual samples in a row that make an anomaly, and usual ones that end it.
    confirm: Positive = 3
    # An anomaly that lasts this long is accepted as the new normal.
    accept_after: Duration = "30m"
    # At most this many series are modelled (about 2.7 KB each); more are left unjudged.
    max_series: Positive = 100_000


# OpenCost's default prices (its `default.json`, on-demand, USD): what a cluster costs when
# nobody says otherwise. Per vCPU-hour, per GiB of memory per hour, per GiB of storage per
# month (0.04 / month = 0.00005479 / hour).
DEFAULT_CPU_HOUR = 0.031611
DEFAULT_MEMORY_GIB_HOUR = 0.004237
DEFAULT_STORAGE_GIB_MONTH = 0.04

Price = Annotated[float, msgspec.Meta(ge=0)]


class NodePrice(Section):
    """Prices for the nodes whose labels match all of `match` (the first row that matches
    wins), e.g. `{node.kubernetes.io/instance-type: m5.large}` or
    `{karpenter.sh/capacity-type: spot}`; a price left out is the section's."""

    match: dict[str, str]
    cpu_hour: Price | None = None
    memory_gib_hour: Price | None = None


class CostConfig(Section):
    """Cost allocation, OpenCost's model: a workload costs max(request, usage) × price over
    time; what a node costs beyond what its workloads are allocated is `idle`."""

    enabled: bool = True
    currency: str = "USD"
    cpu_hour: Price = DEFAULT_CPU_HOUR
    memory_gib_hour: Price = DEFAULT_MEMORY_GIB_HOUR
    storage_gib_month: Price = DEFAULT_STORAGE_GIB_MONTH
    nodes: list[NodePrice] = []
    # How often each entity's cost rate is recorded in history (cost over a range).
    record_interval: Seconds = 60.0
