"""`gestalt mcp`: the world.infra.* paths for a local AI assistant, over stdio (MCP).

The assistant starts this command and speaks MCP on its stdin and stdout; Gestalt watches
what the configuration says, in this process, as `gestalt serve` would (its own history in
`--data-dir`, so it can run beside a server). stdout carries only MCP messages: logs go to
stderr. For a server that is already running, point the assistant at its `/mcp` instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gestalt.cli.common import (
    ConfigOption,
    LogLevelOption,
    fail,
    load,
    parse_log_level,
    setup_logging,
)

if TYPE_CHECKING:
    from gestalt.engine.runtime import Engine


def mcp(
    config_path: ConfigOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where history is kept.")] = None,
    log_level: LogLevelOption = "warning",
) -> None:
    """Answer an AI assistant's questions over MCP on stdin/stdout (read-only)."""
    level = parse_log_level(log_level)
    options: dict[str, tuple[str, object]] = {}
    if data_dir is not None:
        options["server.data_dir"] = ("--data-dir", str(data_dir))
    config = load(config_path, options)
    setup_logging(level)  # stderr
    from gestalt.engine.runtime import Engine

    asyncio.run(_serve_stdio(Engine(config)))


async def _serve_stdio(engine: Engine) -> None:
    from mcp.server.stdio import stdio_server

    from gestalt.api.mcp import build_server
    from gestalt.engine.history import HistoryError
    try:
        await engine.start()
    except (OSError, sqlite3.Error, HistoryError) as exc:
        fail(f"history in {engine.config.server.data_dir}: cannot open it: {exc}", 1)
    server = build_server(engine)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await engine.stop()
