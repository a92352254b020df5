"""NATS subject rules: wildcard matching and what counts as plumbing rather than traffic."""

from __future__ import annotations

from functools import lru_cache

# Reply inboxes, JetStream's API and acks, the system account: real traffic, but plumbing
# that would bury the application's subjects on the map.
INTERNAL_PREFIXES = ("_INBOX.", "$", "_R_.")


def is_internal(subject: str) -> bool:
    return subject.startswith(INTERNAL_PREFIXES)


def is_wildcard(subject: str) -> bool:
    tokens = subject.split(".")
    return "*" in tokens or ">" in tokens


@lru_cache(maxsize=65536)
def matches(pattern: str, subject: str) -> bool:
    """Whether `subject` (or, for two patterns, every subject of it) is in `pattern`.

    `*` matches one token, a final `>` one or more. Cached: the sampler asks this for
    every message of a handful of patterns and a bounded set of subjects."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or sub[i] == ">" or (token != "*" and token != sub[i]):
            return False
    return len(sub) == len(pat)


def any_match(patterns: list[str] | tuple[str, ...], subject: str) -> bool:
    return any(matches(p, subject) for p in patterns)
