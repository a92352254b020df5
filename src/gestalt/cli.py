"""The `gestalt` command: serve the live map, query paths, check configuration, run a demo."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import httpx
import msgspec
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import gestalt
from gestalt.engine.validation import validate
from gestalt.model import SourceState
from gestalt.model.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from gestalt.engine.runtime import Engine

app = typer.Typer(
    name="gestalt",
    help="Gestalt Live: a live 3D map of a running system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# What is printed is data (names of processes, subjects, containers) and error text: never
# read it as Rich markup or emoji codes (`kgents.[/x]` would crash, `[bold]srv` would lose
# its name). Piped output is for reading later or for grep: never cut or wrap it to a
# terminal's width; an error stays on one line.
out = Console(width=None if sys.stdout.isatty() else 400, markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

LOG_LEVELS = ("debug", "info", "warning", "error")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (default: $GESTALT_CONFIG, "
                 "else built-in defaults).", envvar="GESTALT_CONFIG", show_envvar=False),
]
LogLevelOption = Annotated[str, typer.Option(help="debug, info, warning, error.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit: 2 for configuration and usage, 1 for the rest."""
    err.print(Text.assemble(("error:", "red"), " ", " ".join(message.split())))
    raise typer.Exit(code)


def _note(message: str) -> None:
    err.print(Text(" ".join(message.split()), style="dim"))


def _load(config_path: Path | None, options: dict[str, tuple[str, object]] | None = None
          ) -> Config:
    """The configuration, validated the one way every command validates it."""
    try:
        return load_config(config_path, options=options, validate=validate)
    except ConfigError as exc:
        _fail(str(exc))


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        _fail(f"--log-level: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # The HTTP client logs every request at info: one line per poll of every source.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(quiet, logging.getLogger().level))


def _refuse_open_bind(config: Config) -> None:
    """Secure by default: anything but a loopback bind needs a token. `serve`, `demo` and
    `check-config` refuse alike."""
    from gestalt.api.security import is_loopback

    if not is_loopback(config.server.host) and not config.server.token:
        _fail(f"refusing to listen on {config.server.host} without a token: set --token "
              "(or server.token / GESTALT_TOKEN), or bind 127.0.0.1")


def _check_data_dir(path: str) -> None:
    """History needs a directory it can write; say so in one line before anything starts."""
    where = Path(path)
    try:
        where.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        _fail(f"server.data_dir {path}: not a directory")
    except OSError as exc:
        _fail(f"server.data_dir {path}: cannot create it: {exc.strerror or exc}")
    if not where.is_dir():
        _fail(f"server.data_dir {path}: not a directory")
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        _fail(f"server.data_dir {path}: not writable: {exc.strerror or exc}")


@app.command()
def serve(
    config_path: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8765).")] = None,
    token: Annotated[str | None, typer.Option(
        help="Bearer token required on every request; needed for a non-loopback bind.",
        envvar="GESTALT_TOKEN")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where history is kept.")] = None,
    log_level: LogLevelOption = "info",
) -> None:
    """Watch this machine and what it can reach; serve the live map, API and streams."""
    level = _log_level(log_level)
    options: dict[str, tuple[str, object]] = {}
    for key, option, value in (("host", "--host", host), ("port", "--port", port),
                               ("token", "--token/GESTALT_TOKEN", token),
                               ("data_dir", "--data-dir", str(data_dir) if data_dir else None)):
        if value is not None:
            options[f"server.{key}"] = (option, value)
    config = _load(config_path, options)
    _refuse_open_bind(config)
    # Imported only now: FastAPI takes a second to import, a config error need not wait.
    from gestalt.api.serving import BindError, bind
    from gestalt.engine.runtime import Engine

    server = config.server
    _setup_logging(level)
    _check_data_dir(server.data_dir)
    _check_tls(server.tls_cert, server.tls_key)
    try:
        sock = bind(server.host, server.port)
    except BindError as exc:
        _fail(str(exc), 1)
    _raise_open_files_limit()
    _return_large_allocations()
    engine = Engine(config)
    url_host = server.host if ":" not in server.host else f"[{server.host}]"
    url = f"{'https' if server.tls_cert else 'http'}://{url_host}:{server.port}/"
    err.print(Text.assemble(
        f"Gestalt Live {gestalt.__version__} serving ", (url, "bold"),
        f"  (sources: {', '.join(engine.sources) or 'none'}; history in {server.data_dir})"))
    asyncio.run(_serve(engine, sock, level))


def _check_tls(cert: str | None, key: str | None) -> None:
    """The certificate and key load and belong together; said in one line before anything
    starts (uvicorn would say it with a traceback once the sources run)."""
    if cert is None or key is None:
        return
    import ssl

    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not os.access(path, os.R_OK):
            _fail(f"server.{name} {path}: " + (
                "not readable" if os.path.exists(path) else "no such file"))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"server.tls_cert {cert} / server.tls_key {key}: cannot load them: "
              f"{getattr(exc, 'reason', None) or exc}")


async def _serve(engine: Engine, sock: Any, level: str, *,
                 cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
    """Start the engine, serve on `sock` until SIGTERM or Ctrl-C, stop the engine, then
    run `cleanup` (the demo's simulators)."""
    import uvicorn

    from gestalt.api import create_app
    from gestalt.api.serving import Server

    try:
        try:
            await engine.start()
        except (OSError, sqlite3.Error) as exc:
            sock.close()
            _fail(f"history in {engine.config.server.data_dir}: cannot open it: {exc}", 1)
        tls = engine.config.server
        server = Server(uvicorn.Config(
            create_app(engine, manage_engine=False), lifespan="off", access_log=False,
            log_level=level if level != "info" else "warning", timeout_graceful_shutdown=3,
            ssl_certfile=tls.tls_cert, ssl_keyfile=tls.tls_key), engine)
        try:
            await server.serve(sockets=[sock])
        finally:
            await engine.stop()
    finally:
        if cleanup is not None:
            await cleanup()


def _raise_open_files_limit() -> None:
    """Every SSE client holds a socket: allow as many as the hard limit permits."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _return_large_allocations() -> None:
    """Keep glibc from growing its mmap threshold: snapshots of a large topology are
    megabytes of short-lived bytes, and with the adaptive threshold they end up on the heap
    and keep the process's memory high after they are freed (measured: 153 MB -> 121 MB
    at 10,000 entities)."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 128 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


@app.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(help="The configuration file to validate.")],
) -> None:
    """Validate a configuration file (and GESTALT_* overrides) without starting anything:
    the same checks `serve` makes."""
    from gestalt.engine.alerts.manager import receivers_of
    from gestalt.engine.alerts.receivers import target_url

    # GESTALT_TOKEN is `serve --token`'s variable: judge the file as `serve` would.
    token = os.environ.get("GESTALT_TOKEN") or None
    config = _load(file, {"server.token": ("--token/GESTALT_TOKEN", token)} if token else None)
    _refuse_open_bind(config)
    enabled = [f.name for f in msgspec.structs.fields(config.collectors)
               if getattr(config.collectors, f.name).enabled]
    out.print(f"{file}: ok (collectors enabled: {', '.join(enabled) or 'none'})")
    if config.alerts.enabled:
        for receiver, _repeat in receivers_of(config):
            out.print(f"  alerts go to {receiver.name} ({receiver.type}): "
                      f"POST {target_url(receiver)}")


@app.command("check-access")
def check_access(
    config_path: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What the current Kubernetes credentials may read of what Gestalt reads (as
    `kubectl auth can-i` would answer for each); exits 1 when something required is
    missing."""
    config = _load(config_path)
    from gestalt.sources.base import SourceError

    try:
        server, who, answers = asyncio.run(_check_access(config))
    except SourceError as exc:
        _fail(str(exc), 1)
    rows = [{"resource": need.kind.resource, "verb": need.verb, "scope": need.scope,
             "allowed": allowed, "required": need.required, "for": need.why}
            for need, allowed in answers]
    missing = [r for r in rows if r["required"] and r["allowed"] is False]
    unanswered = any(r["allowed"] is None for r in rows)
    if as_json:
        out.print_json(json.dumps({"server": server, "credentials": who, "checks": rows,
                                   "missing_required": len(missing)}))
    else:
        out.print(f"Kubernetes access at {server} ({who}):")
        table = Table("resource", "verb", "scope", "allowed", "needed", "for", box=None,
                      header_style="bold")
        for r in rows:
            allowed = {True: "yes", False: "NO", None: "unknown"}[r["allowed"]]
            table.add_row(r["resource"], r["verb"], r["scope"], allowed,
                          "required" if r["required"] else "optional", r["for"])
        out.print(table)
    if unanswered:
        _fail("the API server did not answer SelfSubjectAccessReview: cannot tell", 1)
    if missing:
        names = sorted({f"{r['verb']} {r['resource']} ({r['scope']})" for r in missing})
        _fail(f"{len(missing)} required permission(s) missing: {', '.join(names)}", 1)
    optional = [r for r in rows if r["allowed"] is False]
    _note("every required permission is granted" + (
        f"; {len(optional)} optional not granted (the map does without them)"
        if optional else ""))


async def _check_access(config: Config) -> tuple[str, str, list[Any]]:
    import httpx as client

    from gestalt.sources.base import SourceError
    from gestalt.sources.kubernetes.access import load_access
    from gestalt.sources.kubernetes.api import Api, ApiError
    from gestalt.sources.kubernetes.permissions import needs, review

    section = config.collectors.kubernetes
    access = await load_access(section)
    who = (f"service account token in namespace {access.namespace}" if access.token_file
           and access.namespace else "service account token" if access.token_file
           else f"kubeconfig, cluster {access.cluster}")
    async with client.AsyncClient(verify=access.verify, timeout=section.request_timeout) as http:
        api = Api(access, http, page_size=section.page_size, watch_timeout=60,
                  inactivity_timeout=section.inactivity_timeout)
        try:
            permissions = await review(api, needs(section))
        except ApiError as exc:
            raise SourceError(f"{access.server}: {exc}") from exc
        except client.TransportError as exc:
            raise SourceError(f"cannot reach {access.server}: {_reason(exc)}") from exc
    return access.server, who, permissions.answers


@app.command()
def query(
    path: Annotated[str | None, typer.Argument(help="A world.infra.* path.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Path parameter key=value (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    url: Annotated[str | None, typer.Option(
        help="A running server (default: from the config's server section; when nothing "
             "answers there, collect locally).")] = None,
    token: Annotated[str | None, typer.Option(
        help="The server's token (default: $GESTALT_TOKEN, else server.token).",
        envvar="GESTALT_TOKEN", show_envvar=False)] = None,
    list_paths: Annotated[bool, typer.Option("--list", help="List the paths.")] = False,
    config_path: ConfigOption = None,
    local: Annotated[bool, typer.Option(
        help="Collect in this process instead of asking a running server.")] = False,
) -> None:
    """Answer a world.infra.* path, from a running server or by collecting locally."""
    from gestalt.engine.paths import REGISTRY, PathError, check_request

    if list_paths or path is None:
        table = Table("path", "description", "source", box=None)
        for spec in REGISTRY.values():
            table.add_row(spec.path, spec.description, spec.source or "-")
        out.print(table)
        return
    params: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--param {item!r} is not key=value")
        params[key] = value
    if token == "":
        _fail("--token (or GESTALT_TOKEN) is empty")
    try:
        check_request(path, params)  # before asking a server or collecting for seconds
    except PathError as exc:
        _fail(exc.message)
    config = _load(config_path)
    # What a source logs while collecting for one answer is summed up in the notes below.
    _setup_logging("error")
    answer: dict[str, Any] | None = None
    if not local:
        target = url or _server_url(config)
        answer = _query_server(target, token or config.server.token, path, params,
                               explicit=url is not None, verify=_trust(config))
        if answer is None:
            _note(f"no server at {target}; collecting locally")
    if answer is None:
        answer = asyncio.run(_query_locally(config, path, params))
    if as_json:
        out.print_json(json.dumps(answer["result"]), highlight=sys.stdout.isatty())
    else:
        _print_answer(answer["result"], answer.get("columns") or [])
    for note in answer.get("notes", []):
        _note(note)


def _server_url(config: Config) -> str:
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if config.server.tls_cert else "http"
    return f"{scheme}://{host}:{config.server.port}"


def _trust(config: Config) -> Any:
    """What verifies a server with TLS: the system's CAs, plus the configured certificate
    itself (a self-signed one is its own CA)."""
    import ssl

    context = ssl.create_default_context()
    if config.server.tls_cert:
        with contextlib.suppress(OSError, ssl.SSLError):
            context.load_verify_locations(config.server.tls_cert)
    return context


def _query_server(url: str, token: str | None, path: str, params: dict[str, str], *,
                  explicit: bool, verify: Any = True) -> dict[str, Any] | None:
    """The server's answer; None when nothing listens at `url` and it was not asked for
    by name (then the caller collects locally). Anything else that goes wrong is fatal."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = url.rstrip("/")
    try:
        response = httpx.get(f"{base}/api/paths/{path}", params=params, headers=headers,
                             timeout=30, verify=verify)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        _fail(f"--url {url!r}: not an http(s) URL: {exc}")
    except httpx.TransportError as exc:
        if explicit:
            _fail(f"no Gestalt server at {url}: {_reason(exc)}", 1)
        return None
    body = _json_object(response)
    if response.status_code == 401:
        _fail(f"{url} refused the token: pass the server's token with --token or GESTALT_TOKEN"
              if token else f"{url} needs a token: pass --token or set GESTALT_TOKEN", 1)
    if body is None or (response.status_code == 200 and "result" not in body):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        _fail(f"{url} is not a Gestalt server (it answered HTTP {response.status_code}, "
              f"{kind})", 1)
    if response.status_code != 200:
        message = body.get("error") or body.get("detail") or f"HTTP {response.status_code}"
        _fail(str(message), 2 if response.status_code in (400, 404, 422) else 1)
    if not body["result"]:
        body["notes"] = _source_notes(path, _remote_statuses(base, headers, verify))
    return body


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _reason(exc: httpx.TransportError) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = getattr(cause, "strerror", None) or str(cause) or type(exc).__name__
    return str(text)


def _remote_statuses(base: str, headers: dict[str, str], verify: Any = True
                     ) -> list[dict[str, Any]]:
    try:
        body = httpx.get(f"{base}/api/infra/health", headers=headers, timeout=10,
                         verify=verify).json()
    except (httpx.HTTPError, ValueError):
        return []
    sources = body.get("sources", []) if isinstance(body, dict) else []
    return [s for s in sources if isinstance(s, dict)]


def _source_notes(path: str, statuses: list[dict[str, Any]]) -> list[str]:
    """Why an answer may be empty: the path's source (or, for paths over everything, any
    source) that is not working, with its reason."""
    from gestalt.engine.paths import REGISTRY

    spec = REGISTRY.get(path)
    wanted = spec.source if spec is not None else None
    notes = []
    for status in statuses:
        state = str(status.get("state", ""))
        if state in ("ok", "disabled") or (wanted is not None and status.get("name") != wanted):
            continue
        reason = status.get("reason") or "no reason given"
        notes.append(f"note: source {status.get('name')} is {state}: {reason}")
    return notes


# Columns that hold measurements: a first local poll may not have them yet (CPU is a
# difference between two samples).
_METRIC_COLUMNS = frozenset({"cpu_percent", "memory_bytes", "network_rx_rate",
                             "network_tx_rate", "msg_rate"})


def _lacks_metrics(columns: list[str], result: Any) -> bool:
    wanted = _METRIC_COLUMNS.intersection(columns)
    if not wanted or not isinstance(result, list):
        return False
    return not any(row.get(c) is not None for row in result for c in wanted)


async def _query_locally(config: Config, path: str, params: dict[str, str]) -> dict[str, Any]:
    from gestalt.engine.paths import PathError, resolve
    from gestalt.engine.runtime import Engine

    replace = msgspec.structs.replace
    # Collecting for one answer must not notify anyone: no receivers here.
    config.alerts = replace(config.alerts, receivers=[], slack_webhook=None, pagerduty_key=None)
    with tempfile.TemporaryDirectory(prefix="gestalt-query-") as data_dir:
        config.server = replace(config.server, data_dir=data_dir)
        engine = Engine(config)
        await engine.start()
        try:
            with err.status("collecting…"):
                await engine.settled(timeout=15)
                try:
                    spec, result = await resolve(engine, path, params)
                    columns = list(spec.columns)
                    # Measurements need a second poll: wait for it (at most one poll
                    # interval and a bit) rather than print a table without them.
                    deadline = time.monotonic() + min(15.0, _longest_poll(config) + 2.0)
                    while _lacks_metrics(columns, result) and _can_answer(engine, spec.source) \
                            and time.monotonic() < deadline:
                        await asyncio.sleep(0.5)  # re-ask until the second sample is in
                        spec, result = await resolve(engine, path, params)
                except PathError as exc:
                    _fail(exc.message, 2 if exc.status in (400, 404) else 1)
            statuses = msgspec.to_builtins(engine.source_statuses())
            return {"path": spec.path, "columns": columns, "result": msgspec.to_builtins(result),
                    "notes": _source_notes(path, statuses) if not result else []}
        finally:
            await engine.stop()


def _can_answer(engine: Any, source: str | None) -> bool:
    """Whether waiting can help: not when the path's own source is down (no cluster)."""
    status = engine.hub.statuses.get(source) if source else None
    return status is None or status.state in (SourceState.OK, SourceState.DEGRADED)


def _longest_poll(config: Config) -> float:
    collectors = config.collectors
    polls = [section.poll_interval for section in (collectors.host, collectors.docker,
             collectors.kubernetes, collectors.nats) if section.enabled]
    return max(polls, default=0.0)


# -- printing answers ----------------------------------------------------------------------

_ENTITY_COLUMNS = ["kind", "name", "namespace", "status", "health", "id"]


def _print_answer(result: Any, columns: list[str]) -> None:
    if isinstance(result, list):
        _print_rows(result, columns)
    elif "entities" in result and "connections" in result:
        _print_topology(result)
    elif "upserts" in result or "reset" in result:
        _print_diff(result)
    else:
        _print_document(result)


def _print_rows(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        out.print("(nothing)", style="dim")
        return
    columns = columns or list(rows[0])
    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(_cell(column, row.get(column)) for column in columns))
    out.print(table)


def _entity_rows(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in sorted(entities, key=lambda e: (e.get("kind", ""), e.get("namespace") or "",
                                              e.get("name", ""))):
        health = e.get("health_status", "unknown") + (" (stale)" if e.get("stale") else "")
        rows.append({**e, "health": health})
    return rows


def _print_topology(topology: dict[str, Any]) -> None:
    sources = topology.get("sources") or []
    if sources:
        table = Table("source", "state", "entities", "reason", box=None, header_style="bold")
        for s in sources:
            table.add_row(*(_cell(c, s.get(c)) for c in ("name", "state", "entities", "reason")))
        out.print(table)
        out.print()
    _print_rows(_entity_rows(topology["entities"]), _ENTITY_COLUMNS)
    summary = topology.get("summary") or {}
    out.print()
    out.print(f"{len(topology['entities'])} entities, {len(topology['connections'])} "
              f"connections (version {topology.get('version')}); health: "
              f"{summary.get('healthy', 0)} ok, {summary.get('warning', 0)} warning, "
              f"{summary.get('critical', 0)} critical, {summary.get('unknown', 0)} unknown")


def _print_diff(diff: dict[str, Any]) -> None:
    if diff.get("reset"):
        out.print(f"version {diff['from']} is too old to diff against: the whole topology "
                  f"at version {diff['to']} follows")
        _print_topology(diff["topology"])
        return
    out.print(f"changes from version {diff['from']} to {diff['to']}: "
              f"{len(diff['upserts'])} added or changed, {len(diff['removals'])} removed; "
              f"connections {len(diff['edge_upserts'])} added or changed, "
              f"{len(diff['edge_removals'])} removed")
    if diff["upserts"]:
        _print_rows(_entity_rows(diff["upserts"]), _ENTITY_COLUMNS)
    for removed in diff["removals"]:
        out.print(f"removed {removed}")


def _print_document(document: dict[str, Any]) -> None:
    table = Table("key", "value", box=None, header_style="bold")
    for key, value in _flatten(document):
        table.add_row(key, _cell(key, value))
    out.print(table)


def _flatten(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items.extend(_flatten(value, f"{name}."))
        elif isinstance(value, list) and value and not all(
                isinstance(v, str | int | float) for v in value):
            items.append((name, json.dumps(value)))
        elif isinstance(value, list):
            items.append((name, ", ".join(map(str, value)) or "-"))
        else:
            items.append((name, value))
    return items


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and column in ("time", "timestamp"):
        return time.strftime("%H:%M:%S", time.localtime(value))
    if isinstance(value, int | float) and not isinstance(value, bool) and (
            "bytes" in column or column.endswith("_limit")):
        return _human_bytes(float(value))
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


@app.command()
def demo(
    config_path: ConfigOption = None,
    port: Annotated[int, typer.Option(help="Port of the map.")] = 8765,
    pods: Annotated[int, typer.Option(help="Pods in the simulated cluster.")] = 120,
    nats: Annotated[bool, typer.Option(help="Also run a NATS server with demo traffic.")] = True,
    open_browser: Annotated[bool, typer.Option("--open/--no-open",
                                               help="Open the map in a browser.")] = True,
    log_level: LogLevelOption = "warning",
) -> None:
    """A lively simulated Kubernetes cluster (kubesim) and NATS traffic, next to this
    machine and its Docker engine, on one map. Ctrl-C (or SIGTERM) stops everything."""
    from gestalt.api.serving import BindError, bind

    level = _log_level(log_level)
    config = _load(config_path, {"server.port": ("--port", port)})
    _refuse_open_bind(config)
    _setup_logging(level)
    try:
        sock = bind(config.server.host, config.server.port)
    except BindError as exc:
        _fail(str(exc), 1)
    _raise_open_files_limit()
    # Until the server takes over the signals (and after it gives them back), SIGTERM
    # ends the demo like Ctrl-C: through the clean-up below, never leaving NATS running.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(config, sock, pods=pods, with_nats=nats, open_browser=open_browser,
                          level=level))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _demo(config: Config, sock: Any, *, pods: int, with_nats: bool, open_browser: bool,
                level: str) -> None:
    import shutil
    import socket
    import webbrowser

    from gestalt.engine.runtime import Engine
    from gestalt.sim.kubesim.runner import KubeSim
    from gestalt.sim.scenarios import ClusterLife, build_cluster

    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    data_dir = tempfile.mkdtemp(prefix="gestalt-demo-")
    sim = KubeSim()
    life: asyncio.Task[None] | None = None
    nats_proc: asyncio.subprocess.Process | None = None

    async def cleanup() -> None:
        if life is not None:
            life.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await life
        await sim.stop()
        if nats_proc is not None:
            await _stop_group(nats_proc)
        shutil.rmtree(data_dir, ignore_errors=True)

    try:
        with err.status("building the simulated cluster…"):
            cluster = build_cluster(sim, nodes=4, namespaces=4, pods=pods, replicas=3)
            await sim.start()
        life = asyncio.create_task(ClusterLife(sim, cluster).run(1.0), name="kubesim-life")
        collectors = config.collectors
        replace = msgspec.structs.replace
        kubernetes = replace(collectors.kubernetes, enabled=True, kubeconfig=sim.kubeconfig,
                             context=None, cluster_name="kubesim", namespaces=[])
        nats_config = replace(collectors.nats, enabled=False)
        if with_nats:
            nats_port, monitor_port = free_port(), free_port()
            # Its own process group: the demo's NATS server and clients stop together.
            nats_proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gestalt.sim.natsdemo", "--port", str(nats_port),
                "--monitor-port", str(monitor_port), start_new_session=True,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            nats_config = replace(collectors.nats, enabled=True,
                                  url=f"nats://127.0.0.1:{nats_port}",
                                  monitor_url=f"http://127.0.0.1:{monitor_port}",
                                  subjects=["orders.>", "kgents.>"])
        config.collectors = replace(collectors, kubernetes=kubernetes, nats=nats_config,
                                    otel=replace(collectors.otel, enabled=False))
        config.server = replace(config.server, data_dir=data_dir)
        simulated = frozenset({"kubernetes", "nats"} if with_nats else {"kubernetes"})
        engine = Engine(config, simulated=simulated)
        url = f"http://{config.server.host}:{config.server.port}/"
        err.print(Text.assemble(
            "Gestalt Live demo on ", (url, "bold"),
            f": kubesim ({pods} pods, kubeconfig {sim.kubeconfig})"
            + (", NATS demo traffic" if with_nats else "")
            + ", and this machine. Ctrl-C stops everything."))
        if open_browser:
            asyncio.get_running_loop().call_later(1.5, webbrowser.open, url)
    except BaseException:
        sock.close()
        await cleanup()
        raise
    await _serve(engine, sock, level, cleanup=cleanup)


async def _stop_group(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM to the process group `proc` leads, then SIGKILL to whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


@app.command()
def version() -> None:
    """Print the version."""
    out.print(gestalt.__version__)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Not standalone: a usage error (`--port abc`) is one line like every other start-up
    # error, not a boxed panel wrapped at 80 columns. Typer (pinned) carries its own click;
    # tests/integration/test_cli.py fails if these names move.
    from typer._click import exceptions as usage

    try:
        code = app(standalone_mode=False, prog_name="gestalt")
    except usage.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except usage.UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        err.print(Text.assemble(("error:", "red"), " ",
                                " ".join(exc.format_message().split()) + where))
        sys.exit(exc.exit_code)
    except usage.ClickException as exc:
        err.print(Text.assemble(("error:", "red"), " ", " ".join(exc.format_message().split())))
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
