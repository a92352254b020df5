"""One Prometheus query cycle (every default query, results mapped to entities and
reported) against a real Prometheus holding series for 1,000 pods, each with one
container: 2,001 entities (containers, pods, the node)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time

import httpx
from benchlib import ROOT, command_line, summary_ms, write_result

sys.path.insert(0, str(ROOT))
from tests.fixtures.otlp.receiver import CountingSink  # noqa: E402
from tests.support.prometheus import Exporter, PrometheusServer  # noqa: E402

from gestalt.model.config import OtelCollector  # noqa: E402
from gestalt.sources.prometheus import PrometheusSource  # noqa: E402

PODS = 1000
CYCLES = 20


async def cycles(url: str) -> tuple[list[float], int, int]:
    source = PrometheusSource(OtelCollector(prometheus_endpoint=url))
    sink = CountingSink()
    took = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(CYCLES):
            started = time.perf_counter()
            cycle = await source.poll(client, sink)
            took.append(time.perf_counter() - started)
    return took, len(cycle.values), cycle.series


def main() -> None:
    command_line(__doc__)
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("no prometheus on PATH (scripts/services.sh installs it)")
    exporter = Exporter(pods=PODS)
    server = PrometheusServer(binary, [f"127.0.0.1:{exporter.port}"], scrape_interval="2s")
    try:
        server.start()
        server.wait_for_series("rate(container_cpu_usage_seconds_total[1m])", PODS, timeout=60)
        took, entities, series = asyncio.run(cycles(server.url))
    finally:
        server.close()
        exporter.close()
    write_result("prometheus_cycle", {
        "entities": entities,
        "series_per_cycle": series,
        "queries": len(OtelCollector().prometheus_queries),
        "cycle": summary_ms(took),
    })


if __name__ == "__main__":
    main()
