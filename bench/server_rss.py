"""Resident memory of `gestalt serve` holding 10,000 entities and 20,000 edges (the
synthetic source, churning), with one SSE client connected: the median of ten readings
over five seconds, with their range. Target: < 100 MB.

Read twice: once the map is loaded, and again in the steady state, after the anomaly
detector's second pass over every series (its models are made in its first pass, about ten
seconds after the map; a reading before that leaves them out). The private part (USS) is
reported beside RSS: RSS also counts shared libraries' pages, which other processes share."""

from __future__ import annotations

import statistics
import time

import httpx
import psutil
from benchlib import command_line, gestalt_serve, write_result


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def uss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_full_info().uss / 2**20, 1)


def readings(pid: int) -> tuple[float, list[float], float]:
    """The median RSS of ten readings over five seconds, their range, and the USS after."""
    samples = []
    for _ in range(10):
        time.sleep(0.5)
        samples.append(rss_mb(pid))
    return statistics.median(samples), [min(samples), max(samples)], uss_mb(pid)


def anomaly_passes(url: str) -> tuple[float | None, int]:
    status = httpx.get(f"{url}/api/paths/world.infra.anomaly.status",
                       timeout=30).json()["result"]
    return status["last_pass"], status["series"]["series"]


def main() -> None:
    command_line(__doc__)
    with gestalt_serve("synthetic: {enabled: false}") as (_url, pid):
        time.sleep(2)
        idle = rss_mb(pid)
    collectors = "synthetic: {enabled: true, entities: 10000, edges: 20000, churn_per_second: 10}"
    with gestalt_serve(collectors) as (url, pid):
        started = time.monotonic()
        while httpx.get(f"{url}/api/infra/topology?kinds=namespace").json()["summary"][
                "total"] == 0:
            time.sleep(0.2)
        doc = httpx.get(f"{url}/api/infra/topology", timeout=30).json()
        with httpx.stream("GET", f"{url}/api/infra/topology/stream", timeout=30) as stream:
            for _line in stream.iter_lines():
                break
            # Sampled over 5 s: one reading catches whatever a busy machine left queued.
            loaded, loaded_range, loaded_uss = readings(pid)
            # The steady state: the anomaly pass after the first that modelled the map.
            first_pass, deadline = None, time.monotonic() + 180
            while time.monotonic() < deadline:
                last_pass, series = anomaly_passes(url)
                if first_pass is None and last_pass is not None and series > 0:
                    first_pass = last_pass
                elif first_pass is not None and last_pass is not None and last_pass > first_pass:
                    break
                time.sleep(0.5)
            else:
                raise SystemExit("no second anomaly pass within 180 s")
            steady, steady_range, steady_uss = readings(pid)
        write_result("server_rss", {
            "entities": len(doc["entities"]),
            "edges": len(doc["connections"]),
            "rss_mb_empty": idle,
            "rss_mb_10k_loaded": loaded,
            "rss_mb_10k_loaded_range": loaded_range,
            "uss_mb_10k_loaded": loaded_uss,
            "rss_mb_10k": steady,
            "rss_mb_10k_range": steady_range,
            "uss_mb_10k": steady_uss,
            "anomaly_series": series,
            "ready_s": round(time.monotonic() - started, 1),
            "target_mb": 100,
        })


if __name__ == "__main__":
    main()
