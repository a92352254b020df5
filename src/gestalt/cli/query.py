"""`gestalt query PATH`: answer a world.infra.* path from a running server, or by
collecting locally when none answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from typing import Annotated, Any

import httpx
import msgspec
import typer
from rich.table import Table

from gestalt.cli.common import (
    ConfigOption,
    err,
    fail,
    load,
    note,
    out,
    setup_logging,
    transport_reason,
)
from gestalt.cli.printing import print_answer
from gestalt.model import SourceState
from gestalt.model.config import Config


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
    at: Annotated[str | None, typer.Option(
        help="Answer as it was at this moment (RFC 3339 or epoch seconds), from history: "
             "the server's, or without one the data dir's, read-only.")] = None,
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
            fail(f"--param {item!r} is not key=value")
        params[key] = value
    if at is not None:
        params["at"] = at
    if token == "":
        fail("--token (or GESTALT_TOKEN) is empty")
    try:
        check_request(path, params)  # before asking a server or collecting for seconds
    except PathError as exc:
        fail(exc.message)
    config = load(config_path)
    # What a source logs while collecting for one answer is summed up in the notes below.
    setup_logging("error")
    answer: dict[str, Any] | None = None
    if not local:
        target = url or _server_url(config)
        answer = _query_server(target, token or config.server.token, path, params,
                               explicit=url is not None, verify=_trust(config))
        if answer is None:
            note(f"no server at {target}; collecting locally")
    if answer is None and at is not None:
        answer = asyncio.run(_query_history(config, path, params))
    if answer is None:
        answer = asyncio.run(_query_locally(config, path, params))
    if as_json:
        out.print_json(json.dumps(answer["result"]), highlight=sys.stdout.isatty())
    else:
        print_answer(answer["result"], answer.get("columns") or [])
    for line in answer.get("notes", []):
        note(line)


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
        fail(f"--url {url!r}: not an http(s) URL: {exc}")
    except httpx.TransportError as exc:
        if explicit:
            fail(f"no Gestalt server at {url}: {transport_reason(exc)}", 1)
        return None
    body = _json_object(response)
    if response.status_code == 401:
        fail(f"{url} refused the token: pass the server's token with --token or GESTALT_TOKEN"
              if token else f"{url} needs a token: pass --token or set GESTALT_TOKEN", 1)
    if body is None or (response.status_code == 200 and "result" not in body):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        fail(f"{url} is not a Gestalt server (it answered HTTP {response.status_code}, "
              f"{kind})", 1)
    if response.status_code != 200:
        message = body.get("error") or body.get("detail") or f"HTTP {response.status_code}"
        fail(str(message), 2 if response.status_code in (400, 404, 422) else 1)
    if not body["result"]:
        body["notes"] = _source_notes(path, _remote_statuses(base, headers, verify))
    return body


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


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
    from gestalt.engine.registry import longest_poll
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
                    deadline = time.monotonic() + min(15.0, longest_poll(config) + 2.0)
                    while _lacks_metrics(columns, result) and _can_answer(engine, spec.source) \
                            and time.monotonic() < deadline:
                        await asyncio.sleep(0.5)  # re-ask until the second sample is in
                        spec, result = await resolve(engine, path, params)
                except PathError as exc:
                    fail(exc.message, 2 if exc.status in (400, 404) else 1)
            statuses = msgspec.to_builtins(engine.source_statuses())
            return {"path": spec.path, "columns": columns, "result": msgspec.to_builtins(result),
                    "notes": _source_notes(path, statuses) if not result else []}
        finally:
            await engine.stop()


async def _query_history(config: Config, path: str, params: dict[str, str]) -> dict[str, Any]:
    """A past moment without a server: the data dir's history, opened read-only."""
    from gestalt.engine.history import HistoryError
    from gestalt.engine.paths import PathError, resolve
    from gestalt.engine.runtime import Engine

    engine = Engine(config, sources=[])
    try:
        engine.history.open_readonly()
    except HistoryError as exc:
        fail(str(exc), 1)
    try:
        spec, result = await resolve(engine, path, params)
    except PathError as exc:
        fail(exc.message, 2 if exc.status in (400, 404) else 1)
    finally:
        engine.history.close()
    return {"path": spec.path, "columns": list(spec.columns),
            "result": msgspec.to_builtins(result)}


def _can_answer(engine: Any, source: str | None) -> bool:
    """Whether waiting can help: not when the path's own source is down (no cluster)."""
    status = engine.hub.statuses.get(source) if source else None
    return status is None or status.state in (SourceState.OK, SourceState.DEGRADED)
