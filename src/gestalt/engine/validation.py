"""The checks of a configuration that need the engine's knowledge: which health checks
exist, what an alert rule and a receiver may say, and which thresholds make sense.

`validate` is the one validation every command runs after the schema (`gestalt
check-config`, `serve`, `demo` and `query` hand it to `load_config`; `Engine` runs it
too), so a file that `check-config` calls ok never stops `serve` with a traceback.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gestalt.engine.alerts.manager import receivers_of
from gestalt.engine.alerts.rules import compile_rules
from gestalt.engine.health import CHECKS, CHECKS_BY_ID, Check, thresholds
from gestalt.model.config import Config, ConfigError, HealthConfig, Problems


def validate(config: Config, problems: Problems | None = None) -> None:
    """Every problem found, each one line naming the key: kept in `problems` when given
    (load_config's), else raised together as one ConfigError."""
    found = Problems() if problems is None else problems
    health = config.health
    for check_id in health.checks:
        if check_id not in CHECKS_BY_ID:
            found.found.append(ConfigError(f"key `health.checks.{check_id}`: unknown check "
                                           f"(checks: {', '.join(CHECKS_BY_ID)})"))
    for check in CHECKS:
        warning, critical = thresholds(check, health)
        if warning is not None and critical is not None and warning > critical:
            found.found.append(ConfigError(
                f"key `{_threshold_key(check, health)}`: the warning threshold ({warning:g}) "
                f"is above the critical one ({critical:g})"))
    with found.check():
        rules = compile_rules(config.alerts, health)
        for index, rule in enumerate(rules if config.alerts.rules else ()):
            if rule.warning is not None and rule.critical is not None \
                    and rule.warning > rule.critical:
                found.found.append(ConfigError(
                    f"key `alerts.rules[{index}].warning`: the warning threshold "
                    f"({rule.warning:g}) is above the critical one ({rule.critical:g})"))
    alerts = config.alerts
    for key, url in (("slack_webhook", alerts.slack_webhook),
                     ("pagerduty_url", alerts.pagerduty_url if alerts.pagerduty_key else None)):
        if url is not None and not url.startswith(("http://", "https://")):
            found.found.append(ConfigError(f"key `alerts.{key}`: expected an http(s) URL"))
    with found.check():
        receivers_of(config)
    nats = config.collectors.nats
    if nats.enabled:
        with found.check():
            _url("collectors.nats.url", nats.url, ("nats", "tls", "ws", "wss"))
        with found.check():
            _url("collectors.nats.monitor_url", nats.monitor_url, ("http", "https"))
    kube = config.collectors.kubernetes
    if kube.contexts:
        for key, value in (("context", kube.context), ("cluster_name", kube.cluster_name)):
            if value is not None:
                found.found.append(ConfigError(
                    f"key `collectors.kubernetes.{key}`: given with "
                    "collectors.kubernetes.contexts; each context names its own cluster"))
    with found.check():
        _url("agent.url", config.agent.url, ("nats", "tls", "ws", "wss"))
    if config.collectors.agents.enabled:
        if not config.collectors.agents.sites:
            found.found.append(ConfigError(
                "key `collectors.agents.sites`: name the sites to read (at least one; each "
                "site's agent has agent.site set to it)"))
        with found.check():
            _url("collectors.agents.url", config.collectors.agents.url,
                 ("nats", "tls", "ws", "wss"))
    if problems is None:
        found.raise_found()


def _url(key: str, value: str, schemes: tuple[str, ...]) -> None:
    example = f"{schemes[0]}://localhost:{4222 if schemes[0] == 'nats' else 8222}"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme not in schemes or not parts.hostname \
            or (port is None and parts.netloc.endswith(":")):
        raise ConfigError(f"key `{key}`: expected a URL like {example}, got {value!r}")


def _threshold_key(check: Check, health: HealthConfig) -> str:
    override = health.checks.get(check.id)
    if override is not None and override.warning is not None:
        return f"health.checks.{check.id}.warning"
    if check.id in ("cpu", "memory"):
        return f"health.{check.id}_warning_threshold"
    return f"health.checks.{check.id}.critical"
