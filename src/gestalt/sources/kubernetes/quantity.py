"""Kubernetes resource quantities ("250m", "1.5", "256Mi", "1G", "1e9") as numbers."""

from __future__ import annotations

import functools
import re

_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


@functools.lru_cache(maxsize=1024)
def parse(value: str | int | float | None) -> float | None:
    """The quantity in base units (cores, bytes); None when absent or unparsable. Cached:
    a cluster uses few distinct quantities ("100m", "128Mi") many times over."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(value.strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def millicores(value: str | None) -> int | None:
    cores = parse(value)
    return None if cores is None else round(cores * 1000)


def bytes_(value: str | None) -> int | None:
    amount = parse(value)
    return None if amount is None else int(amount)
