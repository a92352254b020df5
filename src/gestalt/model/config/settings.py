"""The sections beside the collectors: server, visualization, health, alerts, history,
and the whole `Config`."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gestalt.model.config.actions import ActionsConfig
from gestalt.model.config.collectors import Collectors
from gestalt.model.config.federation import AgentConfig
from gestalt.model.config.insight import AnomalyConfig, CostConfig
from gestalt.model.config.types import (
    Duration,
    LayoutAlgorithm,
    Port,
    Positive,
    Seconds,
    Section,
    Threshold,
    Wait,
)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: Port = 8765
    # Bearer token; required for any non-loopback bind. Never empty: leave it out instead.
    token: str | None = None
    # TLS for the API (PEM files; both or neither), for installs without a proxy or
    # ingress that terminates TLS. The certificate file may hold the chain.
    tls_cert: str | None = None
    tls_key: str | None = None
    # Where history (SQLite) lives. Relative paths are relative to the working directory.
    data_dir: str = "data"
    # Extra origins allowed to call the API from a browser (besides the server's own).
    allowed_origins: list[str] = []
    # Per-SSE-client queue bound (frames); a client further behind gets a `resync`.
    client_queue_frames: Positive = 256
    # Deltas kept for Last-Event-ID resume.
    delta_ring_size: Positive = 4096
    # Metric-only changes are coalesced into one frame per this many seconds.
    metrics_interval: Seconds = 1.0


class Visualization(Section):
    max_entities: Positive = 1000
    layout_algorithm: LayoutAlgorithm = "force-directed-3d"
    animation_fps: Annotated[int, msgspec.Meta(ge=1, le=240)] = 60


class CheckSettings(Section):
    """Overrides for one check of the health table (engine/health.py `CHECKS`)."""

    enabled: bool = True
    warning: Threshold | None = None
    critical: Threshold | None = None


class HealthConfig(Section):
    # Fractions of one core (cpu) and of the limit (memory), as in the product plan.
    cpu_warning_threshold: Threshold = 0.7
    cpu_critical_threshold: Threshold = 0.9
    memory_warning_threshold: Threshold = 0.8
    memory_critical_threshold: Threshold = 0.95
    # Check id -> thresholds or `enabled: false` (e.g. `pending: {critical: 600}`).
    checks: dict[str, CheckSettings] = {}


class AlertRule(Section):
    """An alert rule: a check of the health table, with its own thresholds and `for`."""

    name: str
    check: str  # a check id (engine/health.py CHECKS)
    # The alert is active while the check is at this level or worse (warning|critical);
    # the alert's severity is the check's level at the time.
    severity: str = "warning"
    for_: Duration = msgspec.field(default=0.0, name="for")
    warning: Threshold | None = None  # thresholds for this rule; default: the check's
    critical: Threshold | None = None
    kinds: list[str] = []  # narrower than the check's kinds
    match_labels: dict[str, str] = {}  # only entities with these labels
    labels: dict[str, str] = {}  # added to the alert (routing in Alertmanager)


class Receiver(Section):
    """Where notifications go: slack (incoming webhook), pagerduty (Events API v2),
    webhook (Alertmanager's webhook JSON) or alertmanager (its /api/v2/alerts)."""

    name: str
    type: str
    # Where to post; a pagerduty receiver defaults to `alerts.pagerduty_url` (Events API v2).
    url: str = ""
    routing_key: str | None = None  # PagerDuty integration key
    min_severity: str = "warning"
    repeat_interval: Duration | None = None  # default: alerts.repeat_interval
    timeout: Seconds = 10.0


class AlertsConfig(Section):
    enabled: bool = True
    slack_webhook: str | None = None
    pagerduty_key: str | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    # Empty: one rule per check of the health table, with the check's defaults.
    rules: list[AlertRule] = []
    receivers: list[Receiver] = []
    evaluation_interval: Seconds = 1.0
    # A firing alert is notified again after this long (Alertmanager resends are apart).
    repeat_interval: Duration = "4h"
    # Alerts that become due together within this long go out as one notification.
    group_wait: Wait = 1.0
    # Retry delays after a 5xx or a connection error: exponential from initial to max,
    # jittered; a 429 waits for its Retry-After instead.
    retry_initial: Seconds = 1.0
    retry_max: Seconds = 30.0
    # This many failed deliveries in a row raise the "notifications failing" alert.
    failing_after: Positive = 3
    # Alertmanager wants firing alerts re-sent; it resolves them itself after endsAt.
    alertmanager_resend: Duration = "1m"
    # Resolved alerts stay listed (and in history) this long.
    resolved_retention: Duration = "15m"
    # After a restart, alerts of entities not seen again are held this long before they
    # are resolved (and only once the entity's sources have reported): sources need a
    # moment to report.
    startup_grace: Duration = "30s"


class HistoryConfig(Section):
    # Retention, three ways; whichever is reached first prunes the oldest moments.
    retention_hours: Seconds = 168.0
    # The database may use at most this many megabytes (0: no limit) ...
    max_size_mb: Threshold = 0.0
    # ... and at most this percent of the disk it lives on (0: no limit).
    max_disk_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0
    # Metric samples are kept at most once per entity per this many seconds (0: every one).
    sample_interval: Wait = 10.0
    # Time travel: a keyframe (the topology, by reference; most of them only what changed
    # since the one before) every this many seconds or this many deltas, whichever comes
    # first; the past is rebuilt from the keyframes before a moment plus the deltas up to it.
    keyframe_interval: Seconds = 600.0
    keyframe_deltas: Positive = 1000


class Config(Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    collectors: Collectors = msgspec.field(default_factory=Collectors)
    visualization: Visualization = msgspec.field(default_factory=Visualization)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)
    actions: ActionsConfig = msgspec.field(default_factory=ActionsConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    anomaly: AnomalyConfig = msgspec.field(default_factory=AnomalyConfig)
    cost: CostConfig = msgspec.field(default_factory=CostConfig)
