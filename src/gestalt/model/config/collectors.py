"""One section per source under `collectors:` (a new source adds its section here and a
field to `Collectors`; docs/adding-a-source.md), and how a listen address is read."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

from gestalt.model.config.federation import AgentsCollector
from gestalt.model.config.gitops import GitopsCollector
from gestalt.model.config.types import (
    NonNegative,
    Positive,
    Seconds,
    Section,
    Wait,
)


class HostCollector(Section):
    enabled: bool = True
    poll_interval: Seconds = 5.0
    # Mounted filesystems of these types are not shown (pseudo filesystems).
    ignore_fstypes: list[str] = msgspec.field(default_factory=lambda: [
        "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
        "nsfs", "autofs", "devpts", "mqueue", "tracefs", "debugfs", "securityfs", "fusectl",
        "configfs", "bpf", "pstore", "hugetlbfs", "binfmt_misc", "efivarfs", "rpc_pipefs",
    ])


class KubernetesCollector(Section):
    enabled: bool = True
    kubeconfig: str | None = None  # None: $KUBECONFIG, ~/.kube/config, then in-cluster
    context: str | None = None
    # Several clusters from one kubeconfig: these contexts (or `all` of them), each a
    # source of its own (`kubernetes:<context>`); instead of `context`.
    contexts: list[str] | Literal["all"] = []
    cluster_name: str | None = None  # defaults to the context's cluster name
    namespaces: list[str] = []  # empty = all
    poll_interval: Seconds = 5.0  # metrics.k8s.io poll
    # A watch with nothing (not even a bookmark) for this long is taken as a dead
    # connection and reopened from the last resourceVersion.
    inactivity_timeout: Seconds = 90.0
    watch_timeout: Seconds = 300.0  # the server ends each watch after this (timeoutSeconds)
    request_timeout: Seconds = 30.0  # list and get requests
    page_size: Positive = 500  # objects per list page (limit/continue)


class DockerCollector(Section):
    enabled: bool = True
    # None: $DOCKER_HOST, then the default socket.
    socket: str | None = "unix:///var/run/docker.sock"
    poll_interval: Seconds = 3.0  # container stats


class NatsCollector(Section):
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


class OtelCollector(Section):
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


class PostgresCollector(Section):
    enabled: bool = False
    dsns: list[str] = []
    poll_interval: Seconds = 5.0
    # Top query patterns (from pg_stat_statements, normalised: no literals) kept per database.
    top_queries: NonNegative = 5
    connect_timeout: Seconds = 5.0


class SyntheticCollector(Section):
    """A simulated system of any size with live churn: for demos, e2e tests and benchmarks.
    Everything it makes is labelled simulated."""

    enabled: bool = False
    entities: NonNegative = 1000
    edges: NonNegative = 2000
    churn_per_second: Wait = 5.0
    seed: int = 1


class CodeRuntime(Section):
    """How a repository runs, where nothing on the running side says so by itself."""

    # Container images built from it (`shop/api`, `shop/api:1.2`, `ghcr.io/acme/api`):
    # containers and pods running one are linked to the repository.
    images: list[str] = []
    # Pods with all these labels run it (a Kubernetes label selector, equality only).
    pod_selector: dict[str, str] = {}
    # OpenTelemetry `service.name` values of the services it runs as.
    services: list[str] = []


class CodeRepository(Section):
    """One repository on disk: `name` names it on the map, `path` is its root."""

    name: Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    path: str
    runtime: CodeRuntime = msgspec.field(default_factory=CodeRuntime)


class CodeCollector(Section):
    """Code Mode: repositories scanned into packages, modules and their imports (Python,
    TypeScript, JavaScript), linked to the processes, containers and pods that run them.
    Read-only: files are only read."""

    enabled: bool = False
    repositories: list[CodeRepository] = []
    # Rescan changed files as they change (debounced), besides the scan on start and on demand.
    watch: bool = True
    debounce_seconds: Seconds = 0.2
    # Larger files are listed with a warning and not parsed (generated bundles, data).
    max_file_bytes: Positive = 2 * 1024 * 1024
    # Extra gitignore-style patterns to skip, besides virtual environments, node_modules,
    # build output and each repository's .gitignore.
    ignore: list[str] = []

    def __post_init__(self) -> None:
        names = [r.name for r in self.repositories]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"repository name {duplicate!r} is used twice")


class Collectors(Section):
    host: HostCollector = msgspec.field(default_factory=HostCollector)
    kubernetes: KubernetesCollector = msgspec.field(default_factory=KubernetesCollector)
    docker: DockerCollector = msgspec.field(default_factory=DockerCollector)
    nats: NatsCollector = msgspec.field(default_factory=NatsCollector)
    otel: OtelCollector = msgspec.field(default_factory=OtelCollector)
    postgres: PostgresCollector = msgspec.field(default_factory=PostgresCollector)
    synthetic: SyntheticCollector = msgspec.field(default_factory=SyntheticCollector)
    gitops: GitopsCollector = msgspec.field(default_factory=GitopsCollector)
    agents: AgentsCollector = msgspec.field(default_factory=AgentsCollector)
    code: CodeCollector = msgspec.field(default_factory=CodeCollector)
