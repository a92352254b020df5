"""Configuration: the product plan's file as written, and clear one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gestalt.model.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

BAD = {
    "bad_unknown_key.yaml": "collectors.docker.sokcet",
    "bad_wrong_type.yaml": "server.port",
    "bad_not_yaml.yaml": "line 3",
    "bad_top_level_list.yaml": "top level",
    "bad_unknown_section.yaml": "colectors",
    "bad_list_item.yaml": "collectors.nats.subjects[1]",
    "bad_threshold_type.yaml": "health.cpu_warning_threshold",
}


def test_the_shipped_config_is_the_product_plan_schema() -> None:
    config = load_config(ROOT / "config" / "infrastructure.yaml", env={})
    assert config.collectors.nats.subjects == ["kgents.>"]
    assert config.visualization.max_entities == 1000
    assert config.health.memory_critical_threshold == 0.95
    assert config.server.host == "127.0.0.1"


def test_every_bad_fixture_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("bad_*.yaml")} == set(BAD)


@pytest.mark.parametrize(("name", "key"), sorted(BAD.items()))
def test_bad_config_names_file_and_key(name: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / name, env={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(FIXTURES / name))
    assert key in message


def test_unknown_key_lists_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match="allowed keys: enabled, socket, poll_interval"):
        load_config(FIXTURES / "bad_unknown_key.yaml", env={})


def test_environment_overrides_nested_keys_and_ignores_other_gestalt_vars() -> None:
    env = {"GESTALT_SERVER__PORT": "9001", "GESTALT_COLLECTORS__DOCKER__ENABLED": "false",
           "GESTALT_REQUIRE_SERVICES": "1"}
    config = load_config(ROOT / "config" / "infrastructure.yaml", env=env)
    assert config.server.port == 9001
    assert config.collectors.docker.enabled is False


def test_environment_override_with_a_wrong_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match="server.port"):
        load_config(None, env={"GESTALT_SERVER__PORT": "many"})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(FIXTURES / "nope.yaml", env={})


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
