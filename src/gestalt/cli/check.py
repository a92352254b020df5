"""`gestalt check-config` and `gestalt check-access`: what a file, and what Kubernetes
credentials, allow, without starting anything."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from gestalt.cli.common import (
    ConfigOption,
    fail,
    load,
    note,
    out,
    refuse_open_bind,
    transport_reason,
)
from gestalt.model.config import Config


def check_config(
    file: Annotated[Path, typer.Argument(help="The configuration file to validate.")],
) -> None:
    """Validate a configuration file (and GESTALT_* overrides) without starting anything:
    the same checks `serve` makes."""
    from gestalt.engine.alerts.manager import receivers_of
    from gestalt.engine.alerts.receivers import target_url

    # GESTALT_TOKEN is `serve --token`'s variable: judge the file as `serve` would.
    token = os.environ.get("GESTALT_TOKEN") or None
    config = load(file, {"server.token": ("--token/GESTALT_TOKEN", token)} if token else None)
    refuse_open_bind(config)
    enabled = [f.name for f in msgspec.structs.fields(config.collectors)
               if getattr(config.collectors, f.name).enabled]
    out.print(f"{file}: ok (collectors enabled: {', '.join(enabled) or 'none'})")
    if config.alerts.enabled:
        for receiver, _repeat in receivers_of(config):
            out.print(f"  alerts go to {receiver.name} ({receiver.type}): "
                      f"POST {target_url(receiver)}")


def check_access(
    config_path: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What the current Kubernetes credentials may read of what Gestalt reads (as
    `kubectl auth can-i` would answer for each); exits 1 when something required is
    missing."""
    config = load(config_path)
    from gestalt.sources.base import SourceError

    try:
        server, who, answers = asyncio.run(_check_access(config))
    except SourceError as exc:
        fail(str(exc), 1)
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
        fail("the API server did not answer SelfSubjectAccessReview: cannot tell", 1)
    if missing:
        names = sorted({f"{r['verb']} {r['resource']} ({r['scope']})" for r in missing})
        fail(f"{len(missing)} required permission(s) missing: {', '.join(names)}", 1)
    optional = [r for r in rows if r["allowed"] is False]
    note("every required permission is granted" + (
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
            raise SourceError(f"cannot reach {access.server}: {transport_reason(exc)}") from exc
    return access.server, who, permissions.answers
