"""Label and field selectors, as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(notin|in)\s*\((.*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


class SelectorError(ValueError):
    pass


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p for p in parts if p.strip()]


def label_selector(selector: str | None) -> Predicate | None:
    if not selector:
        return None
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in _split(selector):
        eq = _EQ_EXPR.match(part)
        if eq:
            key, op, value = eq.groups()
            tests.append(_equals(key, value, op != "!="))
            continue
        expr = _SET_EXPR.match(part)
        if not expr:
            raise SelectorError(f"unable to parse requirement: {part!r}")
        negate, key, op, values = expr.groups()
        if op:
            tests.append(_member(key, {v.strip() for v in values.split(",")}, op == "in"))
        else:
            tests.append(_exists(key, not negate))

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return matches


def _equals(key: str, value: str, want: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (labels.get(key) == value) == want


def _member(key: str, allowed: set[str], want: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (labels.get(key) in allowed) == want


def _exists(key: str, want: bool) -> Callable[[dict[str, str]], bool]:
    return lambda labels: (key in labels) == want


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for key in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    return "" if value is None else str(value)


def field_selector(selector: str | None) -> Predicate | None:
    if not selector:
        return None
    tests: list[tuple[str, bool, str]] = []
    for part in _split(selector):
        eq = _EQ_EXPR.match(part)
        if not eq:
            raise SelectorError(f"invalid field selector: {part!r}")
        key, op, value = eq.groups()
        tests.append((key, op != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field(obj, k) == v) == want for k, want, v in tests)

    return matches


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector object (matchLabels/matchExpressions) or a Service's plain map."""
    if not selector:
        return False
    if "matchLabels" in selector or "matchExpressions" in selector:
        for k, v in (selector.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                return False
        for expr in selector.get("matchExpressions") or []:
            key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if op == "Exists" and key not in labels:
                return False
            if op == "DoesNotExist" and key in labels:
                return False
        return True
    return all(labels.get(k) == v for k, v in selector.items())
