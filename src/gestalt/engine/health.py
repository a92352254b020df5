"""Health as data: one table of checks.

Every check is a row of `CHECKS` (id, title, kinds, default thresholds, unit, message
template and the reader that takes its value from an entity, a connection or a source),
in the spirit of Coroot's check table: adding a check is adding a row, and the alert
rules (`engine/alerts`) evaluate the very same rows. How the checks make an entity's
score and status is `engine/scoring.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gestalt.engine.anomaly import ANOMALIES
from gestalt.engine.counters import COUNTERS
from gestalt.model import Connection, Entity, EntityKind, EntityStatus, Health
from gestalt.model.config import HealthConfig

# Docker's restart manager waits longer before each restart of a container that keeps
# failing, and starts over once a run lasts this long: until then it is in its loop.
DOCKER_BACKOFF_RESET = 10.0

Target = Literal["entity", "connection", "source"]
Reader = Callable[[Any, float], "float | None"]
# When a check's reading of a subject that has not changed may next differ from the one
# taken at `now`: NEVER (not before the subject changes), `now` (at every evaluation) or a
# moment in between (a phase that ends by the clock).
Expiry = Callable[[Any, float], float]
NEVER = math.inf


@dataclass(frozen=True, slots=True)
class Check:
    """One check. `read(subject, now)` returns the observed value (None: does not apply or
    no data); the check is WARNING at `warning` or above and CRITICAL at `critical` or
    above. `message` is formatted with `value`, `threshold`, `name` and the subject's attrs
    and custom metrics."""

    id: str
    title: str
    kinds: frozenset[EntityKind]  # empty: every kind (entity checks only)
    warning: float | None
    critical: float | None
    unit: str  # "" (a count or a flag), "ratio", "seconds", "ms"
    message: str
    read: Reader
    target: Target = "entity"
    for_seconds: float = 0.0  # how long the condition holds before its default rule fires
    # Template fields computed from the subject, for numbers it does not carry as such.
    fields: Callable[[Any], dict[str, Any]] | None = None
    # For a reading that moves with the clock or with state kept outside the subject (a
    # counter's window, the anomaly models): when it may next differ (`Expiry`). None:
    # the reading and the message follow from the subject alone. The alert evaluation
    # judges again only the subjects that changed or whose reading expired: a reader
    # that uses `now` or such state without saying so here makes its alerts miss.
    expires: Expiry | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: Check
    level: Health  # OK, WARNING or CRITICAL
    value: float
    threshold: float | None
    message: str


# -- readers --------------------------------------------------------------------------------

def _attr(name: str) -> Callable[[Entity], Any]:
    return lambda e: e.attrs.get(name)


def _flag(entity: Entity, name: str) -> float:
    return 1.0 if entity.attrs.get(name) is True else 0.0


def _judged_flag(name: str) -> Reader:
    """A flag the source can only judge over several polls (a backlog growing): absent or
    None until then, which is no data, not "no"."""
    def read(e: Entity, _now: float) -> float | None:
        value = e.attrs.get(name)
        return None if value is None else 1.0 if value is True else 0.0

    return read


def _metric(name: str, scale: float = 1.0) -> Reader:
    def read(subject: Entity, _now: float) -> float | None:
        value = subject.custom_metrics.get(name)
        return None if value is None else value * scale

    return read


def _crash_loop(e: Entity, now: float) -> float | None:
    if e.attrs.get("reason") == "CrashLoopBackOff":  # Kubernetes says so itself
        return 1.0
    return 1.0 if _docker_crash_looping(e, now) else 0.0


def _docker_crash_looping(e: Entity, now: float) -> bool:
    """Docker has no CrashLoopBackOff: its restart policy restarted the container
    (`restart_count`), and it is either waiting for the next try (`restarting`) or has not
    yet run long enough for the back-off to start over. Both phases count, so the check
    holds through the whole loop instead of flapping with each start."""
    restarts = e.attrs.get("restart_count")
    if "restart_policy" not in e.attrs or not isinstance(restarts, int) or restarts < 1:
        return False
    state = e.attrs.get("state")
    if state == "restarting":
        return True
    started = _epoch(e.attrs.get("started_at"))
    return state == "running" and started is not None and now - started < DOCKER_BACKOFF_RESET


def _crash_loop_expires(e: Entity, now: float) -> float:
    """A Docker container that runs again is crash-looping until it has run for
    DOCKER_BACKOFF_RESET: that phase ends by the clock."""
    if e.attrs.get("reason") != "CrashLoopBackOff" and _docker_crash_looping(e, now) \
            and e.attrs.get("state") == "running":
        started = _epoch(e.attrs.get("started_at"))
        if started is not None:
            return started + DOCKER_BACKOFF_RESET
    return NEVER


def _epoch(timestamp: Any) -> float | None:
    try:
        return datetime.fromisoformat(timestamp).timestamp() if timestamp else None
    except (TypeError, ValueError):
        return None


def _failed(e: Entity, _now: float) -> float | None:
    # A crash loop is its own check, with its own message.
    return 1.0 if e.status is EntityStatus.FAILED and e.attrs.get("reason") != "CrashLoopBackOff" \
        else 0.0


def _exited(e: Entity, _now: float) -> float | None:
    if e.status is not EntityStatus.EXITED or exit_was_meant(e):
        return 0.0
    if exit_unknown(e):
        return None  # ended by a signal before we watched: a stop or a kill, we cannot say
    return 1.0 if e.attrs.get("exit_code") == 0 else 2.0


def exit_unknown(e: Entity) -> bool:
    return e.attrs.get("reason") == "Signalled" and e.attrs.get("restart_policy") != "always"


def exit_was_meant(e: Entity) -> bool:
    """An exit that is normal work: a one-shot that completed (exit 0, a migration, `docker
    compose run`, a Job's pod) or a stop someone asked for (`docker stop`, `docker kill`,
    `compose down`) — unless the restart policy says the container should keep running:
    `always` whatever happened, `unless-stopped` unless someone stopped it."""
    if e.kind in (EntityKind.POD, EntityKind.JOB):
        return True  # their failures are FAILED, not EXITED
    policy = e.attrs.get("restart_policy")
    reason = e.attrs.get("reason")
    if policy == "always":
        return False
    if reason == "Stopped":
        return True
    if policy == "unless-stopped":
        return False
    return reason == "Completed"


def _unhealthy(e: Entity, _now: float) -> float | None:
    # Docker reports a stopped container as "unhealthy" too; its exit is its own check.
    if e.status is not EntityStatus.RUNNING:
        return 0.0
    return 1.0 if e.attrs.get("health_check") == "unhealthy" else 0.0


def _paused(e: Entity, _now: float) -> float | None:
    return 1.0 if e.status is EntityStatus.PAUSED else 0.0


def _pending_seconds(e: Entity, now: float) -> float | None:
    if e.status is not EntityStatus.PENDING:
        return 0.0
    return max(0.0, now - e.created_at) if e.created_at is not None else None


def _pending_expires(e: Entity, now: float) -> float:
    return now if e.status is EntityStatus.PENDING and e.created_at is not None else NEVER


def _replicas(e: Entity) -> tuple[int, int] | None:
    """(desired, unavailable); Kubernetes omits unavailableReplicas on most workloads, so
    it is desired - ready there."""
    desired = e.attrs.get("replicas")
    if not isinstance(desired, int):
        return None
    unavailable = e.attrs.get("unavailable_replicas")
    if not isinstance(unavailable, int):
        ready = e.attrs.get("ready_replicas")
        if not isinstance(ready, int):
            return None
        unavailable = desired - ready
    return desired, max(0, unavailable)


def _unavailable(e: Entity, _now: float) -> float | None:
    counts = _replicas(e)
    if counts is None:
        return None
    desired, unavailable = counts
    # Scaled to zero: nothing is wanted, so nothing is missing.
    return unavailable / desired if desired > 0 else 0.0


def _unavailable_fields(e: Entity) -> dict[str, Any]:
    counts = _replicas(e)
    return {"unavailable": counts[1] if counts else None}


def _pressure(e: Entity, _now: float) -> float | None:
    return float(sum(1 for k in ("memory_pressure", "disk_pressure", "pid_pressure")
                     if e.attrs.get(k) is True))


def _cpu(e: Entity, _now: float) -> float | None:
    if e.status is EntityStatus.EXITED:
        return 0.0  # nothing runs; its last sample is history, not load
    return None if e.cpu_percent is None else e.cpu_percent / 100.0


def _memory(e: Entity, _now: float) -> float | None:
    if e.status is EntityStatus.EXITED:
        return 0.0
    if not e.memory_limit or e.memory_bytes is None:
        return None
    return e.memory_bytes / e.memory_limit


def _rising(counter: Callable[[Entity], Any]) -> Reader:
    def read(e: Entity, now: float) -> float | None:
        value = counter(e)
        if not isinstance(value, int | float):
            return None
        return COUNTERS.increase(e.id, float(value), now, born=e.created_at)

    return read


def _rising_expires(counter: Callable[[Entity], Any]) -> Expiry:
    """A rise leaves the window with time; a counter that has not risen stays at 0."""
    def expires(e: Entity, now: float) -> float:
        if not isinstance(counter(e), int | float):
            return NEVER
        return now if COUNTERS.moving(e.id) else NEVER

    return expires


def _anomaly_expires(subject: Any, now: float) -> float:
    """While a series is unusual its message follows each sample (and a mute's end); the
    detector tells when a subject's series start or stop being unusual (`watch`)."""
    return now if ANOMALIES.unusual(subject.id) else NEVER


def _restarts(e: Entity, now: float) -> float | None:
    """Restarts in the window; while the container is in a crash loop that is the one
    problem, with its own check and message (the window still counts them)."""
    rose = _restarts_rising(e, now)
    return 0.0 if rose and _crash_loop(e, now) else rose


def _count(n: Any, noun: str) -> str:
    """"1 restart", "5 restarts", "? restarts" (never "1 restarts")."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int):
        return f"? {noun}s"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _edge(field: str) -> Reader:
    return lambda c, _now: getattr(c, field)


def _source_down(status: Any, now: float) -> float | None:
    """A source that worked and stopped: visibility was lost. One that never came up (no
    cluster configured, no NATS on this machine) says why in /api/infra/health instead of
    paging someone on every fresh start."""
    if status.last_ok is None:
        return 0.0
    return 1.0 if str(status.state) == "down" else 0.0


def _gitops_drift(e: Entity, _now: float) -> float | None:
    """Drifted, missing or extra against Git (sources/gitops); no data where no repository
    declares the entity."""
    state = e.attrs.get("gitops_state")
    return None if state is None else 0.0 if state == "in_sync" else 1.0


def _gitops_fields(e: Entity) -> dict[str, Any]:
    state = e.attrs.get("gitops_state")
    detail = {"drifted": f"drifted from Git: {e.attrs.get('gitops_summary') or ''}",
              "missing": f"missing: in Git ({e.attrs.get('gitops_file')}), not in the cluster",
              "extra": "extra: in the cluster, not in Git"}.get(str(state), str(state))
    return {"gitops_detail": detail}


_restarts_rising = _rising(_attr("restart_count"))
_slow_consumers = _rising(lambda e: e.custom_metrics.get("slow_consumers"))

_WORKLOADS = frozenset({EntityKind.DEPLOYMENT, EntityKind.STATEFULSET, EntityKind.DAEMONSET,
                        EntityKind.REPLICASET})
_RUNNABLE = frozenset({EntityKind.POD, EntityKind.CONTAINER})

CHECKS: tuple[Check, ...] = (
    Check("crash_loop", "Crash-looping", _RUNNABLE, None, 1, "",
          "crash-looping: {restarts}, back-off before the next start", _crash_loop,
          fields=lambda e: {"restarts": _count(_attr("restart_count")(e), "restart")},
          expires=_crash_loop_expires),
    Check("restarts", "Restarts rising", _RUNNABLE, 2, 5, "",
          "restarted {value:.0f} times in the last 10 minutes", _restarts,
          expires=_rising_expires(_attr("restart_count"))),
    Check("failed", "Failed", frozenset(), None, 1, "", "failed: {reason}", _failed),
    # `for` 5 s: a normal restart passes through "exited" for a moment and must not page.
    Check("exited", "Exited", frozenset({EntityKind.CONTAINER, EntityKind.PROCESS}), 1, 2, "",
          "exited with code {exit_code}", _exited, for_seconds=5),
    Check("paused", "Paused", frozenset({EntityKind.CONTAINER}), 1, None, "",
          "paused: its processes are frozen", _paused),
    Check("oom_killed", "Out of memory", frozenset({EntityKind.CONTAINER}), None, 1, "",
          "killed by the kernel: out of memory (limit reached)",
          lambda e, _now: _flag(e, "oom_killed")),
    Check("health_check", "Health check failing", frozenset({EntityKind.CONTAINER}), None, 1, "",
          "health check failing", _unhealthy),
    Check("pending", "Pending too long", frozenset({EntityKind.POD}), 60, 300, "seconds",
          "pending for {value:.0f} s (not scheduled or not started)", _pending_seconds,
          expires=_pending_expires),
    Check("unavailable_replicas", "Replicas unavailable", _WORKLOADS, 0.01, 1.0, "ratio",
          "{unavailable} of {replicas} replicas unavailable", _unavailable,
          for_seconds=30, fields=_unavailable_fields),
    Check("node_pressure", "Node under pressure", frozenset({EntityKind.NODE}), 1, None, "",
          "node under pressure: {pressure}", _pressure),
    Check("cpu", "CPU", frozenset(), 0.7, 0.9, "ratio", "cpu at or above {threshold:.0%}",
          _cpu, for_seconds=60),
    Check("memory", "Memory", frozenset(), 0.8, 0.95, "ratio",
          "memory at or above {threshold:.0%}", _memory, for_seconds=60),
    Check("error_rate", "Error rate", frozenset({EntityKind.SERVICE}), 0.05, 0.2, "ratio",
          "{value:.1%} of requests fail (>= {threshold:.0%})", _metric("error_rate"),
          for_seconds=30),
    Check("latency", "Latency p99", frozenset({EntityKind.SERVICE}), 500, 2000, "ms",
          "p99 latency {value:.0f} ms (>= {threshold:.0f} ms)", _metric("latency_p99_ms"),
          for_seconds=30),
    Check("edge_error_rate", "Edge error rate", frozenset(), 0.05, 0.2, "ratio",
          "{value:.1%} of calls fail (>= {threshold:.0%})", _edge("error_rate"),
          target="connection", for_seconds=30),
    Check("edge_latency", "Edge latency", frozenset(), 500, 2000, "ms",
          "calls take {value:.0f} ms (>= {threshold:.0f} ms)", _edge("latency_ms"),
          target="connection", for_seconds=30),
    Check("consumer_stalled", "Consumer stalled", frozenset({EntityKind.NATS_CONSUMER}), None,
          1, "", "delivery stalled: {num_ack_pending} ack pending of {max_ack_pending}",
          lambda e, _now: _flag(e, "stalled")),
    Check("consumer_backlog", "Consumer backlog growing", frozenset({EntityKind.NATS_CONSUMER}),
          1, None, "", "backlog growing: {num_pending} pending",
          _judged_flag("backlog_growing")),
    Check("consumer_pending", "Consumer pending", frozenset({EntityKind.NATS_CONSUMER}), 10_000,
          100_000, "", "{value:.0f} messages pending", _metric("num_pending"), for_seconds=60),
    Check("slow_consumers", "Slow consumers", frozenset({EntityKind.NATS_SERVER}), 1, 10, "",
          "{value:.0f} slow consumers in the last 10 minutes", _slow_consumers,
          expires=_rising_expires(lambda e: e.custom_metrics.get("slow_consumers"))),
    Check("pool_saturation", "Connection pool saturated", frozenset({EntityKind.DATABASE}), 0.8,
          0.95, "ratio", "{value:.0%} of max_connections in use", _metric("pool_percent", 0.01)),
    Check("volume_full", "Volume nearly full", frozenset({EntityKind.VOLUME}), 0.85, 0.95,
          "ratio", "{value:.0%} full", _metric("used_percent", 0.01), for_seconds=60),
    # An online model per metric series (engine/anomaly): unusual for this series, whatever
    # its level. None (no data) while its models learn.
    Check("anomaly", "Unusual pattern", frozenset(), 1, None, "",
          "{series} {how}: {observed}, expected {expected} (since {since}){more}",
          lambda e, _now: ANOMALIES.verdict(e.id), for_seconds=0,
          fields=lambda e: ANOMALIES.message_fields(e.id), expires=_anomaly_expires),
    Check("edge_anomaly", "Unusual traffic", frozenset(), 1, None, "",
          "{series} {how}: {observed}, expected {expected} (since {since}){more}",
          lambda c, _now: ANOMALIES.verdict(c.id), target="connection",
          fields=lambda c: ANOMALIES.message_fields(c.id), expires=_anomaly_expires),
    Check("gitops_drift", "Out of sync with Git", frozenset(), 1, None, "",
          "{gitops_detail}", _gitops_drift, fields=_gitops_fields),
    Check("source_down", "Source down", frozenset(), None, 1, "",
          "source {name} is down: {reason}", _source_down, target="source", for_seconds=30),
)
CHECKS_BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}

# Entity checks by kind: the table, indexed once (most kinds have two to five checks).
_BY_KIND: dict[EntityKind, tuple[Check, ...]] = {
    kind: tuple(c for c in CHECKS if c.target == "entity" and (not c.kinds or kind in c.kinds))
    for kind in EntityKind
}


def checks_for(kind: EntityKind) -> tuple[Check, ...]:
    return _BY_KIND[kind]


def thresholds(check: Check, config: HealthConfig) -> tuple[float | None, float | None]:
    """The check's thresholds: its defaults, then the config's (cpu and memory have their
    own keys in the product plan's `health` section; every check can be set in `checks`)."""
    warning, critical = check.warning, check.critical
    if check.id == "cpu":
        warning, critical = config.cpu_warning_threshold, config.cpu_critical_threshold
    elif check.id == "memory":
        warning, critical = config.memory_warning_threshold, config.memory_critical_threshold
    override = config.checks.get(check.id)
    if override is not None:
        if override.warning is not None:
            warning = override.warning
        if override.critical is not None:
            critical = override.critical
    return warning, critical


def judge(
    check: Check, subject: Any, now: float, warning: float | None, critical: float | None
) -> CheckResult | None:
    """The check's verdict on one subject (None: it does not apply or there is no data)."""
    value = check.read(subject, now)
    if value is None:
        return None
    return judge_value(check, subject, value, warning, critical)


def judge_value(check: Check, subject: Any, value: float, warning: float | None,
                critical: float | None) -> CheckResult:
    """The verdict on a value the check read from the subject."""
    if critical is not None and value >= critical:
        level, threshold = Health.CRITICAL, critical
    elif warning is not None and value >= warning:
        level, threshold = Health.WARNING, warning
    else:
        return CheckResult(check, Health.OK, value, None, "")
    fields = _Fields(subject, value, threshold)
    if check.fields is not None:
        fields.update({k: v for k, v in check.fields(subject).items() if v is not None})
    return CheckResult(check, level, value, threshold, check.message.format_map(fields))


def run_checks(entity: Entity, config: HealthConfig, now: float) -> list[CheckResult]:
    results = []
    for check in _BY_KIND[entity.kind]:
        override = config.checks.get(check.id)
        if override is not None and not override.enabled:
            continue
        result = judge(check, entity, now, *thresholds(check, config))
        if result is not None:
            results.append(result)
    return results


def check_connection(conn: Connection, config: HealthConfig, now: float) -> list[CheckResult]:
    results = []
    for check in CHECKS:
        if check.target == "connection":
            result = judge(check, conn, now, *thresholds(check, config))
            if result is not None:
                results.append(result)
    return results


class _Fields(dict[str, Any]):
    """Template fields: value, threshold, name, then the subject's attrs and metrics;
    anything unknown shows as "?" rather than failing the check."""

    def __init__(self, subject: Any, value: float, threshold: float | None) -> None:
        super().__init__(value=value, threshold=threshold if threshold is not None else 0.0,
                         name=getattr(subject, "name", ""))
        self._subject = subject

    def __missing__(self, key: str) -> Any:
        for mapping in ("attrs", "custom_metrics"):
            values = getattr(self._subject, mapping, None) or {}
            if values.get(key) is not None:
                value = values[key]
                return int(value) if isinstance(value, float) and value.is_integer() else value
        value = getattr(self._subject, key, None)
        if value:
            return value
        return "reason unknown" if key == "reason" else "?"
