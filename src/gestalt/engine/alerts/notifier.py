"""Delivering alerts to receivers: level-triggered, deduplicated, persisted, retried.

Each receiver has one loop that compares what the alerts say now with what the receiver
was last told (the notification log) and sends the difference: a firing alert it has not
heard of (or heard resolved), a worse severity, a reminder after `repeat_interval`, a
resolve for something it was told is firing. Nothing is queued, so nothing is lost: a
restart reloads the log, a receiver that was down simply finds the difference larger.

Answers are handled as `receivers.deliver` classifies them: a 429 waits for its
Retry-After (plus a little jitter, so many Gestalts do not return at once), a 5xx or a
dead connection backs off exponentially with jitter, any other 4xx is not retried for
the same content. `failing_after` failures in a row raise the "notifications failing"
alert (through `on_failing`), which the other receivers deliver.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from gestalt.engine.alerts.lifecycle import FIRING, RESOLVED
from gestalt.engine.alerts.receivers import Outcome, deliver
from gestalt.model import Alert, Severity
from gestalt.model.config import Receiver

log = logging.getLogger(__name__)

FAILING_RULE = "notifications_failing"
RECEIVER_PREFIX = "receiver:"
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}
# Between looks at the alerts when nothing woke the loop (repeat_interval reminders).
IDLE_TICK = 1.0

Record = Callable[[tuple[float, str, str, str, str, str, str]], None]
OnFailing = Callable[[str, bool, str], None]


@dataclass
class Delivered:
    state: str
    severity: str
    at: float


class DeliveryLog:
    """What each receiver was last told about each alert; every attempt is recorded."""

    def __init__(self, saved: dict[tuple[str, str], tuple[str, str, float]],
                 record: Record) -> None:
        self._last = {key: Delivered(*value) for key, value in saved.items()}
        self._record = record

    def last(self, receiver: str, alert_id: str) -> Delivered | None:
        return self._last.get((receiver, alert_id))

    def note(self, receiver: str, alert: Alert, outcome: str, detail: str, now: float) -> None:
        state = RESOLVED if alert.state == RESOLVED else FIRING
        if outcome == "sent":
            self._last[(receiver, alert.id)] = Delivered(state, alert.severity.value, now)
        self._record((now, receiver, alert.id, state, alert.severity.value, outcome, detail))


@dataclass
class _Receiving:
    """One receiver's delivery state."""

    receiver: Receiver
    repeat: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    not_before: float = 0.0  # monotonic: backoff or Retry-After
    # (alert id) -> (state, severity) that was rejected with a 4xx: not retried as is.
    rejected: dict[str, tuple[str, str]] = field(default_factory=dict)
    sent: int = 0
    last_error: str = ""


class Notifier:
    def __init__(
        self,
        receivers: Iterable[tuple[Receiver, float]],
        log_: DeliveryLog,
        alerts: Callable[[], Iterable[Alert]],
        *,
        group_wait: float = 1.0,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        failing_after: int = 3,
        resend: float = 60.0,
        on_failing: OnFailing | None = None,
    ) -> None:
        self.receiving = {r.name: _Receiving(r, repeat) for r, repeat in receivers}
        self.log = log_
        self._alerts = alerts
        self.group_wait = group_wait
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.failing_after = failing_after
        self.resend = resend
        self._on_failing = on_failing
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        for state in self.receiving.values():
            state.wake.set()

    async def run(self) -> None:
        """Deliver until cancelled (run it only when there are receivers)."""
        async with httpx.AsyncClient(follow_redirects=False) as client:
            self._client = client
            await asyncio.gather(*(self._loop(s) for s in self.receiving.values()))

    def due(self, state: _Receiving, now: float) -> list[Alert]:
        receiver = state.receiver
        floor = _RANK.get(Severity(receiver.min_severity), 1)
        out = []
        for alert in self._alerts():
            if alert.state not in (FIRING, RESOLVED):
                continue  # pending: not yet; unknown: nothing new to say
            if alert.rule == FAILING_RULE and alert.entity_id == RECEIVER_PREFIX + receiver.name:
                continue  # it cannot hear about its own failure
            if state.rejected.get(alert.id) == (alert.state, alert.severity.value):
                continue
            last = self.log.last(receiver.name, alert.id)
            if alert.state == RESOLVED:
                if last is not None and last.state == FIRING:
                    out.append(alert)
                continue
            if _RANK[alert.severity] < floor:
                continue
            if (last is None or last.state == RESOLVED
                    or _RANK[alert.severity] > _RANK.get(Severity(last.severity), 0)
                    or now - last.at >= state.repeat):
                out.append(alert)
        return out

    async def _loop(self, state: _Receiving) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = state.not_before - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            due = self.due(state, time.time())
            if not due:
                state.wake.clear()
                try:
                    async with asyncio.timeout(IDLE_TICK):
                        await state.wake.wait()
                except TimeoutError:
                    pass
                continue
            if self.group_wait > 0:
                await asyncio.sleep(self.group_wait)  # let the rest of a burst join
                due = self.due(state, time.time()) or due
            await self._send(state, due)

    async def _send(self, state: _Receiving, due: list[Alert]) -> None:
        assert self._client is not None
        receiver = state.receiver
        now = time.time()
        try:
            outcome = await deliver(self._client, receiver, due, now=now, resend=self.resend)
        except Exception as exc:  # a bug in a body builder must not stop delivery for good
            log.exception("notifications to %s: could not send", receiver.name)
            outcome = Outcome(retryable=True, detail=f"{type(exc).__name__}: {exc}")
        now = time.time()
        for alert in outcome.delivered:
            self.log.note(receiver.name, alert, "sent", "", now)
            state.rejected.pop(alert.id, None)
        state.sent += len(outcome.delivered)
        if outcome.ok:
            if self._on_failing is not None:
                # Also ends a "failing" alert that a previous run left firing.
                self._on_failing(receiver.name, False, "")
            state.failures, state.last_error = 0, ""
            return
        delivered = {a.id for a in outcome.delivered}
        undelivered = [a for a in due if a.id not in delivered]
        what = "throttled" if outcome.retry_after is not None else \
            "rejected" if outcome.rejected else "failed"
        for alert in undelivered:
            self.log.note(receiver.name, alert, what, outcome.detail, now)
        state.last_error = outcome.detail
        loop_now = asyncio.get_running_loop().time()
        if outcome.retry_after is not None:
            # Honour Retry-After; the jitter only ever adds.
            ra = outcome.retry_after
            state.not_before = loop_now + ra + random.uniform(0, 0.1 * ra + 0.05)
            log.info("notifications to %s: throttled, retrying in %.1f s", receiver.name, ra)
            return
        state.failures += 1
        if outcome.rejected:
            for alert in undelivered:
                state.rejected[alert.id] = (alert.state, alert.severity.value)
            log.warning("notifications to %s rejected: %s", receiver.name, outcome.detail)
        else:
            delay = min(self.retry_max, self.retry_initial * 2 ** (state.failures - 1))
            state.not_before = loop_now + random.uniform(delay / 2, delay)
            log.warning("notifications to %s failed (%d in a row): %s", receiver.name,
                        state.failures, outcome.detail)
        if state.failures >= self.failing_after and self._on_failing is not None:
            self._on_failing(receiver.name, True, outcome.detail)
