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
    # The `collectors` section the source is built from.
    section: str
    # The config key that turns it on, for messages ("not enabled (collectors.x.enabled)").
    config_key: str = ""
    # Whether it runs; by default the section's `enabled`.
    enabled: Callable[[Config], bool] | None = None

    def config(self, config: Config) -> Any:
        return getattr(config.collectors, self.section)

    def is_enabled(self, config: Config) -> bool:
        if self.enabled is not None:
            return self.enabled(config)
        return bool(self.config(config).enabled)

    @property
    def key(self) -> str:
        return self.config_key or f"collectors.{self.section}.enabled"


# The rows are in merge precedence (engine/merge.py, rule 1): where sources describe the
# same thing, the earlier one names it and a later one's values win a conflict. The host,
# Docker and Kubernetes come first (they see processes, containers and pods themselves);
# the others follow in the order they were added, which is what the map has always shown.
# Moving a row changes names and conflicting fields on the map: do it on purpose only.
SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("host", "gestalt.sources.host", "HostSource", "host"),
    SourceSpec("docker", "gestalt.sources.docker", "DockerSource", "docker"),
    SourceSpec("kubernetes", "gestalt.sources.kubernetes", "KubernetesSource", "kubernetes"),
    SourceSpec("nats", "gestalt.sources.nats", "NatsSource", "nats"),
    SourceSpec("otlp", "gestalt.sources.otlp", "OtlpSource", "otel"),
    SourceSpec("prometheus", "gestalt.sources.prometheus", "PrometheusSource", "otel",
               "collectors.otel.prometheus_endpoint",
               lambda c: c.collectors.otel.enabled and bool(c.collectors.otel.prometheus_endpoint)),
    SourceSpec("postgres", "gestalt.sources.postgres", "PostgresSource", "postgres"),
    SourceSpec("synthetic", "gestalt.sources.synthetic", "SyntheticSource", "synthetic"),
)

SPECS = {spec.name: spec for spec in SOURCES}
_RANK = {spec.name: index for index, spec in enumerate(SOURCES)}


def precedence(source: str) -> tuple[int, str]:
    """Sort key of merge precedence: the registry's order, then any other source name
    (a test's, a plug-in's) alphabetically after them."""
    return _RANK.get(source, len(_RANK)), source


def build_sources(config: Config) -> tuple[list[Source], dict[str, str]]:
    """The enabled sources, and for every other one the reason it is not running."""
    sources: list[Source] = []
    not_running: dict[str, str] = {}
    for spec in SOURCES:
        if not spec.is_enabled(config):
            not_running[spec.name] = f"not enabled ({spec.key})"
            continue
        try:
            module = importlib.import_module(spec.module)
            factory = getattr(module, spec.cls)
        except (ImportError, AttributeError) as exc:
            not_running[spec.name] = f"not available in this build: {exc}"
            log.warning("source %s is not available: %s", spec.name, exc)
            continue
        sources.append(factory(spec.config(config)))
    return sources, not_running
