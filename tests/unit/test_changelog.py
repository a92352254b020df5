"""The change log: each change encoded once, in order, the same bytes for the wire and for
history, every document saying its schema."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from gestalt.api.sse import Broadcaster
from gestalt.engine.changelog import ChangeLog, Entry
from gestalt.engine.history import History
from gestalt.engine.hub import Hub
from gestalt.engine.recording import ENTITY_NOISE
from gestalt.engine.store import Store
from gestalt.model import (
    SCHEMA_VERSION,
    Delta,
    Entity,
    EntityKind,
    EntityStatus,
    Event,
    MetricsFrame,
)
from gestalt.model.changes import decode_delta, decode_event, decode_metrics, encode


def pod(name: str, **fields: object) -> Entity:
    return Entity(id=f"pod:c/ns/{name}", kind=EntityKind.POD, name=name,
                  status=EntityStatus.RUNNING, **fields)  # type: ignore[arg-type]


# Recent: older rows would be pruned by history's retention window.
NOW = time.time()


def crashed(i: int) -> Event:
    return Event(id=f"e{i}", type="Warning", reason="BackOff", message="restarting",
                 entity_id="pod:c/ns/web", entity_kind=EntityKind.POD, entity_name="web",
                 timestamp=NOW + i)


def wired() -> tuple[Store, Hub, ChangeLog]:
    """Store, hub and log, wired as the engine wires them."""
    store = Store()
    hub = Hub(store)
    changes = ChangeLog()
    store.subscribe(changes.delta)
    hub.on_event(changes.event)
    return store, hub, changes


def test_every_reader_gets_every_change_in_order_encoded_once() -> None:
    store, hub, changes = wired()
    first: list[Entry] = []
    second: list[Entry] = []
    changes.subscribe(first.append)
    changes.subscribe(second.append)
    sink = hub.sink("kubernetes")
    sink.snapshot([pod("web", memory_limit=1000, memory_bytes=10)])
    sink.event(crashed(1))
    sink.metrics("pod:c/ns/web", {"cpu_percent": 12.0}, 5.0)
    frame = store.flush_metrics()
    assert frame is not None
    changes.metrics(frame)
    sink.snapshot([])

    kinds = [type(entry.change) for entry in first]
    assert kinds == [Delta, Event, MetricsFrame, Delta]
    assert [entry.seq for entry in first] == [1, 1, None, 2]
    for mine, theirs in zip(first, second, strict=True):
        assert mine.body is theirs.body  # one encoding shared, not one per reader
        assert mine.body == encode(mine.change)
    metrics = first[2].change
    assert isinstance(metrics, MetricsFrame)
    assert metrics.version == store.version - 1  # follows the delta before it
    assert metrics.values["pod:c/ns/web"]["cpu_percent"] == 12.0


def test_event_numbers_continue_from_where_the_log_was_left() -> None:
    changes = ChangeLog()
    changes.event_seq = 41
    seen: list[Entry] = []
    changes.subscribe(seen.append)
    changes.event(crashed(1))
    changes.event(crashed(2))
    assert [entry.seq for entry in seen] == [42, 43]


async def test_the_wire_and_history_carry_the_same_events_and_deltas(tmp_path: Path) -> None:
    store, hub, changes = wired()
    history = History(tmp_path / "history.sqlite3")
    history.open()
    try:
        changes.subscribe(history.record)
        broadcaster = Broadcaster()
        changes.subscribe(lambda entry: broadcaster.publish_entry(entry, log_id="4a1f"))
        topology = broadcaster.connect("topology")
        events = broadcaster.connect("events")
        hub.sink("kubernetes").snapshot([pod("web")])
        hub.sink("kubernetes").event(crashed(1))
        await history.flushed()

        (version, frame) = topology.queue.get_nowait()
        (seq, event_frame) = events.queue.get_nowait()
        with sqlite3.connect(history.path) as conn:
            (stored_event,) = conn.execute("SELECT body FROM events WHERE seq = ?",
                                           (seq,)).fetchone()
        assert event_frame == b"id: 4a1f:1\nevent: event\ndata: " + stored_event + b"\n\n"
        # Deltas are kept by reference (engine/recording.py) and read back as the value sent,
        # less the noise (the health score: it travels in metrics frames and samples).
        assert frame.startswith(b"id: 4a1f:1\nevent: delta\ndata: ")
        sent = decode_delta(frame.removeprefix(b"id: 4a1f:1\nevent: delta\ndata: ")[:-2])
        assert sent == store.deltas_since(0)[0]  # type: ignore[index]
        assert sent.upserts[0].health is not None
        kept = msgspec.structs.replace(sent, upserts=[
            msgspec.structs.replace(e, **ENTITY_NOISE) for e in sent.upserts])
        assert (await history.deltas(since=0))[0] == kept
        assert version == 1
    finally:
        history.close()


def test_every_document_says_its_schema() -> None:
    delta = Delta(version=7, timestamp=1.0, upserts=[pod("web")])
    frame = MetricsFrame(version=7, timestamp=2.0, values={"pod:c/ns/web": {"cpu_percent": 1}})
    prefix = b'{"schema":%d,' % SCHEMA_VERSION
    for change in (delta, frame, crashed(1)):
        assert encode(change).startswith(prefix)
    assert decode_delta(encode(delta)) == delta
    assert decode_metrics(encode(frame)) == frame
    assert decode_event(encode(crashed(1))) == crashed(1)


def test_documents_from_before_the_schema_field_read_as_schema_1_and_newer_ones_fail() -> None:
    old = b'{"version":3,"timestamp":1.0,"removals":["pod:c/ns/web"]}'
    assert decode_delta(old) == Delta(version=3, timestamp=1.0, removals=["pod:c/ns/web"])
    newer = b'{"schema":%d,"version":3,"timestamp":1.0}' % (SCHEMA_VERSION + 1)
    with pytest.raises(msgspec.ValidationError, match="schema"):
        decode_delta(newer)
