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
empty value clears a key that may be null. A problem with an override names the variable;
a GESTALT_ variable that is neither an override nor one of `OTHER_VARIABLES` is warned
about (`stray_variables`), with the closest valid spelling.
"""

from gestalt.model.config.actions import ActionsConfig
from gestalt.model.config.collectors import (
    CodeCollector,
    CodeRepository,
    CodeRuntime,
    Collectors,
    DockerCollector,
    HostCollector,
    KubernetesCollector,
    NatsCollector,
    OtelCollector,
    PostgresCollector,
    SyntheticCollector,
    is_loopback,
    listen_address,
    uses_tls,
)
from gestalt.model.config.federation import AgentConfig, AgentsCollector, NatsCredentials
from gestalt.model.config.gitops import GitopsCollector, GitopsRepository, IgnoredDifference
from gestalt.model.config.insight import AnomalyConfig, CostConfig, NodePrice
from gestalt.model.config.loading import (
    ConfigError,
    Problems,
    Validator,
    duration_seconds,
    load_config,
    stray_variables,
)
from gestalt.model.config.settings import (
    AlertRule,
    AlertsConfig,
    CheckSettings,
    Config,
    HealthConfig,
    HistoryConfig,
    Receiver,
    ServerConfig,
    Visualization,
)
from gestalt.model.config.types import Duration, Section

__all__ = [
    "ActionsConfig",
    "AgentConfig",
    "AgentsCollector",
    "AlertRule",
    "AnomalyConfig",
    "AlertsConfig",
    "CheckSettings",
    "CodeCollector",
    "CodeRepository",
    "CodeRuntime",
    "Collectors",
    "Config",
    "ConfigError",
    "CostConfig",
    "DockerCollector",
    "GitopsCollector",
    "GitopsRepository",
    "Duration",
    "HealthConfig",
    "HistoryConfig",
    "HostCollector",
    "IgnoredDifference",
    "NatsCredentials",
    "KubernetesCollector",
    "NatsCollector",
    "NodePrice",
    "OtelCollector",
    "PostgresCollector",
    "Problems",
    "Receiver",
    "Section",
    "ServerConfig",
    "SyntheticCollector",
    "Validator",
    "Visualization",
    "duration_seconds",
    "is_loopback",
    "listen_address",
    "load_config",
    "stray_variables",
    "uses_tls",
]
