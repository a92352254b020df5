"""Alert rules: checks of the health table, with thresholds, `for`, severity and labels.

A rule is compiled once from the config (`alerts.rules`; empty means one rule per check
with the check's defaults) and then judges subjects: entities of its kinds, connections
(edge checks) or source statuses (source down). Judging is pure: `observe` turns the
current graph into one `Observation` per (rule, subject) that holds or cannot be judged,
and `Lifecycle` does the rest. An alert that got no observation asks `verdict` why: the
condition is over, or the check has no value (yet) and nothing can be said.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from gestalt.engine.health import (
    CHECKS,
    CHECKS_BY_ID,
    NEVER,
    Check,
    Expiry,
    judge_value,
    thresholds,
)
from gestalt.model import Connection, Entity, EntityKind, Health, SourceStatus
from gestalt.model.config import (
    AlertRule,
    AlertsConfig,
    ConfigError,
    HealthConfig,
    duration_seconds,
)

_LEVELS = {"warning": Health.WARNING, "critical": Health.CRITICAL}
SOURCE_PREFIX = "source:"

# Why an alert got no observation in an evaluation (see Lifecycle.apply):
CLEAR = "clear"  # its subject was judged and the rule does not hold: it is over
NO_DATA = "no data"  # its subject is there but the check has no value (yet): say nothing
GONE = "gone"  # its subject is gone and the sources that saw it have reported since
UNSEEN = "unseen"  # its subject is not there, but one of its sources has not reported yet
Verdict = str


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    check: Check
    min_level: Health
    for_seconds: float
    warning: float | None
    critical: float | None
    kinds: frozenset[EntityKind]
    match_labels: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    def applies_to(self, entity: Entity) -> bool:
        if self.kinds and entity.kind not in self.kinds:
            return False
        return not self.match_labels or \
            all(entity.labels.get(k) == v for k, v in self.match_labels)


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule that holds on a subject now (`active` True), or cannot be judged because the
    subject's source is down (`active` None). Rules that do not hold yield nothing; the
    lifecycle asks `RuleSet.verdict` about alerts left without an observation."""

    rule: Rule
    subject_id: str
    active: bool | None = True
    level: Health = Health.OK
    message: str = ""
    kind: EntityKind | None = None
    name: str = ""
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # who reports the subject (whose word ends an alert)
    # Hashed once: an observation is kept until its subject is judged again and read at
    # every evaluation; hashing it each time was a third of a hub's loop with 100,000
    # entities of silent sites (one observation per rule on each stale entity).
    alert_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alert_id", alert_id(self.rule.name, self.subject_id))


def alert_id(rule: str, subject_id: str) -> str:
    """Stable across restarts and replicas: the PagerDuty dedup_key and Alertmanager's
    identity of "this rule on this thing"."""
    return hashlib.sha256(f"{rule}\0{subject_id}".encode()).hexdigest()[:24]


def compile_rules(alerts: AlertsConfig, health: HealthConfig) -> list[Rule]:
    configured = alerts.rules or [
        AlertRule(name=c.id, check=c.id, for_=c.for_seconds) for c in CHECKS
        if (health.checks.get(c.id) is None or health.checks[c.id].enabled)
    ]
    rules = []
    names: set[str] = set()
    for index, spec in enumerate(configured):
        where = f"alerts.rules[{index}]"
        if spec.name in names:  # alert ids are made from rule names: two would be one alert
            raise ConfigError(f"key `{where}.name`: {spec.name!r} names an earlier rule too")
        names.add(spec.name)
        check = CHECKS_BY_ID.get(spec.check)
        if check is None:
            raise ConfigError(f"key `{where}.check`: unknown check {spec.check!r} "
                              f"(checks: {', '.join(CHECKS_BY_ID)})")
        level = _LEVELS.get(spec.severity)
        if level is None:
            raise ConfigError(f"key `{where}.severity`: expected warning or critical, "
                              f"got {spec.severity!r}")
        try:
            kinds = frozenset(EntityKind(k) for k in spec.kinds)
        except ValueError as exc:
            raise ConfigError(f"key `{where}.kinds`: {exc}") from exc
        if kinds and check.kinds and not kinds <= check.kinds:
            never = ", ".join(sorted(k.value for k in kinds - check.kinds))
            raise ConfigError(f"key `{where}.kinds`: check {check.id} never judges {never} "
                              f"(it judges {', '.join(sorted(k.value for k in check.kinds))})")
        warning, critical = thresholds(check, health)
        rules.append(Rule(
            name=spec.name, check=check, min_level=level,
            for_seconds=duration_seconds(spec.for_, f"{where}.for"),
            warning=spec.warning if spec.warning is not None else warning,
            critical=spec.critical if spec.critical is not None else critical,
            kinds=kinds or check.kinds,
            match_labels=tuple(sorted(spec.match_labels.items())),
            labels=tuple(sorted(spec.labels.items())),
        ))
    return rules


class RuleSet:
    """Rules indexed by what they judge, so one evaluation touches each entity once."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._by_kind: dict[EntityKind, list[Rule]] = {
            kind: [r for r in self.rules if r.check.target == "entity"
                   and (not r.kinds or kind in r.kinds)]
            for kind in EntityKind
        }
        self._edge_rules = [r for r in self.rules if r.check.target == "connection"]
        self._source_rules = [r for r in self.rules if r.check.target == "source"]
        self.by_name = {r.name: r for r in self.rules}
        # The rules whose reading can expire (health.Check.expires), by what they judge.
        self._timed_by_kind = {kind: _timed(rules) for kind, rules in self._by_kind.items()}
        self._timed_edge_rules = _timed(self._edge_rules)

    def expiry(self, subject: Entity | Connection, now: float) -> float:
        """When the rules' readings of `subject`, taken at `now`, may next differ while it
        does not change (health.NEVER: not before it changes)."""
        when = NEVER
        if isinstance(subject, Entity):
            for rule, expires in self._timed_by_kind[subject.kind]:
                if rule.applies_to(subject):
                    when = min(when, expires(subject, now))
        else:
            for _rule, expires in self._timed_edge_rules:
                when = min(when, expires(subject, now))
        return when

    def verdict(self, rule_name: str, subject: Entity | Connection | SourceStatus,
                now: float) -> Verdict:
        """Why an alert of `rule_name` on `subject` (in the graph now) got no observation:
        the rule was judged and does not hold (CLEAR), or its check has no value, as a
        rate or a trend right after a restart (NO_DATA: missing data never resolves)."""
        rule = self.by_name.get(rule_name)
        if rule is None:
            return CLEAR  # the rule is gone from the config: nobody judges it any more
        if isinstance(subject, Entity) and not rule.applies_to(subject):
            return CLEAR
        return NO_DATA if rule.check.read(subject, now) is None else CLEAR

    def observe(
        self,
        entities: Iterable[Entity],
        connections: Iterable[Connection],
        statuses: Iterable[SourceStatus],
        now: float,
        names: dict[str, Entity] | None = None,
    ) -> Iterator[Observation]:
        for entity in entities:
            rules = self._by_kind[entity.kind]
            for rule in rules:
                if not rule.applies_to(entity):
                    continue
                if entity.stale:
                    yield Observation(rule, entity.id, None)
                    continue
                seen = _observe(rule, entity, entity.id, now, entity.kind, entity.name,
                                entity.namespace, entity.labels, entity.sources)
                if seen is not None:
                    yield seen
        if self._edge_rules:
            for conn in connections:
                for rule in self._edge_rules:
                    seen = _observe(rule, conn, conn.id, now, None, "", None, {},
                                    conn.sources)
                    if seen is not None:
                        dst = names.get(conn.target_id) if names else None
                        yield replace(seen, name=_edge_name(conn, names),
                                      namespace=dst.namespace if dst else None)
        for status in statuses:
            for rule in self._source_rules:
                seen = _observe(rule, status, SOURCE_PREFIX + status.name, now, None,
                                status.name, None, {}, ())
                if seen is not None:
                    yield seen


def _timed(rules: list[Rule]) -> list[tuple[Rule, Expiry]]:
    return [(r, r.check.expires) for r in rules if r.check.expires is not None]


def _observe(rule: Rule, subject: object, subject_id: str, now: float,
             kind: EntityKind | None, name: str, namespace: str | None,
             labels: dict[str, str], sources: Iterable[str]) -> Observation | None:
    value = rule.check.read(subject, now)
    if value is None or not _reaches(rule, value):
        return None
    result = judge_value(rule.check, subject, value, rule.warning, rule.critical)
    return Observation(rule, subject_id, True, result.level, result.message, kind, name,
                       namespace, labels, tuple(sources))


def _reaches(rule: Rule, value: float) -> bool:
    """Whether a value is at the rule's level, before any verdict is made: an evaluation
    judges every subject each second and most are fine (making each one's verdict was
    most of a hub's CPU at 10,000 entities)."""
    if rule.critical is not None and value >= rule.critical:
        return True
    if rule.min_level.rank <= Health.WARNING.rank and rule.warning is not None \
            and value >= rule.warning:
        return True
    return rule.min_level.rank <= Health.OK.rank


def _edge_name(conn: Connection, names: dict[str, Entity] | None) -> str:
    src = names.get(conn.source_id) if names else None
    dst = names.get(conn.target_id) if names else None
    return f"{src.name if src else conn.source_id} -> {dst.name if dst else conn.target_id}"
