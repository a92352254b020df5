"""Configuration: the product plan's `config/infrastructure.yaml` schema, plus `server`,
`host` and `history` sections.

Every section is a Struct that forbids unknown fields, so a typo is an error naming the
file and the key, not a silently ignored setting. Environment variables override the file:
`GESTALT_<SECTION>__<KEY>[__<KEY>...]=<yaml value>`, e.g. `GESTALT_SERVER__PORT=9000`,
`GESTALT_COLLECTORS__DOCKER__ENABLED=false`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8765
    # Bearer token; required for any non-loopback bind.
    token: str | None = None
    # Where history (SQLite) lives. Relative paths are relative to the working directory.
    data_dir: str = "data"
    # Extra origins allowed to call the API from a browser (besides the server's own).
    allowed_origins: list[str] = []
    # Per-SSE-client queue bound (frames); a client further behind gets a `resync`.
    client_queue_frames: int = 256
    # Deltas kept for Last-Event-ID resume.
    delta_ring_size: int = 4096
    # Metric-only changes are coalesced into one frame per this many seconds.
    metrics_interval: float = 1.0


class HostCollector(_Section):
    enabled: bool = True
    poll_interval: float = 5.0
    # Mounted filesystems of these types are not shown (pseudo filesystems).
    ignore_fstypes: list[str] = msgspec.field(default_factory=lambda: [
        "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
        "nsfs", "autofs", "devpts", "mqueue", "tracefs", "debugfs", "securityfs", "fusectl",
        "configfs", "bpf", "pstore", "hugetlbfs", "binfmt_misc", "efivarfs", "rpc_pipefs",
    ])


class KubernetesCollector(_Section):
    enabled: bool = True
    kubeconfig: str | None = None  # None: $KUBECONFIG, ~/.kube/config, then in-cluster
    context: str | None = None
    cluster_name: str | None = None  # defaults to the context's cluster name
    namespaces: list[str] = []  # empty = all
    poll_interval: float = 5.0  # metrics.k8s.io poll
    # A watch with nothing (not even a bookmark) for this long is taken as a dead
    # connection and reopened from the last resourceVersion.
    inactivity_timeout: float = 90.0
    watch_timeout: float = 300.0  # the server ends each watch after this (timeoutSeconds)
    request_timeout: float = 30.0  # list and get requests
    page_size: int = 500  # objects per list page (limit/continue)


class DockerCollector(_Section):
    enabled: bool = True
    # None: $DOCKER_HOST, then the default socket.
    socket: str | None = "unix:///var/run/docker.sock"
    poll_interval: float = 3.0  # container stats


class NatsCollector(_Section):
    enabled: bool = True
    url: str = "nats://localhost:4222"
    monitor_url: str = "http://localhost:8222"
    poll_interval: float = 2.0
    subjects: list[str] = msgspec.field(default_factory=lambda: ["kgents.>"])
    # Payloads are shown only for these subjects (wildcards allowed), truncated.
    payload_subjects: list[str] = []
    max_payload_bytes: int = 1024
    # At most this many messages per second per subject are sampled for the message view.
    sample_per_second: int = 100


def _default_prometheus_queries() -> dict[str, str]:
    # Entity fields (cpu_percent, memory_bytes, network_*_rate) or custom metric names ->
    # PromQL. Defaults use cAdvisor (container_*), kube-state-metrics (kube_*) and
    # node-exporter (node_*) names; results map to entities by their labels.
    return {
        "cpu_percent": "sum by (namespace, pod, container, id, name) "
        "(rate(container_cpu_usage_seconds_total{container!=\"\"}[1m])) * 100",
        "memory_bytes": "sum by (namespace, pod, container, id, name) "
        "(container_memory_working_set_bytes{container!=\"\"})",
        "memory_limit": "sum by (namespace, pod, container, id, name) "
        "(container_spec_memory_limit_bytes{container!=\"\"} > 0)",
        "network_rx_rate": "sum by (namespace, pod) "
        "(rate(container_network_receive_bytes_total[1m]))",
        "network_tx_rate": "sum by (namespace, pod) "
        "(rate(container_network_transmit_bytes_total[1m]))",
        "restarts": "sum by (namespace, pod) (kube_pod_container_status_restarts_total)",
        "node_cpu_percent": "100 * (1 - avg by (instance) "
        "(rate(node_cpu_seconds_total{mode=\"idle\"}[1m])))",
        "node_memory_available_bytes": "node_memory_MemAvailable_bytes",
    }


class OtelCollector(_Section):
    enabled: bool = True
    # Where the OTLP receiver listens (spans and metrics become the service map): OTLP/gRPC
    # on otlp_endpoint, OTLP/HTTP on otlp_http_endpoint; `host:port` or `http://host:port`,
    # null turns that protocol off, port 0 picks a free port. Loopback by default: the
    # receiver has no authentication, so bind another address only on a trusted network.
    otlp_endpoint: str | None = "http://localhost:4317"
    otlp_http_endpoint: str | None = "http://localhost:4318"
    prometheus_endpoint: str | None = "http://localhost:9090"
    # Every input is bounded: compressed body, decompressed body, concurrent requests.
    max_body_bytes: int = 4 * 1024 * 1024
    max_decompressed_bytes: int = 16 * 1024 * 1024
    max_concurrent_requests: int = 32
    # Service graph: rates, errors and latency percentiles over this sliding window.
    window_seconds: float = 60.0
    # How long a client span waits for its server span (and back) before it is given up.
    pairing_wait_seconds: float = 10.0
    # How late spans may arrive (SDK batching); a rate is not decayed before this.
    export_delay_seconds: float = 10.0
    # Bounded span buffer: unpaired client/server halves kept at most; more are dropped.
    max_pending_spans: int = 100_000
    max_edges: int = 10_000
    # How often the service graph is reported.
    flush_interval: float = 1.0
    # The Prometheus source: PromQL per metric, polled every prometheus_interval.
    prometheus_queries: dict[str, str] = msgspec.field(default_factory=_default_prometheus_queries)
    prometheus_interval: float = 15.0
    prometheus_timeout: float = 10.0
    # Kubernetes cluster name for pod ids built from Prometheus labels.
    cluster_name: str = "default"
    # OTLP metrics other than the HTTP/RPC durations become custom metrics of the entity
    # their resource names, at most this many series per entity (more are dropped).
    max_metric_series: int = 200

    def __post_init__(self) -> None:
        for key in ("otlp_endpoint", "otlp_http_endpoint"):
            value = getattr(self, key)
            if value is not None:
                listen_address(value, key)
        if self.enabled and self.otlp_endpoint is None and self.otlp_http_endpoint is None:
            raise ValueError("`otlp_endpoint` and `otlp_http_endpoint` are both null: the "
                             "receiver would listen nowhere (set `enabled: false` instead)")


def listen_address(value: str, key: str = "address") -> tuple[str, int]:
    """`http://localhost:4317`, `localhost:4317` or `[::1]:4317` -> (host, port)."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme.lower() != "http":
        raise ValueError(f"`{key}` {value!r}: the receiver speaks plain http:// only "
                         "(terminate TLS in front of it)")
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    if not host or "/" in rest or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"`{key}` {value!r}: expected host:port or http://host:port, "
                         "e.g. http://localhost:4317")
    return host, int(port)


class PostgresCollector(_Section):
    enabled: bool = False
    dsns: list[str] = []
    poll_interval: float = 5.0
    # Top query patterns (from pg_stat_statements, normalised: no literals) kept per database.
    top_queries: int = 5
    connect_timeout: float = 5.0


class SyntheticCollector(_Section):
    """A simulated system of any size with live churn: for demos, e2e tests and benchmarks.
    Everything it makes is labelled simulated."""

    enabled: bool = False
    entities: int = 1000
    edges: int = 2000
    churn_per_second: float = 5.0
    seed: int = 1


class Collectors(_Section):
    host: HostCollector = msgspec.field(default_factory=HostCollector)
    kubernetes: KubernetesCollector = msgspec.field(default_factory=KubernetesCollector)
    docker: DockerCollector = msgspec.field(default_factory=DockerCollector)
    nats: NatsCollector = msgspec.field(default_factory=NatsCollector)
    otel: OtelCollector = msgspec.field(default_factory=OtelCollector)
    postgres: PostgresCollector = msgspec.field(default_factory=PostgresCollector)
    synthetic: SyntheticCollector = msgspec.field(default_factory=SyntheticCollector)


class Visualization(_Section):
    max_entities: int = 1000
    layout_algorithm: str = "force-directed-3d"
    animation_fps: int = 60


class CheckSettings(_Section):
    """Overrides for one check of the health table (engine/health.py `CHECKS`)."""

    enabled: bool = True
    warning: float | None = None
    critical: float | None = None


class HealthConfig(_Section):
    # Fractions of one core (cpu) and of the limit (memory), as in the product plan.
    cpu_warning_threshold: float = 0.7
    cpu_critical_threshold: float = 0.9
    memory_warning_threshold: float = 0.8
    memory_critical_threshold: float = 0.95
    # Check id -> thresholds or `enabled: false` (e.g. `pending: {critical: 600}`).
    checks: dict[str, CheckSettings] = {}


# Durations: seconds, or a string with a unit as Prometheus writes them ("30s", "5m", "4h").
Duration = float | str


class AlertRule(_Section):
    """An alert rule: a check of the health table, with its own thresholds and `for`."""

    name: str
    check: str  # a check id (engine/health.py CHECKS)
    # The alert is active while the check is at this level or worse (warning|critical);
    # the alert's severity is the check's level at the time.
    severity: str = "warning"
    for_: Duration = msgspec.field(default=0.0, name="for")
    warning: float | None = None  # thresholds for this rule; default: the check's
    critical: float | None = None
    kinds: list[str] = []  # narrower than the check's kinds
    match_labels: dict[str, str] = {}  # only entities with these labels
    labels: dict[str, str] = {}  # added to the alert (routing in Alertmanager)


class Receiver(_Section):
    """Where notifications go: slack (incoming webhook), pagerduty (Events API v2),
    webhook (Alertmanager's webhook JSON) or alertmanager (its /api/v2/alerts)."""

    name: str
    type: str
    url: str
    routing_key: str | None = None  # PagerDuty integration key
    min_severity: str = "warning"
    repeat_interval: Duration | None = None  # default: alerts.repeat_interval
    timeout: float = 10.0


class AlertsConfig(_Section):
    enabled: bool = True
    slack_webhook: str | None = None
    pagerduty_key: str | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    # Empty: one rule per check of the health table, with the check's defaults.
    rules: list[AlertRule] = []
    receivers: list[Receiver] = []
    evaluation_interval: float = 1.0
    # A firing alert is notified again after this long (Alertmanager resends are apart).
    repeat_interval: Duration = "4h"
    # Alerts that become due together within this long go out as one notification.
    group_wait: float = 1.0
    # Retry delays after a 5xx or a connection error: exponential from initial to max,
    # jittered; a 429 waits for its Retry-After instead.
    retry_initial: float = 1.0
    retry_max: float = 30.0
    # This many failed deliveries in a row raise the "notifications failing" alert.
    failing_after: int = 3
    # Alertmanager wants firing alerts re-sent; it resolves them itself after endsAt.
    alertmanager_resend: Duration = "1m"
    # Resolved alerts stay listed (and in history) this long.
    resolved_retention: Duration = "15m"
    # After a restart, alerts of entities not seen again are held (unknown) this long
    # before they are resolved: sources need a moment to report.
    startup_grace: Duration = "30s"


class HistoryConfig(_Section):
    retention_hours: float = 168.0
    # Metric samples are kept at most once per entity per this many seconds.
    sample_interval: float = 10.0


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    collectors: Collectors = msgspec.field(default_factory=Collectors)
    visualization: Visualization = msgspec.field(default_factory=Visualization)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file."""


_ENV_PREFIX = "GESTALT_"


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Read, override from the environment and validate. Raises ConfigError."""
    origin = str(path) if path is not None else "<defaults>"
    raw: Any = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from exc
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{origin}: not valid YAML{where}: {problem}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{origin}: expected a mapping at the top level, got {_kind(raw)}")
    overridden = _apply_env(raw, os.environ if env is None else env)
    try:
        return msgspec.convert(overridden, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_explain(str(exc))}") from exc


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = _deep_copy(raw)
    for name, value in sorted(env.items()):
        if not name.startswith(_ENV_PREFIX) or "__" not in name:
            continue  # GESTALT_REQUIRE_SERVICES and friends are not config
        keys = name[len(_ENV_PREFIX) :].lower().split("__")
        node = result
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        try:
            node[keys[-1]] = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment {name}: not a valid value: {value!r}") from exc
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")


def _explain(message: str) -> str:
    """Turn msgspec's `Expected int, got str - at $.server.port` into a key-first sentence."""
    match = _AT.match(message.strip())
    what = match.group("what") if match else message
    path = _dotted(match.group("path") or "") if match else ""
    unknown = _UNKNOWN.search(what)
    if unknown:
        key = f"{path}.{unknown.group('field')}" if path else unknown.group("field")
        return f"key `{key}`: unknown key (allowed keys: {', '.join(_allowed(path))})"
    expected = _EXPECTED.search(what)
    if expected:
        return f"key `{path}`: expected {expected.group('want')}, got {expected.group('got')}"
    return f"key `{path or '<top>'}`: {what}"


def _dotted(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r"[\1]", path.lstrip(".")).replace("`", "")


def _allowed(path: str) -> list[str]:
    cls: Any = Config
    for part in [p for p in re.sub(r"\[\d+\]", "", path).split(".") if p]:
        field_type = {f.name: f.type for f in msgspec.structs.fields(cls)}.get(part)
        if not (isinstance(field_type, type) and issubclass(field_type, msgspec.Struct)):
            return []
        cls = field_type
    return [f.name for f in msgspec.structs.fields(cls)]


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(value: Duration, key: str = "duration") -> float:
    """`30`, `"30s"`, `"5m"`, `"4h"` -> seconds. Raises ConfigError naming `key`."""
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"key `{key}`: a duration cannot be negative")
        return float(value)
    match = _DURATION.match(value)
    if match is None:
        raise ConfigError(f"key `{key}`: expected a duration like 30s, 5m or 4h, got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
