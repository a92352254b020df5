"""Server-Sent Events: the topology stream and the event stream.

Topology: the first frame is a `snapshot` (or, with a `Last-Event-ID` of this change log
still inside the delta ring, the missed `delta`s), then `delta`, `metrics` and `sources`
frames as they happen. The initial frames and the client's registration happen without an
await in between, so nothing can slip through the gap. A client that falls behind finds a
resync marker in its queue and gets a fresh `resync` snapshot; versions it already has are
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

from gestalt.api.sse import (
    CLOSE,
    RESYNC,
    Broadcaster,
    Client,
    delta_frame,
    parse_topology_id,
    sse_frame,
    topology_frame,
    topology_id,
)
from gestalt.engine.runtime import Engine
from gestalt.model import Event
from gestalt.model.changes import encode

CHUNK = 64 * 1024
MAX_BATCH = 64
RETRY = b"retry: 2000\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    "Connection": "keep-alive",
}


def event_resume(engine: Engine, value: str | None) -> int | None:
    """The event sequence a `Last-Event-ID` resumes after; None when it is not this log's
    (another server on this address numbers its events from its own start)."""
    resume = parse_topology_id(value)
    return resume[1] if resume is not None and resume[0] == engine.store.log_id else None


def topology_stream(
    engine: Engine, broadcaster: Broadcaster, last_event_id: str | None
) -> AsyncIterator[bytes | memoryview]:
    # Register and compute the first frames synchronously (before the generator starts),
    # so that no delta published in between is lost or duplicated.
    client = broadcaster.connect("topology")
    store = engine.store
    resume = parse_topology_id(last_event_id)
    # Another log's version (another server on this address) says nothing about this one.
    deltas = (store.deltas_since(resume[1])
              if resume is not None and resume[0] == store.log_id else None)
    if deltas is not None:
        first = [b"".join(delta_frame(d, store.log_id) for d in deltas)]
    else:
        first = topology_frame(engine, "snapshot")
    sent_version = store.version

    def resync() -> tuple[list[bytes], int]:
        return topology_frame(engine, "resync"), store.version

    return _pump(broadcaster, client, first, sent_version, resync)


def event_stream(
    engine: Engine, broadcaster: Broadcaster, last_event_id: int | None,
    accepts: Callable[[Event], bool],
) -> AsyncIterator[bytes | memoryview]:
    client = broadcaster.connect("events", accepts=accepts)
    backlog = [
        sse_frame("event", encode(event), frame_id=topology_id(engine.store.log_id, seq))
        for seq, event in engine.history.recent_events
        if (last_event_id is None or seq > last_event_id) and accepts(event)
    ]
    if last_event_id is None:
        backlog = backlog[-50:]
    sent = engine.history.last_event_seq

    def resync() -> tuple[list[bytes], int]:
        # Events are not state: a client that fell behind is told that it missed some.
        return [sse_frame("overflow", b'{"message": "events were dropped"}')], sent

    return _pump(broadcaster, client, [b"".join(backlog)], sent, resync)


async def until_closed(
    broadcaster: Broadcaster, frames: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """`frames` until they end or the server shuts down (`Broadcaster.close`), for streams
    that are not fed by the broadcaster."""
    control = broadcaster.connect("control")
    closed = asyncio.ensure_future(control.queue.get())
    try:
        while True:
            following = asyncio.ensure_future(anext(frames))
            await asyncio.wait((following, closed), return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()  # runs the stream's own clean-up (its `finally`)
                with contextlib.suppress(asyncio.CancelledError):
                    await following
                return
            try:
                yield following.result()
            except StopAsyncIteration:
                return
    finally:
        closed.cancel()
        broadcaster.disconnect(control)


def chunked(data: bytes) -> Iterator[memoryview]:
    """A large frame in pieces: the server's transport then applies flow control between
    them, so a slow client holds one chunk in memory instead of a whole snapshot."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


async def _pump(
    broadcaster: Broadcaster,
    client: Client,
    first: list[bytes],
    sent_version: int,
    resync: Callable[[], tuple[list[bytes], int]],
) -> AsyncIterator[bytes | memoryview]:
    try:
        yield RETRY
        for part in first:
            for piece in chunked(part):
                yield piece
        queue = client.queue
        while True:
            item = await queue.get()  # heartbeats come through the queue (Broadcaster.beat)
            # Take whatever else is already queued: one write for a burst of frames.
            batch = [item]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            out: list[bytes] = []
            for version, frame in batch:
                if (version, frame) == CLOSE:
                    return
                if (version, frame) == RESYNC:
                    snapshot, sent_version = resync()
                    out = list(snapshot)  # supersedes everything before it
                    continue
                if version is not None:
                    if version <= sent_version:
                        continue  # already in the snapshot or replay this client got
                    sent_version = version
                out.append(frame)
            if len(out) == 1 and len(out[0]) <= CHUNK:
                yield out[0]  # the usual case: the one frame every client shares, as it is
                continue
            if sum(map(len, out)) <= CHUNK:
                yield b"".join(out)  # a few small frames, one write
                continue
            for part in out:
                for piece in chunked(part):
                    yield piece
    finally:
        broadcaster.disconnect(client)

