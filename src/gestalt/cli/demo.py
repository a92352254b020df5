"""`gestalt demo`: a lively simulated Kubernetes cluster (kubesim) and NATS traffic next to
this machine, on one map."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from typing import Annotated, Any

import msgspec
import typer
from rich.text import Text

from gestalt.cli.common import (
    ConfigOption,
    LogLevelOption,
    err,
    fail,
    load,
    parse_log_level,
    raise_open_files_limit,
    refuse_open_bind,
    setup_logging,
)
from gestalt.cli.serve import serve_engine
from gestalt.model.config import Config


def demo(
    config_path: ConfigOption = None,
    port: Annotated[int, typer.Option(help="Port of the map.")] = 8765,
    pods: Annotated[int, typer.Option(help="Pods in the simulated cluster.")] = 120,
    nats: Annotated[bool, typer.Option(help="Also run a NATS server with demo traffic.")] = True,
    open_browser: Annotated[bool, typer.Option("--open/--no-open",
                                               help="Open the map in a browser.")] = True,
    log_level: LogLevelOption = "warning",
) -> None:
    """A lively simulated Kubernetes cluster (kubesim) and NATS traffic, next to this
    machine and its Docker engine, on one map. Ctrl-C (or SIGTERM) stops everything."""
    from gestalt.api.serving import BindError, bind

    level = parse_log_level(log_level)
    config = load(config_path, {"server.port": ("--port", port)})
    refuse_open_bind(config)
    setup_logging(level)
    try:
        sock = bind(config.server.host, config.server.port)
    except BindError as exc:
        fail(str(exc), 1)
    raise_open_files_limit()
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_demo(config, sock, pods=pods, with_nats=nats, open_browser=open_browser,
                          level=level))


def _stop_on_sigterm() -> None:
    """Until the server takes over the signals (and after it gives them back), SIGTERM
    ends the demo like Ctrl-C: the main task is cancelled and cleans up (never leaving
    NATS running). Not by raising in the handler: that lands in whatever task runs at
    that instant (a source importing its client) and leaves a traceback behind."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    signal.signal(signal.SIGTERM, lambda _signum, _frame: loop.call_soon_threadsafe(main.cancel))


async def _demo(config: Config, sock: Any, *, pods: int, with_nats: bool, open_browser: bool,
                level: str) -> None:
    import shutil
    import socket
    import webbrowser

    from gestalt.engine.runtime import Engine
    from gestalt.sim.kubesim.runner import KubeSim
    from gestalt.sim.scenarios import ClusterLife, build_cluster

    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    _stop_on_sigterm()
    data_dir = tempfile.mkdtemp(prefix="gestalt-demo-")
    sim = KubeSim()
    life: asyncio.Task[None] | None = None
    nats_proc: asyncio.subprocess.Process | None = None

    async def cleanup() -> None:
        if life is not None:
            life.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await life
        await sim.stop()
        if nats_proc is not None:
            await _stop_group(nats_proc)
        shutil.rmtree(data_dir, ignore_errors=True)

    try:
        with err.status("building the simulated cluster…"):
            cluster = build_cluster(sim, nodes=4, namespaces=4, pods=pods, replicas=3)
            await sim.start()
        life = asyncio.create_task(ClusterLife(sim, cluster).run(1.0), name="kubesim-life")
        collectors = config.collectors
        replace = msgspec.structs.replace
        kubernetes = replace(collectors.kubernetes, enabled=True, kubeconfig=sim.kubeconfig,
                             context=None, cluster_name="kubesim", namespaces=[])
        nats_config = replace(collectors.nats, enabled=False)
        if with_nats:
            nats_port, monitor_port = free_port(), free_port()
            # Its own process group: the demo's NATS server and clients stop together.
            nats_proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gestalt.sim.natsdemo", "--port", str(nats_port),
                "--monitor-port", str(monitor_port), start_new_session=True,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            nats_config = replace(collectors.nats, enabled=True,
                                  url=f"nats://127.0.0.1:{nats_port}",
                                  monitor_url=f"http://127.0.0.1:{monitor_port}",
                                  subjects=["orders.>", "kgents.>"])
        config.collectors = replace(collectors, kubernetes=kubernetes, nats=nats_config,
                                    otel=replace(collectors.otel, enabled=False))
        config.server = replace(config.server, data_dir=data_dir)
        simulated = frozenset({"kubernetes", "nats"} if with_nats else {"kubernetes"})
        engine = Engine(config, simulated=simulated)
        url = f"http://{config.server.host}:{config.server.port}/"
        err.print(Text.assemble(
            "Gestalt Live demo on ", (url, "bold"),
            f": kubesim ({pods} pods, kubeconfig {sim.kubeconfig})"
            + (", NATS demo traffic" if with_nats else "")
            + ", and this machine. Ctrl-C stops everything."))
        if open_browser:
            asyncio.get_running_loop().call_later(1.5, webbrowser.open, url)
    except BaseException:
        sock.close()
        await cleanup()
        raise
    await serve_engine(engine, sock, level, cleanup=cleanup)


async def _stop_group(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM to the process group `proc` leads, then SIGKILL to whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(grace):
            await proc.wait()
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
