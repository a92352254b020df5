"""A hub or an agent started while its NATS server cannot be reached says so: nats-py,
allowed to reconnect, would retry the first connection for ever with the reason only in
its error callback (the hub's sites stayed "starting" with no reason; the agent logged
nothing). No NATS server is needed: nothing listens on the port."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from gestalt.model.config import AgentsCollector
from gestalt.sources import SourceUnavailable
from gestalt.sources.agents import SiteSource
from gestalt.sources.agents.connect import connect


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


async def test_connect_raises_when_the_server_cannot_be_reached() -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    async with asyncio.timeout(10):
        with pytest.raises(OSError):
            await connect(closed_port_url(), timeout=2, on_error=on_error)
    assert errors, "the caller's error callback hears the error too"


async def test_a_hub_site_says_its_nats_server_cannot_be_reached() -> None:
    url = closed_port_url()
    site = SiteSource(AgentsCollector(enabled=True, url=url, sites=["east"]), "east")
    reason = f"NATS at {re.escape(url)}: .*Connect call failed"
    async with asyncio.timeout(10):
        with pytest.raises(SourceUnavailable, match=reason):
            await site.run(None)  # type: ignore[arg-type]  # fails before using the sink
