"""Container metrics from one-shot stats samples.

With `one-shot=true` the engine answers at once but leaves `precpu_stats` empty, so CPU %
comes from the difference between our own consecutive samples of the same container:
container CPU time over host CPU time, a share of the whole host as Gestalt states CPU
for every entity (`docker stats` multiplies it by the CPUs online: 100 per busy core).
The first sample of a container has no CPU or rates yet (None: no data, not idle).
"""

from __future__ import annotations

from collections.abc import Iterable

from gestalt.sources.docker.api import MemoryStats, Stats, epoch

Metrics = dict[str, float | int | None]


class StatsTracker:
    """Keeps the previous sample per container and turns a new one into metrics."""

    def __init__(self) -> None:
        self._previous: dict[str, Stats] = {}

    def metrics(self, container_id: str, sample: Stats) -> Metrics:
        previous = self._previous.get(container_id)
        self._previous[container_id] = sample
        rx = tx = None
        if sample.networks is not None:
            rx = sum(n.rx_bytes for n in sample.networks.values())
            tx = sum(n.tx_bytes for n in sample.networks.values())
        values: Metrics = {
            "cpu_percent": _cpu_percent(previous, sample) if previous else None,
            "memory_bytes": memory_usage(sample.memory_stats),
            "memory_limit": sample.memory_stats.limit,
            "network_rx_bytes": rx,
            "network_tx_bytes": tx,
            "network_rx_rate": None,
            "network_tx_rate": None,
        }
        if previous is not None and previous.networks is not None and rx is not None:
            elapsed = _elapsed(previous, sample)
            if elapsed:
                prx = sum(n.rx_bytes for n in previous.networks.values())
                ptx = sum(n.tx_bytes for n in previous.networks.values())
                values["network_rx_rate"] = max(0, rx - prx) / elapsed
                values["network_tx_rate"] = max(0, (tx or 0) - ptx) / elapsed
        share = values["cpu_percent"]
        cpus = sample.cpu_stats.online_cpus
        if share is not None and cpus:
            # Millicores, as Kubernetes' metrics say it (cpu_percent is of the whole host).
            values["cpu_usage"] = round(share / 100.0 * cpus * 1000, 1)
        return values

    def keep_only(self, container_ids: Iterable[str]) -> None:
        keep = set(container_ids)
        for gone in self._previous.keys() - keep:
            del self._previous[gone]


def memory_usage(memory: MemoryStats) -> int | None:
    """Usage without the reclaimable page cache, as `docker stats` shows it."""
    if memory.usage is None:
        return None
    stats = memory.stats or {}
    inactive = stats.get("total_inactive_file")  # cgroup v1
    if inactive is None:
        inactive = stats.get("inactive_file", 0)  # cgroup v2
    return memory.usage - inactive if inactive < memory.usage else memory.usage


def _cpu_percent(previous: Stats, sample: Stats) -> float | None:
    now, before = sample.cpu_stats, previous.cpu_stats
    if now.system_cpu_usage is None or before.system_cpu_usage is None:
        return None
    system = now.system_cpu_usage - before.system_cpu_usage
    used = now.cpu_usage.total_usage - before.cpu_usage.total_usage
    if system <= 0 or used < 0:  # same sample twice, or a restart reset the counters
        return None
    return used / system * 100.0


def _elapsed(previous: Stats, sample: Stats) -> float | None:
    start, end = epoch(previous.read), epoch(sample.read)
    if start is None or end is None or end <= start:
        return None
    return end - start
