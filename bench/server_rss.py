"""Resident memory of `gestalt serve` holding 10,000 entities and 20,000 edges (the
synthetic source, churning), with one SSE client connected: the median of ten readings
over five seconds, with their range. Target: < 100 MB."""

from __future__ import annotations

import statistics
import time

import httpx
import psutil
from benchlib import gestalt_serve, write_result


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def main() -> None:
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
            samples = []
            for _ in range(10):
                time.sleep(0.5)
                samples.append(rss_mb(pid))
            loaded = statistics.median(samples)
        write_result("server_rss", {
            "entities": len(doc["entities"]),
            "edges": len(doc["connections"]),
            "rss_mb_empty": idle,
            "rss_mb_10k": loaded,
            "rss_mb_10k_range": [min(samples), max(samples)],
            "ready_s": round(time.monotonic() - started, 1),
            "target_mb": 100,
        })


if __name__ == "__main__":
    main()
