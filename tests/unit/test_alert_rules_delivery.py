"""What each receiver is due to be told, from the alerts and the notification log alone."""

from __future__ import annotations

import email.utils
import time

import pytest

from gestalt.engine.alerts.notifier import DeliveryLog, Notifier
from gestalt.engine.alerts.receivers import retry_after, validate
from gestalt.model import Alert, Severity
from gestalt.model.config import ConfigError, Receiver

NOW = 1_800_000_000.0


def alert(aid: str, state: str = "firing", severity: Severity = Severity.WARNING,
          rule: str = "cpu", entity: str = "pod:a") -> Alert:
    return Alert(id=aid, rule=rule, entity_id=entity, severity=severity, state=state,
                 message="m", started_at=NOW - 100, updated_at=NOW - 100)


class Setup:
    def __init__(self, *alerts: Alert, min_severity: str = "warning",
                 saved: dict[tuple[str, str], tuple[str, str, float]] | None = None) -> None:
        self.alerts = list(alerts)
        self.lines: list[tuple[float, str, str, str, str, str, str]] = []
        self.log = DeliveryLog(saved or {}, self.lines.append)
        receiver = Receiver(name="r", type="webhook", url="http://127.0.0.1:1/",
                            min_severity=min_severity)
        self.notifier = Notifier([(receiver, 3600.0)], self.log, lambda: self.alerts)
        self.state = self.notifier.receiving["r"]

    def due(self, now: float = NOW) -> list[str]:
        return [a.id for a in self.notifier.due(self.state, now)]


def test_firing_is_due_once_then_again_after_repeat_interval() -> None:
    setup = Setup(alert("a"), alert("p", state="pending"), alert("u", state="unknown"))
    assert setup.due() == ["a"]  # pending: not yet; unknown: nothing new to say
    setup.log.note("r", setup.alerts[0], "sent", "", NOW)
    assert setup.due(NOW + 10) == []
    assert setup.due(NOW + 3600) == ["a"]
    assert setup.lines == [(NOW, "r", "a", "firing", "warning", "sent", "")]


def test_escalation_is_told_at_once() -> None:
    setup = Setup(alert("a", severity=Severity.CRITICAL),
                  saved={("r", "a"): ("firing", "warning", NOW - 5)})
    assert setup.due() == ["a"]


def test_resolve_is_due_only_to_whoever_heard_it_fire() -> None:
    setup = Setup(alert("told", state="resolved"), alert("never", state="resolved"),
                  saved={("r", "told"): ("firing", "warning", NOW - 50)})
    assert setup.due() == ["told"]
    setup.log.note("r", setup.alerts[0], "sent", "", NOW)
    assert setup.due() == []


def test_refiring_after_a_resolve_is_a_new_notification() -> None:
    setup = Setup(alert("a"), saved={("r", "a"): ("resolved", "warning", NOW - 5)})
    assert setup.due() == ["a"]


def test_min_severity_and_rejected_content() -> None:
    setup = Setup(alert("w"), alert("c", severity=Severity.CRITICAL), min_severity="critical")
    assert setup.due() == ["c"]
    setup.state.rejected["c"] = ("firing", "critical")
    assert setup.due() == []
    setup.alerts[1].severity = Severity.WARNING  # new content: not the rejected one
    assert setup.due() == []  # ... but below the receiver's floor


def test_a_receiver_is_not_told_about_its_own_failure() -> None:
    own = alert("f1", rule="notifications_failing", entity="receiver:r")
    other = alert("f2", rule="notifications_failing", entity="receiver:s")
    assert Setup(own, other).due() == ["f2"]


def test_retry_after_seconds_date_and_garbage() -> None:
    assert retry_after("7") == 7.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(future) <= 30
    assert retry_after(None) == 1.0 and retry_after("soon", default=2.0) == 2.0


@pytest.mark.parametrize(("receiver", "key"), [
    (Receiver(name="x", type="email", url="http://h/"), "type"),
    (Receiver(name="x", type="pagerduty", url="http://h/"), "routing_key"),
    (Receiver(name="x", type="slack", url="ftp://h/"), "url"),
    (Receiver(name="x", type="slack", url="http://h/", min_severity="loud"), "min_severity"),
])
def test_bad_receivers_name_the_key(receiver: Receiver, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"alerts\.receivers\[0\]\.{key}"):
        validate(receiver, "alerts.receivers[0]")
