"""The docker source's translation of engine answers, on responses recorded from a real
engine (tests/fixtures/docker/), and its start-up failures on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import msgspec
import pytest

from gestalt.model import ConnectionKind, EntityStatus, Severity, ids
from gestalt.model.config import DockerCollector
from gestalt.sources import SourceError, SourceUnavailable
from gestalt.sources.docker import DockerSource, entities
from gestalt.sources.docker.api import ContainerInspect, DockerEvent, Stats
from gestalt.sources.docker.events import StopRequests, feed_event
from gestalt.sources.docker.source import _Refresher
from gestalt.sources.docker.stats import StatsTracker
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually

FIXTURES = Path(__file__).parent.parent / "fixtures" / "docker"
ENV_CANARY = b"canary-env-4711"  # the recorded container's Env holds it


def inspect_fixture() -> ContainerInspect:
    return msgspec.json.decode((FIXTURES / "container_inspect.json").read_bytes(),
                               type=ContainerInspect)


def test_recorded_inspect_really_holds_the_canary():
    assert ENV_CANARY in (FIXTURES / "container_inspect.json").read_bytes()


def test_decoded_inspect_has_no_environment():
    decoded = inspect_fixture()
    assert ENV_CANARY not in msgspec.json.encode(decoded)
    entity, edges = entities.container(decoded, engine="vm", local=True)
    assert ENV_CANARY not in msgspec.json.encode([entity, edges])


def test_container_entity_and_edges():
    entity, edges = entities.container(inspect_fixture(), engine="vm", local=True,
                                       metrics={"cpu_percent": 2.5, "memory_bytes": None})
    cid = ids.container("136cadee59a4")
    assert entity.id == cid and entity.name == "gfx-web"
    assert entity.status is EntityStatus.RUNNING
    assert entity.labels == {"app": "web", "gestalt.test": "1"}
    assert entity.attrs == {
        "image": "gestalt-busybox:test", "state": "running",
        "restart_count": 0, "restart_policy": "no", "pid": 8892, "health_check": "healthy",
        "ports": "80/tcp->0.0.0.0:18080,[::]:18080",
        "started_at": "2026-11-27T10:03:45.350104985Z",
    }
    assert entity.endpoints == ["172.18.0.2"]
    assert entity.cpu_percent == 2.5 and entity.memory_bytes is None
    assert {(e.target_id, e.kind) for e in edges} == {
        (ids.docker_network("vm", "gfx-net"), ConnectionKind.NETWORK),
        (ids.docker_volume("vm", "gfx-vol"), ConnectionKind.VOLUME),
        (ids.process("vm", 8892), ConnectionKind.OWNS),
    }
    # A remote engine's PIDs are not this machine's: no process link.
    _, remote_edges = entities.container(inspect_fixture(), engine="vm", local=False)
    assert ConnectionKind.OWNS not in {e.kind for e in remote_edges}


def test_cpu_memory_and_network_from_two_one_shot_samples():
    first, second = (msgspec.json.decode((FIXTURES / name).read_bytes(), type=Stats)
                     for name in ("stats_1.json", "stats_2.json"))
    tracker = StatsTracker()
    before = tracker.metrics("c1", first)
    assert before["cpu_percent"] is None  # one sample has no CPU figure
    assert before["network_rx_rate"] is None
    after = tracker.metrics("c1", second)
    # (90448322 - 68930377) ns of container CPU over (1183870000000 - 1180880000000) ns of
    # host CPU, times 2 CPUs online.
    # A share of the whole host (docker stats would say twice that: 2 CPUs online).
    assert after["cpu_percent"] == pytest.approx(21517945 / 2990000000 * 100)
    raw = msgspec.json.decode((FIXTURES / "stats_2.json").read_bytes())["memory_stats"]
    assert after["memory_bytes"] == raw["usage"] - raw["stats"]["total_inactive_file"]
    assert after["memory_limit"] == raw["limit"]
    assert after["network_rx_bytes"] == 1112 and after["network_rx_rate"] == 0.0
    tracker.keep_only([])
    assert tracker.metrics("c1", second)["cpu_percent"] is None  # forgotten


def recorded_events(name: str = "events.jsonl") -> list[DockerEvent]:
    lines = (FIXTURES / name).read_bytes().splitlines()
    return [msgspec.json.decode(line, type=DockerEvent) for line in lines]


def test_a_stopped_container_is_no_member_of_its_networks():
    # Recorded after `docker stop`: inspect still names gfx-net, with no endpoint on it.
    stopped = msgspec.json.decode((FIXTURES / "container_inspect_stopped.json").read_bytes(),
                                  type=ContainerInspect)
    assert stopped.NetworkSettings.Networks and "gfx-net" in stopped.NetworkSettings.Networks
    entity, edges = entities.container(stopped, engine="vm", local=True)
    assert entity.status is EntityStatus.EXITED and entity.endpoints == []
    # Its exit code says how it ended; it publishes no port now (no empty "Ports" row).
    assert entity.attrs["exit_code"] == 137 and "ports" not in entity.attrs
    assert {(e.target_id, e.kind) for e in edges} == {
        (ids.docker_volume("vm", "gfx-vol"), ConnectionKind.VOLUME)}
    assert ENV_CANARY not in msgspec.json.encode([entity, edges])


def test_why_a_container_stopped():
    stopped = msgspec.json.decode((FIXTURES / "container_inspect_stopped.json").read_bytes(),
                                  type=ContainerInspect)
    asked, _ = entities.container(stopped, engine="vm", local=True, stop_requested=True)
    assert asked.attrs["reason"] == "Stopped" and asked.attrs["exit_code"] == 137
    assert asked.attrs["restart_policy"] == "no"
    unasked, _ = entities.container(stopped, engine="vm", local=True)
    assert unasked.attrs["reason"] == "Error"
    unseen, _ = entities.container(stopped, engine="vm", local=True, exit_witnessed=False)
    assert unseen.attrs["reason"] == "Signalled"  # 137 and no events: a stop, or a kill
    running, _ = entities.container(inspect_fixture(), engine="vm", local=True)
    assert "reason" not in running.attrs


def test_stop_requests_from_recorded_events():
    """Recorded: gfx-crash exits 3 by itself; gfx-reload gets SIGHUP (trapped: it keeps
    running), later SIGKILL; gfx-stopped is stopped, started and stopped again."""
    requests = StopRequests()
    by_name = {}
    seen = []
    for event in recorded_events("stop_events.jsonl"):
        requests.observe(event)
        name = (event.Actor.Attributes or {})["name"]
        by_name[name] = event.Actor.ID
        seen.append((event.Action, name, requests.asked(event.Actor.ID)))
        if event.Action == "die":
            feed = feed_event(event, engine="vm", stop_requested=requests.asked(event.Actor.ID))
            assert feed is not None
            if name == "gfx-crash":
                assert (feed.severity, feed.message) == (
                    Severity.WARNING, "container gfx-crash exited with code 3")
            else:
                assert (feed.severity, feed.message) == (
                    Severity.INFO, f"container {name} stopped on request (exit code 137)")
    assert ("die", "gfx-crash", False) in seen
    assert ("kill", "gfx-reload", False) in seen  # SIGHUP asks for no exit
    assert seen[-1] == ("stop", "gfx-stopped", True)
    # Every one of them ended in the events: none is a guess.
    assert all(requests.witnessed(cid) for cid in by_name.values())
    assert ("start", "gfx-stopped", False) in seen  # a start forgets the earlier stop
    requests.keep_only({by_name["gfx-crash"]})
    assert not requests.asked(by_name["gfx-stopped"])
    assert not requests.witnessed(by_name["gfx-stopped"])
    assert not StopRequests().witnessed(by_name["gfx-crash"])  # before any event


def test_feed_events_from_recorded_stream():
    feed = [f for e in recorded_events() if (f := feed_event(e, engine="vm")) is not None]
    # Recorded: docker run (with a health check), docker stop -t 1, docker rm. Health
    # checks' exec_* events, network and volume events are not feed material.
    assert [(f.reason, f.severity, f.type, f.message) for f in feed] == [
        ("start", Severity.INFO, "Normal", "container gfx-web started"),
        ("health_status", Severity.INFO, "Normal", "container gfx-web is healthy"),
        ("kill", Severity.INFO, "Normal", "container gfx-web was sent signal 15"),
        ("kill", Severity.INFO, "Normal", "container gfx-web was sent signal 9"),
        ("die", Severity.WARNING, "Warning", "container gfx-web exited with code 137"),
    ]
    container_ids = {e.Actor.ID for e in recorded_events() if e.Type == "container"}
    assert {f.entity_id for f in feed} == {ids.container(i) for i in container_ids}
    assert len({f.id for f in feed}) == len(feed)
    again = [feed_event(e, engine="vm") for e in recorded_events()]
    assert [f.id for f in again if f] == [f.id for f in feed]  # stable ids


@pytest.mark.parametrize(("action", "attrs", "severity", "message"), [
    ("start", {}, Severity.INFO, "container web started"),
    ("die", {"exitCode": "0"}, Severity.INFO, "container web exited with code 0"),
    ("oom", {}, Severity.CRITICAL, "container web ran out of memory"),
    ("health_status: unhealthy", {}, Severity.WARNING, "container web is unhealthy"),
    ("health_status: healthy", {}, Severity.INFO, "container web is healthy"),
])
def test_feed_event_wording(action, attrs, severity, message):
    event = DockerEvent(Type="container", Action=action, timeNano=1,
                        Actor={"ID": "ab" * 32, "Attributes": {"name": "web", **attrs}})
    event = msgspec.convert(msgspec.to_builtins(event), DockerEvent)
    feed = feed_event(event, engine="vm")
    assert feed is not None and (feed.severity, feed.message) == (severity, message)


def test_docker_host_wins_over_the_configured_socket(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert DockerSource(DockerCollector(socket="unix:///x.sock")).url == "tcp://127.0.0.1:2375"
    monkeypatch.delenv("DOCKER_HOST")
    assert DockerSource(DockerCollector(socket="unix:///x.sock")).url == "unix:///x.sock"
    assert DockerSource(DockerCollector(socket=None)).url == "unix:///var/run/docker.sock"


async def test_missing_socket_says_why(tmp_path):
    url = f"unix://{tmp_path}/docker.sock"
    with pytest.raises(SourceUnavailable) as raised:
        await DockerSource(DockerCollector(), host=url).run(RecordingSink())
    assert str(raised.value) == f"no Docker engine at {url}: no such file or directory"


async def test_refused_connection_says_why():
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    with pytest.raises(SourceUnavailable) as raised:
        await DockerSource(DockerCollector(), host=url).run(RecordingSink())
    assert str(raised.value) == f"no Docker engine at {url}: connection refused"


class _StatsEngine:
    """Answers stats from the recorded samples; one container's request fails, as a stats
    call racing a `docker pause` does."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.samples = [msgspec.json.decode((FIXTURES / name).read_bytes(), type=Stats)
                        for name in ("stats_1.json", "stats_2.json")]
        self.calls = 0

    async def stats(self, container_id: str) -> Stats | None:
        if container_id == self.failing:
            raise SourceError("Docker engine: GET /containers/x/stats: TimeoutError")
        self.calls += 1
        return self.samples[min(self.calls - 1, 1)]


async def test_one_containers_stats_failing_does_not_stop_the_others() -> None:
    source = DockerSource(DockerCollector(poll_interval=0.01))
    source._live = {"a" * 64, "b" * 64}
    engine = _StatsEngine(failing="a" * 64)
    sink = RecordingSink()
    poll = asyncio.create_task(source._poll_stats(engine, sink))  # type: ignore[arg-type]
    try:
        await sink.wait_for(lambda: any(v.get("cpu_percent") is not None
                                        for _, v, _ in sink.metric_samples),
                            what="a CPU figure for the healthy container")
        assert not poll.done()  # still polling: the failure was not fatal
        assert {eid for eid, _, _ in sink.metric_samples} == {ids.container("b" * 64)}
    finally:
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll


async def test_a_slow_inspect_holds_up_only_its_own_container() -> None:
    """The engine can take 30 s to answer an inspect of a container being paused while a
    health check probes it: the other containers' news must not wait for it, and that
    container's own news during the wait makes one more inspect, not one each."""
    stuck, started = asyncio.Event(), asyncio.Event()
    done: list[tuple[str, float]] = []

    async def refresh(container_id: str, at: float) -> None:
        if container_id == "paused" and not done:
            started.set()
            await stuck.wait()
        done.append((container_id, at))

    async with asyncio.TaskGroup() as group:
        refresher = _Refresher(group, refresh)
        refresher.request("paused", 1.0)
        await asyncio.wait_for(started.wait(), 2)
        for n in range(3):  # its health_status and die events, say
            refresher.request("paused", 2.0 + n)
        refresher.request("other", 1.5)
        await eventually(lambda: done, timeout=2, what="the other container")
        assert done == [("other", 1.5)]
        stuck.set()
    assert done == [("other", 1.5), ("paused", 1.0), ("paused", 4.0)]
