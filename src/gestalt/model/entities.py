"""Entities and connections: the nodes and edges of the map.

msgspec Structs because the hot paths (snapshot encode, delta fan-out) serialise tens of
thousands of them; `omit_defaults` keeps the JSON small by leaving out what is unknown.
Missing metrics are `None`, never 0: "no data" and "idle" are different things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from gestalt.model import ids
from gestalt.model.kinds import ConnectionKind, EntityKind, EntityStatus, Health

# Values a source may put in `attrs`: kind-specific facts (image, restart_count, pid, port...).
Scalar = str | int | float | bool | None

# Entity fields that are metrics: they change often, are coalesced and go to history.
METRIC_FIELDS: frozenset[str] = frozenset(
    {
        "cpu_percent",
        "memory_bytes",
        "memory_limit",
        "network_rx_bytes",
        "network_tx_bytes",
        "network_rx_rate",
        "network_tx_rate",
    }
)


# gc=False: entities and connections never form reference cycles, and at 10,000+ of each
# the garbage collector would otherwise scan them all on every full collection.


class Locator(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Where a source found a thing it cannot name: the address it was dialled at, and from
    where. A traced service knows its database as `localhost:5432` and its NATS server as
    `nats:4222`, while the PostgreSQL and NATS sources name them by their own identity; the
    hub shows the entity another source reports at that place instead of the located one
    (engine/links.py), and the located one only while no source does."""

    host: str  # as dialled: an IP, `localhost`, a container, Kubernetes service or host name
    port: int | None = None
    # The dialler's network (its loopback, its DNS): a pod, container or host node id.
    scope: str | None = None
    system: str | None = None  # db.system for a database
    name: str | None = None  # the database or NATS subject at that address


# Shared by every entity and connection for each empty container field. Entities and
# connections are values: nothing changes their containers in place (a change is a new
# value, `msgspec.structs.replace`), so one empty dict and one empty list serve them all.
# msgspec would otherwise make a new one per field per value: about 5 MB at 10,000
# entities and 20,000 edges. (tests/conftest.py checks after every test that they are
# still empty.)
EMPTY_DICT: dict[Any, Any] = {}
EMPTY_LIST: list[Any] = []

# The lists of source names, shared the same way: few differ (one per source, a few per
# combination of sources), but decoding makes a new one for each value. A hub's site
# mirrors decode every entity their agents publish (`["synthetic"]` each): 100,000
# lists at 10 sites of 10,000 entities, which the garbage collector walked in each full
# pass until it froze them (engine/collection.py). Bounded, for sources whose names are
# many (each list past the bound is the entity's own).
SHARED_SOURCES: dict[tuple[str, ...], list[str]] = {}
SHARED_SOURCES_MAX = 1024


def shared_sources(sources: Sequence[str]) -> list[str]:
    """The one list of these sources, in this order (a value: never change it)."""
    if not sources:
        return EMPTY_LIST
    key = sources if isinstance(sources, tuple) else tuple(sources)
    shared = SHARED_SOURCES.get(key)
    if shared is None:
        if len(SHARED_SOURCES) >= SHARED_SOURCES_MAX:
            return sources if isinstance(sources, list) else list(sources)
        # A copy: the caller may still hold (and change) the list it gave.
        shared = SHARED_SOURCES[key] = list(key)
    return shared


class Entity(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A thing. A value: never change a container field (`labels`, `attrs`...) in place,
    it may be the empty one every entity shares; assign a new one."""

    id: str
    kind: EntityKind
    name: str
    namespace: str | None = None
    status: EntityStatus = EntityStatus.UNKNOWN
    # Health is computed by the engine: a 0..1 score (the product plan's) and an ordered status.
    health: float | None = None
    health_status: Health = Health.UNKNOWN
    health_reasons: list[str] = []
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    memory_limit: int | None = None
    network_rx_bytes: int | None = None
    network_tx_bytes: int | None = None
    network_rx_rate: float | None = None  # bytes/s
    network_tx_rate: float | None = None  # bytes/s
    # Counts stay whole numbers (623, not 623.0) through every encode and decode.
    custom_metrics: dict[str, int | float] = {}
    attrs: dict[str, Scalar] = {}
    # Network addresses this entity owns: "ip:port" for sockets (a process's listening and
    # connected local ends), plain "ip" for interfaces (a container's or pod's IP). The hub
    # indexes them to resolve `endpoint:` references in connections (see ids.endpoint).
    endpoints: list[str] = []
    # Set by a source that found this entity only by address: see `Locator`.
    locator: Locator | None = None
    # Which sources describe this entity, and whether any of them is currently down.
    sources: list[str] = []
    stale: bool = False
    created_at: float | None = None  # epoch seconds
    updated_at: float | None = None  # epoch seconds

    def __post_init__(self) -> None:
        if not self.health_reasons:
            self.health_reasons = EMPTY_LIST
        if not self.labels:
            self.labels = EMPTY_DICT
        if not self.annotations:
            self.annotations = EMPTY_DICT
        if not self.custom_metrics:
            self.custom_metrics = EMPTY_DICT
        if not self.attrs:
            self.attrs = EMPTY_DICT
        if not self.endpoints:
            self.endpoints = EMPTY_LIST
        self.sources = shared_sources(self.sources)


class Connection(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """An edge. A value: never change its `attrs` or `sources` in place (they may be the
    empty containers every connection shares); make a new one (`msgspec.structs.replace`)."""

    source_id: str
    target_id: str
    kind: ConnectionKind
    id: str = ""
    requests_per_sec: float | None = None
    bytes_per_sec: float | None = None
    error_rate: float | None = None
    latency_ms: float | None = None
    attrs: dict[str, Scalar] = {}
    sources: list[str] = []

    def __post_init__(self) -> None:
        if not self.id:
            self.id = ids.connection(self.kind.value, self.source_id, self.target_id)
        if not self.attrs:
            self.attrs = EMPTY_DICT
        self.sources = shared_sources(self.sources)
