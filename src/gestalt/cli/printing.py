"""Printing an answer: rows as a table, the topology as tables and a summary line, a
document as key-value lines."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.table import Table

from gestalt.cli.common import out

_ENTITY_COLUMNS = ["kind", "name", "namespace", "status", "health", "id"]


def print_answer(result: Any, columns: list[str]) -> None:
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
        return _clock(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and (
            "bytes" in column or column.endswith("_limit")):
        return _human_bytes(float(value))
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _clock(epoch: float, now: float | None = None) -> str:
    """Local time of day; with the date when it is not today (history spans days)."""
    moment = time.localtime(epoch)
    today = time.localtime(time.time() if now is None else now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def _human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)
