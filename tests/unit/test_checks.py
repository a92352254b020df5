"""The checks table: each check reads the fields its source really reports.

Entities come from the sources' own translators fed with recorded or hand-written API
objects (Docker inspect, Kubernetes pods/nodes/deployments), so a renamed attribute in a
source breaks these tests rather than silently turning a check off.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.counters import COUNTERS, CounterWindows
from gestalt.engine.health import (
    CHECKS,
    CHECKS_BY_ID,
    check_connection,
    checks_for,
    run_checks,
)
from gestalt.engine.scoring import score_entity
from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Health,
)
from gestalt.model.config import CheckSettings, HealthConfig
from gestalt.sources.docker.api import ContainerInspect
from gestalt.sources.docker.entities import container
from gestalt.sources.kubernetes import translate

CFG = HealthConfig()
NOW = 1_800_000_000.0
FIXTURES = Path(__file__).parent.parent / "fixtures"


def failing(entity: Entity, config: HealthConfig = CFG, now: float = NOW) -> dict[str, Health]:
    return {r.check.id: r.level for r in run_checks(entity, config, now)
            if r.level is not Health.OK}


def docker(*, restart_policy: str | None = None, restart_count: int | None = None,
           stop_requested: bool = False, exit_witnessed: bool = True, **state: Any) -> Entity:
    raw = json.loads((FIXTURES / "docker" / "container_inspect.json").read_text())
    raw["State"].update(state)
    if restart_policy is not None:
        raw["HostConfig"]["RestartPolicy"]["Name"] = restart_policy
    if restart_count is not None:
        raw["RestartCount"] = restart_count
    inspect = msgspec.convert(raw, ContainerInspect)
    return container(inspect, engine="host", local=False, stop_requested=stop_requested,
                     exit_witnessed=exit_witnessed)[0]


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def k8s_pod(**status: Any) -> Entity:
    obj = {"kind": "Pod", "metadata": {"name": "api-1", "namespace": "shop", "uid": "u1",
                                       "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "api", "image": "api:1"}]}, "status": status}
    return translate.pod("c1", obj)[0][0]


# -- the table itself ------------------------------------------------------------------

def test_table_rows_are_complete_and_unique() -> None:
    assert len({c.id for c in CHECKS}) == len(CHECKS)
    for check in CHECKS:
        assert check.title and check.message
        assert check.warning is not None or check.critical is not None
        if check.warning is not None and check.critical is not None:
            assert check.warning <= check.critical, check.id


def test_every_family_the_issue_names_is_a_row() -> None:
    wanted = {"crash_loop", "restarts", "pending", "oom_killed", "health_check",
              "unavailable_replicas", "node_pressure", "cpu", "memory", "edge_error_rate",
              "edge_latency", "consumer_stalled", "consumer_backlog", "consumer_pending",
              "slow_consumers", "pool_saturation", "volume_full", "source_down"}
    assert wanted <= set(CHECKS_BY_ID)


def test_checks_are_indexed_by_kind() -> None:
    node_checks = {c.id for c in checks_for(EntityKind.NODE)}
    assert "node_pressure" in node_checks and "oom_killed" not in node_checks


# -- Docker ------------------------------------------------------------------------------

def test_recorded_healthy_container_passes_every_check() -> None:
    entity = docker()
    assert failing(entity) == {}
    assert score_entity(entity, CFG)[1] is Health.OK


def test_docker_oom_kill_and_exit_code() -> None:
    entity = docker(Status="exited", Running=False, OOMKilled=True, ExitCode=137, Pid=0)
    assert failing(entity) == {"oom_killed": Health.CRITICAL, "exited": Health.CRITICAL}
    _, status, reasons = score_entity(entity, CFG)
    assert status is Health.CRITICAL
    assert "exited with code 137" in reasons
    assert any("out of memory" in r for r in reasons)


def test_docker_failing_health_check() -> None:
    entity = docker(Health={"Status": "unhealthy", "FailingStreak": 3})
    assert failing(entity) == {"health_check": Health.CRITICAL}
    # Docker calls every stopped container unhealthy: the exit is what matters then.
    stopped = docker(Status="exited", Running=False, ExitCode=1, Pid=0,
                     Health={"Status": "unhealthy", "FailingStreak": 0})
    assert failing(stopped) == {"exited": Health.CRITICAL}


def test_docker_crash_loop_from_the_restart_policy() -> None:
    """`--restart always` with `sh -c 'sleep 1; exit 1'`: Docker restarts it, waiting
    longer each time; it is a crash loop while waiting and in each short run between."""
    waiting = docker(Status="restarting", Restarting=True, Running=False, ExitCode=1, Pid=0,
                     restart_policy="always", restart_count=5)
    result = {r.check.id: r for r in run_checks(waiting, CFG, NOW)}
    assert result["crash_loop"].level is Health.CRITICAL
    assert result["crash_loop"].message.startswith("crash-looping: 5 restarts")
    once = docker(Status="restarting", Restarting=True, Running=False, ExitCode=1, Pid=0,
                  restart_policy="always", restart_count=1)
    assert {r.check.id: r for r in run_checks(once, CFG, NOW)}["crash_loop"].message \
        == "crash-looping: 1 restart, back-off before the next start"
    _, status, reasons = score_entity(waiting, CFG, now=NOW)
    assert status is Health.CRITICAL and result["crash_loop"].message in reasons
    between = docker(Status="running", StartedAt=rfc3339(NOW - 2), restart_policy="always",
                     restart_count=6)
    assert failing(between)["crash_loop"] is Health.CRITICAL
    # Up for longer than Docker's back-off reset: out of the loop.
    assert "crash_loop" not in failing(between, now=NOW + 60)
    # One problem, one alert: the restarts are the loop's, not a second finding...
    COUNTERS.clear()
    for n in range(1, 8):
        looping = docker(Status="restarting", Restarting=True, Running=False, ExitCode=1,
                         Pid=0, restart_policy="always", restart_count=n)
        assert "restarts" not in failing(looping, now=NOW + n)
    # ...until it is out of the loop: then what happened in the window is worth telling.
    after = docker(Status="running", StartedAt=rfc3339(NOW), restart_policy="always",
                   restart_count=7)
    assert failing(after, now=NOW + 60) == {"restarts": Health.CRITICAL}
    # Started by someone (docker start resets the count): no loop.
    fresh = docker(Status="running", StartedAt=rfc3339(NOW - 2), restart_policy="always")
    assert "crash_loop" not in failing(fresh)


@pytest.mark.parametrize(("policy", "exit_code", "asked", "expected"), [
    ("no", 0, False, {}),  # a one-shot that completed: a migration, an init step
    ("on-failure", 0, False, {}),
    ("no", 137, True, {}),  # docker stop (SIGKILL after the timeout) or docker kill
    ("unless-stopped", 0, True, {}),
    ("no", 1, False, {"exited": Health.CRITICAL}),  # a failure
    ("on-failure", 1, False, {"exited": Health.CRITICAL}),  # ... its retries used up
    ("always", 137, True, {"exited": Health.CRITICAL}),  # the policy says it should run
    ("always", 0, True, {"exited": Health.WARNING}),
    ("unless-stopped", 0, False, {"exited": Health.WARNING}),
])
def test_docker_exit_meant_or_not(policy: str, exit_code: int, asked: bool,
                                  expected: dict[str, Health]) -> None:
    entity = docker(Status="exited", Running=False, ExitCode=exit_code, Pid=0,
                    restart_policy=policy, stop_requested=asked)
    assert failing(entity) == expected
    assert (score_entity(entity, CFG)[1] is Health.OK) == (not expected)


@pytest.mark.parametrize(("policy", "exit_code", "expected"), [
    ("no", 137, None),  # docker stop or kill before we watched, or a kill: cannot say
    ("no", 143, None),
    ("unless-stopped", 137, None),
    ("no", 1, Health.CRITICAL),  # a process that failed by itself needs no witness
    ("always", 137, Health.CRITICAL),  # the policy says it should run
])
def test_docker_exit_before_we_watched(policy: str, exit_code: int,
                                       expected: Health | None) -> None:
    """A stop older than the engine's event memory (256 events) looks like a SIGKILL/SIGTERM
    exit with no kill event: after a restart of Gestalt that must not page as a crash."""
    entity = docker(Status="exited", Running=False, ExitCode=exit_code, Pid=0,
                    restart_policy=policy, exit_witnessed=False)
    assert failing(entity).get("exited") is expected
    if expected is None:
        assert entity.attrs["reason"] == "Signalled"
        assert score_entity(entity, CFG)[1] is Health.OK  # shown as a stopped container


def test_docker_created_and_failed_to_start() -> None:
    created = docker(Status="created", Running=False, Pid=0, StartedAt="0001-01-01T00:00:00Z")
    assert failing(created) == {} and score_entity(created, CFG)[1] is Health.OK
    # `docker run` of a command that does not exist: left "created" with exit code 127.
    broken = docker(Status="created", Running=False, Pid=0, ExitCode=127,
                    StartedAt="0001-01-01T00:00:00Z")
    assert failing(broken) == {"failed": Health.CRITICAL}
    assert "failed: StartError" in score_entity(broken, CFG)[2]


def test_docker_paused_is_a_warning() -> None:
    entity = docker(Status="paused", Paused=True)
    assert failing(entity) == {"paused": Health.WARNING}
    score, status, _ = score_entity(entity, CFG)
    assert score == 0.6 and status is Health.WARNING


# -- Kubernetes -------------------------------------------------------------------------

def test_crash_looping_pod() -> None:
    pod = k8s_pod(phase="Running", containerStatuses=[{
        "name": "api", "restartCount": 7, "ready": False, "containerID": "containerd://ab12",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    result = {r.check.id: r for r in run_checks(pod, CFG, NOW)}
    assert result["crash_loop"].level is Health.CRITICAL
    assert "7 restarts" in result["crash_loop"].message
    assert "failed" not in failing(pod)  # one problem, one message


def test_restarts_rising_counts_only_the_window() -> None:
    counters = CounterWindows(window=600)
    assert counters.increase("p", 4, 0) == 0  # restarts from before we looked
    assert counters.increase("p", 5, 100) == 1
    assert counters.increase("p", 7, 200) == 3
    assert counters.increase("p", 7, 750) == 2  # the baseline is now t=100 (5)
    assert counters.increase("p", 7, 900) == 0
    assert counters.increase("p", 1, 950) == 0  # a new container: starts over


def test_pending_too_long_uses_the_creation_time() -> None:
    pod = k8s_pod(phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
    created = pod.created_at
    assert created is not None
    assert failing(pod, now=created + 10) == {}
    assert failing(pod, now=created + 120) == {"pending": Health.WARNING}
    assert failing(pod, now=created + 400) == {"pending": Health.CRITICAL}


def test_deployment_unavailable_replicas() -> None:
    obj = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop",
                                              "generation": 1},
           "spec": {"replicas": 3},
           "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                      "readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 2}}
    dep = translate.deployment("c1", obj)[0][0]
    result = {r.check.id: r for r in run_checks(dep, CFG, NOW)}
    assert result["unavailable_replicas"].level is Health.WARNING
    assert result["unavailable_replicas"].message == "2 of 3 replicas unavailable"
    down = copy.deepcopy(obj)
    down["status"].update(readyReplicas=0, availableReplicas=0, unavailableReplicas=3)
    assert failing(translate.deployment("c1", down)[0][0])["unavailable_replicas"] is \
        Health.CRITICAL


def test_a_statefulset_says_how_many_replicas_are_unavailable() -> None:
    # StatefulSets (and ReplicaSets, DaemonSets) report ready, not unavailable, replicas:
    # the message counts them as the check does rather than printing "?".
    obj = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
           "spec": {"replicas": 5}, "status": {"replicas": 5, "readyReplicas": 2}}
    sts = translate.replicated("c1", obj)[0][0]
    result = {r.check.id: r for r in run_checks(sts, CFG, NOW)}
    assert result["unavailable_replicas"].message == "3 of 5 replicas unavailable"


def test_a_workload_scaled_to_zero_has_nothing_unavailable() -> None:
    obj = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
           "spec": {"replicas": 0}, "status": {"replicas": 0}}
    sts = translate.replicated("c1", obj)[0][0]
    result = {r.check.id: r for r in run_checks(sts, CFG, NOW)}
    assert result["unavailable_replicas"].level is Health.OK


def test_node_pressure() -> None:
    obj = {"kind": "Node", "metadata": {"name": "n1"}, "status": {"conditions": [
        {"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "True"}]}}
    node = translate.node("c1", obj)[0][0]
    result = {r.check.id: r for r in run_checks(node, CFG, NOW)}
    assert result["node_pressure"].level is Health.WARNING
    assert result["node_pressure"].message == "node under pressure: MemoryPressure"


def test_succeeded_job_pod_and_its_container_are_not_a_problem() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "backup-x1", "namespace": "ops", "uid": "u2",
                                       "ownerReferences": [{"kind": "Job", "name": "backup"}]},
           "spec": {"containers": [{"name": "backup", "image": "backup:1"}],
                    "restartPolicy": "Never"},
           "status": {"phase": "Succeeded", "containerStatuses": [{
               "name": "backup", "containerID": "containerd://cd34", "restartCount": 0,
               "ready": False, "state": {"terminated": {"exitCode": 0,
                                                        "reason": "Completed"}}}]}}
    found = translate.pod("c1", obj)[0]
    assert {e.kind for e in found} == {EntityKind.POD, EntityKind.CONTAINER}
    for entity in found:
        assert failing(entity) == {}, entity.kind
        assert score_entity(entity, CFG)[1] is Health.OK, entity.kind
    errored = copy.deepcopy(obj)
    errored["status"]["containerStatuses"][0]["state"]["terminated"].update(
        exitCode=2, reason="Error")
    assert failing(translate.pod("c1", errored)[0][1]) == {"exited": Health.CRITICAL}


def test_completed_job_is_not_a_problem() -> None:
    obj = {"kind": "Job", "metadata": {"name": "backup", "namespace": "ops"},
           "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
    job = translate.job("c1", obj)[0][0]
    assert score_entity(job, CFG)[1] is Health.OK


# -- NATS, databases, volumes, edges ------------------------------------------------------

def entity(kind: EntityKind, **kw: Any) -> Entity:
    return Entity(id="e", kind=kind, name="e", status=EntityStatus.ACTIVE, **kw)


def test_nats_consumer_stall_backlog_and_pending() -> None:
    stalled = entity(EntityKind.NATS_CONSUMER, attrs={"stalled": True, "max_ack_pending": 5},
                     custom_metrics={"num_ack_pending": 5.0, "num_pending": 20.0})
    result = {r.check.id: r for r in run_checks(stalled, CFG, NOW)}
    assert result["consumer_stalled"].level is Health.CRITICAL
    assert result["consumer_stalled"].message == "delivery stalled: 5 ack pending of 5"
    growing = entity(EntityKind.NATS_CONSUMER, attrs={"backlog_growing": True},
                     custom_metrics={"num_pending": 20_000.0})
    assert failing(growing) == {"consumer_backlog": Health.WARNING,
                                "consumer_pending": Health.WARNING}


def test_a_backlog_not_yet_judged_is_no_data() -> None:
    consumer = entity(EntityKind.NATS_CONSUMER, attrs={"backlog_growing": None},
                      custom_metrics={"num_pending": 20.0})
    assert "consumer_backlog" not in {r.check.id for r in run_checks(consumer, CFG, NOW)}


def test_restarts_keep_rising_across_a_restart_of_gestalt() -> None:
    # The last run wrote its counter changes down; the next one starts from them, so a
    # container that restarted 4 times in the last minutes is still "rising" (not reset
    # to a fresh baseline that reads "0 restarts" and resolves its alert).
    written: list[tuple[str, float, float]] = []
    before = CounterWindows()
    before.resume({}, last_alive=None, now=NOW, record=lambda *p: written.append(p))
    for i, count in enumerate([10, 12, 14]):
        before.increase("container:abc", count, NOW - 300 + 60 * i)
    saved: dict[str, list[tuple[float, float]]] = {}
    for key, ts, value in written:
        saved.setdefault(key, []).append((ts, value))
    after = CounterWindows()
    after.resume(saved, last_alive=NOW - 20, now=NOW)
    assert after.increase("container:abc", 14, NOW) == 4
    # Away longer than the window: when the rise happened is unknown, so it starts over.
    stale = CounterWindows()
    stale.resume(saved, last_alive=NOW - 3600, now=NOW)
    assert stale.increase("container:abc", 14, NOW) == 0


def test_restarts_of_a_container_created_within_the_window_all_count() -> None:
    # Created two minutes ago, first seen at its 6th restart: all six are in the window.
    counters = CounterWindows()
    assert counters.increase("container:new", 6, NOW, born=NOW - 120) == 6
    assert counters.increase("container:new", 7, NOW + 5, born=NOW - 120) == 7
    # Created an hour ago: restarts from before we looked may be from before the window.
    assert counters.increase("container:old", 6, NOW, born=NOW - 3600) == 0
    assert counters.increase("container:unborn", 6, NOW) == 0


def test_slow_consumers_rising_on_the_server() -> None:
    server = entity(EntityKind.NATS_SERVER, custom_metrics={"slow_consumers": 3.0})
    COUNTERS.clear()
    assert failing(server, now=NOW) == {}  # counted before we looked
    server.custom_metrics = {"slow_consumers": 4.0}
    assert failing(server, now=NOW + 5) == {"slow_consumers": Health.WARNING}
    COUNTERS.clear()


@pytest.mark.parametrize(("pool", "expected"), [(50.0, None), (85.0, Health.WARNING),
                                                  (97.0, Health.CRITICAL)])
def test_database_pool_saturation(pool: float, expected: Health | None) -> None:
    db = entity(EntityKind.DATABASE, custom_metrics={"pool_percent": pool})
    assert failing(db).get("pool_saturation") is expected


def test_volume_nearly_full() -> None:
    volume = entity(EntityKind.VOLUME, custom_metrics={"used_percent": 96.0})
    result = {r.check.id: r for r in run_checks(volume, CFG, NOW)}
    assert result["volume_full"].level is Health.CRITICAL
    assert result["volume_full"].message == "96% full"


def test_edge_error_rate_and_latency() -> None:
    edge = Connection(source_id="a", target_id="b", kind=ConnectionKind.HTTP,
                      error_rate=0.1, latency_ms=2500.0)
    levels = {r.check.id: r.level for r in check_connection(edge, CFG, NOW)}
    assert levels == {"edge_error_rate": Health.WARNING, "edge_latency": Health.CRITICAL}


def test_service_error_rate_from_traces() -> None:
    svc = entity(EntityKind.SERVICE, custom_metrics={"error_rate": 0.3,
                                                     "latency_p99_ms": 100.0})
    assert failing(svc) == {"error_rate": Health.CRITICAL}


# -- configuration ----------------------------------------------------------------------

def test_thresholds_and_switches_from_config() -> None:
    volume = entity(EntityKind.VOLUME, custom_metrics={"used_percent": 90.0})
    assert failing(volume) == {"volume_full": Health.WARNING}
    strict = HealthConfig(checks={"volume_full": CheckSettings(critical=0.9)})
    assert failing(volume, strict) == {"volume_full": Health.CRITICAL}
    off = HealthConfig(checks={"volume_full": CheckSettings(enabled=False)})
    assert failing(volume, off) == {}


def test_missing_data_does_not_apply() -> None:
    # No pool figure yet: the check has nothing to say, and the entity is not "ok" for it.
    db = entity(EntityKind.DATABASE)
    assert [r.check.id for r in run_checks(db, CFG, NOW) if r.check.id == "pool_saturation"] \
        == []


def test_stale_is_unknown_with_the_failing_checks_kept_as_reasons() -> None:
    volume = entity(EntityKind.VOLUME, custom_metrics={"used_percent": 99.0}, stale=True)
    _, status, reasons = score_entity(volume, CFG)
    assert status is Health.UNKNOWN
    assert reasons[0].startswith("source down") and "99% full" in reasons
