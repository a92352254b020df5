"""The alert manager: rules evaluated over the live graph, the lifecycle, blast radius,
persistence, feed events and notifications, wired together.

`evaluate(now)` runs the rules over the store and the source statuses (every
`alerts.evaluation_interval`, one second by default). It judges again only the subjects
that changed or whose readings expired since the last evaluation (judged.py), so its cost
follows the churn, not the size of the graph. Every change is written to history (so a
restart continues where it stopped), each transition to firing or resolved goes to the
event feed once, as AlertFiring/AlertResolved, and the notifier is woken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import msgspec

from gestalt.engine.alerts.blast import blast_radius
from gestalt.engine.alerts.judged import Judged
from gestalt.engine.alerts.lifecycle import (
    ACTIVE,
    FIRING,
    PENDING,
    RESOLVED,
    RETURNED,
    UNKNOWN,
    Change,
    Lifecycle,
)
from gestalt.engine.alerts.notifier import (
    FAILING_RULE,
    RECEIVER_PREFIX,
    DeliveryLog,
    Notifier,
)
from gestalt.engine.alerts.receivers import validate
from gestalt.engine.alerts.rules import (
    GONE,
    SOURCE_PREFIX,
    UNSEEN,
    Observation,
    RuleSet,
    Verdict,
    alert_id,
    compile_rules,
)
from gestalt.engine.anomaly import ANOMALIES
from gestalt.engine.history import History
from gestalt.engine.store import Store
from gestalt.engine.tasks import guarded, stop
from gestalt.model import (
    Alert,
    Connection,
    Entity,
    Event,
    Severity,
    SourceState,
    SourceStatus,
)
from gestalt.model.config import Config, Receiver, duration_seconds

log = logging.getLogger(__name__)
# Raised by the engine while history cannot record (a full disk).
HISTORY_RULE = "history_paused"

EventSink = Callable[[Event], None]
# Subjects judged between two yields to the event loop (about 1.5 ms of work on an idle
# machine). Small, because every other task gets one turn per step, and a message from NATS
# takes several turns to reach the hub: on a loaded machine (the federation bench at load
# 7-10) steps of 1,000 (~20-30 ms each there) made such a hop's p90 52-147 ms, steps of 250
# 20-26 ms, at the same total cost.
EVALUATION_STEP = 250
# Sources that have not reported in this run (yet): their word on a subject is still due.
_NOT_REPORTED = (SourceState.STARTING, SourceState.DOWN)
# What `state` selects in the alerts list: "active" (the default) is everything not over.
STATE_CHOICES = ("active", PENDING, FIRING, UNKNOWN, RESOLVED, "all")


def select_alerts(alerts: Iterable[Alert], state: str = "active") -> list[Alert]:
    """Alerts in `state` (one of STATE_CHOICES), newest first; ValueError for another."""
    if state not in STATE_CHOICES:
        raise ValueError(f"state must be one of {', '.join(STATE_CHOICES)}, not {state!r}")
    wanted = ACTIVE if state == "active" else None if state == "all" else (state,)
    chosen = [a for a in alerts if wanted is None or a.state in wanted]
    return sorted(chosen, key=lambda a: -a.updated_at)


def receivers_of(config: Config) -> list[tuple[Receiver, float]]:
    """Configured receivers with their repeat intervals; the product plan's
    `slack_webhook` and `pagerduty_key` are receivers too."""
    alerts = config.alerts
    found = list(alerts.receivers)
    if alerts.slack_webhook:
        found.append(Receiver(name="slack", type="slack", url=alerts.slack_webhook))
    if alerts.pagerduty_key:
        found.append(Receiver(name="pagerduty", type="pagerduty", url=alerts.pagerduty_url,
                              routing_key=alerts.pagerduty_key))
    default_repeat = duration_seconds(alerts.repeat_interval, "alerts.repeat_interval")
    resend = duration_seconds(alerts.alertmanager_resend, "alerts.alertmanager_resend")
    out = []
    for index, receiver in enumerate(found):
        where = f"alerts.receivers[{index}]"
        if receiver.type == "pagerduty" and not receiver.url:
            receiver = msgspec.structs.replace(receiver, url=alerts.pagerduty_url)
        validate(receiver, where)
        if receiver.repeat_interval is not None:
            repeat = duration_seconds(receiver.repeat_interval, f"{where}.repeat_interval")
        else:
            repeat = resend if receiver.type == "alertmanager" else default_repeat
        out.append((receiver, repeat))
    return out


class AlertManager:
    def __init__(
        self,
        config: Config,
        store: Store,
        history: History,
        *,
        statuses: Callable[[], Iterable[SourceStatus]],
        emit: EventSink,
    ) -> None:
        alerts = config.alerts
        self.config = alerts
        self.store = store
        self.history = history
        self._statuses = statuses
        self._emit = emit
        self.rules = RuleSet(compile_rules(alerts, config.health))
        self.judged = Judged(self.rules, store, ANOMALIES)
        self.lifecycle = Lifecycle(
            resolved_retention=duration_seconds(alerts.resolved_retention,
                                                "alerts.resolved_retention"))
        self.lifecycle.external_rules.update((FAILING_RULE, HISTORY_RULE))
        self._grace = duration_seconds(alerts.startup_grace, "alerts.startup_grace")
        self._receivers = receivers_of(config)
        self.notifier: Notifier | None = None
        self._blast_version = -1

    def alerts(self) -> list[Alert]:
        """Every alert known: pending, firing, unknown and recently resolved."""
        return list(self.lifecycle.alerts.values())

    # -- lifecycle -------------------------------------------------------------------------
    def restore(self, now: float | None = None) -> None:
        """Start from what the last run left in history (after `history.open()`)."""
        now = time.time() if now is None else now
        configured = {RECEIVER_PREFIX + r.name for r, _ in self._receivers}
        for alert, prior in self.history.saved_alerts:
            if alert.rule == FAILING_RULE and alert.state == FIRING \
                    and alert.entity_id not in configured:
                # That receiver is gone from the config: nothing is failing any more.
                alert.state, alert.resolved_at, alert.updated_at = RESOLVED, now, now
            self.lifecycle.restore(alert, prior)
        self.lifecycle.hold_until = now + self._grace
        self.notifier = Notifier(
            self._receivers,
            DeliveryLog(self.history.saved_deliveries, self.history.record_notification),
            self.alerts,
            group_wait=self.config.group_wait,
            retry_initial=self.config.retry_initial,
            retry_max=self.config.retry_max,
            failing_after=self.config.failing_after,
            resend=duration_seconds(self.config.alertmanager_resend, "alerts.alertmanager_resend"),
            on_failing=self._notifications_failing,
        )

    async def run(self) -> None:
        """Evaluate every `evaluation_interval` and deliver, until cancelled."""
        if self.notifier is None:
            self.restore()
        assert self.notifier is not None
        # Delivery runs while there is somewhere to deliver to.
        delivery = [guarded("alert-notifier", self.notifier.run)] if self.notifier.receiving \
            else []
        try:
            while True:
                try:
                    await self.evaluate_in_steps()
                except Exception:  # one bad evaluation must not end alerting
                    log.exception("alert evaluation failed")
                    self.judged.judge_all()
                await asyncio.sleep(self.config.evaluation_interval)
        finally:
            await stop(delivery)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, now: float | None = None, *, full: bool = False) -> list[Change]:
        """One evaluation, in one go (tests, tools); `full` judges every subject again."""
        now = time.time() if now is None else now
        if full:
            self.judged.judge_all()
        self.judged.judge(self.judged.due(now), now)
        return self._conclude(now)

    async def evaluate_in_steps(self) -> list[Change]:
        """The same, yielding to the event loop every EVALUATION_STEP subjects judged: a
        full evaluation of 10,000 entities takes tens of milliseconds, which must not stall
        the streams."""
        now = time.time()
        due = self.judged.due(now)
        # A subject removed while an earlier step yielded is judged as gone (`judge` finds
        # it gone; reading it would bring back what was forgotten with it: its "rising"
        # counters).
        for start in range(0, len(due), EVALUATION_STEP):
            self.judged.judge(due[start:start + EVALUATION_STEP], now)
            await asyncio.sleep(0)
        return self._conclude(now)

    def _conclude(self, now: float) -> list[Change]:
        statuses = list(self._statuses())
        observations = [*self.judged.observations(),
                        *self.rules.observe((), (), statuses, now)]
        return self._apply(now, observations, statuses)

    def _apply(self, now: float, observations: list[Observation],
               statuses: list[SourceStatus]) -> list[Change]:
        store = self.store
        by_name = {s.name: s for s in statuses}

        def verdict(alert: Alert) -> Verdict:
            subject_id = alert.entity_id
            subject: Entity | Connection | SourceStatus | None
            if subject_id.startswith(SOURCE_PREFIX):
                subject = by_name.get(subject_id[len(SOURCE_PREFIX):])
            else:
                subject = store.entities.get(subject_id)
                if subject is None:
                    subject = store.connections.get(subject_id)
            if subject is not None:
                return self.rules.verdict(alert.rule, subject, now)
            # Gone, or not reported yet: a source that has not reported since the start
            # (or is down) cannot have said that the subject is gone.
            for name in alert.sources:
                status = by_name.get(name)
                if status is not None and status.state in _NOT_REPORTED:
                    return UNSEEN
            return GONE

        changes = self.lifecycle.apply(now, observations, verdict)
        for change in changes:
            if change.what in (PENDING, FIRING, RETURNED):
                change.alert.blast_radius = blast_radius(store, change.alert.entity_id)
        if store.version != self._blast_version:
            # The topology moved: what an active alert touches may have too.
            self._blast_version = store.version
            for alert in self.lifecycle.active():
                alert.blast_radius = blast_radius(store, alert.entity_id)
        self._record(changes, now)
        return changes

    def _record(self, changes: list[Change], now: float) -> None:
        if not changes:
            return
        for change in changes:
            alert = change.alert
            if change.what in ("dropped", "expired"):
                self.history.forget_alert(alert.id)
            else:
                self.history.record_alert(alert, self.lifecycle.prior.get(alert.id))
            if change.what in (FIRING, RESOLVED):
                event = self._event(alert, change.what, now)
                if event is not None:
                    self._emit(event)
        if self.notifier is not None:
            self.notifier.wake()

    def _event(self, alert: Alert, what: str, now: float) -> Event | None:
        """The feed's view of an alert change; alerts on things that are not entities
        (a source, a receiver) have no entity to hang it on and stay in the alerts list."""
        entity_id = alert.entity_id
        conn = self.store.connections.get(entity_id)
        if conn is not None:
            entity_id = conn.target_id
        entity = self.store.entities.get(entity_id)
        kind = entity.kind if entity is not None else alert.entity_kind
        if kind is None:
            return None
        firing = what == FIRING
        affects = f" (affects {len(alert.blast_radius)})" if alert.blast_radius and firing else ""
        # A default rule is named after its check, whose message already says what it is
        # ("paused: its processes are frozen"): its name in front would say it twice.
        named = "" if alert.rule == alert.labels.get("check") else f"{alert.rule}: "
        return Event(
            id=f"alert:{alert.id}:{what}:{int(now * 1000)}",
            type="Warning" if firing else "Normal",
            reason="AlertFiring" if firing else "AlertResolved",
            message=f"{named}{alert.message}{affects}" if firing else
            f"{alert.rule} resolved",
            entity_id=entity_id, entity_kind=kind,
            entity_name=entity.name if entity is not None else alert.entity_name,
            namespace=entity.namespace if entity is not None else None,
            timestamp=now,
            severity=alert.severity if firing else Severity.INFO,
            source="alerts",
        )

    def _notifications_failing(self, receiver: str, failing: bool, detail: str) -> None:
        self.raise_external(FAILING_RULE, RECEIVER_PREFIX + receiver, receiver,
                            f"notifications to {receiver} are failing: {detail}" if failing
                            else None, labels={"receiver": receiver})

    def raise_external(self, rule: str, subject: str, name: str, message: str | None, *,
                       labels: dict[str, str] | None = None) -> None:
        """Fire (a message) or resolve (None) an alert that Gestalt raises about itself
        (not judged by the rules): notifications failing, history paused."""
        now = time.time()
        self.lifecycle.external_rules.add(rule)
        aid = alert_id(rule, subject)
        current = self.lifecycle.alerts.get(aid)
        if message is not None:
            if current is not None and current.state == FIRING:
                return
            alert = Alert(id=aid, rule=rule, entity_id=subject,
                          severity=Severity.CRITICAL, state=FIRING,
                          message=message, started_at=now, updated_at=now, entity_name=name,
                          labels={"alertname": rule, "severity": "critical", **(labels or {})})
            self.lifecycle.alerts[aid] = alert
            self._record([Change(alert, FIRING)], now)
        elif current is not None and current.state == FIRING:
            current.state, current.resolved_at, current.updated_at = RESOLVED, now, now
            self._record([Change(current, RESOLVED)], now)
