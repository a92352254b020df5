"""The `world.infra.*` paths for AI assistants, over the Model Context Protocol.

Every registered path is a tool (its parameters as a JSON schema, plus `offset` for the
next page); the topology and the active alerts are resources. It is read-only: it answers
from the same registry as `GET /api/paths/{path}` and `gestalt query`, nothing more.

Answers are bounded: an assistant's context is small and a cluster is not. A list (or the
lists of a document, such as the topology's entities) is cut to what fits in
`ANSWER_BUDGET` characters, and a note says how many there are and which `offset` gives the
next page.

Two transports share one `Server`: stdio (`gestalt mcp`, for a local assistant) and
streamable HTTP at `/mcp` (mounted by `create_app`; the app's SecurityMiddleware checks the
token, Host and Origin there as for every other route, so the SDK's own DNS-rebinding check
is off: one check, one place).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import mcp_types as types
import msgspec
from jsonschema import Draft202012Validator
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

import gestalt
from gestalt.engine.alerts import select_alerts
from gestalt.engine.paths import REGISTRY, PathError, PathSpec, resolve
from gestalt.engine.paths.base import NO_PAST
from gestalt.engine.runtime import Engine

log = logging.getLogger(__name__)

# About 10,000 tokens: room for an answer and the conversation around it.
ANSWER_BUDGET = 40_000
TOPOLOGY_URI = "gestalt://topology"
ALERTS_URI = "gestalt://alerts"

_TEXT = {"type": "string", "maxLength": 1000}
# What each path parameter means, for the tool schemas. A parameter not listed here is a
# string (a new path works at once; its author adds a row for a better description).
PARAMETERS: dict[str, dict[str, Any]] = {
    "kinds": {**_TEXT, "description": "Entity kinds, comma-separated (pod,service,...)"},
    "namespaces": {**_TEXT, "description": "Namespaces, comma-separated"},
    "labels": {**_TEXT, "description": "Label selectors, comma-separated (app=web,tier)"},
    "sources": {**_TEXT, "description": "Sources, comma-separated (kubernetes,docker,...)"},
    "since": {"type": "number", "minimum": 0,
              "description": "A topology version (topology.diff) or epoch seconds"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 10000,
              "description": "At most this many rows"},
    "entity": {**_TEXT, "description": "An entity id (from the topology: pod:cluster/ns/name)"},
    "state": {"type": "string", "enum": ["active", "pending", "firing", "unknown",
                                         "resolved", "all"]},
    "subjects": {**_TEXT, "description": "NATS subjects, comma-separated (wildcards allowed)"},
    "seconds": {"type": "number", "minimum": 0.1, "maximum": 10,
                "description": "How long to listen"},
    "metric": {**_TEXT, "description": "A metric name, or one series as written"},
    "alert": {**_TEXT, "description": "An alert id (world.infra.health.alerts lists them)"},
    "at": {"type": ["string", "number"], "maxLength": 64,
           "description": "Time travel: the answer as it was then (RFC 3339, "
                          "2026-11-30T02:30:00Z, or epoch seconds)"},
    "moment": {"type": ["string", "number"], "maxLength": 64,
               "description": "The moment asked about (RFC 3339 or epoch seconds)"},
    "minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": 1440,
                "description": "Minutes before and after the moment"},
    "until": {"type": "number", "minimum": 0, "description": "The end, epoch seconds"},
    "sort": {"type": "string", "enum": ["cost", "waste"]},
}
OFFSET = {"type": "integer", "minimum": 0, "default": 0,
          "description": "Skip this many rows: the note of a cut answer says the next offset"}


def input_schema(spec: PathSpec) -> dict[str, Any]:
    """The path's parameters, `at` where the path can answer for a past moment, `offset`."""
    names = [*spec.params, *(() if spec.path in NO_PAST else ("at",))]
    properties = {name: PARAMETERS.get(name, _TEXT) for name in names}
    return {"type": "object", "properties": {**properties, "offset": OFFSET},
            "additionalProperties": False}


def _tool(spec: PathSpec) -> types.Tool:
    needs = f" (needs the {spec.source} source)" if spec.source else ""
    return types.Tool(name=spec.path, description=spec.description + needs,
                      input_schema=input_schema(spec),
                      annotations=types.ToolAnnotations(read_only_hint=True,
                                                        open_world_hint=False))


# -- bounding an answer -----------------------------------------------------------------

def _size(value: Any) -> int:
    return len(msgspec.json.encode(value))


def bounded(result: Any, offset: int = 0, budget: int = ANSWER_BUDGET
            ) -> tuple[Any, list[str]]:
    """`result` from `offset`, cut to fit `budget` characters of JSON, and notes that say
    what was left out. A list is paged; so is every list inside a document (the same
    offset for each, the same page size)."""
    lists = [k for k, v in result.items() if isinstance(v, list)] \
        if isinstance(result, dict) else []

    def page(size: int) -> Any:
        if isinstance(result, list):
            return result[offset: offset + size]
        if isinstance(result, dict):
            return {k: (v[offset: offset + size] if k in lists else v)
                    for k, v in result.items()}
        return result

    longest = len(result) if isinstance(result, list) else \
        max((len(result[k]) for k in lists), default=0)
    if not isinstance(result, (list, dict)) or (offset == 0 and _size(result) <= budget):
        return result, []
    low, high = 0, max(0, longest - offset)
    while low < high:  # the largest page that fits
        mid = (low + high + 1) // 2
        if _size(page(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    notes = []
    if isinstance(result, list):
        if offset + low < len(result) or offset:
            notes.append(_page_note("rows", offset, low, len(result)))
    else:
        for key in lists:
            total = len(result[key])
            if offset + low < total or (offset and total):
                notes.append(_page_note(key, offset, low, total))
    if low == 0 and _size(page(0)) > budget:
        notes.append("the answer is too large even without its lists; ask for less")
        return None, notes
    return page(low), notes


def _page_note(what: str, offset: int, size: int, total: int) -> str:
    shown = min(size, max(0, total - offset))
    note = f"{what}: {offset + 1 if shown else offset}-{offset + shown} of {total} shown"
    if offset + shown < total:
        note += f"; call again with offset={offset + shown} for more"
    return note


# -- the server -------------------------------------------------------------------------

def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _as_params(arguments: Mapping[str, Any]) -> dict[str, str]:
    """Tool arguments as path parameters (the registry's strings): 3 -> "3", not "3.0"."""
    params = {}
    for key, value in arguments.items():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        params[key] = value if isinstance(value, str) else json.dumps(value)
    return params


def build_server(engine: Engine) -> Server[Any]:
    validators = {name: Draft202012Validator(input_schema(spec))
                  for name, spec in REGISTRY.items()}

    async def list_tools(_ctx: ServerRequestContext[Any],
                         _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(s) for s in REGISTRY.values()])

    async def call_tool(_ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        name, arguments = params.name, dict(params.arguments or {})
        validator = validators.get(name)
        if validator is None:
            return _error(f"unknown tool {name!r}: tools/list shows them all")
        problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if problems:
            where = ".".join(str(p) for p in problems[0].path) or "arguments"
            return _error(f"{name}: {where}: {problems[0].message}")
        offset = int(arguments.pop("offset", 0))
        try:
            _spec, result = await resolve(engine, name, _as_params(arguments))
        except PathError as exc:
            return _error(f"{name}: {exc.message}")
        except Exception:  # one bad answer must not end the session
            log.exception("MCP tool %s failed", name)
            return _error(f"{name} failed inside Gestalt; its log says why")
        answer, notes = bounded(msgspec.to_builtins(result), offset)
        content: list[types.ContentBlock] = [
            types.TextContent(text=msgspec.json.encode(answer).decode())]
        content += [types.TextContent(text=f"note: {note}") for note in notes]
        return types.CallToolResult(content=content)

    async def list_resources(_ctx: ServerRequestContext[Any],
                             _params: types.PaginatedRequestParams | None
                             ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[
            types.Resource(uri=TOPOLOGY_URI, name="topology", mime_type="application/json",
                           description="What is on the map: counts by kind and health, the "
                                       "sources' states and the unhealthy entities"),
            types.Resource(uri=ALERTS_URI, name="alerts", mime_type="application/json",
                           description="The active alerts (pending, firing, unknown)"),
        ])

    async def read_resource(_ctx: ServerRequestContext[Any],
                            params: types.ReadResourceRequestParams
                            ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == TOPOLOGY_URI:
            document: Any = topology_overview(engine)
        elif uri == ALERTS_URI:
            document = msgspec.to_builtins(select_alerts(engine.alerts(), "active"))
        else:
            raise ValueError(f"no resource {uri!r}: {TOPOLOGY_URI} or {ALERTS_URI}")
        answer, notes = bounded(document)
        if notes:
            answer = {"answer": answer, "notes": notes}
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=uri, mime_type="application/json", text=msgspec.json.encode(answer).decode())])

    return Server("gestalt-live", version=gestalt.__version__,
                  instructions="Read-only answers about a live system: Kubernetes, Docker, "
                               "NATS, databases, hosts. Start with the gestalt://topology "
                               "resource or world.infra.health.alerts; "
                               "world.infra.changes.around says what changed near an alert.",
                  on_list_tools=list_tools, on_call_tool=call_tool,
                  on_list_resources=list_resources, on_read_resource=read_resource)


def topology_overview(engine: Engine) -> dict[str, Any]:
    """The topology in a few hundred lines: counts, sources, and the entities that are not
    healthy (all of them are one tool call away: world.infra.topology.filter)."""
    by_kind: dict[str, int] = {}
    unhealthy = []
    for entity in engine.store.entities.values():
        by_kind[entity.kind.value] = by_kind.get(entity.kind.value, 0) + 1
        if entity.health_status.value in ("warning", "critical") or entity.stale:
            unhealthy.append({"id": entity.id, "kind": entity.kind.value,
                              "name": entity.name, "health": entity.health_status.value,
                              "stale": entity.stale, "reasons": entity.health_reasons})
    unhealthy.sort(key=lambda r: (r["health"] != "critical", r["kind"], r["name"]))
    return {"version": engine.store.version, "timestamp": engine.store.timestamp,
            "summary": msgspec.to_builtins(engine.summary()),
            "entities_by_kind": dict(sorted(by_kind.items())),
            "connections": len(engine.store.connections),
            "sources": [{"name": s.name, "state": s.state.value, "reason": s.reason}
                        for s in engine.source_statuses()],
            "unhealthy": unhealthy}


class HttpEndpoint:
    """`/mcp`: streamable HTTP, stateless (each request stands alone: nothing to keep per
    client, any replica can answer). `run()` belongs in the app's lifespan."""

    def __init__(self, engine: Engine) -> None:
        self.manager = StreamableHTTPSessionManager(
            app=build_server(engine), stateless=True, json_response=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.asgi = StreamableHTTPASGIApp(self.manager)

    def run(self) -> Any:
        return self.manager.run()
