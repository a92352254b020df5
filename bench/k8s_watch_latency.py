"""Kubernetes source on a 10,000-pod kubesim cluster: initial sync time, watch event ->
hub latency under 100 pod updates/s, side by side with `kubectl get pods -A -w` on the
same server, and the resident memory of the process running the source and the engine's
hub (and of kubesim).

kubesim runs in its own process (`python -m gestalt.sim.kubesim --churn`), each churn
write stamps the pod with the time it was written; what the source hands the hub and
kubectl's output are timed against that stamp. `--no-hub` leaves the hub out, to see the
source's own share of the memory.

    python bench/k8s_watch_latency.py [--pods 10000] [--rate 100] [--seconds 20] [--no-hub]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import psutil
from benchlib import command_line, summary_ms, write_result

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import Connection, Entity, Event, SourceState
from gestalt.model.config import KubernetesCollector
from gestalt.sim.scenarios import STAMP_ANNOTATION
from gestalt.sources.base import Sink
from gestalt.sources.kubernetes import KubernetesSource


class LatencySink:
    """Records when each stamped pod update arrives, after passing everything on to the
    hub (when there is one)."""

    def __init__(self, hub: Sink | None = None) -> None:
        self.hub = hub
        self.latencies: list[float] = []
        self.seen: set[str] = set()
        self.snapshot_at: float | None = None
        self.entities = self.connections = 0
        self.measuring = False

    def snapshot(self, entities: Iterable[Entity], connections: Iterable[Connection] = (), *,
                 observed_at: float | None = None) -> None:
        entities, connections = list(entities), list(connections)
        if self.hub is not None:
            self.hub.snapshot(entities, connections, observed_at=observed_at)
        self.entities, self.connections = len(entities), len(connections)
        if self.snapshot_at is None:
            self.snapshot_at = time.time()

    def upsert(self, entities: Iterable[Entity] = (), connections: Iterable[Connection] = (), *,
               observed_at: float | None = None) -> None:
        entities = list(entities)
        if self.hub is not None:
            self.hub.upsert(entities, connections, observed_at=observed_at)
        now = time.time()
        for entity in entities:
            stamp = entity.annotations.get(STAMP_ANNOTATION)
            if stamp and self.measuring and stamp not in self.seen:
                self.seen.add(stamp)
                self.latencies.append(now - float(stamp))

    def remove(self, entity_ids: Iterable[str] = (), connection_ids: Iterable[str] = (), *,
               observed_at: float | None = None) -> None:
        if self.hub is not None:
            self.hub.remove(entity_ids, connection_ids, observed_at=observed_at)

    def event(self, event: Event) -> None:
        if self.hub is not None:
            self.hub.event(event)

    def metrics(self, entity_id: str, values: Mapping[str, Any], observed_at: float) -> None:
        if self.hub is not None:
            self.hub.metrics(entity_id, values, observed_at)

    def status(self, state: SourceState, reason: str = "", **_: object) -> None:
        if self.hub is not None:
            self.hub.status(state, reason)


async def kubectl_watch(kubeconfig: str, latencies: list[float], measuring: list[bool]) -> None:
    template = ("{.metadata.annotations." + STAMP_ANNOTATION.replace(".", "\\.") + "}{\"\\n\"}")
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-A", "--watch-only",
        "-o", f"jsonpath={template}", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    seen: set[str] = set()
    try:
        while line := await proc.stdout.readline():
            now = time.time()
            stamp = line.decode().strip()
            if stamp and measuring[0] and stamp not in seen:
                seen.add(stamp)
                latencies.append(now - float(stamp))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run(pods: int, rate: float, seconds: float, with_hub: bool) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="k8s-bench-")
    kubeconfig = os.path.join(workdir, "kubeconfig")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gestalt.sim.kubesim", "--scenario", "static", "--pods", str(pods),
        "--nodes", str(max(3, pods // 100)), "--namespaces", "20", "--churn", str(rate),
        "--history", "100000", "--kubeconfig-out", kubeconfig, stdout=asyncio.subprocess.PIPE)
    assert server.stdout is not None
    try:
        for _ in range(3):
            print((await asyncio.wait_for(server.stdout.readline(), 300)).decode().strip())
        hub = Hub(Store()) if with_hub else None
        sink = LatencySink(hub.sink("kubernetes") if hub is not None else None)
        source = KubernetesSource(KubernetesCollector(kubeconfig=kubeconfig, poll_interval=5.0))
        rss_before = psutil.Process().memory_info().rss
        started, cpu_started = time.time(), time.process_time()
        task = asyncio.create_task(source.run(sink))
        while sink.snapshot_at is None:
            if task.done():
                await task
            await asyncio.sleep(0.05)
        sync_seconds = sink.snapshot_at - started
        # This process's CPU (source and hub): steadier than the wall time when the cores
        # are shared with kubesim and others.
        sync_cpu = time.process_time() - cpu_started
        rss_source = psutil.Process().memory_info().rss
        rss_server = psutil.Process(server.pid).memory_info().rss
        kubectl_latencies: list[float] = []
        measuring = [False]
        kubectl = None
        if shutil.which("kubectl"):
            kubectl = asyncio.create_task(kubectl_watch(kubeconfig, kubectl_latencies, measuring))
        await asyncio.sleep(3)  # let kubectl's watch open
        measuring[0] = sink.measuring = True
        await asyncio.sleep(seconds)
        measuring[0] = sink.measuring = False
        for t in (task, kubectl):
            if t is not None:
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        ours = summary_ms(sink.latencies)
        theirs = summary_ms(kubectl_latencies) if kubectl_latencies else None
        result: dict[str, Any] = {
            "pods": pods, "churn_per_second": rate, "measured_seconds": seconds,
            "with_hub": with_hub,
            "initial_sync_seconds": round(sync_seconds, 3),
            "initial_sync_cpu_seconds": round(sync_cpu, 3),
            "entities_in_first_snapshot": sink.entities,
            "edges_in_first_snapshot": sink.connections,
            "rss_before_source_mb": round(rss_before / 2**20, 1),
            "rss_source_process_mb": round(rss_source / 2**20, 1),
            "bytes_per_entity": round((rss_source - rss_before) / sink.entities),
            "rss_kubesim_mb": round(rss_server / 2**20, 1),
            "source_latency": ours, "kubectl_watch_latency": theirs,
        }
        if theirs:
            result["ratio_source_to_kubectl"] = {
                "p50": round(ours["p50_ms"] / theirs["p50_ms"], 2),
                "p99": round(ours["p99_ms"] / theirs["p99_ms"], 2)}
        return result
    finally:
        server.terminate()
        await server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pods", type=int, default=10_000, help="pods of the cluster")
    parser.add_argument("--rate", type=float, default=100.0, help="pod updates per second")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds of churn measured")
    parser.add_argument("--no-hub", action="store_true", help="the source alone")


def main() -> None:
    args = command_line(__doc__, options)
    write_result("k8s_watch_latency",
                 asyncio.run(run(args.pods, args.rate, args.seconds, not args.no_hub)))


if __name__ == "__main__":
    main()
