"""The cost book (engine/cost_book.py) keeps the running system's cost current by computing
again only what changed: through the synthetic source's churn (pods replaced, restarted,
their usage moving), it says what a book made afresh from the same map says, and the units
nothing touched are not computed again (the very same results)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path

import pytest

from gestalt.engine import cost_book
from gestalt.engine.cost import TOTAL, Report, rate_rows
from gestalt.engine.cost_book import CostBook, CostRecorder
from gestalt.engine.history import History
from gestalt.engine.store import Store
from gestalt.model.config import CostConfig, SyntheticCollector
from gestalt.sources.synthetic import SyntheticWorld
from tests.support.wait import eventually


def _sites(count: int, entities: int) -> tuple[Store, list[SyntheticWorld]]:
    store, worlds = Store(), []
    for index in range(count):
        world = SyntheticWorld(SyntheticCollector(
            enabled=True, entities=entities, edges=entities, seed=index, cluster=f"site{index}"))
        store.apply(upserts=world.entities.values(), edge_upserts=world.connections.values())
        worlds.append(world)
    return store, worlds


def _churn(store: Store, worlds: list[SyntheticWorld], changes: int) -> None:
    for n in range(changes):
        ups, edge_ups, removals, edge_removals, _ = worlds[n % len(worlds)].churn()
        store.apply(upserts=ups, edge_upserts=edge_ups, removals=removals,
                    edge_removals=edge_removals)


def _assert_same(kept: Report, fresh: Report) -> None:
    assert {u.id: (u.cost_per_hour, u.waste_per_hour, u.owner, u.node, u.site)
            for u in kept.units} == {u.id: (u.cost_per_hour, u.waste_per_hour, u.owner, u.node,
                                            u.site) for u in fresh.units}
    for name, value in fresh.totals.items():
        assert kept.totals[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    for by, rows in fresh.grouped.items():
        # Sums kept as units come and go differ from fresh ones in the last float bits, so
        # a row rounded to 6 places may differ by one in the last place.
        fresh_rows = {row[by]: row for row in rows}
        kept_rows = {row[by]: row for row in kept.groups(by)}
        assert kept_rows.keys() == fresh_rows.keys(), by
        for name, row in fresh_rows.items():
            assert kept_rows[name]["units"] == row["units"], (by, name)
            for field in ("cost_per_hour", "waste_per_hour"):
                assert math.isclose(kept_rows[name][field], row[field], abs_tol=1.1e-6), \
                    (by, name, field)
    assert [(n.id, n.allocated_per_hour) for n in kept.nodes] == \
        [(n.id, n.allocated_per_hour) for n in fresh.nodes]
    assert sorted(kept.volumes, key=lambda v: v["id"]) == \
        sorted(fresh.volumes, key=lambda v: v["id"])


def test_a_kept_book_says_what_a_fresh_one_says_through_churn() -> None:
    store, worlds = _sites(3, 2_000)
    book = CostBook(store, CostConfig())
    first = book.report_now()
    assert len(first.units) > 500
    _assert_same(first, CostBook(store, CostConfig()).report_now())
    for _ in range(4):
        _churn(store, worlds, 400)
        _assert_same(book.report_now(), CostBook(store, CostConfig()).report_now())


def test_units_nothing_touched_are_not_computed_again() -> None:
    store, worlds = _sites(2, 2_000)
    book = CostBook(store, CostConfig())
    before = {u.id: u for u in book.report_now().units}
    computed = book.computed
    assert {u.id: u for u in book.report_now().units} == before
    assert book.computed == computed  # nothing changed: nothing computed

    watch = store.watch()
    _churn(store, worlds, 50)
    touched, _ = watch.take()
    after = {u.id: u for u in book.report_now().units}
    assert 0 < book.computed - computed <= len(touched)
    untouched = [uid for uid in after if uid in before and uid not in touched]
    assert len(untouched) > 0.9 * len(before)
    assert all(after[uid] is before[uid] for uid in untouched)  # the same results, kept

    # The same entity put again (a site's keyframe leaves it as it was): not computed again.
    pod = next(store.entities[uid] for uid in untouched)
    computed = book.computed
    store.apply(upserts=[pod])
    book.report_now()
    assert book.computed == computed


async def test_the_recorder_makes_historys_rows_beside_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's rates are made into history's rows in a worker thread, and history
    keeps them together by one key (gating each of 41,600 keys on the loop held it 183 ms
    once a minute at 110,000 entities)."""
    store, _ = _sites(1, 2_000)
    history = History(tmp_path / "cost.sqlite3", sample_interval=10)
    history.open()
    try:
        recorder = CostRecorder(store, history, CostConfig())
        threads: set[int] = set()

        def watched(report: Report, now: float) -> list[tuple[str, str, float, float]]:
            threads.add(threading.get_ident())
            return rate_rows(report, now)

        monkeypatch.setattr(cost_book, "rate_rows", watched)
        now = time.time()
        await recorder.record(now)
        await recorder.record(now + 1)  # within the sample interval: skipped, all of it
        assert threads and threading.get_ident() not in threads
        assert set(history._last_sample) == {TOTAL}  # one key gates the frame
        await history.flushed()
        found = await history.frame_at(TOTAL, "total_per_hour", now + 5, now - 5)
        assert found is not None
        at, frame = found
        assert at == now
        report = await recorder.book.report()
        assert len(frame) == len(report.units) + len(report.nodes) + len(report.volumes) + \
            sum(len(report.groups(by)) for by in ("namespace", "owner", "site")) + 1
        assert frame[TOTAL]["total_per_hour"] == pytest.approx(report.totals["total_per_hour"])
        series = await history.metric_series(TOTAL, ["total_per_hour"], now - 5)
        assert len(series["total_per_hour"]) == 1  # the second record was skipped
    finally:
        history.close()


async def test_the_book_computes_aside_and_hands_the_gil_to_the_loop_as_it_goes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The book's pass runs in a worker thread and hands the GIL to the event loop as it
    goes: held until the switch interval (5 ms) forced it, the loop waited for it at each
    turn, fell behind the sites' messages, and they waited as long as the pass (1.5 s of
    CPU when ten sites came in). What that costs the loop is measured in
    bench/federation.py --full (a count of the loop's waits here depended on whatever
    else the machine ran); this checks the mechanism: where the pass runs, and that it
    hands over every few hundred items."""
    store, _ = _sites(5, 10_000)
    book = CostBook(store, CostConfig())
    real_sleep = time.sleep
    handed: list[int] = []

    def sleep(seconds: float) -> None:  # the pass's hand-overs, and from which thread
        handed.append(threading.get_ident())
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)  # the module cost_book calls
    turns = 0
    done = False

    async def turn() -> None:
        nonlocal turns
        while not done:
            await asyncio.sleep(0)
            turns += 1

    turning = asyncio.create_task(turn())
    report = await book.report()
    done = True
    await turning
    assert len(report.units) > 5_000
    assert handed and threading.get_ident() not in handed  # aside, not on the loop
    # Every 200 entities read (1,000 at most): 50,000 entities, 250 hand-overs or more.
    assert len(handed) >= len(store.entities) // 200
    assert turns > len(handed) // 10  # and the loop turned meanwhile


async def test_the_recorder_keeps_the_book_up_between_records(tmp_path: Path) -> None:
    """Between two records (a minute apart) the book computes what changed every few
    seconds, so no pass has much to do: once a minute, the pass after ten sites came in had
    1.5 s of CPU to compute at once. A record then finds it done."""
    store, worlds = _sites(1, 2_000)
    history = History(tmp_path / "cost.sqlite3", sample_interval=10)
    history.open()
    recorder = CostRecorder(store, history, CostConfig(record_interval=3600))
    recorder.keep_up_every = 0.05
    running = asyncio.create_task(recorder.run())
    try:
        await eventually(lambda: TOTAL in history._last_sample, timeout=30,
                         what="the first record")
        computed = recorder.book.computed
        _churn(store, worlds, 50)
        await eventually(lambda: recorder.book.computed > computed, timeout=30,
                         what="the changes computed before the next record")
        await history.flushed()
        series = await history.metric_series(TOTAL, ["total_per_hour"], 0)
        assert len(series["total_per_hour"]) == 1  # computed, not recorded: one record
        await eventually(lambda: recorder.book._touched is not None
                         and not recorder.book._touched.ids, timeout=30, what="all taken")
    finally:
        running.cancel()
        history.close()
