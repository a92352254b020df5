"""The host source against this machine: real processes, real sockets, real disks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from gestalt.model import ConnectionKind, EntityKind, SourceState, ids
from gestalt.model.config import HostCollector
from gestalt.sources.host import HostSource
from tests.support.sinks import RecordingSink

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
