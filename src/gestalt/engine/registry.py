"""Which sources exist and how each is built from the configuration: one row per source.

Sources are imported only when enabled: a disabled collector costs nothing, and the
heavier client libraries (gRPC, asyncpg) load only where they are used.

A row names the third-party packages its source needs (`requires`). When one of those
is missing the source is "not available in this build" (shown as its status, the others
run); any other import error is a bug in the source module and stops start-up with its
traceback, so a typo cannot pass for a missing package. tests/unit/test_registry.py keeps
the rows, the config sections, the packages each source really imports and the
import-linter contracts in step.
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


class SourceBuildError(Exception):
    """A source module is broken (not merely missing an optional package)."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    module: str
    cls: str
    # The `collectors` section the source is built from.
    section: str
    # Third-party packages (top-level import names) the source module needs.
    requires: tuple[str, ...] = ()
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

    def missing(self, error: ImportError) -> str | None:
        """The required package whose absence `error` reports, if that is what it says."""
        name = getattr(error, "name", None) or ""
        root = name.split(".", 1)[0]
        return root if root in self.requires else None


# The rows are in merge precedence (engine/merge.py, rule 1): where sources describe the
# same thing, the earlier one names it and a later one's values win a conflict. The host,
# Docker and Kubernetes come first (they see processes, containers and pods themselves);
# the others follow in the order they were added, which is what the map has always shown.
# Moving a row changes names and conflicting fields on the map: do it on purpose only.
SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("host", "gestalt.sources.host", "HostSource", "host", ("psutil",)),
    SourceSpec("docker", "gestalt.sources.docker", "DockerSource", "docker",
               ("aiodocker", "aiohttp")),
    SourceSpec("kubernetes", "gestalt.sources.kubernetes", "kubernetes_sources", "kubernetes",
               ("httpx", "kubernetes_asyncio")),
    SourceSpec("nats", "gestalt.sources.nats", "NatsSource", "nats", ("httpx", "nats")),
    SourceSpec("otlp", "gestalt.sources.otlp", "OtlpSource", "otel",
               ("google", "grpc", "opentelemetry", "orjson", "uvicorn")),
    SourceSpec("prometheus", "gestalt.sources.prometheus", "PrometheusSource", "otel",
               ("httpx", "orjson"), "collectors.otel.prometheus_endpoint",
               lambda c: c.collectors.otel.enabled and bool(c.collectors.otel.prometheus_endpoint)),
    SourceSpec("postgres", "gestalt.sources.postgres", "PostgresSource", "postgres",
               ("asyncpg",)),
    SourceSpec("synthetic", "gestalt.sources.synthetic", "SyntheticSource", "synthetic"),
    # A factory of one source per site (`site:<name>`), read from agents over JetStream.
    SourceSpec("agents", "gestalt.sources.agents", "AgentsSource", "agents", ("nats",)),
    SourceSpec("code", "gestalt.sources.code", "CodeSource", "code",
               ("grimp", "pathspec", "tree_sitter", "tree_sitter_javascript",
                "tree_sitter_typescript", "watchfiles")),
    SourceSpec("gitops", "gestalt.sources.gitops", "GitopsSource", "gitops",
               ("dulwich",)),
)

SPECS = {spec.name: spec for spec in SOURCES}
_RANK = {spec.name: index for index, spec in enumerate(SOURCES)}


def precedence(source: str) -> tuple[int, str]:
    """Sort key of merge precedence: the registry's order, then any other source name
    (a test's, a plug-in's) alphabetically after them."""
    # `kubernetes:<context>` (one source per context) ranks as `kubernetes`.
    return _RANK.get(source.split(":", 1)[0], len(_RANK)), source


def build_sources(
    config: Config, specs: tuple[SourceSpec, ...] = SOURCES
) -> tuple[list[Source], dict[str, str]]:
    """The enabled sources, and for every other one the reason it is not running. Raises
    SourceBuildError for a source module that is broken."""
    sources: list[Source] = []
    not_running: dict[str, str] = {}
    for spec in specs:
        if not spec.is_enabled(config):
            not_running[spec.name] = f"not enabled ({spec.key})"
            continue
        try:
            module = importlib.import_module(spec.module)
        except ImportError as exc:
            package = spec.missing(exc)
            if package is None:
                raise SourceBuildError(f"source {spec.name}: cannot import {spec.module}: "
                                       f"{exc}") from exc
            not_running[spec.name] = (f"not available in this build: the package {package} "
                                      "is not installed")
            log.warning("source %s is not available: %s is not installed", spec.name, package)
            continue
        factory = getattr(module, spec.cls, None)
        if factory is None:
            raise SourceBuildError(f"source {spec.name}: {spec.module} has no {spec.cls}")
        made = factory(spec.config(config))
        sources.extend(made if isinstance(made, list) else [made])
    return sources, not_running


def longest_poll(config: Config) -> float:
    """The longest poll interval of the enabled sources (0 when none polls)."""
    polls = [getattr(spec.config(config), "poll_interval", 0.0)
             for spec in SOURCES if spec.is_enabled(config)]
    return float(max(polls, default=0.0))
