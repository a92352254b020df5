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


class OtelCollector(_Section):
    enabled: bool = True
    otlp_endpoint: str = "http://localhost:4317"
    prometheus_endpoint: str | None = "http://localhost:9090"


class PostgresCollector(_Section):
    enabled: bool = False
    dsns: list[str] = []
    poll_interval: float = 5.0


class Collectors(_Section):
    host: HostCollector = msgspec.field(default_factory=HostCollector)
    kubernetes: KubernetesCollector = msgspec.field(default_factory=KubernetesCollector)
    docker: DockerCollector = msgspec.field(default_factory=DockerCollector)
    nats: NatsCollector = msgspec.field(default_factory=NatsCollector)
    otel: OtelCollector = msgspec.field(default_factory=OtelCollector)
    postgres: PostgresCollector = msgspec.field(default_factory=PostgresCollector)


class Visualization(_Section):
    max_entities: int = 1000
    layout_algorithm: str = "force-directed-3d"
    animation_fps: int = 60


class HealthConfig(_Section):
    # Fractions of one core (cpu) and of the limit (memory), as in the product plan.
    cpu_warning_threshold: float = 0.7
    cpu_critical_threshold: float = 0.9
    memory_warning_threshold: float = 0.8
    memory_critical_threshold: float = 0.95


class AlertsConfig(_Section):
    enabled: bool = True
    slack_webhook: str | None = None
    pagerduty_key: str | None = None


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
