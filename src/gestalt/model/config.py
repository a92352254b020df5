"""Configuration: the product plan's `config/infrastructure.yaml` schema, plus `server`,
`host` and `history` sections.

Every section is a Struct that forbids unknown fields, and numbers carry their bounds
(ports, intervals above zero), so a typo or an impossible value is an error naming the
file and the key, not a silently ignored setting or a traceback at start-up. A key given
twice in one mapping is an error too (YAML would silently keep the last one).

Environment variables override the file: `GESTALT_<SECTION>__<KEY>[__<KEY>...]=<value>`,
e.g. `GESTALT_SERVER__PORT=9000`, `GESTALT_COLLECTORS__DOCKER__ENABLED=false`. A value is
read as its key's declared type: string keys take it verbatim (a token `#x9`, `yes` or
`12345` stays that string), other keys read it as YAML (`9000`, `false`, `[a, b]`), and an
empty value clears a key that may be null. A problem with an override names the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

# Bounds carried by the types, checked by msgspec when the config is read.
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
# A listener of a source: port 0 picks a free port.
ListenPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# Intervals and timeouts: a zero interval would spin, a negative one makes no sense.
Seconds = Annotated[float, msgspec.Meta(gt=0)]
# Waits that may be zero (no wait).
Wait = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Threshold = Annotated[float, msgspec.Meta(ge=0)]
# The layouts the web UI knows (web/src/app.ts picks its "By namespace" preset for a
# value naming namespaces; anything else is the force layout).
LayoutAlgorithm = Literal["force-directed-3d", "force", "namespace"]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
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


class HostCollector(_Section):
    enabled: bool = True
    poll_interval: Seconds = 5.0
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
    poll_interval: Seconds = 5.0  # metrics.k8s.io poll
    # A watch with nothing (not even a bookmark) for this long is taken as a dead
    # connection and reopened from the last resourceVersion.
    inactivity_timeout: Seconds = 90.0
    watch_timeout: Seconds = 300.0  # the server ends each watch after this (timeoutSeconds)
    request_timeout: Seconds = 30.0  # list and get requests
    page_size: Positive = 500  # objects per list page (limit/continue)


class DockerCollector(_Section):
    enabled: bool = True
    # None: $DOCKER_HOST, then the default socket.
    socket: str | None = "unix:///var/run/docker.sock"
    poll_interval: Seconds = 3.0  # container stats


class NatsCollector(_Section):
    enabled: bool = True
    url: str = "nats://localhost:4222"
    monitor_url: str = "http://localhost:8222"
    poll_interval: Seconds = 2.0
    subjects: list[str] = msgspec.field(default_factory=lambda: ["kgents.>"])
    # Payloads are shown only for these subjects (wildcards allowed), truncated.
    payload_subjects: list[str] = []
    max_payload_bytes: NonNegative = 1024
    # At most this many messages per second per subject are sampled for the message view.
    sample_per_second: NonNegative = 100


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
    # on otlp_endpoint, OTLP/HTTP on otlp_http_endpoint; `host:port`, `http://host:port`
    # or `https://host:port` (TLS with tls_cert/tls_key), null turns that protocol off,
    # port 0 picks a free port. Loopback by default; like the API, any other address
    # refuses to start without `token`.
    otlp_endpoint: str | None = "http://localhost:4317"
    otlp_http_endpoint: str | None = "http://localhost:4318"
    # Exporters send it as `Authorization: Bearer <token>` (an HTTP header, or gRPC
    # metadata). Its own token, not the API's: an exporter that can send spans cannot read
    # the map. Never empty: leave it out instead.
    token: str | None = None
    # For https:// endpoints; null: server.tls_cert and server.tls_key.
    tls_cert: str | None = None
    tls_key: str | None = None
    prometheus_endpoint: str | None = "http://localhost:9090"
    # Every input is bounded: compressed body, decompressed body, concurrent requests.
    max_body_bytes: Positive = 4 * 1024 * 1024
    max_decompressed_bytes: Positive = 16 * 1024 * 1024
    max_concurrent_requests: Positive = 32
    # Requests per second from one sender (IP address), with bursts of twice that; more
    # are answered 429 (HTTP) or RESOURCE_EXHAUSTED (gRPC), which exporters retry later.
    max_requests_per_second: Annotated[float, msgspec.Meta(gt=0)] = 200.0
    # Service graph: rates, errors and latency percentiles over this sliding window.
    window_seconds: Seconds = 60.0
    # How long a client span waits for its server span (and back) before it is given up.
    pairing_wait_seconds: Wait = 10.0
    # How late spans may arrive (SDK batching); a rate is not decayed before this.
    export_delay_seconds: Wait = 10.0
    # Bounded span buffer: unpaired client/server halves kept at most; more are dropped.
    max_pending_spans: Positive = 100_000
    max_edges: Positive = 10_000
    # How often the service graph is reported.
    flush_interval: Seconds = 1.0
    # The Prometheus source: PromQL per metric, polled every prometheus_interval.
    prometheus_queries: dict[str, str] = msgspec.field(default_factory=_default_prometheus_queries)
    prometheus_interval: Seconds = 15.0
    prometheus_timeout: Seconds = 10.0
    # Kubernetes cluster name for pod ids built from Prometheus labels.
    cluster_name: str = "default"
    # OTLP metrics other than the HTTP/RPC durations become custom metrics of the entity
    # their resource names, at most this many series per entity (more are dropped).
    max_metric_series: Positive = 200

    def __post_init__(self) -> None:
        for key in ("otlp_endpoint", "otlp_http_endpoint"):
            value = getattr(self, key)
            if value is not None:
                listen_address(value, key)
        if self.enabled and self.otlp_endpoint is None and self.otlp_http_endpoint is None:
            raise ValueError("`otlp_endpoint` and `otlp_http_endpoint` are both null: the "
                             "receiver would listen nowhere (set `enabled: false` instead)")


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only. A name other
    than `localhost` counts as not loopback: what it resolves to may change."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def uses_tls(value: str) -> bool:
    """Whether a listen address asks for TLS (`https://host:port`)."""
    return value.strip().lower().startswith("https://")


def listen_address(value: str, key: str = "address") -> tuple[str, int]:
    """`http://localhost:4317`, `https://0.0.0.0:4317`, `localhost:4317` or `[::1]:4317`
    -> (host, port)."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme.lower() not in ("http", "https"):
        raise ValueError(f"`{key}` {value!r}: expected http:// or https:// (TLS)")
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
    poll_interval: Seconds = 5.0
    # Top query patterns (from pg_stat_statements, normalised: no literals) kept per database.
    top_queries: NonNegative = 5
    connect_timeout: Seconds = 5.0


class SyntheticCollector(_Section):
    """A simulated system of any size with live churn: for demos, e2e tests and benchmarks.
    Everything it makes is labelled simulated."""

    enabled: bool = False
    entities: NonNegative = 1000
    edges: NonNegative = 2000
    churn_per_second: Wait = 5.0
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
    max_entities: Positive = 1000
    layout_algorithm: LayoutAlgorithm = "force-directed-3d"
    animation_fps: Annotated[int, msgspec.Meta(ge=1, le=240)] = 60


class CheckSettings(_Section):
    """Overrides for one check of the health table (engine/health.py `CHECKS`)."""

    enabled: bool = True
    warning: Threshold | None = None
    critical: Threshold | None = None


class HealthConfig(_Section):
    # Fractions of one core (cpu) and of the limit (memory), as in the product plan.
    cpu_warning_threshold: Threshold = 0.7
    cpu_critical_threshold: Threshold = 0.9
    memory_warning_threshold: Threshold = 0.8
    memory_critical_threshold: Threshold = 0.95
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
    warning: Threshold | None = None  # thresholds for this rule; default: the check's
    critical: Threshold | None = None
    kinds: list[str] = []  # narrower than the check's kinds
    match_labels: dict[str, str] = {}  # only entities with these labels
    labels: dict[str, str] = {}  # added to the alert (routing in Alertmanager)


class Receiver(_Section):
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


class AlertsConfig(_Section):
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


class HistoryConfig(_Section):
    retention_hours: Seconds = 168.0
    # Metric samples are kept at most once per entity per this many seconds (0: every one).
    sample_interval: Wait = 10.0


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    collectors: Collectors = msgspec.field(default_factory=Collectors)
    visualization: Visualization = msgspec.field(default_factory=Visualization)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file: one line,
    `key `a.b`: what is wrong` when it is about a key (then `key` holds `a.b`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        match = _KEY.match(message)
        self.key: str | None = match.group(1) if match else None


_KEY = re.compile(r"^key `([^`]+)`")
_ENV_PREFIX = "GESTALT_"
# Checks that need more than the schema (alert rules, receivers, check ids) live in the
# engine; it hands them in so that every command validates the same way.
Validator = Callable[["Config"], None]


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, tuple[str, object]] | None = None,
    validate: Validator | None = None,
) -> Config:
    """Read the file, override it from the environment and then from command-line
    `options` (dotted key -> (option name, value)), and validate. Raises ConfigError,
    whose message starts with where the bad value came from: the file, the environment
    variable or the option."""
    origin = str(path) if path is not None else "<defaults>"
    raw = _read(path, origin) if path is not None else {}
    origins: dict[str, str] = {}  # dotted key -> the variable or option that set it
    _apply_env(raw, os.environ if env is None else env, origins)
    for key, (option, value) in (options or {}).items():
        _set(raw, key.split("."), value)
        origins[key] = f"option {option}"
    try:
        config = msgspec.convert(raw, Config, strict=True)
        _inherit(config)
        _check(config)
        if validate is not None:
            validate(config)
    except msgspec.ValidationError as exc:
        raise _blame(ConfigError(_explain(str(exc), raw)), origin, origins) from exc
    except ConfigError as exc:
        raise _blame(exc, origin, origins) from exc
    return config


def _read(path: str | os.PathLike[str], origin: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{origin}: not UTF-8 text: {exc.reason}") from exc
    try:
        duplicate = _first_duplicate_key(yaml.compose(text, Loader=yaml.SafeLoader))
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{origin}: not valid YAML{where}: {problem}") from exc
    if duplicate is not None:
        key, line = duplicate
        raise ConfigError(f"{origin}: key `{key}`: given twice (again on line {line}); "
                          "YAML would silently keep only the last one")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {_kind(raw)}")
    return raw


def _first_duplicate_key(node: yaml.Node | None, path: str = "") -> tuple[str, int] | None:
    """The first key given twice in one mapping (its dotted path and line), if any."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges on purpose
            key = str(key_node.value)
            dotted = f"{path}.{key}" if path else key
            if key in seen:
                return dotted, key_node.start_mark.line + 1
            seen.add(key)
            found = _first_duplicate_key(value_node, dotted)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _first_duplicate_key(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], origins: dict[str, str]) -> None:
    for name, value in sorted(env.items()):
        if not name.startswith(_ENV_PREFIX) or "__" not in name:
            continue  # GESTALT_TOKEN, GESTALT_REQUIRE_SERVICES and friends are not config
        keys = name[len(_ENV_PREFIX) :].lower().split("__")
        dotted = ".".join(keys)
        declared = _type_at(keys)
        if declared is None:
            parent = ".".join(keys[:-1])
            allowed = ", ".join(_allowed(parent)) or "none"
            raise ConfigError(f"environment {name}: key `{dotted}`: unknown key "
                              f"(allowed keys: {allowed})")
        _set(raw, keys, _env_value(name, value, declared))
        origins[dotted] = f"environment {name}"


def _env_value(name: str, value: str, declared: Any) -> Any:
    members = _members(declared)
    if str in members:
        return value  # verbatim: a token `#x9` or `yes` must not turn into null or true
    if value == "" and type(None) in members:
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"environment {name}: not a valid value: {value!r}") from exc


def _set(raw: dict[str, Any], keys: list[str], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _blame(error: ConfigError, origin: str, origins: dict[str, str]) -> ConfigError:
    """Prefix the error with the variable or option that set its key, else the file."""
    where = origin
    if error.key is not None:
        key = re.sub(r"\[(\d+)\]", r".\1", error.key)
        for set_key, source in origins.items():
            if key == set_key or key.startswith(set_key + ".") or set_key.startswith(key + "."):
                where = source
                break
    return ConfigError(f"{where}: {error}")


def _check(config: Config) -> None:
    """What the types cannot say: durations that parse, a token that is a token, TLS files
    in pairs, OTLP receivers that are either on loopback or protected by a token."""
    server, otel = config.server, config.collectors.otel
    for name, token in (("server.token", server.token), ("collectors.otel.token", otel.token)):
        if token is not None and (not token or token != token.strip()):
            raise ConfigError(f"key `{name}`: an empty token, or one with spaces at either "
                              "end, cannot be sent in a header; leave the key out for no token")
    for section, cert, key in (("server", server.tls_cert, server.tls_key),
                               ("collectors.otel", otel.tls_cert, otel.tls_key)):
        if (cert is None) != (key is None):
            given, missing = ("tls_cert", "tls_key") if key is None else ("tls_key", "tls_cert")
            raise ConfigError(f"key `{section}.{given}`: given without {section}.{missing}; "
                              "the certificate and its private key (PEM files) go together")
    if otel.enabled:
        _check_otlp(otel)
    for key, value in _durations(config):
        duration_seconds(value, key)
    alerts = config.alerts
    if alerts.retry_initial > alerts.retry_max:
        raise ConfigError(f"key `alerts.retry_initial`: {alerts.retry_initial} is more than "
                          f"alerts.retry_max ({alerts.retry_max})")


def _check_otlp(otel: OtelCollector) -> None:
    for name in ("otlp_endpoint", "otlp_http_endpoint"):
        value = getattr(otel, name)
        if value is None:
            continue
        host, _port = listen_address(value, name)
        if not is_loopback(host) and otel.token is None:
            raise ConfigError(
                f"key `collectors.otel.{name}`: refusing to receive OTLP on {host} without a "
                "token: set collectors.otel.token (GESTALT_COLLECTORS__OTEL__TOKEN), or "
                "listen on localhost")
        if uses_tls(value) and otel.tls_cert is None:
            raise ConfigError(
                f"key `collectors.otel.{name}`: https:// needs a certificate: set "
                "server.tls_cert and server.tls_key (or collectors.otel.tls_cert/tls_key)")


def _inherit(config: Config) -> None:
    """Defaults taken from another section: the OTLP receivers' TLS files are the API's
    unless given their own."""
    otel, server = config.collectors.otel, config.server
    if otel.tls_cert is None and otel.tls_key is None and server.tls_cert is not None:
        config.collectors.otel = msgspec.structs.replace(
            otel, tls_cert=server.tls_cert, tls_key=server.tls_key)


def _durations(config: Config) -> Iterator[tuple[str, Duration]]:
    alerts = config.alerts
    for name in ("repeat_interval", "alertmanager_resend", "resolved_retention", "startup_grace"):
        yield f"alerts.{name}", getattr(alerts, name)
    for index, rule in enumerate(alerts.rules):
        yield f"alerts.rules[{index}].for", rule.for_
    for index, receiver in enumerate(alerts.receivers):
        if receiver.repeat_interval is not None:
            yield f"alerts.receivers[{index}].repeat_interval", receiver.repeat_interval


# -- the schema, read back for messages and for typed environment overrides ---------------

def _unwrap(tp: Any) -> Any:
    """`Annotated[int, Meta]` -> int; `X | None` -> X (when there is one other member)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(others) == 1:
            return _unwrap(others[0])
    return tp


def _members(tp: Any) -> set[Any]:
    """The plain types a value of `tp` may have (a Literal of strings counts as str)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_members(a) for a in typing.get_args(tp)))
    if origin is Literal:
        return {type(a) for a in typing.get_args(tp)}
    return {origin or tp}


def _type_at(keys: list[str]) -> Any | None:
    """The declared type at a key path (`["server", "port"]` -> int), None if no such key."""
    tp: Any = Config
    for key in keys:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            fields = {f.encode_name: f.type for f in msgspec.structs.fields(tp)}
            if key not in fields:
                return None
            tp = fields[key]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return tp


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_BOUND = re.compile(r"Expected `(?P<want>[^`]+)` (?P<bound>[<>]=? \S+)")
_ENUM = re.compile(r"Invalid enum value (?P<got>.+)")


def _explain(message: str, raw: Any = None) -> str:
    """Turn msgspec's `Expected int, got str - at $.server.port` into a key-first sentence."""
    match = _AT.match(message.strip())
    what = match.group("what") if match else message
    path = _dotted(match.group("path") or "") if match else ""
    if "[...]" in path:
        path = _name_mapping_key(path, raw)
    unknown = _UNKNOWN.search(what)
    if unknown:
        key = f"{path}.{unknown.group('field')}" if path else unknown.group("field")
        return f"key `{key}`: unknown key (allowed keys: {', '.join(_allowed(path))})"
    expected = _EXPECTED.search(what)
    if expected:
        return f"key `{path}`: expected {expected.group('want')}, got {expected.group('got')}"
    bound = _BOUND.search(what)
    if bound:
        return f"key `{path}`: expected {bound.group('want')} {bound.group('bound')}"
    enum = _ENUM.search(what)
    if enum:
        declared = _type_at(re.sub(r"\[\d+\]", "", path).split(".")) if path else None
        choices = typing.get_args(declared) if typing.get_origin(declared) is Literal else ()
        return f"key `{path}`: {enum.group('got')} is not one of: {', '.join(choices)}"
    return f"key `{path or '<top>'}`: {what}"


def _name_mapping_key(path: str, raw: Any) -> str:
    """msgspec says `health.checks[...]` for a value inside a mapping: find which key's
    value is the bad one, so the message can name it."""
    head, _, rest = path.partition("[...]")
    keys = head.split(".")
    declared = _unwrap(_type_at(keys))
    node = raw
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if typing.get_origin(declared) is not dict or not isinstance(node, dict):
        return path
    value_type = typing.get_args(declared)[1]
    for key, value in node.items():
        try:
            msgspec.convert(value, value_type, strict=True)
        except msgspec.ValidationError:
            return f"{head}.{key}{rest}"
    return path


def _dotted(path: str) -> str:
    return path.lstrip(".").replace("`", "")


def _allowed(path: str) -> list[str]:
    keys = [p for p in re.sub(r"\[[^]]*\]", "", path).split(".") if p]
    cls = _unwrap(_type_at(keys)) if keys else Config
    while typing.get_origin(cls) in (list, dict):
        cls = _unwrap(typing.get_args(cls)[-1])
    if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
        return []
    return [f.encode_name for f in msgspec.structs.fields(cls)]


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


# One or more number-unit pairs, as Prometheus writes durations: 30s, 5m, 1h30m, 1.5h.
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def duration_seconds(value: Duration, key: str = "duration") -> float:
    """`30`, `"30"`, `"30s"`, `"5m"`, `"1h30m"` -> seconds. Raises ConfigError naming `key`."""
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"key `{key}`: a duration cannot be negative")
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _DURATION.match(text):
        raise ConfigError(f"key `{key}`: expected a duration like 30s, 5m, 4h or 1h30m, "
                          f"got {value!r}")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
