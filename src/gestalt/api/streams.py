"""Server-Sent Events: the topology stream and the event stream.

Topology: the first frame is a `snapshot` (or, with a `Last-Event-ID` still inside the
delta ring, the missed `delta`s), then `delta`, `metrics` and `sources` frames as they
happen. The initial frames and the client's registration happen without an await in
between, so nothing can slip through the gap. A client that falls behind finds a resync
marker in its queue and gets a fresh `resync` snapshot; versions it already has are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec

from gestalt.engine.broadcast import RESYNC, Client, encode_delta, sse_frame
from gestalt.engine.runtime import Engine
from gestalt.model import Event

HEARTBEAT_SECONDS = 15.0
RETRY = b"retry: 2000\n\n"
HEARTBEAT = b": heartbeat\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    "Connection": "keep-alive",
}


def parse_last_event_id(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def topology_stream(engine: Engine, last_event_id: int | None) -> AsyncIterator[bytes]:
    # Register and compute the first frames synchronously (before the generator starts),
    # so that no delta published in between is lost or duplicated.
    client = engine.broadcaster.connect("topology")
    store = engine.store
    deltas = store.deltas_since(last_event_id) if last_event_id is not None else None
    if deltas is not None:
        first = b"".join(encode_delta(d) for d in deltas)
    else:
        first = sse_frame("snapshot", engine.topology_json(), frame_id=store.version)
    sent_version = store.version

    def resync() -> tuple[bytes, int]:
        version = store.version
        return sse_frame("resync", engine.topology_json(), frame_id=version), version

    return _pump(engine, client, RETRY + first, sent_version, resync)


def event_stream(
    engine: Engine, last_event_id: int | None, accepts: Callable[[Event], bool]
) -> AsyncIterator[bytes]:
    client = engine.broadcaster.connect("events", accepts=accepts)
    backlog = [
        sse_frame("event", msgspec.json.encode(event), frame_id=seq)
        for seq, event in engine.history.recent_events
        if (last_event_id is None or seq > last_event_id) and accepts(event)
    ]
    if last_event_id is None:
        backlog = backlog[-50:]
    sent = engine.history.last_event_seq

    def resync() -> tuple[bytes, int]:
        # Events are not state: a client that fell behind is told how many it missed.
        return sse_frame("overflow", b'{"message": "events were dropped"}'), sent

    return _pump(engine, client, RETRY + b"".join(backlog), sent, resync)


async def _pump(
    engine: Engine,
    client: Client,
    first: bytes,
    sent_version: int,
    resync: Callable[[], tuple[bytes, int]],
) -> AsyncIterator[bytes]:
    try:
        yield first
        queue = client.queue
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield HEARTBEAT
                continue
            if item is RESYNC:
                frame, sent_version = resync()
                yield frame
                continue
            version, frame = item
            if version is not None:
                if version <= sent_version:
                    continue  # already in the snapshot or replay this client got
                sent_version = version
            yield frame
    finally:
        engine.broadcaster.disconnect(client)

