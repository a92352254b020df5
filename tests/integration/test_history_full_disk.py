"""A full disk pauses history, not Gestalt: a real `gestalt serve` on a size-limited data
dir (a tmpfs of a few megabytes) with the real Docker engine. When the disk fills, history
says it is paused and why (health and an alert), the live map keeps following Docker, and
the database stays readable; when room comes back, recording resumes as a new run."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import serving, write_config
from tests.support.docker import Objects
from tests.support.services import require_service
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    require_service("a size-limited data dir (tmpfs mount)", mounted.returncode == 0,
                    f"mount -t tmpfs needs root: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file taking all but `leave` bytes of the disk."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as out:
        out.write(b"\0" * max(0, free - leave))
    return filler


async def health(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/api/infra/health")).json()
    return body


async def test_a_full_disk_pauses_history_the_map_goes_on_and_recording_resumes(
    tmp_path: Path, small_disk: Path, docker_engine: str, objects: Objects
) -> None:
    config = write_config(tmp_path / "gestalt.yaml",
                          docker={"socket": docker_engine, "poll_interval": 0.5})
    text = config.read_text().replace(str(tmp_path / "data"), str(small_disk / "data"))
    config.write_text(text + "history: {max_disk_percent: 0, sample_interval: 0}\n")
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        before, _ = await objects.run()

        async def on_map(name: str) -> bool:
            topology = (await client.get("/api/infra/topology")).json()
            return any(e["name"] == name for e in topology["entities"])

        await eventually(lambda: on_map(before), timeout=30, what=f"{before} on the map")
        db = small_disk / "data" / "history.sqlite3"

        def recorded() -> int:
            # Something written before the disk fills (the writer commits in batches).
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM deltas").fetchone()[0])

        await eventually(recorded, timeout=30, what="deltas written before the disk fills")
        filler = fill(small_disk, leave=16 * 1024)

        async def paused() -> str | None:
            return (await health(client))["history"]["paused"]

        # Containers come and go until a write finds no room.
        made = []
        for _ in range(20):
            name, _ = await objects.run()
            made.append(name)
            with contextlib.suppress(AssertionError):
                await eventually(paused, timeout=3, what="history paused")
                break
        message = await eventually(paused, timeout=10, what="history paused")
        assert "disk" in message and "full" in message and "live map goes on" in message

        async def alert() -> dict[str, Any] | None:
            alerts = (await client.get("/api/infra/alerts")).json()["alerts"]
            return next((a for a in alerts if a["rule"] == "history_paused"), None)

        firing = await eventually(alert, timeout=10, what="the history_paused alert")
        assert firing["state"] == "firing" and firing["message"] == message

        # The live map keeps following Docker.
        during, _ = await objects.run()
        await eventually(lambda: on_map(during), timeout=30, what=f"{during} on the map")

        # The database is whole and readable (read from a copy off the full disk).
        copy = tmp_path / "copy.sqlite3"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as src, \
                sqlite3.connect(copy) as dst:
            src.backup(dst)
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            (deltas,) = conn.execute("SELECT COUNT(*) FROM deltas").fetchone()
            assert deltas > 0

        # Room again: recording resumes (the writer retries every 10 s), the alert resolves.
        os.remove(filler)
        await eventually(lambda: _not(paused), timeout=30, what="recording again")
        await eventually(lambda: _resolved(alert), timeout=10, what="the alert resolved")
        timeline = (await client.get("/api/infra/timeline")).json()
        assert [r["kind"] for r in timeline["runs"]][-1] == "resume"
        # The present is recorded again: the container started while paused is in it.
        after = (await client.get("/api/infra/topology", params={
            "at": timeline["runs"][-1]["from"] + 0.001})).json()
        assert any(e["name"] == during for e in after["entities"])


async def _not(probe: Any) -> bool:
    return not await probe()


async def _resolved(alert: Any) -> bool:
    found = await alert()
    return found is None or found["state"] == "resolved"
