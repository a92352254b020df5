"""What an operator may act on, and how often: the allow-lists and the rate limit, as
pure checks. Every refusal is a `Refused` with a message that says which rule refused and
how to change it."""

from __future__ import annotations

import fnmatch
import time
from collections import deque
from collections.abc import Callable, Mapping

from gestalt.model.config import ActionsConfig


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_selector(text: str) -> list[tuple[str, str, str | None]]:
    """`a=b,c!=d,e,!f` -> [(key, op, value)] with op one of =, !=, exists, !exists."""
    terms: list[tuple[str, str, str | None]] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append((key.strip(), "!=", value.strip()))
        elif "=" in raw:
            key, value = raw.replace("==", "=").split("=", 1)
            terms.append((key.strip(), "=", value.strip()))
        elif raw.startswith("!"):
            terms.append((raw[1:].strip(), "!exists", None))
        else:
            terms.append((raw, "exists", None))
    return terms


def matches(terms: list[tuple[str, str, str | None]], labels: Mapping[str, str]) -> bool:
    for key, op, value in terms:
        present = key in labels
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if (op == "exists" and not present) or (op == "!exists" and present):
            return False
    return True


class Policy:
    def __init__(self, config: ActionsConfig) -> None:
        self.config = config
        self.selector = parse_selector(config.label_selector)

    def kubernetes_object(self, namespace: str, labels: Mapping[str, str]) -> None:
        self.namespace(namespace)
        self._labels(labels)

    def namespace(self, namespace: str) -> None:
        if namespace not in self.config.namespaces:
            allowed = ", ".join(self.config.namespaces) or "none"
            raise Refused(403, f"namespace {namespace!r} is not allow-listed "
                               f"(actions.namespaces: {allowed})")

    def node(self, name: str) -> None:
        if not any(fnmatch.fnmatchcase(name, p) for p in self.config.nodes):
            allowed = ", ".join(self.config.nodes) or "none"
            raise Refused(403, f"node {name!r} is not allow-listed (actions.nodes: {allowed})")

    def container(self, name: str, labels: Mapping[str, str]) -> None:
        if not any(fnmatch.fnmatchcase(name, p) for p in self.config.containers):
            allowed = ", ".join(self.config.containers) or "none"
            raise Refused(403, f"container {name!r} is not allow-listed "
                               f"(actions.containers: {allowed})")
        self._labels(labels)

    def _labels(self, labels: Mapping[str, str]) -> None:
        if not matches(self.selector, labels):
            raise Refused(403, f"the target's labels do not match actions.label_selector "
                               f"({self.config.label_selector!r})")


class RateLimit:
    """At most `limit` actions in any `window` seconds (refused ones do not count)."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._times: deque[float] = deque()

    def check(self) -> None:
        now = self.clock()
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            wait = self.window - (now - self._times[0])
            raise Refused(429, f"rate limit: {self.limit} actions per {self.window:g} s "
                               f"(actions.rate_limit); try again in {wait:.0f} s")

    def spend(self) -> None:
        self._times.append(self.clock())
