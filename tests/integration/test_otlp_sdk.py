"""Two services instrumented with the real OpenTelemetry SDK call each other over real
HTTP at a known rate with 10% errors; one exports over OTLP/gRPC, the other over
OTLP/HTTP. The map must show the edge between their processes with the rate, error rate
and latency percentiles the spans carry."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import sys
from pathlib import Path

import pytest

from gestalt.model import ConnectionKind, EntityKind, ids
from tests.integration.otlp_support import running_source

SERVICE = Path(__file__).parents[1] / "fixtures" / "otlp" / "traced_service.py"
RATE = 25.0
COUNT = 200

pytestmark = pytest.mark.integration


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SERVICE), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


async def test_sdk_services_over_http_and_grpc_make_an_edge(tmp_path: Path) -> None:
    async with running_source() as (source, sink):
        server = await _start("server", "--otlp", "grpc", "--otlp-port", str(source.grpc_port),
                              "--name", "inventory")
        client = None
        try:
            assert server.stdout is not None
            port = int(await asyncio.wait_for(server.stdout.readline(), 20))
            durations_file = tmp_path / "durations.jsonl"
            client = await _start(
                "client", "--otlp", "http", "--otlp-port", str(source.http_port),
                "--name", "checkout", "--target", f"http://127.0.0.1:{port}/work",
                "--rate", str(RATE), "--count", str(COUNT), "--durations", str(durations_file))
            _, stderr = await asyncio.wait_for(client.communicate(), 60)
            assert client.returncode == 0, stderr.decode()[-2000:]

            host = socket.gethostname()
            caller, callee = ids.process(host, client.pid), ids.process(host, server.pid)
            edge_id = ids.connection(ConnectionKind.HTTP.value, caller, callee)
            edge = await sink.wait_for(
                lambda: (c := sink.connections.get(edge_id)) and c.attrs["requests"] == COUNT
                and c,
                timeout=30, what=f"{COUNT} paired requests on {edge_id}")
        finally:
            for proc in (server, client):
                if proc is not None and proc.returncode is None:
                    proc.terminate()
                    await proc.wait()

    samples = [json.loads(line) for line in durations_file.read_text().splitlines()]
    assert len(samples) == COUNT
    assert edge.requests_per_sec == pytest.approx(RATE, rel=0.10)
    assert edge.error_rate == pytest.approx(0.10, abs=0.02)
    assert edge.attrs["errors"] == COUNT // 10
    # Percentiles of the client spans' own durations, to the histogram's 1% accuracy.
    durations = [s["ms"] for s in samples]
    assert edge.attrs["latency_p50_ms"] == pytest.approx(_nearest_rank(durations, 0.5), rel=0.02)
    assert edge.attrs["latency_p99_ms"] == pytest.approx(_nearest_rank(durations, 0.99), rel=0.02)
    assert edge.latency_ms == edge.attrs["latency_p50_ms"]

    callee_entity = sink.entities[callee]
    assert callee_entity.kind == EntityKind.PROCESS
    assert callee_entity.name == "inventory"
    assert callee_entity.attrs["service.name"] == "inventory"
    assert callee_entity.custom_metrics["error_rate"] == pytest.approx(0.10, abs=0.02)
    assert sink.entities[caller].name == "checkout"
