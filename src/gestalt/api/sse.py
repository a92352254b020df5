"""Server-Sent Events: the wire format, and the fan-out of the change log to SSE clients.

This is the only module that knows SSE framing. The broadcaster reads the engine's change
log: each entry arrives encoded once (`Entry.body`), is framed once, and the same bytes
object is dropped into every client's queue (a `delta` with `id:` = `<log id>:<version>`,
an `event` with `id:` = its sequence number, an unnumbered `metrics` frame).

A topology frame's id names the change log as well as the version (`topology_id`): a
version means something only in its own log. A browser that resumes against another
server at the same address (another data dir: another world) must get a snapshot even
when that server's version has passed its own, not that server's deltas on top of the old
world.

Memory per client is bounded: a client whose queue is full is not allowed to grow; its
queue is emptied and it is told to `resync` (the next thing it sends is a fresh
snapshot), so one slow browser can never make the server's memory grow.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from gestalt.engine.changelog import Entry
from gestalt.engine.runtime import Engine
from gestalt.engine.tasks import guarded
from gestalt.model import Delta, MetricsFrame, SourceStatus
from gestalt.model.changes import encode

_encoder = msgspec.json.Encoder()


def sse_frame(event: str, data: bytes, *, frame_id: int | str | None = None) -> bytes:
    head = f"id: {frame_id}\nevent: {event}\n" if frame_id is not None else f"event: {event}\n"
    return b"".join((head.encode(), b"data: ", data, b"\n\n"))


def topology_id(log_id: str, version: int) -> str:
    """A topology frame's SSE id: `<log id>:<version>` (the store's `log_id`); an event
    frame's is `<log id>:<sequence>`, the same log's numbering of its events."""
    return f"{log_id}:{version}"


def parse_topology_id(value: str | None) -> tuple[str, int] | None:
    """(log id, version) from a `Last-Event-ID`; None when it is not one of ours (a bare
    number from an older server, garbage): the client then gets a snapshot."""
    if value is None:
        return None
    log_id, sep, version = value.strip().rpartition(":")
    if not sep or not log_id or not version.isascii() or not version.isdigit():
        return None
    return log_id, int(version)


def delta_frame(delta: Delta, log_id: str) -> bytes:
    """A delta from the store's ring (a resuming client), framed as it was live."""
    return sse_frame("delta", encode(delta), frame_id=topology_id(log_id, delta.version))


def topology_frame(engine: Engine, event: str) -> list[bytes]:
    """The topology as one SSE frame (`snapshot` or `resync`) in parts: the header, the
    engine's JSON in its parts (the store's blocks, shared by every client, never copied)
    and the terminator."""
    store = engine.store
    head = f"id: {topology_id(store.log_id, store.version)}\nevent: {event}\ndata: ".encode()
    return [head, *engine.topology_parts(), b"\n\n"]


# A queue item: (version or None for unversioned frames, frame bytes).
Item = tuple[int | None, bytes]
# Put in a client's queue in place of what it could not keep up with.
RESYNC: Item = (-1, b"")
# A comment frame: proxies and browsers keep a stream that says something now and then.
HEARTBEAT_FRAME = b": heartbeat\n\n"
HEARTBEAT: Item = (None, HEARTBEAT_FRAME)
# Put in every queue when the server shuts down: the stream ends, so the server does not
# wait out its graceful-shutdown timeout and then cancel the response mid-write.
CLOSE: Item = (-2, b"")


class Client:
    __slots__ = ("id", "queue", "kind", "accepts")

    def __init__(
        self, client_id: int, max_frames: int, kind: str, accepts: Callable[[Any], bool] | None
    ) -> None:
        self.id = client_id
        self.kind = kind
        self.queue: asyncio.Queue[Item] = asyncio.Queue(max_frames)
        # A per-client filter on what is published (e.g. event kinds); None takes all.
        self.accepts = accepts


# Between heartbeat comments on every stream.
HEARTBEAT_SECONDS = 15.0


class Broadcaster:
    def __init__(self, *, max_frames: int = 256, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.max_frames = max_frames
        self.heartbeat = heartbeat
        # Started by the first client (the server may run without a lifespan), ended by
        # `close`.
        self._beat: asyncio.Task[None] | None = None
        self._clients: dict[int, Client] = {}
        self._ids: Iterator[int] = itertools.count(1)
        self.resyncs = 0
        self.frames_sent = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._clients)

    def count(self, kind: str) -> int:
        return sum(1 for c in self._clients.values() if c.kind == kind)

    def connect(
        self, kind: str = "topology", *, accepts: Callable[[Any], bool] | None = None
    ) -> Client:
        client = Client(next(self._ids), self.max_frames, kind, accepts)
        self._clients[client.id] = client
        if self.closed:
            client.queue.put_nowait(CLOSE)
        elif self._beat is None and _in_event_loop():
            self._beat = guarded("sse-heartbeat", lambda: self.beat(self.heartbeat))
        return client

    def close(self) -> None:
        """End every stream (now and any opened later): the server is shutting down."""
        self.closed = True
        if self._beat is not None:
            self._beat.cancel()
        for client in self._clients.values():
            _replace_queue(client, CLOSE)

    def disconnect(self, client: Client) -> None:
        self._clients.pop(client.id, None)
        if not self._clients and self._beat is not None:
            self._beat.cancel()  # nobody to beat for; the next client starts it again
            self._beat = None

    async def beat(self, every: float) -> None:
        """A heartbeat to every stream each `every` seconds, until cancelled: one timer for
        all clients, instead of a timeout around each client's every read (at 1,000 clients
        and 20 frames a second that was 20,000 timers and tasks a second)."""
        while True:
            await asyncio.sleep(every)
            for client in list(self._clients.values()):
                if client.kind != "control" and not client.queue.full():
                    client.queue.put_nowait(HEARTBEAT)  # a full queue is not a silent one

    # -- what is published -------------------------------------------------------------------
    def follow(self, engine: Engine) -> None:
        """Publish the engine's change log and its source statuses from now on."""
        store = engine.store
        # The log id is read at each entry: `Engine.start` sets it after this is wired.
        engine.changes.subscribe(lambda entry: self.publish_entry(entry, log_id=store.log_id))

        def sources(_status: SourceStatus) -> None:
            self.publish(sse_frame("sources", _encoder.encode(engine.source_statuses())))

        engine.hub.on_status(sources)

    def publish_entry(self, entry: Entry, *, log_id: str) -> None:
        change = entry.change
        if isinstance(change, Delta):
            frame_id = topology_id(log_id, change.version)
            self.publish(sse_frame("delta", entry.body, frame_id=frame_id), version=change.version)
        elif isinstance(change, MetricsFrame):
            self.publish(sse_frame("metrics", entry.body))
        else:
            seq = entry.seq or 0  # an event always has its sequence number
            self.publish(sse_frame("event", entry.body, frame_id=topology_id(log_id, seq)),
                         version=seq,
                         kind="events", subject=change)

    def publish(
        self,
        frame: bytes,
        *,
        version: int | None = None,
        kind: str = "topology",
        subject: Any = None,
    ) -> None:
        if self.closed:
            return
        item = (version, frame)
        for client in self._clients.values():
            if client.kind != kind or (client.accepts is not None and not client.accepts(subject)):
                continue
            try:
                client.queue.put_nowait(item)
                self.frames_sent += 1
            except asyncio.QueueFull:
                # Drop what it has not read; it gets a fresh snapshot instead.
                _replace_queue(client, RESYNC)
                self.resyncs += 1


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _replace_queue(client: Client, item: Item) -> None:
    while not client.queue.empty():
        client.queue.get_nowait()
    client.queue.put_nowait(item)
