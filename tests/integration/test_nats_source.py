"""NatsSource against a real nats-server (JetStream on), with real publisher and
consumer processes from gestalt.sim.natsdemo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import msgspec
import nats
import psutil
import pytest
from nats.js.api import StreamConfig

from gestalt.model import EntityKind, Health, SourceState, ids
from gestalt.model.config import NatsCollector
from gestalt.sources.base import SourceError
from gestalt.sources.nats import NatsSource
from tests.support.nats_server import NatsServer, nats_server, new_server  # noqa: F401
from tests.support.sinks import RecordingSink

pytestmark = pytest.mark.integration
SERVER = "gestalt-test"  # the fixture's server_name


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start natsdemo roles as real processes; all are stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "gestalt.sim.natsdemo", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        proc.terminate()
    for proc in started:
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def running(source: NatsSource, sink: RecordingSink,
                  failures: list[Exception] | None = None) -> AsyncIterator[None]:
    """Run the source as the engine's supervisor would: again after each failure."""

    async def supervise() -> None:
        while True:
            try:
                await source.run(sink)
            except SourceError as exc:
                if failures is not None:
                    failures.append(exc)
                await asyncio.sleep(0.2)  # the supervisor's backoff, shortened

    task = asyncio.create_task(supervise())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def client_address(server: NatsServer, name: str) -> tuple[str, int] | None:
    for conn in server.get("/connz")["connections"]:
        if conn.get("name") == name:
            return conn["ip"], conn["port"]
    return None


async def wait_clients(server: NatsServer, *names: str) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for _ in range(200):
        found = {n: a for n in names if (a := client_address(server, n))}
        if len(found) == len(names):
            return found
        await asyncio.sleep(0.05)  # polling /connz with a deadline
    raise AssertionError(f"clients {names} never connected; found {found}")


def within(value: float | None, expected: float, tolerance: float = 0.2) -> bool:
    return value is not None and abs(value - expected) <= tolerance * expected


async def test_publishers_and_subscriber_flow_through_the_subject(
    nats_server: NatsServer, processes: Callable[..., subprocess.Popen[bytes]]  # noqa: F811
) -> None:
    url = nats_server.url
    rates = {"orders-pub-a": 40.0, "orders-pub-b": 20.0}
    pubs = {name: processes("publish", "--url", url, "--subject", "orders.created",
                            "--rate", str(rate), "--name", name) for name, rate in rates.items()}
    processes("subscribe", "--url", url, "--subject", "orders.created", "--name", "orders-sub")
    clients = await wait_clients(nats_server, *rates, "orders-sub")
    # The endpoints are the sockets of those very processes.
    for name, proc in pubs.items():
        ip, port = clients[name]
        sockets = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(proc.pid).net_connections()}
        assert (ip, port) in sockets

    sink = RecordingSink()
    config = NatsCollector(url=url, monitor_url=nats_server.monitor_url, poll_interval=1.0,
                           subjects=["orders.>"])
    subject = ids.nats_subject(SERVER, "orders.created")
    endpoints = {name: ids.endpoint(*addr) for name, addr in clients.items()}

    def flows_match() -> bool:
        edges = {(c.source_id, c.target_id): c for c in sink.connections.values()}
        pub_ok = all(within(getattr(edges.get((endpoints[n], subject)), "requests_per_sec", None),
                            rate) for n, rate in rates.items())
        sub_edge = edges.get((subject, endpoints["orders-sub"]))
        return pub_ok and sub_edge is not None and within(sub_edge.requests_per_sec, 60.0)

    async with running(NatsSource(config), sink):
        await sink.wait_for(flows_match, timeout=30, what="publish/deliver edges at true rates")
    edges = {(c.source_id, c.target_id): c for c in sink.connections.values()}
    assert edges[(endpoints["orders-pub-a"], subject)].attrs["attribution"] == "inferred"
    assert edges[(subject, endpoints["orders-sub"])].attrs["attribution"] == "measured"
    entity = sink.entities[subject]
    assert entity.kind is EntityKind.NATS_SUBJECT and entity.custom_metrics["subscribers"] == 1
    assert within(entity.custom_metrics["msgs_per_sec"], 60.0)
    # The sampling connection is Gestalt's own: not on the map as a client.
    assert not any("gestalt-sampler" in str(c.attrs.get("client"))
                   for c in sink.connections.values())


async def test_a_consumer_that_stops_acking_stalls_and_the_feed_says_why(
    nats_server: NatsServer, processes: Callable[..., subprocess.Popen[bytes]]  # noqa: F811
) -> None:
    nc = await nats.connect(nats_server.url)
    await nc.jetstream().add_stream(StreamConfig(name="STALL", subjects=["stall.>"]))
    await nc.close()
    url = nats_server.url
    processes("pull", "--url", url, "--stream", "STALL", "--consumer", "lazy",
              "--subject", "stall.>", "--max-ack-pending", "10", "--no-ack", "--name", "lazy")
    processes("publish", "--url", url, "--subject", "stall.work", "--rate", "20",
              "--name", "stall-pub")
    consumer = ids.nats_consumer(SERVER, "STALL", "lazy")
    sink = RecordingSink()
    config = NatsCollector(url=url, monitor_url=nats_server.monitor_url, poll_interval=0.5,
                           subjects=["stall.>"])

    def reasons() -> set[str]:
        return {e.reason for e in sink.events if e.entity_id == consumer}

    async with running(NatsSource(config), sink):
        await sink.wait_for(lambda: consumer in sink.entities and
                            sink.entities[consumer].attrs.get("stalled"), timeout=20,
                            what="the consumer flagged stalled")
        stalled = sink.entities[consumer]
        assert stalled.health_status is Health.CRITICAL
        assert stalled.custom_metrics["num_ack_pending"] == 10
        first = stalled.custom_metrics["num_pending"]
        await sink.wait_for(
            lambda: sink.entities[consumer].custom_metrics["num_pending"] > first + 10,
            timeout=20, what="pending to keep growing")
        await sink.wait_for(lambda: {"ConsumerStalled", "ConsumerBacklogGrowing"} <= reasons(),
                            timeout=20, what="feed events")
    event = next(e for e in sink.events if e.reason == "ConsumerStalled")
    assert "MaxAckPending" in event.message and "10/10" in event.message
    assert event.entity_kind is EntityKind.NATS_CONSUMER and event.source == "nats"


async def test_the_source_recovers_from_three_server_restarts(
    processes: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = new_server(name="gestalt-restart")
    server.start()
    try:
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(StreamConfig(name="TICKS", subjects=["tick.>"]))
        await nc.close()
        processes("publish", "--url", server.url, "--subject", "tick.now", "--rate", "20",
                  "--name", "ticker")
        processes("subscribe", "--url", server.url, "--subject", "tick.*", "--name", "tock")
        sink, failures = RecordingSink(), []
        config = NatsCollector(url=server.url, monitor_url=server.monitor_url,
                               poll_interval=0.3, subjects=["tick.>"])
        server_entity = ids.nats_server("gestalt-restart")

        def sees_current_server_with_traffic() -> bool:
            entity = sink.entities.get(server_entity)
            current = server.get("/varz")["server_id"]
            flowing = any(c.target_id.startswith("endpoint:") and (c.requests_per_sec or 0) > 0
                          for c in sink.connections.values())
            return (entity is not None and entity.attrs["server_id"] == current and flowing
                    and sink.state is SourceState.OK)

        async with running(NatsSource(config), sink, failures):
            for restart in range(3):
                await sink.wait_for(sees_current_server_with_traffic, timeout=30,
                                    what=f"live data before restart {restart + 1}")
                seen = len(failures)
                server.kill()
                await sink.wait_for(lambda seen=seen: len(failures) > seen, timeout=15,
                                    what="the source to notice the server is gone")
                server.start()
            await sink.wait_for(sees_current_server_with_traffic, timeout=30,
                                what="live data after the last restart")
            # The final state matches what the monitoring endpoints say now.
            varz, connz = server.get("/varz"), server.get("/connz?subs=1")
            jsz = server.get("/jsz?streams=true&consumers=true")
            entity = sink.entities[server_entity]
            assert entity.attrs["server_id"] == varz["server_id"]
            assert entity.attrs["version"] == varz["version"]
            assert entity.custom_metrics["connections"] == varz["connections"]
            subscribed = {s for c in connz["connections"] if "gestalt-sampler" not in c["name"]
                          for s in c.get("subscriptions_list", []) if not s.startswith("_INBOX")}
            mapped = {e.name for e in sink.of_kind(EntityKind.NATS_SUBJECT)
                      if e.custom_metrics.get("subscribers")}
            assert mapped == subscribed == {"tick.*"}
            streams = {s["name"] for a in jsz["account_details"] for s in a["stream_detail"]}
            assert {e.name for e in sink.of_kind(EntityKind.NATS_STREAM)} == streams == {"TICKS"}
        assert all("unreachable" in str(f) for f in failures) and len(failures) >= 3
    finally:
        server.stop()


async def test_payloads_only_for_allow_listed_subjects(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-f3b9c2-do-not-leak"
    config = NatsCollector(url=nats_server.url, monitor_url=nats_server.monitor_url,
                           poll_interval=0.3, subjects=["vault.>", "public.>"],
                           payload_subjects=["public.>"], max_payload_bytes=16)
    source, sink = NatsSource(config), RecordingSink()
    samples: list[dict] = []

    async def watch() -> None:
        async for sample in source.sampled_messages(["vault.>", "public.>"]):
            samples.append(sample)
            sink._poke()  # wake wait_for

    async with running(source, sink):
        watcher = asyncio.create_task(watch())
        await sink.wait_for(lambda: source.sampler.connected, timeout=15, what="sampler up")
        nc = await nats.connect(nats_server.url)
        try:
            await nc.publish("vault.key", canary.encode(), headers={"X-Token": canary})
            await nc.publish("public.note", b"hello-public-" + b"x" * 100,
                             headers={"X-Trace": "t-1"})
            await nc.flush()
            await sink.wait_for(lambda: {s["subject"] for s in samples} >=
                                {"vault.key", "public.note"}, timeout=10, what="both samples")
            await sink.wait_for(lambda: ids.nats_subject(SERVER, "vault.key") in sink.entities,
                                timeout=10, what="the secret subject on the map")
        finally:
            await nc.close()
            watcher.cancel()
    vault = next(s for s in samples if s["subject"] == "vault.key")
    assert vault["size"] == len(canary) and vault["header_names"] == ["X-Token"]
    assert "payload" not in vault and "headers" not in vault
    public = next(s for s in samples if s["subject"] == "public.note")
    assert public["payload"] == "hello-public-xxx" and public["payload_truncated"] is True
    assert public["headers"] == {"X-Trace": "t-1"}
    recorded = msgspec.json.encode([list(sink.entities.values()),
                                    list(sink.connections.values()), sink.events,
                                    sink.statuses, sink.metric_samples]).decode()
    for where, text in [("samples", repr(samples)), ("sink", recorded), ("logs", caplog.text)]:
        assert canary not in text, f"the canary leaked into the {where}"


async def test_a_sampling_connection_refused_says_why(tmp_path: Path) -> None:
    """Monitoring answers, but the server wants credentials the source was not given: the
    source is degraded, and says what the server said (it said only "sampling connection
    down", which sent an operator looking at the network)."""
    config_file = tmp_path / "locked.conf"
    config_file.write_text('authorization { user: watcher, password: "s3cret" }\n')
    server = new_server(name="gestalt-locked", config=str(config_file))
    server.start()
    try:
        sink = RecordingSink()
        config = NatsCollector(url=server.url, monitor_url=server.monitor_url,
                               poll_interval=0.3, subjects=["tick.>"])
        async with running(NatsSource(config), sink):
            await sink.wait_for(
                lambda: sink.state is SourceState.DEGRADED
                and "Authorization Violation" in sink.statuses[-1][1], timeout=20,
                what="the refusal in the source's status")
        assert "sampling connection down" in sink.statuses[-1][1]
    finally:
        server.stop()
