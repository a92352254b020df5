"""The 0..1 score and the status of an entity, and the summary of many.

The score is the product plan's algorithm (status, memory and CPU pressure, error rate,
averaged). The status is the worst of the score's band, of every check (engine/health.py)
and of what the source itself judged, so one saturated resource is never averaged away.
Missing data is UNKNOWN, never OK; an entity whose source is down is UNKNOWN too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gestalt.engine.health import exit_unknown, exit_was_meant, run_checks
from gestalt.model import Entity, EntityStatus, Health, KindSummary, Summary
from gestalt.model.config import HealthConfig
from gestalt.model.entities import EMPTY_LIST

# The product plan's status scores, plus the lifecycle states our sources add.
STATUS_SCORES: dict[EntityStatus, float] = {
    EntityStatus.RUNNING: 1.0,
    EntityStatus.ACTIVE: 1.0,
    EntityStatus.PROCESSING: 1.0,
    EntityStatus.PENDING: 0.6,
    EntityStatus.PAUSED: 0.6,
    EntityStatus.TERMINATING: 0.3,
    EntityStatus.EXITED: 0.3,
    EntityStatus.FAILED: 0.0,
    EntityStatus.UNKNOWN: 0.5,
}

# Score bands, as the product plan's topology summary draws them.
OK_FROM = 0.8
WARNING_FROM = 0.5



# -- the score and the status ------------------------------------------------------------

def band(score: float) -> Health:
    if score >= OK_FROM:
        return Health.OK
    if score >= WARNING_FROM:
        return Health.WARNING
    return Health.CRITICAL


def plan_score(entity: Entity) -> tuple[float, int]:
    """The product plan's 0..1 score, and how many terms it averaged."""
    scores = [_status_score(entity)]
    if entity.memory_limit and entity.memory_bytes is not None:
        scores.append(1.0 - min(entity.memory_bytes / entity.memory_limit, 1.0) * 0.5)
    if entity.cpu_percent:
        scores.append(1.0 - min(entity.cpu_percent / 100.0, 1.0) * 0.3)
    error_rate = entity.custom_metrics.get("error_rate")
    if error_rate is not None:
        scores.append(1.0 - min(max(error_rate, 0.0), 1.0))
    return round(sum(scores) / len(scores), 4), len(scores)


def score_entity(
    entity: Entity,
    thresholds: HealthConfig,
    hint: tuple[Health, list[str]] = (Health.UNKNOWN, []),
    *,
    now: float | None = None,
) -> tuple[float, Health, list[str]]:
    """Return (score, status, reasons) for one entity.

    `hint` is what the source itself judged (a stalled NATS consumer, a crash-looping pod):
    it counts as one more check, so the status is never better than the source says.
    """
    now = time.time() if now is None else now
    score, terms = plan_score(entity)
    reasons: list[str] = []
    levels: list[Health] = []
    if hint[0] in (Health.WARNING, Health.CRITICAL):
        levels.append(hint[0])
        reasons.extend(hint[1])
    failing = 0
    for result in run_checks(entity, thresholds, now):
        if result.level is not Health.OK:
            failing += 1
            levels.append(result.level)
            if result.message not in reasons:
                reasons.append(result.message)
    if entity.stale:
        return score, Health.UNKNOWN, ["source down: data may be out of date", *reasons]
    if entity.status is EntityStatus.UNKNOWN and terms == 1 and not levels:
        return score, Health.UNKNOWN, ["no status reported"]
    # No reasons: the one empty list every entity shares (model/entities.py), not a new
    # one kept by each merged entity (0.5 MB at 10,000 entities).
    return score, Health.worst(band(score), *levels), reasons or EMPTY_LIST


def _status_score(entity: Entity) -> float:
    if entity.status is EntityStatus.EXITED:
        if exit_was_meant(entity) or exit_unknown(entity):
            # It did its work, or was stopped on purpose; or it was ended by a signal before
            # we watched, which is what an old `docker stop` looks like (no guess at a crash).
            return 1.0
        if entity.attrs.get("exit_code") == 0:
            return 0.6  # a clean exit of something that should run: worth a look
    elif entity.status is EntityStatus.PENDING and entity.attrs.get("state") == "created":
        return 1.0  # a Docker container made and not (yet) started: nothing is wrong
    return STATUS_SCORES.get(entity.status, 0.5)


# -- the summary -------------------------------------------------------------------------

def summarize(entities: Iterable[Entity]) -> Summary:
    tally = Tally()
    for entity in entities:
        tally.add(entity)
    return tally.summary()


# Scores are summed in billionths, as integers: adding and removing are exact inverses, so
# a tally kept through millions of changes equals one made afresh.
_SCALE = 1_000_000_000
_COUNT, _OK, _WARNING, _CRITICAL, _UNKNOWN, _SCORE, _SCORED = range(7)
_STATUS_SLOT = {Health.OK: _OK, Health.WARNING: _WARNING, Health.CRITICAL: _CRITICAL}


class Tally:
    """The summary's sums, kept as entities come, change and go: the store keeps one
    current, so a summary of any graph is a few dozen additions instead of a pass over
    every entity (10,000 of them took 8 to 25 ms on a busy machine, on every change)."""

    __slots__ = ("_kinds",)

    def __init__(self) -> None:
        # kind (EntityKind) -> [count, ok, warning, critical, unknown, score sum, scored]
        self._kinds: dict[str, list[int]] = {}

    def add(self, entity: Entity, sign: int = 1) -> None:
        # The kind itself is the key (a StrEnum is its value): `.value` is a Python-level
        # property, a third of the time of adding 10,000 entities.
        sums = self._kinds.get(entity.kind)
        if sums is None:
            sums = self._kinds[entity.kind] = [0] * 7
        sums[_COUNT] += sign
        status = entity.health_status
        sums[_STATUS_SLOT.get(status, _UNKNOWN)] += sign
        if entity.health is not None and status is not Health.UNKNOWN:
            sums[_SCORE] += sign * round(entity.health * _SCALE)
            sums[_SCORED] += sign

    def remove(self, entity: Entity) -> None:
        self.add(entity, -1)

    def summary(self) -> Summary:
        summary = Summary()
        total_score = scored = 0
        by_kind: dict[str, KindSummary] = {}
        for name, sums in self._kinds.items():
            if not sums[_COUNT]:
                continue
            by_kind[str(name)] = KindSummary(
                count=sums[_COUNT], ok=sums[_OK], warning=sums[_WARNING],
                critical=sums[_CRITICAL], unknown=sums[_UNKNOWN],
                health=round(sums[_SCORE] / _SCALE / sums[_SCORED], 4) if sums[_SCORED]
                else None)
            summary.total += sums[_COUNT]
            summary.healthy += sums[_OK]
            summary.warning += sums[_WARNING]
            summary.critical += sums[_CRITICAL]
            summary.unknown += sums[_UNKNOWN]
            total_score += sums[_SCORE]
            scored += sums[_SCORED]
        summary.overall = round(total_score / _SCALE / scored, 4) if scored else None
        summary.by_kind = by_kind
        return summary


def overall_status(summary: Summary) -> Health:
    if summary.critical:
        return Health.CRITICAL
    if summary.warning:
        return Health.WARNING
    if summary.healthy:
        return Health.OK
    return Health.UNKNOWN
