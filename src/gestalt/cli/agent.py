"""`gestalt agent`: run one site's sources with no web server and publish its change log
to NATS JetStream for a hub (docs/federation.md)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
import typer
from rich.text import Text

import gestalt
from gestalt.cli.common import (
    ConfigOption,
    LogLevelOption,
    err,
    exit_now,
    fail,
    load,
    parse_log_level,
    setup_logging,
)

if TYPE_CHECKING:
    from gestalt.engine.publisher import Publisher
    from gestalt.engine.runtime import Engine


def agent(
    config_path: ConfigOption = None,
    site: Annotated[str | None, typer.Option(help="This site's name (agent.site).")] = None,
    url: Annotated[str | None, typer.Option(help="The NATS server (agent.url).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where history is kept.")] = None,
    log_level: LogLevelOption = "info",
) -> None:
    """Watch this site (a cluster, a host) and publish its changes to NATS JetStream for a
    hub; no web server.

    Credentials come from agent.user and agent.password (or token, nkey_seed_file,
    creds_file) in the config, or from the environment: GESTALT_AGENT__PASSWORD, say, keeps
    the password out of the file. docs/federation.md shows the NATS server's side."""
    level = parse_log_level(log_level)
    options: dict[str, tuple[str, object]] = {}
    for key, option, value in (("agent.site", "--site", site), ("agent.url", "--url", url),
                               ("server.data_dir", "--data-dir",
                                str(data_dir) if data_dir else None)):
        if value is not None:
            options[key] = (option, value)
    config = load(config_path, options)
    if config.agent.site is None:
        fail(f"{config_path or '<defaults>'}: key `agent.site`: required by gestalt agent "
             "(one subject token: letters, digits, - and _)")
    from gestalt.cli.serve import _check_data_dir
    from gestalt.engine.publisher import Publisher
    from gestalt.engine.runtime import Engine

    setup_logging(level)
    _check_data_dir(config.server.data_dir)
    # The hub raises alerts from the merged map; an agent's own would be noise there.
    config = msgspec.structs.replace(
        config, alerts=msgspec.structs.replace(config.alerts, enabled=False))
    engine = Engine(config)
    publisher = Publisher(engine.store, engine.changes, config.agent,
                          name=config.agent.name or socket.gethostname())
    err.print(Text.assemble(
        f"Gestalt Live {gestalt.__version__} agent ", (publisher.agent, "bold"),
        f" for site {publisher.site} -> {config.agent.url} stream {config.agent.stream}",
        f"  (sources: {', '.join(engine.sources) or 'none'})"))
    exit_now(asyncio.run(run_agent(engine, publisher)))


async def run_agent(engine: Engine, publisher: Publisher) -> int:
    """Start the engine and publish until SIGTERM or Ctrl-C; 1 when NATS refuses us."""
    from gestalt.engine.history import HistoryError
    from gestalt.sources.agents.connect import Refused

    try:
        await engine.start()
    except (OSError, sqlite3.Error, HistoryError) as exc:
        fail(f"history in {engine.config.server.data_dir}: cannot open it: {exc}", 1)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(publisher.run(), name="publisher")
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            # Cancel until it ends: Python 3.11's wait_for (in nats-py and here) can swallow
            # one cancellation that arrives as the awaited thing completes.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            return 0
        await task
    except asyncio.CancelledError:
        return 0
    except Refused as exc:
        err.print(Text.assemble(("error:", "red"), " ", str(exc)))
        return 1
    finally:
        stopping.cancel()
        publisher.close()
        await engine.stop()
    return 0
