"""Which sources exist and how each is built from the configuration.

Sources are imported only when enabled: a disabled collector costs nothing, and the
heavier client libraries (gRPC, asyncpg) load only where they are used.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gestalt.model.config import Config
from gestalt.sources import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    module: str
    cls: str
    # The config section the source is built from, and whether it is enabled.
    section: Callable[[Config], Any]
    enabled: Callable[[Config], bool]
    config_key: str


def _on(section: Callable[[Config], Any]) -> Callable[[Config], bool]:
    return lambda config: bool(section(config).enabled)


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("host", "gestalt.sources.host", "HostSource",
               lambda c: c.collectors.host, _on(lambda c: c.collectors.host),
               "collectors.host.enabled"),
    SourceSpec("docker", "gestalt.sources.docker", "DockerSource",
               lambda c: c.collectors.docker, _on(lambda c: c.collectors.docker),
               "collectors.docker.enabled"),
    SourceSpec("kubernetes", "gestalt.sources.kubernetes", "KubernetesSource",
               lambda c: c.collectors.kubernetes, _on(lambda c: c.collectors.kubernetes),
               "collectors.kubernetes.enabled"),
    SourceSpec("nats", "gestalt.sources.nats", "NatsSource",
               lambda c: c.collectors.nats, _on(lambda c: c.collectors.nats),
               "collectors.nats.enabled"),
    SourceSpec("otlp", "gestalt.sources.otlp", "OtlpSource",
               lambda c: c.collectors.otel, _on(lambda c: c.collectors.otel),
               "collectors.otel.enabled"),
    SourceSpec("prometheus", "gestalt.sources.prometheus", "PrometheusSource",
               lambda c: c.collectors.otel,
               lambda c: c.collectors.otel.enabled and bool(c.collectors.otel.prometheus_endpoint),
               "collectors.otel.prometheus_endpoint"),
    SourceSpec("postgres", "gestalt.sources.postgres", "PostgresSource",
               lambda c: c.collectors.postgres, _on(lambda c: c.collectors.postgres),
               "collectors.postgres.enabled"),
    SourceSpec("synthetic", "gestalt.sources.synthetic", "SyntheticSource",
               lambda c: c.collectors.synthetic, _on(lambda c: c.collectors.synthetic),
               "collectors.synthetic.enabled"),
)

SPECS = {spec.name: spec for spec in SOURCES}


def build_sources(config: Config) -> tuple[list[Source], dict[str, str]]:
    """The enabled sources, and for every other one the reason it is not running."""
    sources: list[Source] = []
    not_running: dict[str, str] = {}
    for spec in SOURCES:
        if not spec.enabled(config):
            not_running[spec.name] = f"not enabled ({spec.config_key})"
            continue
        try:
            module = importlib.import_module(spec.module)
            factory = getattr(module, spec.cls)
        except (ImportError, AttributeError) as exc:
            not_running[spec.name] = f"not available in this build: {exc}"
            log.warning("source %s is not available: %s", spec.name, exc)
            continue
        sources.append(factory(spec.section(config)))
    return sources, not_running
