"""The host source against this machine: real processes, real sockets, real disks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import msgspec
import psutil
import pytest

from gestalt.model import ConnectionKind, EntityKind, SourceState, ids
from gestalt.model.config import HostCollector
from gestalt.sources.host import HostSource
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

HOST = socket.gethostname()

# A listener that accepts and holds connections; a connector that connects and holds it.
# `--password=canary123` is there to prove the command line is redacted.
# Short on purpose: the command line is cut at 200 characters and the canary must be in it.
LISTENER = ("import socket;l=socket.create_server(('127.0.0.1',0));"
            "print(l.getsockname()[1],flush=True);h=[l.accept() for _ in iter(int,1)]")
CONNECTOR = ("import socket,sys;c=socket.create_connection(('127.0.0.1',int(sys.argv[1])));"
             "print('connected',flush=True);sys.stdin.read()")


@contextlib.contextmanager
def spawn(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
async def sink() -> AsyncIterator[RecordingSink]:
    sink = RecordingSink()
    task = asyncio.create_task(HostSource(HostCollector(poll_interval=0.2)).run(sink))
    yield sink
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_processes_edge_node_and_disks(sink: RecordingSink) -> None:
    with spawn("-c", LISTENER, "--password=canary123") as listener:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        with spawn("-c", CONNECTOR, str(port)) as connector:
            assert connector.stdout is not None
            assert connector.stdout.readline().strip() == "connected"
            server_id = ids.process(HOST, listener.pid)
            client_id = ids.process(HOST, connector.pid)
            edge_id = ids.connection("network", client_id, server_id)

            await sink.wait_for(lambda: edge_id in sink.connections, timeout=10,
                                what="connector -> listener edge")

            edge = sink.connections[edge_id]
            assert edge.kind is ConnectionKind.NETWORK
            assert edge.attrs == {"port": port}
            # No edge back from the listener's accepted socket.
            assert ids.connection("network", server_id, client_id) not in sink.connections

            server, client = sink.entities[server_id], sink.entities[client_id]
            assert server.kind is EntityKind.PROCESS and client.kind is EntityKind.PROCESS
            assert server.attrs["pid"] == listener.pid
            assert server.attrs["listening_ports"] == str(port)
            assert f"127.0.0.1:{port}" in server.endpoints
            assert server.memory_bytes and server.memory_bytes > 0
            assert "canary123" not in str(server.attrs["cmdline"])
            assert "--password=***" in str(server.attrs["cmdline"])

            node_id = ids.host_node(HOST)
            assert ids.connection("owns", node_id, server_id) in sink.connections

            # CPU needs two looks at the same process: it shows from the second poll on.
            await sink.wait_for(lambda: sink.entities.get(client_id) is not None
                                and sink.entities[client_id].cpu_percent is not None,
                                timeout=10, what="process CPU on a later poll")

    node = sink.entities[node_id]
    assert node.kind is EntityKind.NODE and node.name == HOST
    assert node.memory_limit and node.memory_bytes and node.memory_bytes <= node.memory_limit
    assert node.attrs["cpu_count"] and node.attrs["kernel"]
    assert node.cpu_percent is not None  # a later poll has a CPU figure

    volumes = sink.of_kind("volume")
    assert volumes, "at least one mounted disk"
    root = max(volumes, key=lambda v: int(v.attrs["capacity_bytes"] or 0))
    assert int(root.attrs["capacity_bytes"] or 0) > 0
    assert 0 <= root.custom_metrics["used_percent"] <= 100
    assert ids.connection("volume", node_id, root.id) in sink.connections
    assert sink.state is SourceState.OK

    # The processes are gone from the next snapshot once they exit.
    await sink.wait_for(lambda: server_id not in sink.entities, timeout=10,
                        what="exited listener removed")
    assert edge_id not in sink.connections


LOOPBACK_BYTES = 64 * 1024 * 1024


def _send_over_loopback(total: int) -> None:
    """Push `total` bytes from one socket to another through 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as sender:
            receiver, _ = server.accept()
            with receiver:
                chunk = b"x" * (1024 * 1024)

                def drain() -> None:
                    left = total
                    while left > 0:
                        left -= len(receiver.recv(1024 * 1024))

                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    done = pool.submit(drain)
                    for _ in range(total // len(chunk)):
                        sender.sendall(chunk)
                    done.result(timeout=60)


def test_node_network_rate_leaves_loopback_out() -> None:
    """Local processes talking over 127.0.0.1 are not the machine's network traffic: the
    node's rate is what its interfaces carry (the issue saw rx = tx = 65.7 KB/s of
    loopback on a host whose eth0 carried 350 B/s)."""
    source = HostSource(HostCollector())
    _, _, started = source.poll()
    _send_over_loopback(LOOPBACK_BYTES)
    entities, _, ended = source.poll()
    node = next(e for e in entities if e.kind is EntityKind.NODE)
    assert "lo" not in str(node.attrs["network_interfaces"]).split(",")
    assert node.network_rx_rate is not None and node.network_tx_rate is not None
    # The 64 MiB went through lo; what the measured interfaces carried meanwhile is
    # whatever else this machine did, far less, not 64 MiB on top.
    received = node.network_rx_rate * (ended - started)
    sent = node.network_tx_rate * (ended - started)
    assert received < LOOPBACK_BYTES / 4 and sent < LOOPBACK_BYTES / 4, (received, sent)


BUSY = ("import hashlib,sys,threading\n"
        "data=b'x'*(1<<20)\n"
        "def spin():\n"
        "    while True: hashlib.sha256(data).digest()\n"  # releases the GIL: real cores
        "for _ in range(int(sys.argv[1])): threading.Thread(target=spin,daemon=True).start()\n"
        "import socket;l=socket.create_server(('127.0.0.1',0));print('up',flush=True)\n"
        "sys.stdin.read()")


async def test_process_cpu_is_a_share_of_the_whole_machine() -> None:
    """CPU % means one thing for every entity: a share of all the cores the thing may
    use (here the machine's), within 0..100 however many cores a process keeps busy;
    psutil alone says 100 % per busy core."""
    cores = psutil.cpu_count() or 1
    source = HostSource(HostCollector())
    with spawn("-c", BUSY, str(2 * cores)) as busy:
        assert busy.stdout is not None and busy.stdout.readline().strip() == "up"
        proc = psutil.Process(busy.pid)

        def cpu_seconds() -> float:
            times = proc.cpu_times()
            return float(times.user + times.system)

        await asyncio.to_thread(source.poll)  # the first look: no CPU figure yet
        start, started = cpu_seconds(), time.monotonic()
        await eventually(lambda: cpu_seconds() - start >= 1.0, timeout=30,
                         what="a second of CPU time burnt by the busy process")
        entities, _, _ = await asyncio.to_thread(source.poll)
        used, elapsed = cpu_seconds() - start, time.monotonic() - started
    reading = next(e for e in entities if e.id == ids.process(HOST, busy.pid)).cpu_percent
    expected = 100 * used / elapsed / cores
    assert reading is not None and 0 <= reading <= 100
    assert reading == pytest.approx(expected, rel=0.3), (reading, expected)


def test_two_machines_of_one_host_name_on_one_hub_are_flagged_not_silently_merged() -> None:
    """A host's ids carry its host name, so two machines of one name (cloned VMs) that report
    to one hub as two sites make one node. The hub says so on that node; the same machine
    seen twice (a site's agent beside the hub's own host source) stays quiet."""
    from gestalt.engine.hub import Hub
    from gestalt.engine.store import Store
    from gestalt.model import Health

    entities, connections, _ = HostSource(HostCollector()).poll()
    node_id = ids.host_node(HOST)
    store = Store(ring_size=10)
    hub = Hub(store)
    for source in ("host", "site:east", "site:west"):
        hub.sink(source).status(SourceState.OK)
    hub.sink("host").snapshot(entities, connections)
    hub.sink("site:east").snapshot(entities, connections)  # this machine, its own agent
    node = store.entities[node_id]
    assert node.sources == ["host", "site:east"]
    assert not any("machines report" in r for r in node.health_reasons), node.health_reasons

    # Another machine of this name: booted at another time.
    twin = [e if e.id != node_id else msgspec.structs.replace(
        e, attrs={**e.attrs, "boot_time": float(str(e.attrs["boot_time"])) - 86_400})
        for e in entities]
    hub.sink("site:west").snapshot(twin, connections)
    node = store.entities[node_id]
    assert node.health_status in (Health.WARNING, Health.CRITICAL)
    assert node.health_reasons[0] == (
        f"2 machines report the host name {HOST} (host, site:east; site:west): their "
        "processes and volumes are shown as one machine's; give each machine its own "
        "host name")

    hub.sink("site:west").snapshot([], [])  # that machine's agent goes away
    node = store.entities[node_id]
    assert not any("machines report" in r for r in node.health_reasons), node.health_reasons
