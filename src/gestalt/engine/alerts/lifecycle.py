"""The alert lifecycle: pending -> firing -> resolved, one alert per (rule, subject).

`Lifecycle.apply(now, observations, verdict)` is pure state-machine work with the time
passed in, so rule tests drive it with a fake clock:

- a rule that starts to hold opens a *pending* alert; once it has held for the rule's
  `for`, the alert is *firing*; when it stops holding, a firing alert is *resolved* and a
  pending one is dropped (it never fired, so nobody was told);
- missing data never resolves. A subject whose check has no value (a trend or a rate
  needs a few samples after a restart) keeps its alerts as they are. A subject whose
  source is down cannot be judged: its alerts become *unknown* and return to what they
  were when data comes back, quietly (`returned`: the same incident, nothing new to tell);
- after a restart, alerts keep their state until their subject is judged again. Those of
  subjects not back are resolved only once `hold_until` has passed (the sources need a
  moment) and the sources that reported the subject have reported since; while a source
  of theirs has not, they are *unknown* after `hold_until`;
- resolved alerts stay listed for `resolved_retention` seconds, then expire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gestalt.engine.alerts.rules import GONE, NO_DATA, UNSEEN, Observation, Verdict
from gestalt.model import Alert, Health, Severity

PENDING, FIRING, RESOLVED, UNKNOWN = "pending", "firing", "resolved", "unknown"
# Back from unknown to what it was: kept in history, not a new transition for the feed.
RETURNED = "returned"
ACTIVE = (PENDING, FIRING, UNKNOWN)


@dataclass(frozen=True, slots=True)
class Change:
    alert: Alert
    what: str  # pending | firing | resolved | unknown | returned | updated | dropped | expired


class Lifecycle:
    def __init__(self, *, resolved_retention: float = 900.0, hold_until: float = 0.0) -> None:
        self.alerts: dict[str, Alert] = {}
        # What an unknown alert was before its data went away (pending or firing).
        self.prior: dict[str, str] = {}
        self.resolved_retention = resolved_retention
        self.hold_until = hold_until
        # Rules whose alerts are raised and resolved by someone else (the notifier's
        # "notifications failing"): not judged here, only expired.
        self.external_rules: set[str] = set()

    def restore(self, alert: Alert, prior: str | None = None) -> None:
        self.alerts[alert.id] = alert
        if alert.state == UNKNOWN:
            self.prior[alert.id] = prior or FIRING

    def apply(
        self, now: float, observations: Iterable[Observation],
        verdict: Callable[[Alert], Verdict],
    ) -> list[Change]:
        """One evaluation. `verdict(alert)` says why an alert got no observation (see
        rules.CLEAR, NO_DATA, GONE, UNSEEN)."""
        changes: dict[str, Change] = {}
        seen: set[str] = set()
        for obs in observations:
            aid = obs.alert_id
            seen.add(aid)
            alert = self.alerts.get(aid)
            if obs.active is None:
                if alert is not None and alert.state in (PENDING, FIRING):
                    self._unknown(alert, now, changes)
                continue
            severity = Severity.CRITICAL if obs.level is Health.CRITICAL else Severity.WARNING
            if alert is None or alert.state == RESOLVED:
                alert = Alert(
                    id=aid, rule=obs.rule.name, entity_id=obs.subject_id, severity=severity,
                    state=PENDING, message=obs.message, started_at=now, updated_at=now,
                    entity_kind=obs.kind, entity_name=obs.name,
                    labels=_labels(obs, severity), sources=list(obs.sources),
                )
                self.alerts[aid] = alert
                changes[aid] = Change(alert, PENDING)
            else:
                if alert.state == UNKNOWN:
                    alert.state = self.prior.pop(aid, FIRING)
                    alert.updated_at = now
                    changes[aid] = Change(alert, RETURNED)
                if obs.sources and alert.sources != list(obs.sources):
                    alert.sources = list(obs.sources)
                if severity != alert.severity:
                    alert.severity, alert.updated_at = severity, now
                    alert.labels = _labels(obs, severity)
                    changes.setdefault(aid, Change(alert, "updated"))
                # The message follows the value (a pool at 91 %, then 93 %): kept current
                # for the API without counting as a change to persist or notify.
                alert.message = obs.message
            if alert.state == PENDING and now - alert.started_at >= obs.rule.for_seconds:
                alert.state, alert.updated_at = FIRING, now
                changes[aid] = Change(alert, FIRING)

        for aid, alert in list(self.alerts.items()):
            if aid in seen:
                continue
            if alert.state == RESOLVED:
                if now - (alert.resolved_at or now) >= self.resolved_retention:
                    del self.alerts[aid]
                    changes[aid] = Change(alert, "expired")
                continue
            if alert.rule in self.external_rules:
                continue
            why = verdict(alert)
            if why == NO_DATA:
                continue
            if why == UNSEEN or (why == GONE and now < self.hold_until):
                if now >= self.hold_until and alert.state != UNKNOWN:
                    self._unknown(alert, now, changes)
                continue
            was = self.prior.pop(aid, PENDING) if alert.state == UNKNOWN else alert.state
            if was == PENDING:
                del self.alerts[aid]
                changes[aid] = Change(alert, "dropped")
            else:
                alert.state, alert.resolved_at, alert.updated_at = RESOLVED, now, now
                changes[aid] = Change(alert, RESOLVED)
        return list(changes.values())

    def _unknown(self, alert: Alert, now: float, changes: dict[str, Change]) -> None:
        self.prior[alert.id] = alert.state
        alert.state, alert.updated_at = UNKNOWN, now
        changes[alert.id] = Change(alert, UNKNOWN)

    def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state in ACTIVE]


def _labels(obs: Observation, severity: Severity) -> dict[str, str]:
    labels = {"alertname": obs.rule.name, "check": obs.rule.check.id,
              "severity": severity.value, "entity_id": obs.subject_id}
    if obs.name:
        labels["entity"] = obs.name
    if obs.kind is not None:
        labels["kind"] = obs.kind.value
    if obs.namespace:
        labels["namespace"] = obs.namespace
    labels.update(obs.rule.labels)
    return labels
