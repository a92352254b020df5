"""`gestalt serve`: bind first, start the engine, serve until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    raise_open_files_limit,
    refuse_open_bind,
    setup_logging,
)

if TYPE_CHECKING:
    from gestalt.engine.runtime import Engine


def _check_data_dir(path: str) -> None:
    """History needs a directory it can write; say so in one line before anything starts."""
    where = Path(path)
    try:
        where.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        fail(f"server.data_dir {path}: not a directory")
    except OSError as exc:
        fail(f"server.data_dir {path}: cannot create it: {exc.strerror or exc}")
    if not where.is_dir():
        fail(f"server.data_dir {path}: not a directory")
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        fail(f"server.data_dir {path}: not writable: {exc.strerror or exc}")


def serve(
    config_path: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8765).")] = None,
    token: Annotated[str | None, typer.Option(
        help="Bearer token required on every request; needed for a non-loopback bind.",
        envvar="GESTALT_TOKEN")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where history is kept.")] = None,
    log_level: LogLevelOption = "info",
    open_snapshot: Annotated[Path | None, typer.Option(
        "--open-snapshot", help="Show a snapshot file (from /api/infra/snapshot) read-only, "
                                "instead of watching anything.")] = None,
) -> None:
    """Watch this machine and what it can reach; serve the live map, API and streams."""
    level = parse_log_level(log_level)
    options: dict[str, tuple[str, object]] = {}
    for key, option, value in (("host", "--host", host), ("port", "--port", port),
                               ("token", "--token/GESTALT_TOKEN", token),
                               ("data_dir", "--data-dir", str(data_dir) if data_dir else None)):
        if value is not None:
            options[f"server.{key}"] = (option, value)
    config = load(config_path, options)
    refuse_open_bind(config)
    if open_snapshot is not None:
        _serve_snapshot(config, open_snapshot, level)
        return
    # Imported only now: FastAPI takes a second to import, a config error need not wait.
    from gestalt.api.serving import BindError, bind
    from gestalt.engine.runtime import Engine

    server = config.server
    setup_logging(level)
    _check_data_dir(server.data_dir)
    _check_tls(server.tls_cert, server.tls_key)
    try:
        sock = bind(server.host, server.port)
    except BindError as exc:
        fail(str(exc), 1)
    raise_open_files_limit()
    _return_large_allocations()
    engine = Engine(config)
    url_host = server.host if ":" not in server.host else f"[{server.host}]"
    url = f"{'https' if server.tls_cert else 'http'}://{url_host}:{server.port}/"
    err.print(Text.assemble(
        f"Gestalt Live {gestalt.__version__} serving ", (url, "bold"),
        f"  (sources: {', '.join(engine.sources) or 'none'}; history in {server.data_dir})"))
    asyncio.run(serve_engine(engine, sock, level))
    exit_now()


def _check_tls(cert: str | None, key: str | None) -> None:
    """The certificate and key load and belong together; said in one line before anything
    starts (uvicorn would say it with a traceback once the sources run)."""
    if cert is None or key is None:
        return
    import ssl

    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not os.access(path, os.R_OK):
            fail(f"server.{name} {path}: " + (
                "not readable" if os.path.exists(path) else "no such file"))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        fail(f"server.tls_cert {cert} / server.tls_key {key}: cannot load them: "
              f"{getattr(exc, 'reason', None) or exc}")


def _serve_snapshot(config: Any, path: Path, level: str) -> None:
    """Serve one snapshot file: no sources, no alert rules, a scratch history that goes
    away afterwards; the file itself is only read."""
    import msgspec

    from gestalt.api.serving import BindError, bind
    from gestalt.api.snapshots import SnapshotError, read_snapshot, show_snapshot
    from gestalt.engine.past import iso
    from gestalt.engine.runtime import Engine

    try:
        snapshot = read_snapshot(path)
    except SnapshotError as exc:
        fail(str(exc))
    setup_logging(level)
    scratch = tempfile.TemporaryDirectory(prefix="gestalt-snapshot-")
    config = msgspec.structs.replace(
        config, server=msgspec.structs.replace(config.server, data_dir=scratch.name),
        alerts=msgspec.structs.replace(config.alerts, enabled=False),
        history=msgspec.structs.replace(config.history, max_disk_percent=0.0))
    server = config.server
    try:
        sock = bind(server.host, server.port)
    except BindError as exc:
        fail(str(exc), 1)
    engine = Engine(config, sources=[])
    err.print(Text.assemble(
        f"Gestalt Live {gestalt.__version__} showing snapshot {path.name} of "
        f"{iso(snapshot.at)} (read-only) at ",
        (f"http://{server.host}:{server.port}/", "bold")))

    async def show(engine: Engine) -> None:
        await show_snapshot(engine, snapshot, path)

    async def remove() -> None:
        scratch.cleanup()

    asyncio.run(serve_engine(engine, sock, level, prepare=show, cleanup=remove))


async def serve_engine(engine: Engine, sock: Any, level: str, *,
                       prepare: Callable[[Engine], Awaitable[None]] | None = None,
                       cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
    """Start the engine, run `prepare` (a snapshot's contents), serve on `sock` until
    SIGTERM or Ctrl-C, stop the engine, then run `cleanup` (the demo's simulators)."""
    import uvicorn

    from gestalt.api import create_app
    from gestalt.api.serving import Server
    from gestalt.engine.history import HistoryError

    try:
        try:
            await engine.start()
        except (OSError, sqlite3.Error, HistoryError) as exc:
            sock.close()
            fail(f"history in {engine.config.server.data_dir}: cannot open it: {exc}", 1)
        if prepare is not None:
            await prepare(engine)
        tls = engine.config.server
        app = create_app(engine, manage_engine=False)
        _calm_garbage_collection(engine)
        server = Server(uvicorn.Config(
            app, lifespan="off", access_log=False,
            log_level=level if level != "info" else "warning", timeout_graceful_shutdown=3,
            ssl_certfile=tls.tls_cert, ssl_keyfile=tls.tls_key), app.state.broadcaster)
        try:
            async with app.state.mcp.run():  # /mcp's sessions (the lifespan is off)
                await server.serve(sockets=[sock])
        finally:
            app.state.actions.audit.close()  # what the lifespan would do
            await engine.stop()
    finally:
        if cleanup is not None:
            await cleanup()


def _calm_garbage_collection(engine: Engine) -> None:
    """Keep the cyclic garbage collector from stalling the event loop. Its full passes walk
    every live object: with 1,000 SSE clients connected, one took 120-190 ms and held every
    stream's frames that long (bench/sse_fanout.py; with the collector off, none). What is
    alive once the engine and app are built (modules, config, the app) is frozen out of
    those passes, and young collections run less often (700 -> 5,000 allocations), so
    full ones do too: 1,000 clients' fan-out p99 14-192 -> 10-11 ms, max 12 ms. What
    lives long after start-up (the map the sources build) is frozen after the full pass
    that finds it (engine/collection.py), which also counts every pass for /metrics."""
    import gc

    from gestalt.engine.collection import collection

    gc.freeze()
    gc.set_threshold(5_000, 10, 10)
    collection.install()
    engine.store.subscribe(collection.committed)


def _return_large_allocations() -> None:
    """Keep glibc from growing its mmap threshold: snapshots of a large topology are
    megabytes of short-lived bytes, and with the adaptive threshold they end up on the heap
    and keep the process's memory high after they are freed (measured: 153 MB -> 121 MB
    at 10,000 entities)."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 128 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune
