"""A view of the map as a file: JSON (the topology document), GraphML, DOT or Mermaid.

The graph formats carry what identifies and colours a node (id, kind, name, namespace,
status, health) and each edge's kind; nothing else of an entity (labels, attributes) goes
into them. JSON is the documented topology schema (docs/api.md). No format carries more
of a Secret than its metadata: secret values never enter the process.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

import msgspec

from gestalt.model import Connection, Entity

_encoder = msgspec.json.Encoder()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Node fields the graph formats carry.
_FIELDS = ("kind", "name", "namespace", "status", "health")


def site_name(agent_site: str | None) -> str:
    """What this server's files are named after: its site when it is a federation agent's,
    else this machine (as the host source names it); safe in a file name."""
    return _UNSAFE.sub("-", agent_site or socket.gethostname()).strip("-.") or "gestalt"


def file_name(site: str, moment: float, suffix: str) -> str:
    """`gestalt-<site>-2026-11-30T08-15-00Z<suffix>`: which map and which moment (to the
    second, UTC), without characters a file system refuses (`:` on Windows and macOS)."""
    stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    return f"gestalt-{site}-{stamp}{suffix}"


def _fields(entity: Entity) -> dict[str, str]:
    return {"kind": entity.kind.value, "name": entity.name, "namespace": entity.namespace or "",
            "status": entity.status.value, "health": entity.health_status.value}


def _json(document: dict[str, Any], entities: list[Entity],
          connections: list[Connection]) -> bytes:
    return _encoder.encode({**document, "entities": entities, "connections": connections})


def _graphml(_document: dict[str, Any], entities: list[Entity],
             connections: list[Connection]) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">']
    lines += [f'  <key id="{name}" for="node" attr.name="{name}" attr.type="string"/>'
              for name in _FIELDS]
    lines.append('  <key id="edge_kind" for="edge" attr.name="kind" attr.type="string"/>')
    lines.append('  <graph id="gestalt" edgedefault="directed">')
    for entity in entities:
        lines.append(f"    <node id={quoteattr(entity.id)}>")
        lines += [f'      <data key="{k}">{_xml(v)}</data>' for k, v in _fields(entity).items()]
        lines.append("    </node>")
    for conn in connections:
        lines.append(f"    <edge id={quoteattr(conn.id)} source={quoteattr(conn.source_id)} "
                     f"target={quoteattr(conn.target_id)}>"
                     f'<data key="edge_kind">{_xml(conn.kind.value)}</data></edge>')
    lines += ["  </graph>", "</graphml>", ""]
    return "\n".join(lines).encode()


def _xml(text: str) -> str:
    return quoteattr(text)[1:-1]


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot(_document: dict[str, Any], entities: list[Entity],
         connections: list[Connection]) -> bytes:
    lines = ["digraph gestalt {", "  node [shape=box];"]
    for entity in entities:
        f = _fields(entity)
        label = f"{f['kind']}: {f['name']}" + (f"\n{f['namespace']}" if f["namespace"] else "")
        lines.append(f"  {_dot_quote(entity.id)} [label={_dot_quote(label)}, "
                     f"status={_dot_quote(f['status'])}, health={_dot_quote(f['health'])}];")
    for conn in connections:
        lines.append(f"  {_dot_quote(conn.source_id)} -> {_dot_quote(conn.target_id)} "
                     f"[label={_dot_quote(conn.kind.value)}];")
    lines += ["}", ""]
    return "\n".join(lines).encode()


# Mermaid's entity codes: `orders.>` stays `orders.>` on the diagram (one pass, so the
# codes' own `#` and `;` are not escaped again).
_MERMAID_CODES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", ";": "#59;", "`": "#96;"}


def _mermaid(_document: dict[str, Any], entities: list[Entity],
             connections: list[Connection]) -> bytes:
    # Mermaid ids are plain words: number the nodes, keep the real id in the label.
    names = {entity.id: f"n{i}" for i, entity in enumerate(entities)}
    lines = ["graph LR"]
    for entity in entities:
        label = re.sub(r'["<>#;`]', lambda m: _MERMAID_CODES[m.group()],
                       f"{entity.kind.value}: {entity.name}")
        lines.append(f'  {names[entity.id]}["{label}"]:::{entity.health_status.value}')
    for conn in connections:
        if conn.source_id in names and conn.target_id in names:
            lines.append(f"  {names[conn.source_id]} -->|{conn.kind.value}| "
                         f"{names[conn.target_id]}")
    lines += ["  classDef ok fill:#1f6f43,color:#fff;",
              "  classDef warning fill:#8a6d1a,color:#fff;",
              "  classDef critical fill:#8a1f1f,color:#fff;",
              "  classDef unknown fill:#555,color:#fff;", ""]
    return "\n".join(lines).encode()


Writer = Callable[[dict[str, Any], list[Entity], list[Connection]], bytes]
FORMATS: dict[str, tuple[Writer, str, str]] = {
    "json": (_json, "application/json", "json"),
    "graphml": (_graphml, "application/graphml+xml", "graphml"),
    "dot": (_dot, "text/vnd.graphviz", "dot"),
    "mermaid": (_mermaid, "text/plain; charset=utf-8", "mmd"),
}


def export_view(fmt: str, document: dict[str, Any], entities: list[Entity],
                connections: list[Connection]) -> tuple[bytes, str, str]:
    """(body, media type, file extension) of a view in `fmt` (a key of FORMATS)."""
    write, media, ext = FORMATS[fmt]
    return write(document, entities, connections), media, ext
