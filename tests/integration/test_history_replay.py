"""The replay stream (`/api/infra/topology/stream?from=&speed=`) over a real uvicorn server
and the real engine and history: the recorded metric samples come as the live stream's
`metrics` frames, in time order among the deltas, each with its recorded time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from gestalt.engine.runtime import Engine
from gestalt.model import Entity, EntityKind, EntityStatus, SourceState
from gestalt.model.config import Config, HistoryConfig, ServerConfig
from tests.support.server import running_server
from tests.support.sse import frames
from tests.support.wait import eventually


def pod(i: int) -> Entity:
    return Entity(id=f"pod:c/shop/web-{i}", kind=EntityKind.POD, name=f"web-{i}",
                  namespace="shop", status=EntityStatus.RUNNING)


async def test_a_replay_sends_the_recorded_metrics_in_time_order(tmp_path: Path) -> None:
    config = Config(server=ServerConfig(data_dir=str(tmp_path / "data"), metrics_interval=0.1),
                    history=HistoryConfig(sample_interval=0))
    engine = Engine(config, sources=[])
    async with running_server(engine) as url:
        sink = engine.hub.sink("manual")
        sink.status(SourceState.OK)
        sink.snapshot([pod(0), pod(1)])
        history = engine.history

        async def sampled(entity: str, value: float) -> bool:
            await history.flushed()
            series = await history.metric_series(entity, ["cpu_percent"], 0)
            return value in [v for _, v in series.get("cpu_percent", [])]

        sink.metrics(pod(0).id, {"cpu_percent": 10.0, "memory_bytes": 1000}, time.time())
        await eventually(lambda: sampled(pod(0).id, 10.0), timeout=10, what="the first sample")
        sink.upsert([pod(2)])
        sink.metrics(pod(1).id, {"cpu_percent": 20.0}, time.time())
        await eventually(lambda: sampled(pod(1).id, 20.0), timeout=10, what="the second sample")
        await history.flushed()
        recorded = {(entity, ts, v) for entity in (pod(0).id, pod(1).id)
                    for ts, v in (await history.metric_series(entity, ["cpu_percent"], 0))
                    ["cpu_percent"]}

        seen: list[tuple[str, Any]] = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as client, client.stream(
                "GET", "/api/infra/topology/stream",
                params={"from": history.oldest, "speed": 0}) as response:
            assert response.status_code == 200
            async for frame in frames(response):
                seen.append((frame.event, frame.json()))
                if frame.event == "end":
                    break

    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "snapshot" and kinds[-1] == "end" and "delta" in kinds
    metrics = [body for kind, body in seen if kind == "metrics"]
    # Every recorded sample, once, with the time it was recorded.
    replayed = {(entity, body["timestamp"], values["cpu_percent"]) for body in metrics
                for entity, values in body["values"].items() if "cpu_percent" in values}
    assert replayed == recorded
    first = next(b for b in metrics if pod(0).id in b["values"])
    # As the live frame had them (its health score too).
    assert {"cpu_percent": 10.0, "memory_bytes": 1000.0}.items() \
        <= first["values"][pod(0).id].items()
    # In time order among the deltas, each frame carrying the version it applies to.
    times = [body["timestamp"] for kind, body in seen if kind in ("delta", "metrics")]
    assert times == sorted(times)
    upsert = next(b for kind, b in seen if kind == "delta"
                  and any(e["id"] == pod(2).id for e in b.get("upserts", [])))
    second = next(b for b in metrics if b["values"].get(pod(1).id, {}).get("cpu_percent") == 20)
    assert second["timestamp"] >= upsert["timestamp"] and second["version"] == upsert["version"]
