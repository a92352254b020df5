"""Anomaly detection end to end against the real Docker engine: a container that idles and
then burns a CPU is flagged (the `anomaly` check, an alert, the feed, the paths); marking it
expected mutes it and is recorded; "what changed around this alert" lists it; the mute
and what the models learned outlive a restart of `gestalt serve`."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model.config import load_config
from tests.support.cli import serving
from tests.support.docker import Objects, docker
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


# Idles until the test says go (a file appears), then spins: the burn starts after the
# restarted server has learned the idle series.
WAIT_THEN_BURN = ["sh", "-c", "trap 'exit 0' TERM; while [ ! -f /tmp/go ]; do sleep 0.2; done; "
                  "while :; do :; done"]


async def test_a_muted_series_stays_muted_across_a_restart(
        tmp_path: Path, docker_engine: str, objects: Objects) -> None:
    """Two real `gestalt serve` processes, one after the other on one data dir: what the
    first was told to expect for 30 min is still expected by the second; a mute whose time
    ran out meanwhile is not; what the first's models learned, the second's know."""
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
    muted_name, muted_full = await objects.run("--cpus", "0.5", command=WAIT_THEN_BURN)
    control_name, control_full = await objects.run("--cpus", "0.5", command=WAIT_THEN_BURN)
    muted, control = f"container:{muted_full[:12]}", f"container:{control_full[:12]}"

    async with serving(config) as first, httpx.AsyncClient(base_url=first.url,
                                                            timeout=10) as client:
        async def seen() -> bool:
            answers = [await client.get(f"/api/infra/anomalies/series/{cid}")
                       for cid in (muted, control)]
            return all(a.status_code == 200 for a in answers)

        await eventually(seen, timeout=30, what="both containers seen")
        done = await client.post("/api/infra/anomalies/expected", json={
            "entity_id": muted, "minutes": 30, "reason": "load test"})
        assert done.status_code == 201, done.text
        until = done.json()["until"]
        short = await client.post("/api/infra/anomalies/expected", json={
            "entity_id": control, "minutes": 0.01, "reason": "a moment"})  # 0.6 s
        assert short.status_code == 201, short.text

        async def samples() -> int:
            rows = (await client.get(f"/api/infra/anomalies/series/{muted}")).json()
            return next((r["samples"] for r in rows.get("series", [])
                         if r["series"] == "cpu_percent"), 0)

        # Learned for a while (40 samples, 12 s): more than a new model could have by the
        # time the second server first answers.
        async def enough() -> bool:
            return await samples() >= 40

        await eventually(enough, timeout=60, what="40 samples of cpu_percent")
        learned_before = await samples()
    assert first.proc.returncode in (0, -signal.SIGTERM), first.stderr
    assert "Traceback" not in first.stderr, first.stderr

    async with serving(config) as second, httpx.AsyncClient(base_url=second.url,
                                                             timeout=10) as client:
        # What the model learned came back with it: not learning, its samples counted on.
        async def restored() -> list[dict] | None:
            answer = await client.get(f"/api/infra/anomalies/series/{muted}")
            rows = answer.json().get("series", []) if answer.status_code == 200 else []
            return [r for r in rows if r["series"] == "cpu_percent"] or None

        await eventually(restored, timeout=30, what="the muted container seen again")
        row = (await restored() or [{}])[0]
        assert row["state"] == "normal" and row["samples"] >= learned_before, row
        expected = (await client.get("/api/infra/anomalies")).json()["expected"]
        assert [(m["entity_id"], m["series"], m["reason"]) for m in expected] == [
            (muted, None, "load test")]
        assert abs(expected[0]["until"] - until) < 1.0

        async def learned() -> bool:
            for cid in (muted, control):
                rows = (await client.get(f"/api/infra/anomalies/series/{cid}")).json()
                if not any(r["series"] == "cpu_percent" and r["state"] == "normal"
                           for r in rows.get("series", [])):
                    return False
            return True

        async def anomaly_of(cid: str) -> dict | None:
            listed = (await client.get("/api/infra/anomalies")).json()["anomalies"]
            return next((a for a in listed if a["entity_id"] == cid), None)

        async def firing(cid: str) -> bool:
            alerts = (await client.get("/api/infra/alerts")).json()["alerts"]
            return any(a["rule"] == "anomaly" and a["entity_id"] == cid
                       and a["state"] == "firing" for a in alerts)

        await eventually(learned, timeout=30, what="cpu_percent learned after the restart")
        await docker("exec", muted_name, "sh", "-c", ": > /tmp/go")
        await eventually(lambda: anomaly_of(muted), timeout=30, what="the muted one unusual")
        unusual = await anomaly_of(muted)
        assert unusual is not None and unusual["muted"] == "load test"
        # The control (its short mute ran out) burns only now: by the time its alert fires,
        # the alerts have judged the muted one, unusual all along, many times.
        await docker("exec", control_name, "sh", "-c", ": > /tmp/go")
        await eventually(lambda: firing(control), timeout=30, what="the control's alert")
        assert (await anomaly_of(control) or {}).get("muted") is None
        assert not await firing(muted)
    assert second.proc.returncode in (0, -signal.SIGTERM), second.stderr
    assert "Traceback" not in second.stderr, second.stderr
