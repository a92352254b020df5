"""Health scoring: the product plan's score, thresholds from config, unknown for no data."""

from __future__ import annotations

import pytest

from gestalt.engine.scoring import overall_status, score_entity, summarize
from gestalt.model import Entity, EntityKind, EntityStatus, Health
from gestalt.model.config import HealthConfig

CFG = HealthConfig()


def score(**kw: object) -> tuple[float, Health, list[str]]:
    entity = Entity(id="x", kind=EntityKind.CONTAINER, name="x", **kw)  # type: ignore[arg-type]
    return score_entity(entity, CFG)


def test_running_without_metrics_is_ok() -> None:
    assert score(status=EntityStatus.RUNNING)[:2] == (1.0, Health.OK)


def test_plan_algorithm_averages_status_memory_cpu() -> None:
    value, status, _ = score(status=EntityStatus.RUNNING, memory_bytes=50, memory_limit=100,
                             cpu_percent=50.0)
    # (1.0 + (1 - 0.5*0.5) + (1 - 0.5*0.3)) / 3
    assert value == pytest.approx((1.0 + 0.75 + 0.85) / 3, abs=1e-4)
    assert status is Health.OK


@pytest.mark.parametrize(
    ("cpu", "expected"), [(69.0, Health.OK), (70.0, Health.WARNING), (90.0, Health.CRITICAL)]
)
def test_cpu_thresholds_from_config(cpu: float, expected: Health) -> None:
    assert score(status=EntityStatus.RUNNING, cpu_percent=cpu)[1] is expected


def test_memory_thresholds_are_configurable() -> None:
    entity = Entity(id="x", kind=EntityKind.POD, name="x", status=EntityStatus.RUNNING,
                    memory_bytes=60, memory_limit=100)
    assert score_entity(entity, CFG)[1] is Health.OK
    strict = HealthConfig(memory_warning_threshold=0.5, memory_critical_threshold=0.9)
    assert score_entity(entity, strict)[1] is Health.WARNING


def test_no_data_is_unknown_never_ok() -> None:
    assert score()[1] is Health.UNKNOWN
    assert score(status=EntityStatus.RUNNING, stale=True)[1] is Health.UNKNOWN


def test_failed_exited_and_failing_health_checks() -> None:
    assert score(status=EntityStatus.FAILED)[1] is Health.CRITICAL
    assert score(status=EntityStatus.EXITED, attrs={"exit_code": 137})[1] is Health.CRITICAL
    assert score(status=EntityStatus.EXITED, attrs={"exit_code": 0})[1] is Health.WARNING
    value, status, reasons = score(status=EntityStatus.RUNNING,
                                   attrs={"health_check": "unhealthy"})
    assert status is Health.CRITICAL and "health check failing" in reasons


def test_error_rate_lowers_the_score() -> None:
    value, status, _ = score(status=EntityStatus.RUNNING, custom_metrics={"error_rate": 0.8})
    assert value == pytest.approx(0.6) and status is Health.WARNING


def test_summary_counts_by_status_and_kind() -> None:
    entities = [
        Entity(id="a", kind=EntityKind.POD, name="a", health=1.0, health_status=Health.OK),
        Entity(id="b", kind=EntityKind.POD, name="b", health=0.2,
               health_status=Health.CRITICAL),
        Entity(id="c", kind=EntityKind.NODE, name="c"),
    ]
    summary = summarize(entities)
    assert (summary.total, summary.healthy, summary.critical, summary.unknown) == (3, 1, 1, 1)
    assert summary.overall == pytest.approx(0.6)
    assert summary.by_kind["pod"].count == 2 and summary.by_kind["pod"].health == 0.6
    assert overall_status(summary) is Health.CRITICAL


def test_a_source_judgement_counts_as_a_check() -> None:
    entity = Entity(id="x", kind=EntityKind.NATS_CONSUMER, name="x", status=EntityStatus.ACTIVE)
    hint = (Health.CRITICAL, ["ack pending reached MaxAckPending: delivery stalled"])
    value, status, reasons = score_entity(entity, CFG, hint)
    assert status is Health.CRITICAL and reasons == hint[1]
    assert score_entity(entity, CFG, (Health.OK, []))[1] is Health.OK
