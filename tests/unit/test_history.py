"""History: events, samples and versions survive a restart."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gestalt.engine.changelog import ChangeLog
from gestalt.engine.history import LAYOUT, WRITER_CACHE_KIB, History, HistoryError
from gestalt.engine.recording import WRITER_STEP
from gestalt.model import Delta, Entity, EntityKind, Event, Severity

# Recent times: older rows would be pruned by the retention window, as they should be.
NOW = time.time()


def event(i: int, **kw: object) -> Event:
    return Event(id=f"e{i}", type="Warning", reason="die", message=f"m{i}", entity_id="c:1",
                 entity_kind=EntityKind.CONTAINER, entity_name="c", timestamp=NOW + i,
                 severity=Severity.WARNING, source="docker", **kw)  # type: ignore[arg-type]


def recorded(history: History) -> ChangeLog:
    """A change log that history reads, as the engine wires them."""
    changes = ChangeLog()
    changes.event_seq = history.last_event_seq
    changes.subscribe(history.record)
    return changes


async def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    history = History(path, sample_interval=0)
    history.open()
    changes = recorded(history)
    for i in range(3):
        changes.event(event(i))
    history.record_metrics({"c:1": {"cpu_percent": 5.0, "custom_metrics": {"error_rate": 0.1}}},
                           now=NOW)
    pod = Entity(id="pod:c/ns/web", kind=EntityKind.POD, name="web")
    changes.delta(Delta(version=41, timestamp=NOW, upserts=[pod]))
    changes.delta(Delta(version=42, timestamp=NOW + 1, removals=[pod.id]))
    await history.flushed()
    history.close()
    history.close()  # safe twice

    again = History(path)
    again.open()
    try:
        assert again.last_version == 42
        assert again.last_event_seq == 3
        assert [e.id for _, e in again.recent_events] == ["e0", "e1", "e2"]
        events = await again.events(limit=2)
        assert [e.id for e in events] == ["e2", "e1"]
        assert [e.id for e in await again.events(source="nats")] == []
        assert [e.id for e in await again.events(since=NOW + 2)] == ["e2"]
        series = await again.metric_series("c:1", None, since=0)
        assert series == {"cpu_percent": [(NOW, 5.0)], "error_rate": [(NOW, 0.1)]}
        assert [d.version for d in await again.deltas(since=0)] == [41, 42]
        assert (await again.deltas(since=40))[0].upserts == [pod]
        changes = recorded(again)
        changes.event(event(9))
        assert again.recent_events[-1][0] == changes.event_seq == 4
    finally:
        again.close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


async def test_an_updated_event_keeps_one_row(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        changes = recorded(history)
        changes.event(event(1))
        changes.event(event(1, count=5))
        await history.flushed()
        (stored,) = await history.events()
        assert stored.count == 5
    finally:
        history.close()


async def test_samples_are_rate_limited_per_entity(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3", sample_interval=10)
    history.open()
    try:
        for t in (0.0, 5.0, 10.0, 12.0, 21.0):
            history.record_metrics({"c:1": {"cpu_percent": t}}, now=NOW + t)
        await history.flushed()
        series = await history.metric_series("c:1", ["cpu_percent"], since=0)
        assert [v for _, v in series["cpu_percent"]] == [0.0, 10.0, 21.0]
    finally:
        history.close()


async def test_retention_prunes_old_rows(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3", retention_hours=1)
    history.open()
    try:
        old = Event(id="old", type="Normal", reason="start", message="m", entity_id="c:1",
                    entity_kind=EntityKind.CONTAINER, entity_name="c",
                    timestamp=NOW - 7200)
        changes = recorded(history)
        changes.event(old)
        changes.event(event(1))
        await history.flushed()
        assert [e.id for e in await history.events()] == ["e1"]
    finally:
        history.close()


async def test_pruning_does_not_depend_on_uptime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The monotonic clock counts from boot: on a machine up for a minute it reads ~60.
    # The first batch prunes all the same.
    booted = time.monotonic()
    monkeypatch.setattr("gestalt.engine.history_writer.time", SimpleNamespace(
        time=time.time, monotonic=lambda: 5.0 + time.monotonic() - booted))
    await test_retention_prunes_old_rows(tmp_path)


async def test_counter_changes_survive_reopening_and_pruning_keeps_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.sqlite3"
    history = History(path)
    history.open()
    history.record_counter("container:abc", NOW - 1800, 3.0)
    history.record_counter("container:abc", NOW - 900, 4.0)
    history.record_counter("container:abc", NOW - 60, 6.0)
    history.record_metrics({"topology": {"health": 1.0}}, now=NOW - 5)
    await history.flushed()
    history.close()
    again = History(path)
    again.open()
    again.close()
    assert again.saved_counters == {"container:abc": [(NOW - 1800, 3.0), (NOW - 900, 4.0),
                                                      (NOW - 60, 6.0)]}
    assert again.last_alive == NOW - 5
    # An hour on, only what the "rising" checks can still use is kept: each counter's
    # newest change, the baseline of the next window.
    monkeypatch.setattr("gestalt.engine.history_writer.time", SimpleNamespace(
        time=lambda: NOW + 3600, monotonic=time.monotonic))
    pruned = History(path)
    pruned.open()
    await pruned.flushed()
    pruned.close()
    final = History(path)
    final.open()
    final.close()
    assert final.saved_counters == {"container:abc": [(NOW - 60, 6.0)]}


async def test_the_sample_index_forgets_entities_long_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gestalt.engine.history.SAMPLE_INDEX_LIMIT", 2)
    history = History(tmp_path / "h.sqlite3", sample_interval=1)
    history.open()
    try:
        for i in range(3):
            history.record_metrics({f"pod:{i}": {"cpu_percent": 1.0}}, now=NOW)
        history.record_metrics({"pod:new": {"cpu_percent": 1.0}}, now=NOW + 60)
        assert set(history._last_sample) == {"pod:new"}
    finally:
        history.close()


async def test_an_index_over_the_limit_and_all_recent_is_not_pruned_at_every_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A map larger than the limit, every entity sampled lately, stays over it: the index
    was rebuilt whole at each metrics frame (110,000 entities: 50-340 ms of the hub's
    loop every second). Pruned, it waits until it has doubled."""
    monkeypatch.setattr("gestalt.engine.history.SAMPLE_INDEX_LIMIT", 2)
    history = History(tmp_path / "h.sqlite3", sample_interval=1)
    history.open()
    try:
        history.record_metrics({f"pod:{i}": {"cpu_percent": 1.0} for i in range(4)}, now=NOW)
        history.record_metrics({"pod:4": {"cpu_percent": 1.0}}, now=NOW + 1)
        index = history._last_sample  # pruned once: all five recent, kept
        assert len(index) == 5
        for n in range(5, 9):  # up to twice what was kept: not pruned again
            history.record_metrics({f"pod:{n}": {"cpu_percent": 1.0}}, now=NOW + 2)
            assert history._last_sample is index
        history.record_metrics({"pod:new": {"cpu_percent": 1.0}}, now=NOW + 60)
        assert set(history._last_sample) == {"pod:new"}  # past it: the long quiet go
    finally:
        history.close()


LAYOUT_0 = Path(__file__).parent.parent / "fixtures" / "history" / "layout-0.sqlite3"


async def test_a_data_dir_from_before_layouts_opens_upgraded_and_reads_as_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite3"
    shutil.copyfile(LAYOUT_0, path)
    history = History(path)
    history.open()
    try:
        assert (history.last_version, history.last_event_seq) == (35, 6)
        deltas = await history.deltas(since=0)
        assert [d.version for d in deltas] == list(range(1, 36))
        assert deltas[0].upserts and all(isinstance(e, Entity) for e in deltas[0].upserts)
        assert len(await history.events(limit=100)) == 6
        changes = recorded(history)
        changes.delta(Delta(version=36, timestamp=NOW, removals=["x"]))
        changes.event(event(1))
        await history.flushed()
        assert [d.version for d in await history.deltas(since=34)] == [35, 36]
    finally:
        history.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == LAYOUT
    again = History(path)
    again.open()
    again.close()
    assert (again.last_version, again.last_event_seq) == (36, 7)


def test_history_from_a_newer_gestalt_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    shutil.copyfile(LAYOUT_0, path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LAYOUT + 1}")
    with pytest.raises(HistoryError, match="written by a newer Gestalt"):
        History(path).open()


def test_the_change_log_keeps_its_identity_across_restarts_and_no_other_has_it(
    tmp_path: Path,
) -> None:
    """Versions continue across restarts of one history, so a browser may resume across
    them; another history's versions are another log's (api/sse.py: a snapshot)."""
    first = History(tmp_path / "a" / "history.sqlite3")
    first.open()
    first.close()
    again = History(first.path)
    again.open()
    again.close()
    other = History(tmp_path / "b" / "history.sqlite3")
    other.open()
    other.close()
    assert first.log_id == again.log_id != other.log_id
    assert len(first.log_id) == 16 and ":" not in first.log_id
    # A data dir from before layout 4 gets one when it is upgraded, and keeps it.
    path = tmp_path / "old" / "history.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(LAYOUT_0, path)
    upgraded = History(path)
    upgraded.open()
    upgraded.close()
    reopened = History(path)
    reopened.open()
    reopened.close()
    assert upgraded.log_id == reopened.log_id not in (first.log_id, other.log_id)


def test_the_writer_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """The writer writes each page once a batch: SQLite's default 2 MB cache stayed
    resident for nothing (bench/server_rss.py at 10,000 entities)."""
    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        writer = history._writer
        assert writer is not None
        (pages,) = writer.conn.execute("PRAGMA cache_size").fetchone()
        assert pages == -WRITER_CACHE_KIB and WRITER_CACHE_KIB <= 512
    finally:
        history.close()


async def test_the_writer_hands_the_gil_over_as_it_writes_many_samples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub's first metrics frame has samples of every entity (hundreds of thousands of
    rows at 110,000 entities), written in history's writer thread: it hands the GIL to the
    event loop every WRITER_STEP rows (engine/aside.py), from that thread, not the loop's
    (what that saves the loop is bench/federation.py --full's to measure)."""
    history = History(tmp_path / "h.sqlite3", sample_interval=0)
    history.open()
    handed: list[int] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        handed.append(threading.get_ident())
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)  # the module engine/aside.py calls
    try:
        history.record_metrics({f"pod:c/ns/p{i}": {"cpu_percent": 1.0, "memory_bytes": 2}
                                for i in range(2000)}, now=NOW)
        await history.flushed()
    finally:
        monkeypatch.undo()
        history.close()
    assert threading.get_ident() not in handed
    assert len(handed) >= 4000 // WRITER_STEP


def test_a_second_process_may_not_write_the_same_history(tmp_path: Path) -> None:
    """Two processes given one server.data_dir both wrote its history, each counting its
    versions on from the other's: the second is now told, with the first one's pid. It may
    open it once the first has closed it, or ended (however: the system drops the lock)."""
    path = tmp_path / "history.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from gestalt.engine.history import History\n"
         f"history = History({str(path)!r})\n"
         "for line in sys.stdin:\n"
         "    history.open() if line == 'open\\n' else history.close()\n"
         "    print('done', flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None

    def tell(what: str) -> None:
        holder.stdin.write(what + "\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "done\n"

    def taken() -> bool:
        history = History(path)
        try:
            history.open()
        except HistoryError as exc:
            assert f"in use by another Gestalt process (pid {holder.pid})" in str(exc)
            assert "server.data_dir" in str(exc)
            return True
        history.close()
        return False

    try:
        tell("open")
        assert taken()
        tell("close")
        assert not taken()
        tell("open")
        assert taken()
    finally:
        holder.kill()
        holder.wait()
    assert not taken()  # killed: its lock went with it
