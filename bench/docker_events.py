"""Docker event -> sink upsert: how long after the engine records a container's `start`
(or `die`) the docker source reports the container as that event left it.

Latency = wall time of the upsert made for that event - the engine's event time
(`timeNano`, which the source passes on as `observed_at` and as the feed event's
timestamp); the engine runs on this machine, so both clocks are one. Each iteration runs a
container (`docker run -d`, with its create/connect/start burst) and stops it (`docker stop`:
kill, die, disconnect, stop).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from benchlib import command_line

from gestalt.model import EntityStatus, ids
from gestalt.model.config import DockerCollector
from gestalt.sources.docker import DockerSource

ITERATIONS = 50
IMAGE = "gestalt-busybox:test"
RESULTS = Path(__file__).parent / "results"


class UpsertClock:
    """Records when each (container, event time) upsert happened, and the feed's events."""

    def __init__(self) -> None:
        self.upserted: dict[tuple[str, float], tuple[EntityStatus, float]] = {}
        self.event_at: dict[tuple[str, str], float] = {}
        self.changed = asyncio.Event()
        self.listed = asyncio.Event()

    def snapshot(self, entities, connections=(), *, observed_at=None):  # type: ignore[no-untyped-def]
        self.listed.set()

    def upsert(self, entities=(), connections=(), *, observed_at=None):  # type: ignore[no-untyped-def]
        now = time.time()
        for e in entities:
            self.upserted.setdefault((e.id, observed_at), (e.status, now))
        self.changed.set()

    def event(self, event):  # type: ignore[no-untyped-def]
        self.event_at.setdefault((event.entity_id, event.reason), event.timestamp)
        self.changed.set()

    def remove(self, *a, **k): ...  # type: ignore[no-untyped-def]
    def metrics(self, *a, **k): ...  # type: ignore[no-untyped-def]
    def status(self, *a, **k): ...  # type: ignore[no-untyped-def]

    async def latency(self, cid: str, reason: str, status: EntityStatus) -> float:
        """From the engine's `reason` event to the upsert the source made for it."""
        deadline = time.monotonic() + 30
        while True:
            at = self.event_at.get((cid, reason))
            if at is not None and (cid, at) in self.upserted:
                shown, upserted_at = self.upserted[(cid, at)]
                assert shown is status, (reason, shown)
                return upserted_at - at
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())


async def docker(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode().strip()}")
    return out.decode().strip()


async def measure() -> dict[str, list[float]]:
    sink = UpsertClock()
    # Stats polling stays on at its default interval: it shares the engine and the loop.
    task = asyncio.create_task(DockerSource(DockerCollector()).run(sink))
    await asyncio.wait_for(sink.listed.wait(), 30)
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    started: list[float] = []
    exited: list[float] = []
    try:
        for i in range(ITERATIONS):
            name = f"{prefix}-{i}"
            full_id = await docker("run", "-d", "--name", name, "--label", "gestalt.bench=1",
                                   IMAGE, "sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")
            cid = ids.container(full_id)
            started.append(await sink.latency(cid, "start", EntityStatus.RUNNING))
            await docker("stop", name)
            exited.append(await sink.latency(cid, "die", EntityStatus.EXITED))
            await docker("rm", name)
    finally:
        task.cancel()
        names = (await docker("ps", "-aq", "--filter", "label=gestalt.bench=1")).split()
        if names:
            await docker("rm", "-f", *names)
    return {"start": started, "die": exited}


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], 2),
        "max_ms": round(ms[-1], 2),
    }


def main() -> None:
    command_line(__doc__)
    measured = asyncio.run(measure())
    version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                             capture_output=True, text=True).stdout.strip()
    result = {
        "benchmark": "docker_events",
        "cpus": os.cpu_count(),
        "engine": version,
        "iterations": ITERATIONS,
        "what": "engine event (start, die) time -> the sink upsert made for it",
        **{f"event_{action}": summary(values) for action, values in measured.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "docker_events.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
