"""Resuming the topology stream across servers: real `gestalt serve` processes, one after
the other on the same address, as a browser's reconnect finds them.

A version means something only in its own change log (one per history database): another
data dir is another world, and its deltas must never be applied on top of the old one,
however far its version has gone; a restart on the same data dir continues the log."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.cli import serving, write_config
from tests.support.daemons import free_port
from tests.support.sse import Frame, frames
from tests.support.wait import eventually

WORLD = {"entities": 30, "edges": 40, "seed": 1}


def config(folder: Path, **synthetic: object) -> Path:
    folder.mkdir()
    return write_config(folder / "gestalt.yaml", server={"metrics_interval": 0.2},
                        synthetic={**WORLD, **synthetic})


async def version(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/infra/topology")).json()["version"])


async def resumed(client: httpx.AsyncClient, last_event_id: str | None, upto: int) -> list[Frame]:
    """The topology frames of a stream opened with `last_event_id`, until one reaches
    version `upto`."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    got: list[Frame] = []
    async with client.stream("GET", "/api/infra/topology/stream", headers=headers) as response:
        async for frame in frames(response):
            if frame.event in ("snapshot", "resync", "delta"):
                got.append(frame)
                if frame.json()["version"] >= upto:
                    return got
    raise AssertionError(f"the stream ended before version {upto}: {[f.event for f in got]}")


async def seen_by_a_browser(url: str) -> tuple[str, set[str]]:
    """The id a browser would resume with once the world is quiet, and the ids it shows."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async def quiet() -> Frame | None:
            before = await version(client)
            (frame,) = await resumed(client, None, 0)
            doc = frame.json()
            return frame if doc["entities"] and doc["version"] == before == \
                await version(client) else None

        frame = await eventually(quiet, timeout=30, what="a quiet world's snapshot")
        assert frame.id is not None
        return frame.id, {e["id"] for e in frame.json()["entities"]}


def split(frame_id: str | None) -> tuple[str, int]:
    assert frame_id is not None
    log_id, _, number = frame_id.rpartition(":")
    return log_id, int(number)


async def test_a_resume_against_another_world_gets_its_snapshot_not_its_deltas(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with serving(config(tmp_path / "a", churn_per_second=0), port=port) as first:
        resume, old_world = await seen_by_a_browser(first.url)
    old_log, old_version = split(resume)
    # Another data dir on the same address: another world, churning past the old version.
    other = config(tmp_path / "b", churn_per_second=40, cluster="other", seed=2)
    async with serving(other, port=port) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            async def past_the_old_version() -> bool:
                return await version(client) > old_version + 5

            await eventually(past_the_old_version, timeout=30,
                             what="the second world's version past the first's")
            (frame,) = await resumed(client, resume, 0)
            assert frame.event == "snapshot", (frame.event, frame.id)
            shown = {e["id"] for e in frame.json()["entities"]}
            assert shown and not shown & old_world
            assert split(frame.id)[0] != old_log
            # An id that is not one of ours (an older page's bare version, garbage) is
            # answered with a snapshot too.
            for odd in (str(old_version), "x", f":{old_version}", f"{old_log}:", "a:-1"):
                assert (await resumed(client, odd, 0))[0].event == "snapshot", odd


async def test_a_restart_on_the_same_data_dir_continues_the_log_with_a_snapshot(
    tmp_path: Path,
) -> None:
    """The log goes on (same id, versions counting up), but nothing recorded says what
    vanished while the server was down: a browser of the earlier run gets a snapshot, which
    leaves out what is gone, never deltas on top of a map that still shows it."""
    port = free_port()
    same = config(tmp_path / "a", churn_per_second=0)
    async with serving(same, port=port) as first:
        resume, before = await seen_by_a_browser(first.url)
    log_id, seen = split(resume)
    # The world shrank while no server watched it.
    write_config(tmp_path / "a" / "gestalt.yaml", server={"metrics_interval": 0.2},
                 synthetic={**WORLD, "entities": 20, "churn_per_second": 0})
    async with serving(same, port=port) as again:
        async with httpx.AsyncClient(base_url=again.url, timeout=10) as client:
            async def reported() -> int:
                now = await version(client)
                return now if now > seen else 0

            now = await eventually(reported, timeout=30, what="the restarted world reported")
            got = await resumed(client, resume, now)
            assert got[0].event == "snapshot", [f.event for f in got]
            assert split(got[0].id)[0] == log_id and split(got[0].id)[1] > seen
            shown = {e["id"] for e in got[0].json()["entities"]}
            assert shown < before  # the ten that vanished are not shown
