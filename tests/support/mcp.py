"""MCP sessions with the official SDK's own client: over streamable HTTP (a running
server's `/mcp`) and over stdio (`gestalt mcp` as a child process)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def stdio_session(argv: list[str], env: Mapping[str, str], errlog: Any
                        ) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(env))
    async with stdio_client(params, errlog=errlog) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


def texts(result: CallToolResult) -> list[str]:
    return [block.text for block in result.content if block.type == "text"]


def answer(result: CallToolResult) -> Any:
    """The tool's answer (its first text block, JSON); fails on an error result."""
    assert not result.is_error, texts(result)
    return json.loads(texts(result)[0])


def notes(result: CallToolResult) -> list[str]:
    return [t for t in texts(result) if t.startswith("note: ")]
