"""The docker source against the real engine: lifecycle, secrets, and an engine restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import msgspec
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model import (
    ConnectionKind,
    EntityKind,
    EntityStatus,
    Health,
    Severity,
    SourceState,
    ids,
)
from gestalt.model.config import Config, DockerCollector, ServerConfig
from gestalt.sources import SourceError
from gestalt.sources.docker import DockerSource
from tests.support.docker import Objects, docker
from tests.support.services import TEST_IMAGE, require_service
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

@contextlib.asynccontextmanager
async def running(source: DockerSource, sink: RecordingSink) -> AsyncIterator[list[Exception]]:
    """Run the source as the engine's supervisor would: report down, back off, run again."""
    failures: list[Exception] = []

    async def supervise() -> None:
        while True:
            try:
                await source.run(sink)
            except SourceError as exc:
                failures.append(exc)
                sink.status(SourceState.DOWN, str(exc))
            await asyncio.sleep(0.2)  # the supervisor's backoff, shortened

    task = asyncio.create_task(supervise())
    try:
        yield failures
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def new_source(docker_engine: str) -> DockerSource:
    return DockerSource(DockerCollector(poll_interval=0.3), host=docker_engine)


async def engine_name() -> str:
    return await docker("info", "--format", "{{.Name}}")


async def test_container_lifecycle(docker_engine: str, objects: Objects) -> None:
    sink = RecordingSink()
    engine = await engine_name()
    net, vol = await objects.network(), await objects.volume()
    async with running(new_source(docker_engine), sink):
        await sink.wait_for(lambda: sink.state is SourceState.OK, what="first snapshot")

        name, full_id = await objects.run("--network", net, "-v", f"{vol}:/data")
        cid = ids.container(full_id)
        net_edge = ids.connection("network", cid, ids.docker_network(engine, net))
        vol_edge = ids.connection("volume", cid, ids.docker_volume(engine, vol))

        def shown() -> bool:
            entity = sink.entities.get(cid)
            return (entity is not None and entity.status is EntityStatus.RUNNING
                    and net_edge in sink.connections and vol_edge in sink.connections)

        await sink.wait_for(shown, timeout=1.0, what="running container with its edges in 1 s")

        container = sink.entities[cid]
        assert container.kind is EntityKind.CONTAINER and container.name == name
        assert container.labels["gestalt.test"] == "1"
        assert container.attrs["image"] == TEST_IMAGE
        assert container.attrs["restart_count"] == 0
        inspected = msgspec.json.decode(await docker("inspect", full_id))[0]
        assert container.attrs["pid"] == inspected["State"]["Pid"]
        assert container.endpoints == [inspected["NetworkSettings"]["Networks"][net]["IPAddress"]]
        assert sink.entities[ids.docker_network(engine, net)].kind is EntityKind.NETWORK
        assert sink.entities[ids.docker_volume(engine, vol)].kind is EntityKind.VOLUME
        assert sink.connections[vol_edge].attrs == {"path": "/data"}
        pid_edge = ids.connection("owns", cid, ids.process(engine, inspected["State"]["Pid"]))
        assert sink.connections[pid_edge].kind is ConnectionKind.OWNS
        await sink.wait_for(lambda: any(e.reason == "start" and e.entity_id == cid
                                        for e in sink.events), what="start event in the feed")

        # CPU is a difference between two of our own samples: it shows from the second on.
        def cpu_sample() -> dict[str, float | int | None] | None:
            return next((values for entity_id, values, _ in sink.metric_samples
                         if entity_id == cid and values["cpu_percent"] is not None), None)

        values = await sink.wait_for(cpu_sample, what="container CPU from two samples")
        assert 0 <= float(values["cpu_percent"] or 0) <= 100  # a share of the whole host
        assert 0 < int(values["memory_bytes"] or 0) <= int(values["memory_limit"] or 0)
        assert values["network_rx_bytes"] is not None

        await docker("stop", name)
        await sink.wait_for(lambda: sink.entities[cid].status is EntityStatus.EXITED,
                            what="exited after docker stop")
        die = await sink.wait_for(lambda: next((e for e in sink.events
                                                if e.entity_id == cid and e.reason == "die"), None),
                                  what="die event in the feed")
        assert die.message == f"container {name} stopped on request (exit code 0)"
        assert die.severity is Severity.INFO and die.type == "Normal"
        assert sink.entities[cid].attrs["exit_code"] == 0
        assert sink.entities[cid].attrs["reason"] == "Stopped"
        assert pid_edge not in sink.connections  # no process once it exited
        assert net_edge not in sink.connections  # nor a place on the network
        assert vol_edge in sink.connections  # its volume is still its own
        # Its last stats are withdrawn: a stopped container uses nothing.
        last = [values for entity_id, values, _ in sink.metric_samples if entity_id == cid][-1]
        assert set(last.values()) == {None}

        await docker("rm", name)
        await sink.wait_for(lambda: cid not in sink.entities, what="removed after docker rm")
        assert vol_edge not in sink.connections


async def test_container_env_never_enters(
    docker_engine: str, objects: Objects, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"canary-{uuid.uuid4().hex}"
    sink = RecordingSink()
    async with running(new_source(docker_engine), sink):
        await sink.wait_for(lambda: sink.state is SourceState.OK, what="first snapshot")
        name, full_id = await objects.run("-e", f"DB_PASSWORD={canary}", "-e", f"OTHER={canary}")
        cid = ids.container(full_id)
        await sink.wait_for(lambda: any(e == cid for e, _, _ in sink.metric_samples),
                            what="stats of the canary container")
        await docker("stop", name)
        await sink.wait_for(lambda: any(e.entity_id == cid and e.reason == "die"
                                        for e in sink.events), what="die event")

    recorded = msgspec.json.encode([
        list(sink.entities.values()), list(sink.connections.values()), sink.events,
        sink.metric_samples, sink.statuses,
    ])
    assert cid.encode() in recorded  # the container was seen...
    assert canary.encode() not in recorded  # ...its environment was not
    assert canary not in caplog.text


async def test_engine_restart_converges_on_docker_ps(
    docker_engine: str, objects: Objects, tmp_path: Path
) -> None:
    """Run by the real engine (supervisor, hub, store): while dockerd is gone the source is
    down and its containers stay on the map, stale and unknown; afterwards the map equals
    `docker ps -a`."""
    pgrep = await asyncio.to_thread(subprocess.run, ["pgrep", "-x", "dockerd"],
                                    capture_output=True, text=True)
    pids = [pid for pid in pgrep.stdout.split() if not _zombie(int(pid))]
    require_service("local dockerd", docker_engine.startswith("unix://") and len(pids) == 1,
                    f"restarting the engine needs one local dockerd (found {pids})")
    dockerd = DockerDaemon(int(pids[0]))

    removed, _ = await objects.run()
    stopped, _ = await objects.run()
    created, _ = await objects.run(start=False)
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))),
                    sources=[new_source(docker_engine)])
    status = lambda: engine.hub.statuses["docker"]  # noqa: E731
    shown = lambda: {e.id: e for e in engine.store.entities.values()  # noqa: E731
                     if e.kind is EntityKind.CONTAINER}
    await engine.start()
    try:
        await eventually(lambda: shown_matches_docker_ps(shown()), timeout=30,
                         what="initial list")
        before = set(shown())
        try:
            dockerd.stop()
            await eventually(dockerd.stopped, timeout=30, what="dockerd exited")

            async def down_and_stale() -> bool:
                return (status().state is SourceState.DOWN
                        and status().reason.startswith(f"no Docker engine at {docker_engine}: ")
                        and all(e.stale and e.health_status is Health.UNKNOWN
                                for e in shown().values()))

            await eventually(down_and_stale, timeout=30,
                             what="the source down, its containers stale")
            assert set(shown()) == before  # last state kept, not deleted
            assert status().reason.endswith(("connection refused", "no such file or directory"))
        finally:
            await dockerd.start()  # even when the test fails: others need the engine
        # Change containers while the source is reconnecting.
        await docker("rm", "-f", removed)
        added, _ = await objects.run()
        await docker("start", created)

        async def converged() -> bool:
            return (status().state is SourceState.OK
                    and await shown_matches_docker_ps(shown())
                    and not any(e.stale for e in shown().values()))

        await eventually(converged, timeout=60, what="the map's containers == docker ps -a")
        for name in (stopped, created, added):
            full_id = await docker("inspect", "--format", "{{.Id}}", name)
            want = await docker("inspect", "--format", "{{.State.Status}}", name)
            assert shown()[ids.container(full_id)].attrs["state"] == want
        assert not [e for e in shown().values() if e.name == removed]
    finally:
        await engine.stop()


async def shown_matches_docker_ps(shown: Iterable[str]) -> bool:
    listed = {ids.container(i) for i in (await docker("ps", "-a", "--format", "{{.ID}}")).split()}
    return set(shown) == listed


class DockerDaemon:
    """The running dockerd, stopped by pid and started again the way it was started
    (scripts/services.sh: `nohup dockerd --host ... >log 2>&1 &`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        proc = f"/proc/{pid}"
        with open(f"{proc}/cmdline", "rb") as f:
            self.argv = [a.decode() for a in f.read().split(b"\0") if a]
        self.log = os.readlink(f"{proc}/fd/1")
        self.cwd = os.readlink(f"{proc}/cwd")

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    async def stopped(self) -> bool:
        return not os.path.exists(f"/proc/{self.pid}") or _zombie(self.pid)  # noqa: ASYNC240

    async def start(self) -> None:
        if not await asyncio.to_thread(engine_answers):
            await asyncio.to_thread(self._spawn)
        await eventually(lambda: asyncio.to_thread(engine_answers), timeout=90,
                         what="docker info after restart")

    def _spawn(self) -> None:
        # Where it was started, and its log, may be gone since (a checkout removed and cloned
        # again: /proc then says "<path> (deleted)"): it starts from / and logs nowhere then.
        cwd = self.cwd if os.path.isdir(self.cwd) else "/"
        logged = self.log.startswith("/") and os.path.isdir(os.path.dirname(self.log))
        with open(self.log if logged else os.devnull, "ab") as log:
            proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=cwd,
                                    start_new_session=True)
        _STARTED.append(proc)  # it outlives the test; keep the handle to it
        pidfile = os.path.join(self.cwd, ".services", "dockerd.pid")
        if os.path.exists(pidfile):  # keep `scripts/services.sh stop` able to stop it
            with open(pidfile, "w") as f:
                f.write(f"{proc.pid}\n")


_STARTED: list[subprocess.Popen[bytes]] = []


def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    return False

