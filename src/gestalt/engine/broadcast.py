"""Fan-out of topology frames to SSE clients, with bounded memory per client.

Each frame is encoded once and the same bytes object is dropped into every client's queue.
A client whose queue is full is not allowed to grow: its queue is emptied and it is told
to `resync` (the next thing it sends is a fresh snapshot), so one slow browser can never
make the server's memory grow.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from gestalt.model import Delta

_encoder = msgspec.json.Encoder()


def sse_frame(event: str, data: bytes, *, frame_id: int | str | None = None) -> bytes:
    head = f"id: {frame_id}\nevent: {event}\n" if frame_id is not None else f"event: {event}\n"
    return b"".join((head.encode(), b"data: ", data, b"\n\n"))


def encode_delta(delta: Delta) -> bytes:
    return sse_frame("delta", _encoder.encode(delta), frame_id=delta.version)


# A queue item: (version or None for unversioned frames, frame bytes).
Item = tuple[int | None, bytes]
# Put in a client's queue in place of what it could not keep up with.
RESYNC: Item = (-1, b"")
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


class Broadcaster:
    def __init__(self, *, max_frames: int = 256) -> None:
        self.max_frames = max_frames
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
        return client

    def close(self) -> None:
        """End every stream (now and any opened later): the server is shutting down."""
        self.closed = True
        for client in self._clients.values():
            _replace_queue(client, CLOSE)

    def disconnect(self, client: Client) -> None:
        self._clients.pop(client.id, None)

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


def _replace_queue(client: Client, item: Item) -> None:
    while not client.queue.empty():
        client.queue.get_nowait()
    client.queue.put_nowait(item)
