"""Reading the configuration: the file, then environment overrides, then command-line
options, validated; every problem one line naming where the bad value came from."""

from __future__ import annotations

import copy
import difflib
import os
import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from gestalt.model.config.collectors import (
    OtelCollector,
    is_loopback,
    listen_address,
    uses_tls,
)
from gestalt.model.config.federation import NatsCredentials
from gestalt.model.config.schema import allowed_keys, key_paths, members, type_at, unwrap
from gestalt.model.config.settings import Config
from gestalt.model.config.types import Duration


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file: one line,
    `key `a.b`: what is wrong` when it is about a key (then `key` holds `a.b`). Raised for
    several at once, it holds each in `problems` and its message is their lines."""

    def __init__(self, message: str, problems: Sequence[ConfigError] = ()) -> None:
        super().__init__(message)
        match = _KEY.match(message)
        self.key: str | None = match.group(1) if match else None
        self.problems: list[ConfigError] = list(problems) or [self]


class Problems:
    """Every problem of a configuration, not only the first: each independent check runs
    inside `check()`, which keeps what it raises and lets the next check run."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.found.extend(exc.problems)

    def raise_found(self) -> None:
        if self.found:
            raise ConfigError("\n".join(map(str, self.found)), self.found)


_KEY = re.compile(r"^key `([^`]+)`")
_ENV_PREFIX = "GESTALT_"
# GESTALT_ variables that are not configuration overrides, and what reads each: the only
# ones a stray-variable warning leaves alone.
OTHER_VARIABLES = {
    "GESTALT_CONFIG": "the configuration file (--config)",
    "GESTALT_TOKEN": "the server's token (serve --token, query --token)",
    "GESTALT_REQUIRE_SERVICES": "the tests: a missing component fails instead of skipping",
    "GESTALT_IMAGE": "scripts/build-image.sh: the image's tag",
    "GESTALT_LOCAL_BASE": "scripts/build-image.sh: build the base images here",
}
OTHER_PREFIXES = ("GESTALT_BENCH_",)  # the benchmarks' knobs (bench/*.py)
# Checks that need more than the schema (alert rules, receivers, check ids) live in the
# engine; it hands them in so that every command validates the same way.
Validator = Callable[["Config", Problems], None]
# A file this broken is more than a list of slips: say this much and stop.
MAX_PROBLEMS = 50


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, tuple[str, object]] | None = None,
    validate: Validator | None = None,
) -> Config:
    """Read the file, override it from the environment and then from command-line
    `options` (dotted key -> (option name, value)), and validate. Raises ConfigError
    holding every problem found (`problems`), each a line that starts with where the bad
    value came from: the file, the environment variable or the option. A file that is not
    YAML, or not a mapping, is one problem: nothing more can be read from it."""
    origin = str(path) if path is not None else "<defaults>"
    raw = _read(path, origin) if path is not None else {}
    origins: dict[str, str] = {}  # dotted key -> the variable or option that set it
    problems = Problems()
    _apply_env(raw, os.environ if env is None else env, origins, problems)
    for key, (option, value) in (options or {}).items():
        _set(raw, key.split("."), value)
        origins[key] = f"option {option}"
    config = _convert(raw, problems)
    if config is not None:
        _inherit(config)
        _check(config, problems)
        if validate is not None:
            validate(config, problems)
    # The engine's checks may meet a problem the schema's checks named already (a bad
    # duration is read again by the alert rules): each problem once.
    blamed = {str(e): e for e in (_blame(error, origin, origins) for error in problems.found)}
    problems.found = list(blamed.values())
    problems.raise_found()
    assert config is not None  # no problems found means it converted
    return config


def _convert(raw: dict[str, Any], problems: Problems) -> Config | None:
    """The schema's verdict on every key, not only the first bad one: msgspec stops at the
    first, so each bad key is noted and left out (its default stands in) until the rest
    converts. None when a problem cannot be left out (a list item, the top level)."""
    pruned = copy.deepcopy(raw)
    seen: set[str | None] = set()
    for _ in range(MAX_PROBLEMS):
        try:
            return msgspec.convert(pruned, Config, strict=True)
        except msgspec.ValidationError as exc:
            error = ConfigError(_explain(str(exc), pruned))
        if error.key in seen:  # leaving a required key out: the same key again
            return None
        seen.add(error.key)
        problems.found.append(error)
        if error.key is None or not _leave_out(pruned, error.key):
            return None
    return None


def _leave_out(raw: dict[str, Any], key: str) -> bool:
    """Remove the value at `key` (`a.b[2].c`) from `raw`; False when it cannot be: not
    there, or a list item (the items after it would be named by the wrong index)."""
    parts: list[str | int] = [int(p) if p.isdigit() else p
                              for p in re.split(r"\.|\[(\d+)\]", key) if p]
    node: Any = raw
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    last = parts[-1]
    if not isinstance(node, dict) or last not in node:
        return False
    del node[last]
    return True


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


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], origins: dict[str, str],
               problems: Problems) -> None:
    for name, value in sorted(env.items()):
        if not name.startswith(_ENV_PREFIX) or "__" not in name:
            continue  # GESTALT_TOKEN, GESTALT_REQUIRE_SERVICES and friends are not config
        keys = name[len(_ENV_PREFIX) :].lower().split("__")
        dotted = ".".join(keys)
        declared = type_at(keys)
        with problems.check():
            if declared is None:
                parent = ".".join(keys[:-1])
                allowed = ", ".join(allowed_keys(parent)) or "none"
                raise ConfigError(f"environment {name}: key `{dotted}`: unknown key "
                                  f"(allowed keys: {allowed})")
            _set(raw, keys, _env_value(name, value, declared))
            origins[dotted] = f"environment {name}"


def stray_variables(env: Mapping[str, str]) -> list[str]:
    """One warning per GESTALT_ variable that nothing reads, naming the closest valid
    spelling: `GESTALT_SERVER_PORT` (one underscore) would otherwise be silently ignored.
    Overrides (with `__`) need no warning: an unknown key there is an error."""
    warnings = []
    for name in sorted(env):
        if (not name.startswith(_ENV_PREFIX) or "__" in name or name in OTHER_VARIABLES
                or name.startswith(OTHER_PREFIXES)):
            continue
        guess = _closest_variable(name)
        hint = f"; did you mean {guess}?" if guess else ""
        warnings.append(f"environment {name}: not a Gestalt setting, ignored{hint} (overrides "
                        "are GESTALT_<SECTION>__<KEY>, two underscores between keys)")
    return warnings


def _closest_variable(name: str) -> str | None:
    overrides = [_ENV_PREFIX + "__".join(keys).upper() for keys in key_paths(Config)]
    # The usual slip is one underscore for two: then the keys match exactly.
    for candidate in overrides:
        if candidate.replace("__", "_") == name:
            return candidate
    found = difflib.get_close_matches(name, [*overrides, *OTHER_VARIABLES], n=1, cutoff=0.75)
    return found[0] if found else None


def _env_value(name: str, value: str, declared: Any) -> Any:
    kinds = members(declared)
    if str in kinds:
        return value  # verbatim: a token `#x9` or `yes` must not turn into null or true
    if value == "" and type(None) in kinds:
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
    if str(error).startswith("environment "):
        return error  # a variable that could not be applied names itself
    where = origin
    if error.key is not None:
        key = re.sub(r"\[(\d+)\]", r".\1", error.key)
        for set_key, source in origins.items():
            if key == set_key or key.startswith(set_key + ".") or set_key.startswith(key + "."):
                where = source
                break
    return ConfigError(f"{where}: {error}")


def _check(config: Config, problems: Problems) -> None:
    """What the types cannot say: durations that parse, a token that is a token, TLS files
    in pairs, OTLP receivers that are either on loopback or protected by a token. Each
    check is independent: every one runs, and each problem is kept in `problems`."""
    server, otel = config.server, config.collectors.otel
    for name, token in (("server.token", server.token), ("collectors.otel.token", otel.token)):
        if token is not None and (not token or token != token.strip()):
            problems.found.append(ConfigError(
                f"key `{name}`: an empty token, or one with spaces at either end, cannot be "
                "sent in a header; leave the key out for no token"))
    for section, cert, key in (("server", server.tls_cert, server.tls_key),
                               ("collectors.otel", otel.tls_cert, otel.tls_key)):
        if (cert is None) != (key is None):
            given, missing = ("tls_cert", "tls_key") if key is None else ("tls_key", "tls_cert")
            problems.found.append(ConfigError(
                f"key `{section}.{given}`: given without {section}.{missing}; the certificate "
                "and its private key (PEM files) go together"))
    if otel.enabled:
        with problems.check():
            _check_otlp(otel)
    with problems.check():
        _check_actions(config)
    for index, repo in enumerate(config.collectors.gitops.repositories):
        if bool(repo.path) == bool(repo.url):
            problems.found.append(ConfigError(
                f"key `collectors.gitops.repositories[{index}]`: give `path` (on disk) or "
                "`url` (a remote Git repository), one of them"))
    for key, value in _durations(config):
        with problems.check():
            duration_seconds(value, key)
    for section, creds in (("agent", config.agent), ("collectors.agents", config.collectors.agents),
                           ("collectors.agents.system", config.collectors.agents.system)):
        if creds is not None:
            with problems.check():
                _check_credentials(section, creds)
    alerts = config.alerts
    if alerts.retry_initial > alerts.retry_max:
        problems.found.append(ConfigError(
            f"key `alerts.retry_initial`: {alerts.retry_initial} is more than alerts.retry_max "
            f"({alerts.retry_max})"))


def _check_actions(config: Config) -> None:
    """Actions need an operator token of their own: not empty, not the viewer's."""
    actions = config.actions
    token = actions.operator_token
    if token is not None and (len(token) < 16 or token != token.strip()):
        raise ConfigError("key `actions.operator_token`: use at least 16 characters, without "
                          "spaces at either end")
    if actions.enabled and token is None:
        raise ConfigError("key `actions.enabled`: actions need an operator token: set "
                          "actions.operator_token (GESTALT_ACTIONS__OPERATOR_TOKEN)")
    if token is not None and token == config.server.token:
        raise ConfigError("key `actions.operator_token`: must differ from server.token "
                          "(the viewer token must not be able to act)")


def _check_credentials(section: str, creds: NatsCredentials) -> None:
    """One kind of NATS credential per section, complete, and its files readable."""
    # A password alone (from GESTALT_..._PASSWORD, say) is named as itself, not as a user.
    kinds = [name for name, given in (
        ("user" if creds.user is not None else "password",
         creds.user is not None or creds.password is not None),
        ("token", creds.token is not None), ("nkey_seed_file", creds.nkey_seed_file is not None),
        ("creds_file", creds.creds_file is not None)) if given]
    if len(kinds) > 1:
        raise ConfigError(f"key `{section}.{kinds[1]}`: given with {section}.{kinds[0]}; "
                          "use one kind of NATS credential")
    if (creds.user is None) != (creds.password is None):
        given, missing = ("user", "password") if creds.password is None else ("password", "user")
        raise ConfigError(f"key `{section}.{given}`: given without {section}.{missing}")
    for name in ("token", "password"):
        value = getattr(creds, name)
        if value is not None and (not value or value != value.strip()):
            raise ConfigError(f"key `{section}.{name}`: empty, or with spaces at either end")
    for name in ("nkey_seed_file", "creds_file", "tls_ca_file"):
        path = getattr(creds, name)
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"key `{section}.{name}`: {path}: " + (
                "not readable" if os.path.exists(path) else "no such file"))


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
    # Only a complete pair: a half one is the server's problem, reported once, there.
    if otel.tls_cert is None and otel.tls_key is None and server.tls_cert is not None \
            and server.tls_key is not None:
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
        return f"key `{key}`: unknown key (allowed keys: {', '.join(allowed_keys(path))})"
    expected = _EXPECTED.search(what)
    if expected:
        return f"key `{path}`: expected {expected.group('want')}, got {expected.group('got')}"
    bound = _BOUND.search(what)
    if bound:
        return f"key `{path}`: expected {bound.group('want')} {bound.group('bound')}"
    enum = _ENUM.search(what)
    if enum:
        declared = type_at(re.sub(r"\[\d+\]", "", path).split(".")) if path else None
        choices = typing.get_args(declared) if typing.get_origin(declared) is Literal else ()
        return f"key `{path}`: {enum.group('got')} is not one of: {', '.join(choices)}"
    return f"key `{path or '<top>'}`: {what}"


def _name_mapping_key(path: str, raw: Any) -> str:
    """msgspec says `health.checks[...]` for a value inside a mapping: find which key's
    value is the bad one, so the message can name it."""
    head, _, rest = path.partition("[...]")
    keys = head.split(".")
    declared = unwrap(type_at(keys))
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
