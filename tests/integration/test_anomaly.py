"""Anomaly detection end to end against the real Docker engine: a container that idles and
then burns a CPU is flagged (the `anomaly` check, an alert, the feed, the paths); marking it
expected mutes it and is recorded; "what changed around this alert" lists it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model.config import load_config
from tests.support.docker import Objects
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

# Idle long enough to learn (warmup samples at 0.3 s), then spin.
BURN = ["sh", "-c", "trap 'exit 0' TERM; sleep 12; while :; do :; done"]


async def test_a_container_that_starts_burning_cpu_is_unusual(
        tmp_path: Path, docker_engine: str, objects: Objects) -> None:
    config = tmp_path / "gestalt.yaml"
    config.write_text(
        f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
        "history: {sample_interval: 0}\n"
        "anomaly: {interval: 0.3, warmup: 10, confirm: 2}\n"
        "alerts: {evaluation_interval: 0.2}\n"
        "collectors:\n"
        "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
        "  kubernetes: {enabled: false}\n"
        f'  docker: {{enabled: true, socket: "{docker_engine}", poll_interval: 0.3}}\n')
    engine = Engine(load_config(config, env={}))
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        _, full_id = await objects.run("--cpus", "0.5", command=BURN)
        cid = f"container:{full_id[:12]}"

        async def learning_then_normal() -> bool:
            answer = await client.get(f"/api/infra/anomalies/series/{cid}")
            rows = answer.json().get("series", []) if answer.status_code == 200 else []
            return any(r["series"] == "cpu_percent" and r["state"] == "normal" for r in rows)

        await eventually(learning_then_normal, timeout=30, what="cpu_percent learned")

        def alert() -> dict | None:
            return next((a for a in engine.alerts()
                         if a.rule == "anomaly" and a.entity_id == cid and a.state == "firing"),
                        None)

        await eventually(lambda: alert() is not None, timeout=30, what="the anomaly alert")
        firing = alert()
        cpu = ("cpu_percent", "cpu_usage")  # of the host, and millicores
        assert firing is not None and firing.message.startswith(cpu)
        assert "unusual" in firing.message
        current = (await client.get("/api/paths/world.infra.anomaly.current")).json()["result"]
        row = next(r for r in current if r["entity_id"] == cid)
        assert row["series"] in cpu and row["observed"] > row["expected_high"]
        assert row["since"] <= row["detected_at"]

        await engine.history.flushed()  # the feed's events are read from history
        around = (await client.get("/api/paths/world.infra.changes.around",
                                   params={"alert": firing.id})).json()["result"]
        assert cid in around["entities"]
        assert any(a["series"] in cpu for a in around["anomalies"])
        assert any(e["reason"] == "AnomalyStarted" for e in around["events"])

        # Bad input is a 4xx; then the user says it is expected: the alert resolves.
        bad = await client.post("/api/infra/anomalies/expected",
                                json={"entity_id": cid, "minutes": -5})
        assert bad.status_code == 422
        missing = await client.post("/api/infra/anomalies/expected",
                                    json={"entity_id": "container:nope", "minutes": 5})
        assert missing.status_code == 404
        done = await client.post("/api/infra/anomalies/expected", json={
            "entity_id": cid, "minutes": 30, "reason": "load test"})  # every series
        assert done.status_code == 201, done.text
        await eventually(lambda: alert() is None, timeout=15, what="the alert resolved")
        listed = (await client.get("/api/infra/anomalies")).json()
        assert any(a["entity_id"] == cid and a["muted"] == "load test"
                   for a in listed["anomalies"])
        await engine.history.flushed()
        events = (await client.get("/api/infra/events",
                                   params={"entity_id": cid})).json()["events"]
        assert any(e["reason"] == "AnomalyExpected" and "load test" in e["message"]
                   for e in events)
