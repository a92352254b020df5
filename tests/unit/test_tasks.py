"""Long-running engine tasks cannot die silently: a failure is logged and the task runs
again; stopping names what did not stop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gestalt.engine import tasks
from gestalt.engine.changelog import Entry
from gestalt.engine.runtime import Engine
from gestalt.model import MetricsFrame, SourceState
from gestalt.model.config import Config, ServerConfig
from tests.support.captured import first_view
from tests.support.wait import eventually


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gestalt.engine.tasks.BACKOFF_START", 0.01)


async def test_a_failed_task_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    settled = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("a bug")
        if len(runs) == 2:
            return  # returning is a failure too: these tasks run until cancelled
        settled.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.INFO, logger="gestalt.engine.tasks"):
        task = tasks.guarded("flaky", flaky)
        await asyncio.wait_for(settled.wait(), 10)
        await tasks.stop([task])
    assert task.get_name() == "flaky" and task.cancelled()
    assert runs == [0, 1, 2]
    failed = [r for r in caplog.records if "has failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None  # with its traceback
    assert any("finished unexpectedly" in r.getMessage() for r in caplog.records)


async def test_stopping_names_a_task_that_does_not_stop(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores cancellation (a bug this is here to report)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="gestalt.engine.tasks"):
        await tasks.stop([task], grace=0.2)
    assert "task stubborn did not stop within 0s" in caplog.text
    release.set()
    await task


async def test_the_metrics_flusher_outlives_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path), metrics_interval=0.05)),
                    sources=[])
    flush = engine.store.flush_metrics
    calls: list[int] = []

    def broken_once() -> MetricsFrame | None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the flusher")
        return flush()

    monkeypatch.setattr(engine.store, "flush_metrics", broken_once)
    frames: list[MetricsFrame] = []

    def read(entry: Entry) -> None:
        if isinstance(entry.change, MetricsFrame):
            frames.append(entry.change)

    engine.changes.subscribe(read)
    await engine.start()
    try:
        sink = engine.hub.sink("manual")
        sink.status(SourceState.OK)
        container = first_view("docker", "container")
        sink.snapshot([container])
        await eventually(lambda: len(calls) > 1, timeout=10, what="the flusher to run again")
        sink.metrics(container.id, {"cpu_percent": 42.0}, 1.0)
        await eventually(lambda: any(f.values.get(container.id, {}).get("cpu_percent") == 42.0
                                     for f in frames), timeout=10,
                         what="metrics frames after the failure")
    finally:
        await engine.stop()


async def test_a_retry_warns_once_per_outage_and_starts_afresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retry = tasks.Retry(rng=lambda: 0.0)  # the 0.1 s floor: no waiting out a real backoff
    assert retry.succeeded() is False  # nothing had failed
    with caplog.at_level(logging.DEBUG, logger="gestalt.engine.tasks"):
        await retry.after("NATS not reachable", ConnectionRefusedError("refused"))
        await retry.after("NATS not reachable", ConnectionRefusedError("refused"))
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [(logging.WARNING, "NATS not reachable (refused); retrying in 0.1s"),
                      (logging.DEBUG, "NATS not reachable (refused); retrying in 0.1s")]
    assert retry.succeeded() is True  # say "working again" once
    assert retry.succeeded() is False
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="gestalt.engine.tasks"):
        await retry.after("NATS not reachable", TimeoutError())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == \
        [(logging.WARNING, "NATS not reachable (TimeoutError); retrying in 0.1s")]
