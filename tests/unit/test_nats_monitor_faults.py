"""The poller against a real local HTTP server that replays recorded monitoring answers
and misbehaves on demand: 5xx, truncated JSON, a hang, then nothing listening."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest

from gestalt.model import EntityKind, SourceState
from gestalt.model.config import NatsCollector
from gestalt.sources.base import SourceUnavailable
from gestalt.sources.nats import NatsSource, monitor
from tests.support.sinks import RecordingSink

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nats"


class ReplayServer:
    """Serves tests/fixtures/nats/<endpoint>.json; `mode` decides how well."""

    def __init__(self, connections: int = 1) -> None:
        self.mode = "ok"
        self.connections = connections
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()

    async def __aenter__(self) -> ReplayServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self._closing.set()
            for writer in self._writers:
                writer.close()
            await self.server.wait_closed()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def body(self, target: str) -> bytes:
        parts = urlsplit(target)
        name = parts.path.strip("/")
        if name != "connz":
            return (FIXTURES / f"{name}.json").read_bytes()
        # Many connections, paged as the server does: offset/limit, total.
        query = {k: int(v[0]) for k, v in parse_qs(parts.query).items() if k in ("offset", "limit")}
        page = msgspec.json.decode((FIXTURES / "connz.json").read_bytes())
        template = page["connections"][0]
        offset, limit = query.get("offset", 0), query.get("limit", 1024)
        page["connections"] = [
            {**template, "cid": cid, "port": 20000 + cid}
            for cid in range(offset, min(offset + limit, self.connections))
        ]
        page.update(total=self.connections, offset=offset, limit=limit)
        return msgspec.json.encode(page)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while not self._closing.is_set():
                request = await reader.readuntil(b"\r\n\r\n")
                target = request.split(b" ")[1].decode()
                self.requests.append(target)
                if self.mode == "hang":
                    await self._closing.wait()
                    return
                status, body = b"200 OK", self.body(target)
                if self.mode == "500":
                    status, body = b"500 Internal Server Error", b"oops"
                elif self.mode == "truncated":
                    body = body[: len(body) // 2]
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()


def config_for(url: str) -> NatsCollector:
    # No sampled subjects: these tests are about the monitoring poller alone.
    return NatsCollector(monitor_url=url, poll_interval=0.05, subjects=[])


async def test_the_poller_degrades_on_bad_answers_and_recovers() -> None:
    async with ReplayServer() as replay:
        sink = RecordingSink()
        source = NatsSource(config_for(replay.url), timeout=0.3)
        task = asyncio.create_task(source.run(sink))
        try:
            await sink.wait_for(lambda: sink.state is SourceState.OK, what="first poll")
            assert sink.of_kind(EntityKind.NATS_SERVER)
            for mode, reason in [("500", "HTTP 500"), ("truncated", "unreadable JSON"),
                                 ("hang", "timed out")]:
                replay.mode = mode
                await sink.wait_for(
                    lambda reason=reason: sink.state is SourceState.DEGRADED
                    and reason in sink.statuses[-1][1], what=f"degraded by {mode}")
                replay.mode = "ok"
                before = sink.snapshots
                await sink.wait_for(
                    lambda before=before: sink.state is SourceState.OK
                    and sink.snapshots > before, what=f"recovery after {mode}")
            assert not task.done()  # it kept going through all of it
            # The last state survived the bad polls: still the recorded server and stream.
            assert {e.kind for e in sink.entities.values()} >= {
                EntityKind.NATS_SERVER, EntityKind.NATS_STREAM, EntityKind.NATS_CONSUMER}
            # Nothing listening any more: that is for the supervisor (retry with backoff).
            await replay.close()
            with pytest.raises(SourceUnavailable):
                await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def test_unreachable_monitoring_raises_source_unavailable() -> None:
    async with ReplayServer() as replay:
        url = replay.url
    source = NatsSource(config_for(url))
    with pytest.raises(SourceUnavailable, match="unreachable"):
        await asyncio.wait_for(source.run(RecordingSink()), 10)


async def test_connz_is_paged_past_1024_connections() -> None:
    async with ReplayServer(connections=2500) as replay:
        async with httpx.AsyncClient(base_url=replay.url) as client:
            connz = await monitor.fetch_connz(client)
        assert len(connz.connections) == 2500
        assert len({c.cid for c in connz.connections}) == 2500
        pages = [r for r in replay.requests if r.startswith("/connz")]
        assert len(pages) == 3 and "offset=2048" in pages[-1]
