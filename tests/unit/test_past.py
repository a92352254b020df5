"""Time travel in history: the topology at any kept moment, bodies stored once, runs and
their gaps, retention that keeps every later moment whole."""

from __future__ import annotations

import re
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.changelog import ChangeLog
from gestalt.engine.filters import TopologyFilter
from gestalt.engine.history import History
from gestalt.engine.moments import change_json, encode_topology, topology_json
from gestalt.engine.past import OutsideRetention, Past, State, diff, iso, parse_moment
from gestalt.engine.recording import EDGE_NOISE, ENTITY_NOISE, Recorder
from gestalt.engine.scoring import summarize
from gestalt.engine.store import Store
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus
from tests.support.changes import merged


def pod(name: str, status: EntityStatus = EntityStatus.RUNNING, **kw: object) -> Entity:
    return Entity(id=f"pod:c/ns/{name}", kind=EntityKind.POD, name=name, namespace="ns",
                  status=status, **kw)  # type: ignore[arg-type]


def edge(a: str, b: str) -> Connection:
    return Connection(source_id=f"pod:c/ns/{a}", target_id=f"pod:c/ns/{b}",
                      kind=ConnectionKind.NETWORK, requests_per_sec=3.0)


def recorded(path: Path, **kw: object) -> tuple[History, Store]:
    history = History(path, sample_interval=0, **kw)  # type: ignore[arg-type]
    history.open()
    store = Store(start_version=history.last_version)
    changes = ChangeLog()
    store.subscribe(changes.delta)
    changes.subscribe(history.record)
    return history, store


def seen(store: Store) -> tuple[dict[str, Entity], dict[str, Connection]]:
    """The live store as recording keeps it (noise stripped)."""
    return ({i: msgspec.structs.replace(e, **ENTITY_NOISE) for i, e in store.entities.items()},
            {i: msgspec.structs.replace(c, **EDGE_NOISE) for i, c in store.connections.items()})


async def at(history: History, moment: float) -> State:
    return await history.read(lambda conn: history.past.state_at(conn, moment))


async def test_every_moment_reads_back_as_the_live_store_was(tmp_path: Path) -> None:
    # Keyframes every 3 deltas: moments fall before, on and between keyframes.
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=3)
    try:
        captured: list[tuple[float, tuple[dict[str, Entity], dict[str, Connection]]]] = []
        steps = [
            dict(upserts=[pod("a"), pod("b")]),
            dict(edge_upserts=[edge("a", "b")]),
            dict(upserts=[pod("b", EntityStatus.FAILED, cpu_percent=50.0)]),
            dict(upserts=[pod("c")], edge_upserts=[edge("c", "a")]),
            dict(removals=["pod:c/ns/a"]),
            dict(upserts=[pod("b")]),
            dict(upserts=[pod("d", labels={"app": "d"})]),
        ]
        for step in steps:
            store.apply(**step)  # type: ignore[arg-type]
            captured.append((store.timestamp, seen(store)))
            await history.flushed()
        with sqlite3.connect(history.path) as conn:
            (keyframes,) = conn.execute("SELECT COUNT(*) FROM keyframes").fetchone()
        assert keyframes == 2
        for moment, (entities, connections) in captured:
            state = await at(history, moment)
            assert (state.entities, state.connections) == (entities, connections)
            assert state.gap is None
        assert history.oldest is not None and history.oldest <= captured[0][0]
        first = await at(history, history.oldest)  # the run began empty
        assert (first.entities, first.connections) == ({}, {})
    finally:
        history.close()


async def test_the_answer_at_a_moment_is_encoded_as_its_state(tmp_path: Path) -> None:
    # Items are encoded once and reused by later moments: each answer must still be its
    # own state's, and a filtered one summarises what it keeps (as the live route does).
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=2)
    try:
        moments = []
        for step in [dict(upserts=[pod("a"), pod("b")], edge_upserts=[edge("a", "b")]),
                     dict(upserts=[pod("b", EntityStatus.FAILED)]),
                     dict(upserts=[Entity(id="node:c/n1", kind=EntityKind.NODE, name="n1")]),
                     dict(removals=["pod:c/ns/a"]), dict(upserts=[pod("b")])]:
            store.apply(**step)  # type: ignore[arg-type]
            moments.append(store.timestamp)
            await history.flushed()
        pods = TopologyFilter(kinds=frozenset({"pod"}))
        for flt in (None, pods, None):
            for moment in moments:
                state = await at(history, moment)
                body = msgspec.json.decode(await history.read(
                    lambda _c, s=state, f=flt: encode_topology(history.past, s, 0.5, f)))
                entities = [e for e in state.entities.values() if flt is None or flt.matches(e)]
                ids = {e.id for e in entities}
                summary = summarize(entities)
                summary.overall = 0.5
                assert body == msgspec.json.decode(msgspec.json.encode({
                    "version": state.version, "timestamp": state.timestamp, "at": moment,
                    "entities": entities, "connections": [
                        c for c in state.connections.values()
                        if c.source_id in ids and c.target_id in ids],
                    "summary": summary, "sources": [], "gap": None}))
    finally:
        history.close()


def applied(topology: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`change` applied to `topology` as the browser does (state/graph.ts applyChange)."""
    entities, edges = merged(topology, change)
    return {**{k: change[k] for k in ("version", "timestamp", "at", "summary", "sources", "gap")},
            "entities": entities, "connections": edges}


def by_id(topology: dict[str, Any]) -> dict[str, Any]:
    return {**topology, "entities": {e["id"]: e for e in topology["entities"]},
            "connections": {c["id"]: c for c in topology["connections"]}}


async def test_the_change_between_two_moments_turns_one_answer_into_the_other(
    tmp_path: Path
) -> None:
    # Forwards, backwards, to itself, across keyframes, filtered: the browser applies the
    # change to the map it holds at `since` and must get the whole answer at `at`.
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=2)
    try:
        moments = []
        for step in [dict(upserts=[pod("a"), pod("b")], edge_upserts=[edge("a", "b")]),
                     dict(upserts=[pod("b", EntityStatus.FAILED)]),
                     dict(upserts=[Entity(id="node:c/n1", kind=EntityKind.NODE, name="n1")]),
                     dict(upserts=[pod("c")], edge_upserts=[edge("c", "b")]),
                     dict(removals=["pod:c/ns/a"]), dict(upserts=[pod("b")])]:
            store.apply(**step)  # type: ignore[arg-type]
            moments.append(store.timestamp)
            await history.flushed()
        pods = TopologyFilter(kinds=frozenset({"pod"}))

        async def answer(moment: float, since: float | None, flt: TopologyFilter | None
                         ) -> dict[str, Any]:
            work = (partial(topology_json, past=history.past, at=moment, window=30, flt=flt)
                    if since is None else partial(change_json, past=history.past, at=moment,
                                                  since=since, window=30, flt=flt))
            body: dict[str, Any] = msgspec.json.decode(await history.read(work))
            return body

        for flt in (None, pods):
            for before in moments:
                for after in moments:
                    change = await answer(after, before, flt)
                    then = await answer(before, None, flt)
                    assert change["since"] == before
                    assert change["since_version"] == then["version"]
                    assert applied(then, change) == by_id(await answer(after, None, flt))
        # Only what changed travels: nothing between a moment and itself, one pod's status
        # between the first two moments.
        same = await answer(moments[2], moments[2], None)
        assert (same["upserts"], same["removals"], same["edge_upserts"],
                same["edge_removals"]) == ([], [], [], [])
        step = await answer(moments[1], moments[0], None)
        assert [e["id"] for e in step["upserts"]] == ["pod:c/ns/b"] and not step["removals"]
        with pytest.raises(OutsideRetention, match="^since: .* outside history"):
            await answer(moments[0], moments[0] - 3600, None)
    finally:
        history.close()


async def test_the_past_caches_go_when_no_moment_was_asked_for_a_while(tmp_path: Path) -> None:
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=2)
    try:
        store.apply(upserts=[pod(f"p{i}") for i in range(10)])
        store.apply(upserts=[pod("p0", EntityStatus.FAILED)])
        await history.flushed()
        moment = store.timestamp
        expected = seen(store)[0]
        assert (await at(history, moment)).entities == expected
        cached = history.past
        assert cached.holds >= 10
        used = cached.used_at
        assert not history.release_idle_past(300, now=used + 299)  # still in use
        assert history.past is cached
        assert history.release_idle_past(300, now=used + 301)
        assert history.past is not cached and history.past.holds == 0
        assert not history.release_idle_past(300, now=used + 1000)  # nothing to forget
        assert (await at(history, moment)).entities == expected  # read again from the file
    finally:
        history.close()


async def test_an_unchanged_body_is_stored_once(tmp_path: Path) -> None:
    history, store = recorded(tmp_path / "h.sqlite3")
    try:
        store.apply(upserts=[pod("a", cpu_percent=1.0)])
        store.apply(upserts=[pod("a", status=EntityStatus.FAILED)])
        # Only noise differs from the first: the same body, no new row.
        store.apply(upserts=[pod("a", cpu_percent=99.0, updated_at=time.time())])
        await history.flushed()
        with sqlite3.connect(history.path) as conn:
            (bodies,) = conn.execute("SELECT COUNT(*) FROM bodies").fetchone()
            (deltas,) = conn.execute("SELECT COUNT(*) FROM deltas").fetchone()
        assert (bodies, deltas) == (2, 3)
    finally:
        history.close()


async def test_a_restart_continues_the_version_and_marks_the_downtime(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    history, store = recorded(path)
    store.apply(upserts=[pod("a")])
    before = store.timestamp
    await history.flushed()
    history.close()
    stopped = time.time()

    again, store = recorded(path)
    try:
        assert store.version == 1
        store.apply(upserts=[pod("b")])
        await again.flushed()
        assert store.version == 2
        down = await at(again, (stopped + before) / 2 if stopped > before else stopped)
        assert set(down.entities) == {"pod:c/ns/a"}
        after = await at(again, store.timestamp)
        # The live store started empty after the restart; so does the past.
        assert set(after.entities) == {"pod:c/ns/b"}
        with pytest.raises(OutsideRetention, match="oldest moment kept"):
            await at(again, before - 3600)
        changes = diff(await at(again, before), after)
        assert [e["id"] for e in changes["entities"]["added"]] == ["pod:c/ns/b"]
        assert [e["id"] for e in changes["entities"]["removed"]] == ["pod:c/ns/a"]
    finally:
        again.close()


async def test_pruning_keeps_every_later_moment_whole(tmp_path: Path) -> None:
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=2)
    try:
        moments = []
        for i in range(6):
            store.apply(upserts=[pod(f"p{i}")], removals=[f"pod:c/ns/p{i - 2}"])
            moments.append((store.timestamp, seen(store)[0]))
            await history.flushed()
        conn = sqlite3.connect(history.path)
        with conn:
            Recorder.prune(conn, moments[3][0])
        (oldest,) = conn.execute("SELECT MIN(start_ts) FROM runs").fetchone()
        assert moments[2][0] < oldest <= moments[3][0]
        (bodies,) = conn.execute("SELECT COUNT(*) FROM bodies").fetchone()
        assert bodies < 6
        conn.close()
        for moment, entities in moments[3:]:
            assert (await at(history, moment)).entities == entities
        with pytest.raises(OutsideRetention):
            await at(history, moments[1][0])
    finally:
        history.close()


async def test_incremental_keyframes_read_back_and_survive_pruning(tmp_path: Path) -> None:
    """Keyframes every 2 deltas over a topology where each delta changes little: most are
    incremental (what changed since the one before), a full one every tenth; every moment
    reads back whole, with nothing decoded beforehand, and after pruning."""
    history, store = recorded(tmp_path / "h.sqlite3", keyframe_deltas=2)
    try:
        store.apply(upserts=[pod(f"p{i}") for i in range(20)],
                    edge_upserts=[edge(f"p{i}", f"p{i + 1}") for i in range(19)])
        await history.flushed()
        captured = []
        for i in range(25):  # a pod changes, a pod comes and the one before it goes
            status = EntityStatus.FAILED if i % 2 else EntityStatus.RUNNING
            store.apply(upserts=[pod(f"p{i % 20}", status), pod(f"n{i}")],
                        removals=[f"pod:c/ns/n{i - 1}"], edge_upserts=[edge(f"n{i}", "p0")])
            captured.append((store.timestamp, seen(store)))
            await history.flushed()
        conn = sqlite3.connect(history.path)
        bases = [base for (base,) in conn.execute("SELECT base FROM keyframes ORDER BY version")]
        assert bases.count(None) == 2 and len(bases) == 13  # full ones: the 1st and the 11th
        for moment, expected in captured:
            history.past = Past()  # nothing decoded: each moment through its whole chain
            assert (await at(history, moment)).entities == expected[0]
            assert (await at(history, moment)).connections == expected[1]
        # Pruning starts at a full keyframe: every later moment keeps its chain.
        with conn:
            Recorder.prune(conn, captured[15][0])
        conn.close()
        history.past = Past()
        for moment, expected in captured[16:]:
            assert (await at(history, moment)).entities == expected[0]
    finally:
        history.close()


async def test_bodies_packed_with_a_trained_dictionary_read_back_after_a_restart(
    tmp_path: Path,
) -> None:
    """A topology big enough to train on: the first full keyframe trains a dictionary,
    later bodies are packed with it (their first byte its id), and every moment reads back,
    in this run and in the next (the dictionary is in the file, not only in memory)."""
    path = tmp_path / "h.sqlite3"
    history, store = recorded(path, keyframe_deltas=2)
    captured = []
    try:
        store.apply(upserts=[pod(f"p{i}", labels={"app": "shop", "tier": "web"})
                             for i in range(60)])
        await history.flushed()
        for i in range(6):
            store.apply(upserts=[pod(f"q{i}", labels={"app": "shop", "tier": "web"})])
            captured.append((store.timestamp, seen(store)[0]))
            await history.flushed()
        store.apply(removals=[f"pod:c/ns/p{i}" for i in range(20)])  # long references
        captured.append((store.timestamp, seen(store)[0]))
        await history.flushed()
        with sqlite3.connect(path) as conn:
            (dictionaries,) = conn.execute("SELECT COUNT(*) FROM dictionaries").fetchone()
            firsts = [body[0] for (body,) in conn.execute("SELECT body FROM bodies")]
            (last,) = conn.execute("SELECT body FROM deltas ORDER BY version DESC").fetchone()
        assert dictionaries == 1
        assert last[0] == 1  # the references are packed with it too
        # The first keyframe (after the second delta) trained it: the bodies after use it.
        assert firsts.count(1) == 5 and firsts.count(0x78) == 61
        for moment, entities in captured:
            assert (await at(history, moment)).entities == entities
    finally:
        history.close()
    again, _ = recorded(path)
    try:
        for moment, entities in captured:
            assert (await at(again, moment)).entities == entities
    finally:
        again.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("1764469800", 1764469800.0), ("1764469800.5", 1764469800.5),
    ("2025-11-30T02:30:00Z", 1764469800.0), ("2025-11-30T03:30:00+01:00", 1764469800.0),
])
def test_moments_are_rfc3339_or_epoch_seconds(text: str, expected: float) -> None:
    assert parse_moment(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2025-11-30T02:30:00", "", "12:00"])
def test_a_moment_that_is_not_one_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="^at: "):
        parse_moment(text)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e20", "-1e20",
                                  "9999999999999", "9999-12-31T23:59:59-05:00"])
def test_a_number_that_is_no_time_is_refused_in_one_line(text: str) -> None:
    """float() reads these, and `iso` could not write them (a 500 once)."""
    with pytest.raises(ValueError, match="^since: .*" + re.escape(repr(text))):
        parse_moment(text, name="since")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0", "-5"])
def test_every_moment_a_date_can_say_is_one(text: str) -> None:
    iso(parse_moment(text))
