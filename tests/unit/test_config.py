"""Configuration: the product plan's file as written, and clear one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gestalt.engine.validation import validate
from gestalt.model.config import (
    ConfigError,
    Receiver,
    duration_seconds,
    load_config,
    stray_variables,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

# Each broken file and the key its error must name.
BAD = {
    "bad_agent_site.yaml": "agent.site",
    "bad_agent_two_credentials.yaml": "agent.token",
    "bad_agent_user_without_password.yaml": "agent.user",
    "bad_agents_creds_file.yaml": "collectors.agents.creds_file",
    "bad_agents_url.yaml": "collectors.agents.url",
    "bad_agents_no_sites.yaml": "collectors.agents.sites",
    "bad_kubernetes_contexts.yaml": "collectors.kubernetes.context",
    "bad_unknown_key.yaml": "collectors.docker.sokcet",
    "bad_wrong_type.yaml": "server.port",
    "bad_not_yaml.yaml": "line 3",
    "bad_top_level_list.yaml": "top level",
    "bad_unknown_section.yaml": "colectors",
    "bad_list_item.yaml": "collectors.nats.subjects[1]",
    "bad_threshold_type.yaml": "health.cpu_warning_threshold",
    "bad_duration.yaml": "alerts.repeat_interval",
    "bad_rule_check.yaml": "alerts.rules[1].check",
    "bad_rule_severity.yaml": "alerts.rules[0].severity",
    "bad_receiver_type.yaml": "alerts.receivers[0].type",
    "bad_port_too_high.yaml": "server.port",
    "bad_port_negative.yaml": "server.port",
    "bad_poll_interval_zero.yaml": "collectors.host.poll_interval",
    "bad_poll_interval_negative.yaml": "collectors.docker.poll_interval",
    "bad_threshold_order.yaml": "health.cpu_warning_threshold",
    "bad_check_threshold_order.yaml": "health.checks.pending.warning",
    "bad_duplicate_key.yaml": "server.port",
    "bad_check_id.yaml": "health.checks.crashloop",
    "bad_layout.yaml": "visualization.layout_algorithm",
    "bad_empty_token.yaml": "server.token",
    "bad_alertmanager_v1.yaml": "alerts.receivers[0].url",
    "bad_nats_url.yaml": "collectors.nats.url",
    "bad_rule_duplicate_name.yaml": "alerts.rules[1].name",
    "bad_rule_kinds.yaml": "alerts.rules[0].kinds",
    "bad_receiver_min_severity.yaml": "alerts.receivers[0].min_severity",
    "bad_otlp_public_without_token.yaml": "collectors.otel.otlp_http_endpoint",
    "bad_tls_cert_without_key.yaml": "server.tls_cert",
    "bad_otlp_https_without_cert.yaml": "collectors.otel.otlp_endpoint",
    "bad_actions_without_token.yaml": "actions.enabled",
    "bad_actions_viewer_token.yaml": "actions.operator_token",
    "bad_gitops_repository_name.yaml": "collectors.gitops.repositories[0]",
    "bad_gitops_path_and_url.yaml": "collectors.gitops.repositories[0]",
}


def test_the_shipped_config_is_the_product_plan_schema() -> None:
    config = load_config(ROOT / "config" / "infrastructure.yaml", env={}, validate=validate)
    assert config.collectors.nats.subjects == ["kgents.>"]
    assert config.visualization.max_entities == 1000
    assert config.health.memory_critical_threshold == 0.95
    assert config.server.host == "127.0.0.1"


def test_every_bad_fixture_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("bad_*.yaml")} == set(BAD)


@pytest.mark.parametrize(("name", "key"), sorted(BAD.items()))
def test_bad_config_names_file_and_key(name: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / name, env={}, validate=validate)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(FIXTURES / name))
    assert key in message


def test_unknown_key_lists_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match="allowed keys: enabled, socket, poll_interval"):
        load_config(FIXTURES / "bad_unknown_key.yaml", env={})


def test_a_value_inside_a_mapping_is_named_by_its_key() -> None:
    with pytest.raises(ConfigError, match=r"key `health\.checks\.pending\.critical`: expected"):
        load_config(None, env={"GESTALT_HEALTH__CHECKS__PENDING__CRITICAL": "-5"})


def test_environment_overrides_nested_keys_and_ignores_other_gestalt_vars() -> None:
    env = {"GESTALT_SERVER__PORT": "9001", "GESTALT_COLLECTORS__DOCKER__ENABLED": "false",
           "GESTALT_REQUIRE_SERVICES": "1", "GESTALT_TOKEN": "not-config",
           "GESTALT_COLLECTORS__NATS__SUBJECTS": "[orders.>, kgents.>]",
           "GESTALT_HEALTH__CHECKS__PENDING__CRITICAL": "600",
           "GESTALT_HEALTH__CHECKS__PENDING__WARNING": ""}
    config = load_config(ROOT / "config" / "infrastructure.yaml", env=env, validate=validate)
    assert config.server.port == 9001
    assert config.collectors.docker.enabled is False
    assert config.collectors.nats.subjects == ["orders.>", "kgents.>"]
    assert config.health.checks["pending"].critical == 600
    assert config.health.checks["pending"].warning is None  # empty clears a nullable key


# Tokens that YAML would turn into null, a cut string, a number, a boolean or a list.
@pytest.mark.parametrize("token", ["#Kx9pQ", "abc #def", "12345", "yes", "null", "[a]",
                                   "~", "0x1F", "{a: b}", "'quoted'"])
def test_a_string_override_is_taken_verbatim(token: str) -> None:
    config = load_config(None, env={"GESTALT_SERVER__TOKEN": token})
    assert config.server.token == token
    other = load_config(None, env={"GESTALT_COLLECTORS__NATS__URL": token})
    assert other.collectors.nats.url == token


@pytest.mark.parametrize("token", ["", " ", " padded", "padded "])
def test_an_empty_or_padded_token_is_an_error_not_auth_off(token: str) -> None:
    blamed = r"^environment GESTALT_SERVER__TOKEN: key `server\.token`"
    with pytest.raises(ConfigError, match=blamed):
        load_config(None, env={"GESTALT_SERVER__TOKEN": token})


@pytest.mark.parametrize(("name", "value", "key"), [
    ("GESTALT_SERVER__PORT", "many", "server.port"),
    ("GESTALT_SERVER__PORT", "#8080", "server.port"),
    ("GESTALT_SERVER__PORT", "70000", "server.port"),
    ("GESTALT_COLLECTORS__HOST__POLL_INTERVAL", "0", "collectors.host.poll_interval"),
    ("GESTALT_ALERTS__REPEAT_INTERVAL", "4 hours", "alerts.repeat_interval"),
    ("GESTALT_HEALTH__CPU_WARNING_THRESHOLD", "0.99", "health.cpu_warning_threshold"),
    ("GESTALT_SERVER__PROT", "9000", "server.prot"),
])
def test_an_error_in_an_override_names_the_variable_not_the_file(
    name: str, value: str, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "config" / "infrastructure.yaml", env={name: value},
                    validate=validate)
    message = str(info.value)
    assert message.startswith(f"environment {name}: key `{key}`"), message
    assert "infrastructure.yaml" not in message


def test_an_error_in_the_file_still_names_the_file_when_overrides_are_set() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad_duration.yaml", env={"GESTALT_SERVER__PORT": "9001"})
    assert str(info.value).startswith(str(FIXTURES / "bad_duration.yaml"))


def test_an_error_in_a_command_line_option_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^option --port: key `server\.port`"):
        load_config(None, env={}, options={"server.port": ("--port", 99999)})


def test_a_password_alone_with_another_credential_is_named_as_the_password() -> None:
    """A leftover GESTALT_AGENT__PASSWORD (agent.env) beside a creds_file in the file: the
    error names the password, not a user that was never given."""
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"GESTALT_AGENT__SITE": "a", "GESTALT_AGENT__CREDS_FILE": __file__,
                               "GESTALT_AGENT__PASSWORD": "secret"})
    message = str(info.value)
    assert "key `agent.creds_file`: given with agent.password;" in message, message
    assert "agent.user" not in message


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(FIXTURES / "nope.yaml", env={})


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("4h", 14400), ("1h30m", 5400), ("90", 90), ("250ms", 0.25),
    ("1.5h", 5400), ("1w", 604800)])
def test_durations_as_prometheus_writes_them(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_check_config_command_prints_one_line_and_fails() -> None:
    gestalt = [sys.executable, "-m", "gestalt.cli"]
    ok = subprocess.run([*gestalt, "check-config", str(ROOT / "config" / "infrastructure.yaml")],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ": ok" in ok.stdout
    bad = subprocess.run([*gestalt, "check-config", str(FIXTURES / "bad_wrong_type.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "server.port" in lines[0] and "bad_wrong_type.yaml" in lines[0]


SEVERAL = FIXTURES / "several_bad_keys.yaml"
SEVERAL_KEYS = ["server.port", "collectors.docker.sokcet", "server.tls_cert",
                "collectors.nats.url", "alerts.repeat_interval", "health.checks.no_such_check"]


def test_every_problem_of_a_file_is_reported_not_only_the_first() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(SEVERAL, env={"GESTALT_SERVER__PROT": "1"}, validate=validate)
    lines = [str(p) for p in info.value.problems]
    assert str(info.value).splitlines() == lines
    assert len(lines) == len(SEVERAL_KEYS) + 1, lines  # each once, no echoes
    assert lines[0].startswith("environment GESTALT_SERVER__PROT: key `server.prot`")
    for key in SEVERAL_KEYS:
        (line,) = [line for line in lines if f"key `{key}`" in line]
        assert line.startswith(f"{SEVERAL}: key `{key}`: "), line


def test_check_config_prints_every_problem_one_a_line() -> None:
    run = subprocess.run([sys.executable, "-m", "gestalt.cli", "check-config", str(SEVERAL)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == len(SEVERAL_KEYS), run.stderr
    for key in SEVERAL_KEYS:
        assert sum(line.startswith(f"error: {SEVERAL}: key `{key}`: ") for line in lines) == 1


@pytest.mark.parametrize(("name", "closest"), [
    ("GESTALT_SERVER_PORT", "GESTALT_SERVER__PORT"),
    ("GESTALT_COLLECTORS_DOCKER_ENABLED", "GESTALT_COLLECTORS__DOCKER__ENABLED"),
    ("GESTALT_TOKNE", "GESTALT_TOKEN"),
    ("GESTALT_CONFG", "GESTALT_CONFIG"),
])
def test_a_mistyped_gestalt_variable_is_named_with_its_closest_spelling(
    name: str, closest: str
) -> None:
    (warning,) = stray_variables({name: "9000", "PATH": "/bin"})
    assert warning.startswith(f"environment {name}: ")
    assert f"did you mean {closest}?" in warning


def test_known_gestalt_variables_and_overrides_are_not_warned_about() -> None:
    env = {"GESTALT_SERVER__PORT": "1", "GESTALT_TOKEN": "t", "GESTALT_CONFIG": "c",
           "GESTALT_REQUIRE_SERVICES": "1", "GESTALT_IMAGE": "i", "GESTALT_LOCAL_BASE": "1",
           "GESTALT_BENCH_AGENTS": "4", "OTHER_SERVER_PORT": "1"}
    assert stray_variables(env) == []
    (nothing_close,) = stray_variables({"GESTALT_ZZZZZZZZZZZZZ": "1"})
    assert "did you mean" not in nothing_close


def test_serve_warns_about_a_mistyped_override_at_start() -> None:
    """As a new user meets it: `check-config` (the same loading as `serve`) with one
    underscore too few says so on stderr and still runs."""
    env = {**os.environ, "GESTALT_SERVER_PORT": "9000"}
    run = subprocess.run([sys.executable, "-m", "gestalt.cli", "check-config",
                          str(ROOT / "config" / "infrastructure.yaml")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert "warning: environment GESTALT_SERVER_PORT: not a Gestalt setting" in run.stderr
    assert "did you mean GESTALT_SERVER__PORT?" in run.stderr


def test_a_pagerduty_receiver_needs_no_url() -> None:
    """The Events API has one address: a receiver that names only its key posts there."""
    from gestalt.engine.alerts.manager import receivers_of

    config = load_config(None, env={}, validate=validate)
    config.alerts.receivers = [msgspec.convert(
        {"name": "pd", "type": "pagerduty", "routing_key": "k"}, Receiver)]
    validate(config)
    ((receiver, _),) = receivers_of(config)
    assert receiver.url == config.alerts.pagerduty_url


def test_otlp_beyond_loopback_needs_its_own_token() -> None:
    public = {"GESTALT_COLLECTORS__OTEL__OTLP_ENDPOINT": "http://0.0.0.0:4317"}
    with pytest.raises(ConfigError, match=r"refusing to receive OTLP on 0\.0\.0\.0 without"):
        load_config(None, env=public)
    with pytest.raises(ConfigError, match="refusing"):  # the API's token is not the OTLP one
        load_config(None, env={**public, "GESTALT_SERVER__TOKEN": "api-token"})
    config = load_config(None, env={**public, "GESTALT_COLLECTORS__OTEL__TOKEN": "otlp-token"})
    assert config.collectors.otel.token == "otlp-token"
    off = load_config(None, env={**public, "GESTALT_COLLECTORS__OTEL__ENABLED": "false"})
    assert off.collectors.otel.enabled is False  # a receiver that does not run needs none


@pytest.mark.parametrize("token", ["", " x"])
def test_an_empty_otlp_token_is_an_error_not_auth_off(token: str) -> None:
    with pytest.raises(ConfigError, match=r"key `collectors\.otel\.token`: an empty token"):
        load_config(None, env={"GESTALT_COLLECTORS__OTEL__TOKEN": token})


def test_otlp_tls_files_default_to_the_servers() -> None:
    env = {"GESTALT_SERVER__TLS_CERT": "/tls/tls.crt", "GESTALT_SERVER__TLS_KEY": "/tls/tls.key",
           "GESTALT_COLLECTORS__OTEL__OTLP_ENDPOINT": "https://localhost:4317"}
    otel = load_config(None, env=env).collectors.otel
    assert (otel.tls_cert, otel.tls_key) == ("/tls/tls.crt", "/tls/tls.key")
    own = load_config(None, env={**env, "GESTALT_COLLECTORS__OTEL__TLS_CERT": "/o.crt",
                                 "GESTALT_COLLECTORS__OTEL__TLS_KEY": "/o.key"}).collectors.otel
    assert (own.tls_cert, own.tls_key) == ("/o.crt", "/o.key")


def test_the_readme_names_every_section_the_config_takes() -> None:
    """The README's configuration paragraph names each top-level section and each source
    under `collectors` (a user copied `synthetic:` to the top level when it named it so)."""
    from gestalt.model.config.collectors import Collectors
    from gestalt.model.config.settings import Config

    readme = (ROOT / "README.md").read_text()
    start = readme.index("`config/infrastructure.yaml` is the product plan's schema")
    paragraph = readme[start:readme.index("Unknown keys", start)]
    named = paragraph.replace("\n", " ")
    sections = named[:named.index("`collectors` also takes")]
    sources = named[named.index("`collectors` also takes"):]
    assert {f"`{name}`" for name in Config.__struct_fields__} <= {
        word.strip(",;().") for word in sections.split()}, sections
    plan = {"kubernetes", "docker", "nats", "otel"}  # the product plan's own sources
    assert {f"`{name}`" for name in set(Collectors.__struct_fields__) - plan} <= {
        word.strip(",;().") for word in sources.split()}, sources
