"""Receivers: where notifications go, and what each one is sent.

Each receiver turns a batch of alerts into HTTP requests and classifies the answer at
this boundary: delivered, retry later (429 with its Retry-After, 5xx, no connection) or
rejected (any other 4xx: sending the same thing again will not help).

- slack: an incoming webhook; one message per batch (the group), firing and resolved.
- pagerduty: Events API v2; one event per alert, `dedup_key` stable per rule + subject,
  `trigger` then `resolve`; PagerDuty groups by that key into one incident.
- webhook: Alertmanager's webhook JSON (version 4), so existing webhook consumers work.
- alertmanager: POST /api/v2/alerts; firing alerts carry an endsAt a few resend periods
  ahead (Alertmanager resolves them by itself if Gestalt goes away), resolved ones their
  resolve time; Alertmanager's own routing groups and deduplicates. Its `url` is
  Alertmanager's base URL, as amtool and Prometheus take it (`http://am:9093`, or with a
  route prefix `http://host/alertmanager`); a URL that already ends in /api/v2/alerts is
  used as it is.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from gestalt.model import Alert, Severity
from gestalt.model.config import ConfigError, Receiver

TYPES = ("slack", "pagerduty", "webhook", "alertmanager")
_PD_SEVERITY = {Severity.CRITICAL: "critical", Severity.ERROR: "error",
                Severity.WARNING: "warning", Severity.INFO: "info"}
_MAX_DETAIL = 300


@dataclass
class Outcome:
    """What one delivery attempt achieved. `delivered` are the alerts that got through
    (PagerDuty sends one request each, so part of a batch can)."""

    delivered: list[Alert] = field(default_factory=list)
    retry_after: float | None = None  # a 429's Retry-After, seconds
    retryable: bool = False  # 5xx, timeouts, refused connections
    rejected: bool = False  # another 4xx: do not retry this content
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not (self.retryable or self.rejected or self.retry_after is not None)


def validate(receiver: Receiver, where: str) -> None:
    if receiver.type not in TYPES:
        raise ConfigError(f"key `{where}.type`: expected one of {', '.join(TYPES)}, "
                          f"got {receiver.type!r}")
    if receiver.type == "pagerduty" and not receiver.routing_key:
        raise ConfigError(f"key `{where}.routing_key`: a pagerduty receiver needs one")
    if receiver.min_severity not in (Severity.WARNING.value, Severity.CRITICAL.value):
        raise ConfigError(f"key `{where}.min_severity`: expected warning or critical, "
                          f"got {receiver.min_severity!r}")
    if not receiver.url:
        raise ConfigError(f"key `{where}.url`: a {receiver.type} receiver needs a URL")
    if not receiver.url.startswith(("http://", "https://")):
        raise ConfigError(f"key `{where}.url`: expected an http(s) URL")
    if receiver.type == "alertmanager" and urlsplit(receiver.url).path.rstrip("/").endswith(
            "/api/v1/alerts"):
        raise ConfigError(f"key `{where}.url`: Alertmanager's v1 API is gone (since 0.27); "
                          "give its base URL, e.g. http://alertmanager:9093")


_ALERTMANAGER_PATH = "/api/v2/alerts"


def target_url(receiver: Receiver) -> str:
    """Where a receiver's notifications are posted."""
    if receiver.type != "alertmanager":
        return receiver.url
    parts = urlsplit(receiver.url)
    path = parts.path.rstrip("/")
    if not path.endswith(_ALERTMANAGER_PATH):
        path = path.removesuffix("/api/v2") + _ALERTMANAGER_PATH
    return urlunsplit(parts._replace(path=path))


async def deliver(
    client: httpx.AsyncClient, receiver: Receiver, alerts: list[Alert], *, now: float,
    resend: float,
) -> Outcome:
    if receiver.type == "pagerduty":
        outcome = Outcome()
        for alert in alerts:
            one = await _post(client, receiver, _pagerduty(receiver, alert))
            if not one.ok:
                one.delivered = outcome.delivered
                return one
            outcome.delivered.append(alert)
        return outcome
    if receiver.type == "slack":
        body: Any = _slack(alerts)
    elif receiver.type == "webhook":
        body = _webhook(receiver, alerts, now)
    else:
        body = [_alertmanager(alert, now, resend) for alert in alerts]
    outcome = await _post(client, receiver, body)
    if outcome.ok:
        outcome.delivered = list(alerts)
    return outcome


async def _post(client: httpx.AsyncClient, receiver: Receiver, body: Any) -> Outcome:
    try:
        response = await client.post(target_url(receiver), json=body, timeout=receiver.timeout)
    except httpx.HTTPError as exc:
        return Outcome(retryable=True, detail=f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL])
    status = response.status_code
    if status < 300:
        return Outcome()
    detail = f"HTTP {status}: {response.text[:200]}"
    if status == 429:
        return Outcome(retry_after=retry_after(response.headers.get("retry-after")),
                       detail=detail)
    if status >= 500 or status == 408:
        return Outcome(retryable=True, detail=detail)
    return Outcome(rejected=True, detail=detail)


def retry_after(value: str | None, default: float = 1.0) -> float:
    """Retry-After as seconds: delta-seconds or an HTTP date; `default` when absent."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


# -- bodies -------------------------------------------------------------------------------

def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _title(alert: Alert) -> str:
    return f"{alert.rule} on {alert.entity_name or alert.entity_id}"


def _headline(alert: Alert) -> str:
    """The title and the message. A default rule is named after its check, whose message
    already says what it is ("paused: its processes are frozen"): the subject alone goes
    in front, or the line would say it twice."""
    if alert.rule == alert.labels.get("check"):
        return f"{alert.entity_name or alert.entity_id}: {alert.message}"
    return f"{_title(alert)}: {alert.message}"


def _affects(alert: Alert) -> str:
    n = len(alert.blast_radius)
    return f"; affects {n} other{'s' if n != 1 else ''}" if n else ""


def _slack(alerts: list[Alert]) -> dict[str, Any]:
    firing = [a for a in alerts if a.state != "resolved"]
    resolved = [a for a in alerts if a.state == "resolved"]
    lines = []
    if firing:
        lines.append(f"*[FIRING:{len(firing)}]*")
        lines += [f"• {a.severity.value.upper()} {_headline(a)}{_affects(a)}"
                  for a in firing]
    if resolved:
        lines.append(f"*[RESOLVED:{len(resolved)}]*")
        lines += [f"• {_title(a)}" for a in resolved]
    return {"text": "\n".join(lines)}


def _pagerduty(receiver: Receiver, alert: Alert) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": receiver.routing_key,
        "dedup_key": f"gestalt-{alert.id}",
        "event_action": "resolve" if alert.state == "resolved" else "trigger",
    }
    if alert.state != "resolved":
        body["payload"] = {
            "summary": _headline(alert)[:1024],
            "source": alert.entity_name or alert.entity_id,
            "severity": _PD_SEVERITY[alert.severity],
            "timestamp": _iso(alert.started_at),
            "component": alert.entity_kind.value if alert.entity_kind else "gestalt",
            "group": alert.labels.get("namespace", ""),
            "class": alert.rule,
            "custom_details": {"entity_id": alert.entity_id,
                               "blast_radius": alert.blast_radius, "labels": alert.labels},
        }
    return body


def _annotations(alert: Alert) -> dict[str, str]:
    notes = {"summary": _title(alert), "description": alert.message}
    if alert.blast_radius:
        notes["blast_radius"] = ", ".join(alert.blast_radius)
    return notes


def _alertmanager(alert: Alert, now: float, resend: float) -> dict[str, Any]:
    ends = alert.resolved_at if alert.state == "resolved" and alert.resolved_at else \
        now + 4 * resend
    return {"labels": alert.labels or {"alertname": alert.rule},
            "annotations": _annotations(alert),
            "startsAt": _iso(alert.started_at), "endsAt": _iso(ends)}


def _webhook(receiver: Receiver, alerts: list[Alert], now: float) -> dict[str, Any]:
    firing = any(a.state != "resolved" for a in alerts)
    return {
        "version": "4",
        "receiver": receiver.name,
        "status": "firing" if firing else "resolved",
        "groupKey": receiver.name,
        "alerts": [{
            "status": "resolved" if a.state == "resolved" else "firing",
            "labels": a.labels or {"alertname": a.rule},
            "annotations": _annotations(a),
            "startsAt": _iso(a.started_at),
            "endsAt": _iso(a.resolved_at) if a.resolved_at else "0001-01-01T00:00:00Z",
            "fingerprint": a.id,
        } for a in alerts],
    }
