"""Docker health against the real engine, through Gestalt's own engine (source, hub, checks,
alert rules): crash loops are caught, normal work (a one-shot, a `docker stop`) is not a
fault, a stopped container shows no stats and is no member of its networks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gestalt.engine import paths
from gestalt.engine.runtime import Engine
from gestalt.model import Alert, Entity, EntityStatus, Health, ids
from gestalt.model.config import (
    AlertsConfig,
    Collectors,
    Config,
    DockerCollector,
    HostCollector,
    KubernetesCollector,
    NatsCollector,
    OtelCollector,
    ServerConfig,
)
from tests.support.docker import Objects, docker
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

CRASH_LOOP = ("sh", "-c", "sleep 1; exit 1")
ONE_SHOT = ("true",)
IGNORES_TERM = ("sleep", "600")  # PID 1 without a handler: `docker stop` ends in SIGKILL


@pytest.fixture
async def engine(docker_engine: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """Only the docker source; alerts are evaluated by the test (`judge`), not a timer, so
    "no alert" is a verdict at a known moment rather than a wait."""
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        collectors=Collectors(
            host=HostCollector(enabled=False), kubernetes=KubernetesCollector(enabled=False),
            nats=NatsCollector(enabled=False), otel=OtelCollector(enabled=False),
            docker=DockerCollector(socket=docker_engine, poll_interval=0.3)),
        alerts=AlertsConfig(enabled=False),
    )
    running = Engine(config)
    await running.start()
    try:
        await eventually(lambda: running.hub.statuses["docker"].state == "ok", timeout=20,
                         what="the docker source to be ok")
        yield running
    finally:
        await running.stop()


def shown(engine: Engine, full_id: str) -> Entity | None:
    return engine.store.entities.get(ids.container(full_id))


def judge(engine: Engine, full_id: str, *, later: float = 60.0) -> list[Alert]:
    """The alerts on the container after two evaluations `later` seconds apart (longer
    than any default rule's `for`): whatever holds has fired by the second."""
    now = time.time()
    engine.alert_manager.evaluate(now)
    engine.alert_manager.evaluate(now + later)
    return [a for a in engine.alert_manager.alerts()
            if a.entity_id == ids.container(full_id) and a.state in ("pending", "firing")]


async def test_a_crash_loop_is_critical_with_its_restarts_and_alerts(
    engine: Engine, objects: Objects
) -> None:
    _, full_id = await objects.run("--restart", "always", command=CRASH_LOOP)

    def looping() -> Entity | None:
        entity = shown(engine, full_id)
        if entity is None or entity.health_status is not Health.CRITICAL:
            return None
        restarts = entity.attrs["restart_count"]
        wanted = f"crash-looping: {restarts} restarts, back-off before the next start"
        return entity if wanted in entity.health_reasons else None

    entity = await eventually(looping, timeout=30, what="crash_loop critical, with the count")
    assert isinstance(entity.attrs["restart_count"], int) and entity.attrs["restart_count"] >= 1

    def alerted() -> Alert | None:
        engine.alert_manager.evaluate()
        return next((a for a in engine.alert_manager.alerts() if a.rule == "crash_loop"
                     and a.entity_id == entity.id and a.state == "firing"), None)

    alert = await eventually(alerted, timeout=10, what="a firing crash_loop alert")
    assert alert.severity == "critical" and "restarts" in alert.message


async def test_a_one_shot_that_exits_0_completed(engine: Engine, objects: Objects) -> None:
    _, full_id = await objects.run(command=ONE_SHOT)

    def done() -> Entity | None:
        entity = shown(engine, full_id)
        return entity if entity is not None and entity.status is EntityStatus.EXITED else None

    entity = await eventually(done, timeout=15, what="the one-shot to exit")
    assert entity.attrs["reason"] == "Completed" and entity.attrs["exit_code"] == 0
    assert entity.health_status is Health.OK and entity.health_reasons == []
    assert judge(engine, full_id) == []


async def test_docker_stop_is_the_users_intent_not_a_fault(
    engine: Engine, objects: Objects
) -> None:
    name, full_id = await objects.run(command=IGNORES_TERM)
    await eventually(lambda: getattr(shown(engine, full_id), "status", None)
                     is EntityStatus.RUNNING, timeout=15, what="running")
    await docker("stop", "-t", "1", name)

    def stopped() -> Entity | None:
        entity = shown(engine, full_id)
        return entity if entity is not None and entity.status is EntityStatus.EXITED else None

    entity = await eventually(stopped, timeout=15, what="exited after docker stop")
    assert entity.attrs["exit_code"] == 137  # SIGKILL after the stop timeout
    assert entity.attrs["reason"] == "Stopped"
    assert entity.health_status is Health.OK
    assert judge(engine, full_id) == []

    async def die_message() -> str | None:
        await engine.history.flushed()
        feed = await engine.history.events(limit=50, entity_id=entity.id)
        return next((e.message for e in feed if e.reason == "die"), None)

    message = await eventually(die_message, timeout=10, what="the die event in the feed")
    assert message == f"container {name} stopped on request (exit code 137)"


async def test_a_killed_container_whose_policy_says_run_still_counts(
    engine: Engine, objects: Objects
) -> None:
    name, full_id = await objects.run("--restart", "always", command=IGNORES_TERM)
    await eventually(lambda: getattr(shown(engine, full_id), "status", None)
                     is EntityStatus.RUNNING, timeout=15, what="running")
    await docker("kill", name)  # the engine does not restart what a user killed

    def exited() -> Entity | None:
        entity = shown(engine, full_id)
        return entity if entity is not None and entity.status is EntityStatus.EXITED else None

    entity = await eventually(exited, timeout=15, what="exited after docker kill")
    assert entity.attrs["reason"] == "Stopped" and entity.attrs["restart_policy"] == "always"
    assert entity.health_status is Health.CRITICAL
    alerts = judge(engine, full_id)
    assert [(a.rule, a.state, a.severity) for a in alerts] == [("exited", "firing", "critical")]


async def test_a_stopped_container_shows_no_stats(engine: Engine, objects: Objects) -> None:
    name, full_id = await objects.run()

    def measured() -> bool:
        entity = shown(engine, full_id)
        return bool(entity and entity.memory_bytes and entity.cpu_percent is not None)

    await eventually(measured, timeout=15, what="memory and CPU of the running container")
    await docker("stop", "-t", "1", name)

    def cleared() -> bool:
        entity = shown(engine, full_id)
        return entity is not None and entity.status is EntityStatus.EXITED

    await eventually(cleared, timeout=15, what="exited")
    entity = shown(engine, full_id)
    assert entity is not None
    assert (entity.cpu_percent, entity.memory_bytes, entity.memory_limit,
            entity.network_rx_bytes, entity.network_rx_rate) == (None,) * 5


async def test_stopped_containers_are_no_network_members(
    engine: Engine, objects: Objects
) -> None:
    network = await objects.network()
    stays, _ = await objects.run("--network", network)
    goes, goes_id = await objects.run("--network", network)
    net_id = ids.docker_network(await docker("info", "--format", "{{.Name}}"), network)

    async def members() -> int:
        rows = (await paths.resolve(engine, "world.infra.docker.networks", {}))[1]
        return next(r["containers"] for r in rows if r["id"] == net_id)

    async def counted(n: int) -> bool:
        return await members() == n

    await eventually(lambda: counted(2), timeout=15, what="two containers on the network")
    await docker("stop", "-t", "1", goes)
    await eventually(lambda: counted(1), timeout=15, what="one container after a stop")
    inspected = await docker("network", "inspect", network, "--format", "{{len .Containers}}")
    assert int(inspected) == await members() == 1
    entity = shown(engine, goes_id)
    assert entity is not None and entity.endpoints == []
    assert stays
