"""The SSE broadcaster's heartbeat: one timer for every stream."""

from __future__ import annotations

import asyncio

from gestalt.api.sse import HEARTBEAT, Broadcaster
from tests.support.wait import eventually


async def test_heartbeat_reaches_every_stream_but_the_full_and_the_control_ones() -> None:
    broadcaster = Broadcaster(max_frames=2)
    topology, events = broadcaster.connect("topology"), broadcaster.connect("events")
    control = broadcaster.connect("control")
    full = broadcaster.connect("topology")
    broadcaster.publish(b"a", version=1)
    broadcaster.publish(b"b", version=2)  # `full` now holds two frames, as do the others
    for client in (topology, events):
        while not client.queue.empty():
            client.queue.get_nowait()
    beat = asyncio.create_task(broadcaster.beat(0.01))
    try:
        await eventually(lambda: topology.queue.qsize() == 2 and events.queue.qsize() == 2,
                         what="two heartbeats on each stream")
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
    assert topology.queue.get_nowait() == HEARTBEAT
    assert events.queue.get_nowait() == HEARTBEAT
    assert control.queue.empty()
    assert [full.queue.get_nowait() for _ in range(2)] == [(1, b"a"), (2, b"b")]
    assert broadcaster.resyncs == 0  # a heartbeat never cuts a lagging client


async def test_the_first_client_starts_the_heartbeat_and_the_last_one_ends_it() -> None:
    """`gestalt serve` runs the app without a lifespan: the streams start it themselves."""
    broadcaster = Broadcaster(heartbeat=0.01)
    first, second = broadcaster.connect("topology"), broadcaster.connect("events")
    await eventually(lambda: not first.queue.empty() and not second.queue.empty(),
                     what="a heartbeat on both streams")
    assert first.queue.get_nowait() == HEARTBEAT
    broadcaster.disconnect(first)
    broadcaster.disconnect(second)
    third = broadcaster.connect("topology")
    await eventually(lambda: not third.queue.empty(), what="a heartbeat after a restart")
    broadcaster.close()
    assert third.queue.get_nowait() == (-2, b"")  # CLOSE, nothing after it
