"""Addresses as sources and spans write them: `ip:port`, `[v6]:port`, names, loopback."""

from __future__ import annotations

import ipaddress

_WILDCARDS = ("0.0.0.0", "[::]")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                            "ip6-loopback"})


def endpoint_candidates(key: str) -> list[str]:
    """Index keys that may own `key` (ip:port), best first: the socket itself, the bare IP
    (a container's or pod's interface: its own network, where this host's listeners are
    not), then a wildcard listener of this host on that port."""
    if key.startswith("["):
        ip, _, port = key[1:].partition("]:")
    else:
        ip, sep, port = key.rpartition(":")
        if not sep:
            return [key]
    if not port.isdigit():
        return [key]
    return [key, ip, *(f"{w}:{port}" for w in _WILDCARDS if not key.startswith(w))]


def clean_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    # 0.0.0.0 dialled is this machine too (Linux connects it to the loopback).
    if ip is not None:
        return ip.is_loopback or ip.is_unspecified
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def split_address(address: str) -> tuple[str | None, int | None]:
    """`host:port`, `[v6]:port` or `host` -> (host, port)."""
    if not address:
        return None, None
    if address.startswith("["):
        host, _, port = address[1:].partition("]")
        port = port.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    return host, int(port) if port.isdigit() else None
