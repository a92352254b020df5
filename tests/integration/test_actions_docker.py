"""Actions on the real Docker engine, through the HTTP API: each verb does exactly what it
says; every refusal (disabled, no or viewer token, outside the allow-list, over the rate
limit, a foreign Origin) is a clear error, in the audit log and in the feed; an
experiment's report matches what history recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model import Health, ids
from gestalt.model.config import load_config
from tests.support.docker import Objects, docker
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

OPERATOR = "operator-token-0123456789"
VIEWER = "viewer-token-0123456789"
HEADERS = {"Authorization": f"Bearer {VIEWER}", "X-Gestalt-Operator-Token": OPERATOR}


def engine_for(tmp_path: Path, docker_engine: str, actions: str) -> Engine:
    config = tmp_path / "gestalt.yaml"
    config.write_text(
        f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2, token: {VIEWER}}}\n"
        "history: {sample_interval: 0}\n"
        "alerts: {enabled: false}\n"
        "collectors:\n"
        "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
        "  kubernetes: {enabled: false}\n"
        f'  docker: {{enabled: true, socket: "{docker_engine}", poll_interval: 0.3}}\n'
        f"actions: {actions}\n")
    return Engine(load_config(config, env={}))


@pytest.fixture
async def served(tmp_path: Path, docker_engine: str, objects: Objects
                 ) -> AsyncIterator[tuple[Engine, httpx.AsyncClient]]:
    actions = (f'{{enabled: true, operator_token: {OPERATOR}, docker_socket: "{docker_engine}",'
               f' containers: ["{objects.prefix}-*"], label_selector: "gestalt.test=1",'
               " rate_limit: 4, rate_window: 600}")
    engine = engine_for(tmp_path, docker_engine, actions)
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {VIEWER}"
        yield engine, client


async def state(full_id: str) -> dict[str, Any]:
    return json.loads(await docker("inspect", "--format", "{{json .State}}", full_id))


async def act(client: httpx.AsyncClient, action: str, target: str, *,
              headers: dict[str, str] = HEADERS, **extra: Any) -> httpx.Response:
    return await client.post("/api/actions", json={"action": action, "target": target, **extra},
                             headers=headers)


async def test_each_docker_action_does_what_it_says(served: tuple[Engine, httpx.AsyncClient],
                                                    objects: Objects) -> None:
    engine, client = served
    _name, full_id = await objects.run()
    target = ids.container(full_id)
    described = (await client.get("/api/actions")).json()
    assert described["enabled"] and described["nats"].startswith("none")

    response = await act(client, "pause", target, dry_run=True)
    assert response.status_code == 200 and response.json()["outcome"] == "dry_run"
    assert (await state(full_id))["Status"] == "running"  # a dry run does nothing

    response = await act(client, "pause", target)
    assert response.status_code == 200, response.text
    assert (await state(full_id))["Status"] == "paused"
    response = await act(client, "unpause", target)
    assert response.status_code == 200 and (await state(full_id))["Status"] == "running"
    started = (await state(full_id))["StartedAt"]
    response = await act(client, "restart", target)
    after = await state(full_id)
    assert response.status_code == 200 and after["Status"] == "running"
    assert after["StartedAt"] != started
    response = await act(client, "stop", target)
    after = await state(full_id)
    assert response.status_code == 200 and after["Status"] == "exited"
    assert after["ExitCode"] == 0  # SIGTERM, which the container traps: a clean stop

    # The fifth action in the window is one too many (rate_limit: 4; dry runs are free).
    _name2, other = await objects.run()
    response = await act(client, "kill", ids.container(other))
    assert response.status_code == 429 and "rate limit: 4 actions per 600 s" in \
        response.json()["error"]
    assert (await state(other))["Status"] == "running"

    audit = (await client.get("/api/actions/audit")).json()
    assert [(e["action"], e["outcome"]) for e in audit] == [
        ("kill", "refused"), ("stop", "done"), ("restart", "done"), ("unpause", "done"),
        ("pause", "done"), ("pause", "dry_run")]
    assert all(e["actor"] == "operator" for e in audit)

    async def in_feed() -> bool:
        events = await engine.history.events(limit=50, source="actions")
        return len(events) == len(audit)

    await eventually(in_feed, timeout=10, what="every action in the feed")


async def test_kill_sends_sigkill(served: tuple[Engine, httpx.AsyncClient],
                                  objects: Objects) -> None:
    _engine, client = served
    _name, full_id = await objects.run()
    response = await act(client, "kill", ids.container(full_id))
    assert response.status_code == 200, response.text
    after = await state(full_id)
    assert after["Status"] == "exited" and after["ExitCode"] == 137  # 128 + SIGKILL


async def test_refusals_are_clear_and_audited(served: tuple[Engine, httpx.AsyncClient],
                                              objects: Objects) -> None:
    engine, client = served
    _name, full_id = await objects.run()
    target = ids.container(full_id)
    viewer_only = {"Authorization": f"Bearer {VIEWER}"}
    cases = [
        (await act(client, "stop", target, headers=viewer_only), 401,
         "actions need the operator token in X-Gestalt-Operator-Token (the viewer token "
         "cannot act)"),
        (await act(client, "stop", target, headers={**viewer_only,
                                                    "X-Gestalt-Operator-Token": VIEWER}), 401,
         "actions need the operator token in X-Gestalt-Operator-Token (the viewer token "
         "cannot act)"),
        (await act(client, "stop", target, headers={**HEADERS,
                                                    "Origin": "https://evil.example"}), 403,
         "origin 'https://evil.example' is not allowed (server.allowed_origins)"),
        (await act(client, "stop", target, headers={**HEADERS, "Origin": "null"}), 403,
         "actions from origin 'null' are refused"),
        (await act(client, "publish", "nats-subject:x/y"), 400,
         "unknown action 'publish'; one of: delete_pod, scale, cordon, uncordon, stop, kill, "
         "pause, unpause, restart (NATS: none)"),
    ]
    _other_name, outsider = await objects.run("--label", "chaos=no")
    outsider_name = (await docker("inspect", "--format", "{{.Name}}", outsider)).lstrip("/")
    unlabelled = await docker("run", "-d", "--rm", "--name", f"{objects.prefix}-x",
                              "gestalt-busybox:test", "sleep", "60")
    objects.containers.append(f"{objects.prefix}-x")
    cases.append((await act(client, "stop", ids.container(unlabelled)), 403,
                  "the target's labels do not match actions.label_selector ('gestalt.test=1')"))
    foreign = await docker("run", "-d", "--rm", "--label", "gestalt.test=1", "--name",
                           f"other-{objects.prefix}", "gestalt-busybox:test", "sleep", "60")
    objects.containers.append(f"other-{objects.prefix}")
    cases.append((await act(client, "stop", ids.container(foreign)), 403,
                  f"container 'other-{objects.prefix}' is not allow-listed (actions.containers: "
                  f"{objects.prefix}-*)"))
    for response, status, message in cases:
        assert (response.status_code, response.json()["error"]) == (status, message)
    for container in (full_id, outsider, unlabelled, foreign):
        assert (await state(container))["Status"] == "running", outsider_name
    audit = (await client.get("/api/actions/audit")).json()
    assert len(audit) == len(cases) and {e["outcome"] for e in audit} == {"refused"}
    assert {e["message"] for e in audit} == {m for _r, _s, m in cases}

    async def in_feed() -> bool:
        events = await engine.history.events(limit=50, source="actions")
        return sorted(e.reason for e in events) == ["ActionRefused"] * len(cases)

    await eventually(in_feed, timeout=10, what="every refusal in the feed")


async def test_disabled_by_default_and_audited(tmp_path: Path, docker_engine: str,
                                               objects: Objects) -> None:
    _name, full_id = await objects.run()
    engine = engine_for(tmp_path, docker_engine, "{}")
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {VIEWER}"
        assert (await client.get("/api/actions")).json()["enabled"] is False
        response = await act(client, "kill", ids.container(full_id))
        assert response.status_code == 403 and response.json()["error"] == (
            "actions are disabled (actions.enabled: false); Gestalt is read-only unless an "
            "operator turns them on")
        assert (await state(full_id))["Status"] == "running"
        audit = (await client.get("/api/actions/audit")).json()
        assert [(a["action"], a["outcome"], a["actor"]) for a in audit] == [
            ("kill", "refused", "unverified")]


async def test_an_experiment_report_matches_history(served: tuple[Engine, httpx.AsyncClient],
                                                    objects: Objects) -> None:
    engine, client = served
    _name, full_id = await objects.run()
    target = ids.container(full_id)
    await eventually(lambda: target in engine.store.entities, timeout=15, what="the container")
    preview = (await client.post("/api/actions/experiments/preview", json={"target": target},
                                 headers=HEADERS)).json()
    assert preview["target"]["id"] == target and isinstance(preview["blast_radius"], list)
    run = (await client.post("/api/actions/experiments", json={"action": "pause",
                                                               "target": target},
                             headers=HEADERS)).json()
    experiment = run["experiment"]
    await eventually(lambda: engine.store.entities[target].health_status is Health.WARNING,
                     timeout=15, what="the paused container's warning")
    response = await act(client, "unpause", target, experiment=experiment)
    assert response.status_code == 200, response.text
    await eventually(lambda: engine.store.entities[target].health_status is Health.OK,
                     timeout=15, what="the container back to ok")
    report = (await client.get(f"/api/actions/experiments/{experiment}/report")).json()

    # The same figures, read straight from the recorded deltas.
    started = run["entry"]["params"]["started_at"]
    assert started <= run["entry"]["at"]
    bad = ok = None
    for delta in await engine.history.deltas(since=run["entry"]["params"]["version"]):
        for entity in delta.upserts:
            if entity.id != target:
                continue
            if entity.health_status is Health.WARNING and bad is None:
                bad = delta.timestamp
            elif entity.health_status is Health.OK and bad is not None and ok is None:
                ok = delta.timestamp
    assert bad is not None and ok is not None
    assert report["time_to_detect"] == pytest.approx(bad - started)
    assert report["time_to_recover"] == pytest.approx(ok - bad)
    assert report["affected"][0]["id"] == target
    assert report["affected"][0]["reasons"] == ["paused: its processes are frozen"]
    assert [a["action"] for a in report["actions"]] == ["pause", "unpause"]
    assert report["timeline_at"] == started
