"""Time travel at 10,000 entities and 20,000 edges (the synthetic world), through the real
engine and history (SQLite), with the default keyframe settings:

- storage per hour at 20 structural changes per second, target <= 30 MB/h. A change is
  one of the synthetic world's: a pod restart (one entity changes) or a rolling update (a
  pod, its containers and edges go, new ones come: about 20 objects, two deltas);
  metric-only changes cost the topology nothing and are not counted. A shorter run is
  extrapolated to the hour: `CHANGES` changes are recorded and the growth of the
  topology's tables over them scaled to 72,000 (20/s for 3,600 s); the same growth per
  delta and per changed object is reported too, as "a change" can mean either; the
  topology before measuring (the first snapshot, a short warm-up) is reported apart.
- the topology at an arbitrary moment (what `GET /api/infra/topology?at=` computes:
  moments.topology_json_at: rebuild, summary, encode), target p99 <= 200 ms. The cost
  is one full keyframe, the incremental ones after it and the deltas after those (at most
  `history.keyframe_deltas`), whatever the retained span; the run holds `CHANGES`
  changes, not 24 h. Three clocks: wall time; the process's CPU time, which also counts
  what the engine's own tasks do meanwhile (alert rules over 10,000 entities, anomaly
  sampling: they run while the answer waits for its worker thread); and the CPU time of
  the work itself (the rebuild in history's reading thread, the summary and the encoding).
- replay at speed 0 to one client over a real HTTP server: frames per second.

    python bench/time_travel.py [CHANGES]
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchlib import command_line, summary_ms, write_result
from tests.support.server import running_server

from gestalt.engine.moments import sample_window, topology_json
from gestalt.engine.runtime import Engine
from gestalt.model import SourceState
from gestalt.model.config import Config, HistoryConfig, ServerConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld

PER_HOUR = 20 * 3600
MOMENTS = 40
WARM_UP = 300


def on_disk(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    topology = sum(v for k, v in tables.items()
                   if k.startswith(("bodies", "deltas", "keyframes", "sqlite_autoindex_bodies")))
    return {"used": (pages - free) * size, "topology": topology,
            "events": sum(v for k, v in tables.items() if k.startswith("events"))}


async def record(engine: Engine, world: SyntheticWorld, changes: int
                 ) -> tuple[int, int, float]:
    """`changes` structural changes through the hub; (deltas, objects changed, seconds)."""
    sink = engine.hub.sink("synthetic")
    first = engine.store.version
    started = time.perf_counter()
    done = objects = 0
    while done < changes:
        ups, edges, gone, gone_edges, events = world.churn()
        if not gone and not gone_edges and not events:
            continue  # metric-only: not a structural change
        if gone or gone_edges:
            sink.remove(gone, gone_edges)
        sink.upsert(ups, edges)
        for event in events:
            sink.event(event)
        done += 1
        objects += len(ups) + len(edges) + len(gone) + len(gone_edges)
        if done % 500 == 0:
            await engine.history.flushed()
    await engine.history.flushed()
    return engine.store.version - first, objects, time.perf_counter() - started


async def at_moments(engine: Engine, start: float, end: float) -> dict[str, Any]:
    rng = random.Random(7)
    past = engine.history.past
    window = sample_window(engine)
    wall: dict[str, list[float]] = {"first_after_start": [], "arbitrary": [],
                                    "scrubbing_nearby": []}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    work: dict[str, list[float]] = {k: [] for k in wall}

    async def timed(kind: str, moment: float) -> None:
        began, used = time.perf_counter(), time.process_time()
        spent = 0.0

        def answer(conn: sqlite3.Connection) -> bytes:
            nonlocal spent
            start = time.thread_time()
            body = topology_json(conn, past, moment, window)
            spent += time.thread_time() - start
            return body

        # What GET /api/infra/topology?at= does (moments.topology_json_at).
        await engine.history.settled(moment)
        await engine.history.read(answer)
        wall[kind].append(time.perf_counter() - began)
        cpu[kind].append(time.process_time() - used)
        work[kind].append(spent)

    for _ in range(MOMENTS):
        moment = rng.uniform(start, end)
        # first: nothing decoded yet (the first question after a start); arbitrary: no
        # keyframe or checkpoint cached, bodies as a server that has answered before has
        # them; scrubbing: a moment near the last one.
        past._keyframes.clear()
        past._checkpoints.clear()
        past._decoded.clear()
        past._encoded.clear()
        await timed("first_after_start", moment)
        past._keyframes.clear()
        past._checkpoints.clear()
        await timed("arbitrary", moment)
        await timed("scrubbing_nearby", moment + rng.uniform(-5, 5))
    # On a shared machine wall time measures the neighbours too: the process's CPU time
    # is what the work itself costs (it runs on one core at a time).
    return {"wall": {k: summary_ms(v) for k, v in wall.items()},
            "cpu": {k: summary_ms(v) for k, v in cpu.items()},
            "cpu_of_the_work": {k: summary_ms(v) for k, v in work.items()},
            "load_average": os.getloadavg()[0], "cores": os.cpu_count(), "target_p99_ms": 200}


async def replay(engine: Engine) -> dict[str, Any]:
    frames = 0
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=300) as client:
        began = time.perf_counter()
        async with client.stream("GET", "/api/infra/topology/stream", params={
                "from": engine.history.oldest, "speed": 0}) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    frames += 1
                    if line == "event: end":
                        break
        took = time.perf_counter() - began
    return {"frames": frames, "seconds": round(took, 2),
            "frames_per_second": round(frames / took, 1)}


async def measure(changes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(server=ServerConfig(data_dir=tmp),
                        history=HistoryConfig(max_disk_percent=0))
        engine = Engine(config, sources=[])
        await engine.start()
        try:
            world = SyntheticWorld(SyntheticCollector(entities=10_000, edges=20_000))
            sink = engine.hub.sink("synthetic")
            sink.snapshot(world.entities.values(), world.connections.values())
            sink.status(SourceState.OK)
            # Warm up: the first snapshot's keyframe and the first batches are behind us.
            await record(engine, world, WARM_UP)
            path = Path(tmp) / "history.sqlite3"
            base = on_disk(path)
            start = time.time()
            deltas, objects, took = await record(engine, world, changes)
            end = time.time()
            grown = on_disk(path)
            scale = PER_HOUR / changes
            per_hour = {k: round((grown[k] - base[k]) * scale / 1e6, 2) for k in grown}
            with sqlite3.connect(path) as conn:
                (keyframes,) = conn.execute("SELECT COUNT(*) FROM keyframes").fetchone()
            topology_bytes = grown["topology"] - base["topology"]
            storage = {
                "changes": changes, "deltas": deltas, "objects_changed": objects,
                "keyframes": keyframes,
                "bytes_per_change": round(topology_bytes / changes),
                "bytes_per_delta": round(topology_bytes / deltas),
                "bytes_per_object": round(topology_bytes / objects),
                "mb_per_hour_at_20_deltas_per_s": round(
                    topology_bytes / deltas * PER_HOUR / 1e6, 2),
                "mb_per_hour_at_20_objects_per_s": round(
                    topology_bytes / objects * PER_HOUR / 1e6, 2),
                "recorded_in_s": round(took, 1),
                "topology_mb_before_measuring": round(base["topology"] / 1e6, 2),
                "mb_per_hour_topology": per_hour["topology"],
                "mb_per_hour_with_events": round(per_hour["topology"] + per_hour["events"], 2),
                "mb_per_hour_database": per_hour["used"],
                "extrapolated_from_changes": changes, "target_mb_per_hour": 30,
            }
            print(storage, flush=True)
            moments = await at_moments(engine, start, end)
            print(moments, flush=True)
            return {"entities": len(engine.store.entities),
                    "edges": len(engine.store.connections), "storage": storage,
                    "topology_at_moment": moments, "replay_speed_0": await replay(engine)}
        finally:
            await engine.stop()


def main() -> None:
    changes = command_line(__doc__, lambda parser: parser.add_argument(
        "changes", nargs="?", type=int, default=12_000, metavar="CHANGES",
        help="structural changes recorded and extrapolated to the hour")).changes
    write_result("time_travel", asyncio.run(measure(changes)))


if __name__ == "__main__":
    main()
