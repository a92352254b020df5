"""The source contract: a name and one coroutine that reports through a sink.

    class Source(Protocol):
        name: str
        async def run(self, sink: Sink) -> None: ...   # runs until cancelled

Rules of the contract:
- `run` reports what it sees and nothing else. Reconnects, backoff, inactivity timeouts
  and status bookkeeping live in the engine's supervisor: when `run` raises, the
  supervisor marks the source down (its last state stays visible, marked stale), waits
  with jittered backoff and calls `run` again, which starts over with a fresh list.
- `sink.snapshot` is the full set the source currently sees; the hub removes whatever
  the source reported before and no longer does. Polling sources send one per poll;
  watch sources send one after each (re)list and `upsert`/`remove` after that.
- An edge stays until its source removes it or leaves it out of a snapshot: removing an
  entity does not remove the edges reported for it (a pod's edge to a config map outlives
  the config map's recreation), so a source that forgets its edges leaks them.
- Sink calls are synchronous and cheap (they only update memory); never block in them.
- Raise `PermanentSourceError` for what retrying cannot fix (bad credentials, a
  misconfiguration): the supervisor then stops retrying and says why.
- Read-only towards the system observed, always.

Capabilities: a source may offer more than observations. Each capability is a protocol
below; the engine and the API ask `isinstance(source, Capability)` and answer a clear
error when no running source offers it, never an AttributeError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gestalt.model import Connection, Entity, Event, SourceState


class Sink(Protocol):
    def snapshot(
        self,
        entities: Iterable[Entity],
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None: ...

    def upsert(
        self,
        entities: Iterable[Entity] = (),
        connections: Iterable[Connection] = (),
        *,
        observed_at: float | None = None,
    ) -> None: ...

    def remove(
        self,
        entity_ids: Iterable[str] = (),
        connection_ids: Iterable[str] = (),
        *,
        observed_at: float | None = None,
    ) -> None: ...

    def event(self, event: Event) -> None: ...

    def metrics(
        self, entity_id: str, values: Mapping[str, float | int | None], observed_at: float
    ) -> None: ...

    def status(self, state: SourceState, reason: str = "", *,
               not_permitted: Sequence[str] = ()) -> None:
        """`not_permitted`: what the source may not read (RBAC), one name per kind."""


@runtime_checkable
class Source(Protocol):
    name: str

    async def run(self, sink: Sink) -> None: ...


@runtime_checkable
class SamplesMessages(Protocol):
    """Message sampling (NATS): the messages passing through what the source observes.

    `world.infra.nats.messages` takes a bounded sample; the live message stream
    (`GET /api/infra/nats/messages/stream`) follows them until the client leaves. Rules:
    yield one dict per message of `subjects` (wildcards allowed) as it arrives: at least
    `timestamp`, `subject`, `size`; payloads only where the configuration allows them
    (size-capped); never faster than the source's own sampling limit. Runs until closed
    (`aclose()`), which releases what it holds.
    """

    def sampled_messages(self, subjects: list[str]) -> AsyncGenerator[dict[str, Any], None]: ...


@runtime_checkable
class ReceivesStreams(Protocol):
    """A receiver of live streams others push to it (OTLP exporters send spans and
    metrics). `ready` is set while it listens; `ports()` names each protocol it listens
    on with the port it bound (useful when configured with port 0)."""

    ready: asyncio.Event

    def ports(self) -> dict[str, int]: ...


@runtime_checkable
class ReadsClusterObjects(Protocol):
    """A Kubernetes cluster's objects, read on request (the Kubernetes source), for a source
    that compares them with something else (GitOps drift).

    `cluster` is the name the source's entity ids carry (None until it has connected).
    `read_objects` lists one kind in one namespace (None: cluster-wide) with the source's own
    read credentials, GET/LIST only: whole objects without `status` trimming, except that
    Secrets come as metadata only and annotations that may copy values
    (`last-applied-configuration`) are dropped before they are returned. Raises
    `LookupError` when the cluster does not serve the kind, `SourceError` when it cannot be
    asked now.
    """

    cluster: str | None

    async def read_objects(self, api_version: str, kind: str,
                           namespace: str | None) -> list[dict[str, Any]]: ...


ClusterLookup = Callable[[str | None], "ReadsClusterObjects | None"]


@runtime_checkable
class ComparesWithCluster(Protocol):
    """A source whose report needs a cluster's live objects (GitOps: desired vs actual).
    Sources never import each other: the engine hands it, before it runs, a lookup from a
    cluster name (None: the only one) to whichever running source reads that cluster."""

    def use_clusters(self, lookup: ClusterLookup) -> None: ...


@runtime_checkable
class HasDetails(Protocol):
    """A source with more to say about itself than its state (a federated site: its agent,
    lag, drops, refused messages); shown with its status in /api/infra/health. Cheap: it is
    called on every status read."""

    def details(self) -> dict[str, Any]: ...


@runtime_checkable
class ScansOnDemand(Protocol):
    """A source that reads what it observes again when asked (Code Mode's repositories):
    `scan()` reads the configured places once more, reports the result through its sink
    and answers one summary per place (`repository`, `modules`, `imports`, `seconds`,
    `warnings`: one line each, naming the file). It only reads, and only what the
    configuration names: nothing from the request chooses what is read."""

    async def scan(self) -> list[dict[str, Any]]: ...


class SourceError(Exception):
    """A source failed in a way worth retrying (connection refused, timeout, 5xx)."""


class PermanentSourceError(SourceError):
    """Retrying will not help until someone changes something (config, credentials)."""


class SourceUnavailable(SourceError):
    """The thing to observe is not there (yet): no Docker socket, server refusing connections.

    Retried like any other failure, since the thing may come up later; the reason is shown."""
