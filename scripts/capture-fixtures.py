"""Capture what each source really reports into tests/fixtures/captured/<source>.json.

    PYTHONPATH=src .venv/bin/python scripts/capture-fixtures.py [SOURCE...]

SOURCE: kubernetes, host, nats, postgres, docker (default: all).

Each source runs against a real component (kubesim, this machine, a nats-server with a
publisher, a subscriber and a JetStream consumer, a throwaway PostgreSQL cluster under
pgbench, the Docker engine with a container and a volume) and reports into a real hub,
so the files hold entities exactly as the API serves them: merged, metrics applied,
health scored. The web UI's mapping tests (web/tests/captured.test.ts) and the path
column test (tests/unit/test_paths_columns.py) read them, so neither is fed a field name
or a unit that no source emits. Only what the capture made is kept (not this machine's
other processes, containers or volumes), and hostnames are replaced by "capture-host".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the same real components the tests start

from gestalt.engine.hub import Hub  # noqa: E402
from gestalt.engine.store import Store  # noqa: E402
from gestalt.model import Entity, EntityKind  # noqa: E402
from gestalt.model import config as cfg  # noqa: E402
from gestalt.sources import Source  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "captured"
HOST = socket.gethostname()
Keep = Callable[[Entity], bool]


async def _capture(source: Source, ready: Callable[[Store], bool], *, timeout: float = 60,
                   keep: Keep = lambda e: True, also: tuple[Source, ...] = ()) -> dict[str, Any]:
    """What `source` reports (with `also` reporting into the same hub, for links that
    join two sources' entities), once `ready`."""
    store = Store()
    hub = Hub(store)
    tasks = [asyncio.create_task(s.run(hub.sink(s.name))) for s in (source, *also)]
    try:
        deadline = time.monotonic() + timeout
        while not ready(store):
            for task in tasks:
                if task.done():
                    await task  # raises why the source stopped
            if time.monotonic() > deadline:
                raise TimeoutError(f"{source.name}: not ready within {timeout}s")
            await asyncio.sleep(0.2)  # polling the store with a deadline
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    entities = [e for e in store.entities.values() if keep(e)]
    kept = {e.id for e in entities}
    connections = [c for c in store.connections.values()
                   if c.source_id in kept and c.target_id in kept]
    return {"source": source.name, "entities": entities, "connections": connections}


def _of(store: Store, kind: EntityKind) -> list[Entity]:
    return [e for e in store.entities.values() if e.kind is kind]


def _metric(store: Store, kind: EntityKind, name: str) -> bool:
    return any(name in e.custom_metrics for e in _of(store, kind))


# -- sources -------------------------------------------------------------------------------

async def kubernetes() -> dict[str, Any]:
    from tests.integration.test_kubernetes_source import populate
    from tests.sim.conftest import deployment, seed

    from gestalt.sim.kubesim import KubeSim
    from gestalt.sources.kubernetes import KubernetesSource

    async with KubeSim() as sim:
        seed(sim)
        populate(sim)
        sim.store.create(deployment("api", replicas=3))
        source = KubernetesSource(cfg.KubernetesCollector(kubeconfig=sim.kubeconfig,
                                                          poll_interval=0.5))
        return await _capture(source, lambda s: any(
            e.cpu_percent is not None for e in _of(s, EntityKind.POD)) and any(
            e.cpu_percent is not None for e in _of(s, EntityKind.NODE)))


async def host() -> dict[str, Any]:
    from gestalt.sources.host import HostSource

    # A process of our own that listens, so one process of ours is on the map.
    with socket.create_server(("127.0.0.1", 0)):
        pid = os.getpid()
        return await _capture(
            HostSource(cfg.HostCollector(poll_interval=0.5)),
            lambda s: any(e.network_rx_rate is not None for e in _of(s, EntityKind.NODE))
            and _metric(s, EntityKind.VOLUME, "io_util_percent"),
            keep=lambda e: e.kind in (EntityKind.NODE, EntityKind.VOLUME)
            or e.attrs.get("pid") == pid)


@contextlib.asynccontextmanager
async def _processes() -> AsyncIterator[Callable[..., None]]:
    started: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> None:
        started.append(subprocess.Popen([sys.executable, "-m", "gestalt.sim.natsdemo", *args],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    try:
        yield spawn
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            proc.wait(timeout=10)


async def nats() -> dict[str, Any]:
    import nats as nats_client
    from nats.js.api import StreamConfig
    from tests.support.nats_server import new_server

    from gestalt.sources.nats import NatsSource

    server = new_server(name="capture")
    server.start()
    try:
        nc = await nats_client.connect(server.url)
        await nc.jetstream().add_stream(StreamConfig(name="ORDERS", subjects=["orders.>"]))
        await nc.close()
        async with _processes() as spawn:
            spawn("publish", "--url", server.url, "--subject", "orders.created", "--rate", "20",
                  "--name", "orders-pub")
            spawn("subscribe", "--url", server.url, "--subject", "orders.created",
                  "--name", "orders-sub")
            spawn("pull", "--url", server.url, "--stream", "ORDERS", "--consumer", "worker",
                  "--subject", "orders.>", "--delay", "0.1", "--name", "worker")
            source = NatsSource(cfg.NatsCollector(url=server.url, monitor_url=server.monitor_url,
                                                  poll_interval=0.5, subjects=["orders.>"]))
            return await _capture(source, lambda s: _metric(
                s, EntityKind.NATS_SUBJECT, "msgs_per_sec") and _metric(
                s, EntityKind.NATS_SUBJECT, "queue_depth") and _metric(
                s, EntityKind.NATS_STREAM, "msgs_per_sec") and _metric(
                s, EntityKind.NATS_CONSUMER, "delivered_per_sec"))
    finally:
        server.stop()


async def postgres() -> dict[str, Any]:
    from tests.support.postgres import PgCluster, postgres_bin

    from gestalt.sources.postgres import PostgresSource

    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server installed (scripts/services.sh)")
    cluster = PgCluster(bin_dir)
    cluster.start()
    bench: asyncio.subprocess.Process | None = None
    try:
        init = await asyncio.create_subprocess_exec(
            *cluster.pgbench("-i", "-s", "1", "-q"), env=cluster.pgbench_env(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        if await init.wait() != 0:
            raise RuntimeError("pgbench -i failed")
        bench = await asyncio.create_subprocess_exec(
            *cluster.pgbench("-c", "4", "-T", "60", "-n"), env=cluster.pgbench_env(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        source = PostgresSource(cfg.PostgresCollector(enabled=True, dsns=[cluster.dsn()],
                                                      poll_interval=0.5))
        return await _capture(source, lambda s: _metric(s, EntityKind.DATABASE,
                                                        "transactions_per_sec"))
    finally:
        if bench is not None and bench.returncode is None:
            bench.kill()
            await bench.wait()
        cluster.stop()


async def docker() -> dict[str, Any]:
    from tests.support.docker import Objects

    from gestalt.sources.docker import DockerSource

    objects = Objects()
    try:
        network, volume = await objects.network(), await objects.volume()
        await objects.run("--network", network, "-v", f"{volume}:/data", "--memory", "64m")
        # A one-shot job that completed: stopped containers carry their reason.
        await objects.run(command=["true"])
        source = DockerSource(cfg.DockerCollector(poll_interval=0.5))
        mine = objects.prefix
        return await _capture(
            source, lambda s: any(e.cpu_percent is not None and e.name.startswith(mine)
                                  for e in _of(s, EntityKind.CONTAINER))
            and any(e.attrs.get("reason") and e.name.startswith(mine)
                    for e in _of(s, EntityKind.CONTAINER)),
            keep=lambda e: e.name.startswith(objects.prefix))
    finally:
        objects.remove_all()


CODE_FILES = {
    "shop": {
        "pyproject.toml": '[project]\nname = "shop"\n'
                          '[project.scripts]\nshop = "shop.server:main"\n',
        "shop/__init__.py": "",
        "shop/models.py": "from shop import orders\n\nPRICE = 3\n",
        "shop/orders.py": "from shop import models\n",  # an import cycle
        "shop/server.py": "import socket\nimport time\n\nfrom shop import models\n\n"
                          "def main():\n    with socket.create_server(('127.0.0.1', 0)) as s:\n"
                          "        print(s.getsockname()[1], flush=True)\n"
                          "        conn, _ = s.accept()\n        time.sleep(120)\n\n"
                          "if __name__ == '__main__':\n    main()\n",
        "shop/broken.py": "def oops(:\n",
        "web/app.ts": "import { price } from './price';\nconsole.log(price);\n",
        "web/price.ts": "export const price = 3;\n",
    },
    "checkout": {
        "checkout/__init__.py": "",
        "checkout/main.py": "import socket\nimport sys\nimport time\n\n"
                            "with socket.create_connection(('127.0.0.1', int(sys.argv[1]))):\n"
                            "    time.sleep(120)\n",
    },
}


async def code() -> dict[str, Any]:
    """Two small repositories (Python and TypeScript, an import cycle, one broken file)
    scanned, and a process run from each (`python -m shop.server` listening, `python -m
    checkout.main` connected to it): the host source's view of them links each to its
    module, and their TCP connection is the traffic Both mode projects onto the code."""
    import tempfile

    from gestalt.sources.code import CodeSource
    from gestalt.sources.host import HostSource

    with tempfile.TemporaryDirectory() as tmp:
        roots = {name: Path(tmp) / name for name in CODE_FILES}
        for name, files in CODE_FILES.items():
            for relpath, text in files.items():
                (roots[name] / relpath).parent.mkdir(parents=True, exist_ok=True)
                (roots[name] / relpath).write_text(text)
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shop.server", cwd=roots["shop"], stdout=subprocess.PIPE)
        assert server.stdout is not None
        async with asyncio.timeout(20):
            port = (await server.stdout.readline()).decode().strip()
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "checkout.main", port, cwd=roots["checkout"])
        pids = {server.pid, client.pid}
        try:
            source = CodeSource(cfg.CodeCollector(enabled=True, watch=False, repositories=[
                cfg.CodeRepository(name=name, path=str(root)) for name, root in roots.items()]))
            captured = await _capture(
                source, lambda s: sum(c.kind == "runs_as" for c in s.connections.values()) == 2
                and any(c.kind == "network" for c in s.connections.values()),
                keep=lambda e: "code" in e.sources or e.attrs.get("pid") in pids,
                also=(HostSource(cfg.HostCollector(poll_interval=0.5)),))
        finally:
            for proc in (client, server):
                proc.terminate()
                async with asyncio.timeout(10):
                    await proc.wait()
        text = msgspec.json.encode(captured).decode()
        for name, root in roots.items():
            text = text.replace(str(root), f"/capture/{name}")
        return msgspec.json.decode(text)


CAPTURES = {"kubernetes": kubernetes, "host": host, "nats": nats, "postgres": postgres,
            "docker": docker, "code": code}


def _anonymous(text: str) -> str:
    return text.replace(HOST, "capture-host")


async def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(CAPTURES):
        captured = await CAPTURES[name]()
        captured["entities"].sort(key=lambda e: e["id"] if isinstance(e, dict) else e.id)
        captured["connections"].sort(key=lambda c: c["id"] if isinstance(c, dict) else c.id)
        document = json.loads(_anonymous(msgspec.json.encode(captured).decode()))
        (OUT / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(captured['entities'])} entities, "
              f"{len(captured['connections'])} connections -> {OUT / f'{name}.json'}")


if __name__ == "__main__":
    unknown = set(sys.argv[1:]) - set(CAPTURES)
    if unknown:
        sys.exit(f"unknown source(s) {', '.join(sorted(unknown))}; choose from "
                 f"{', '.join(CAPTURES)}")
    asyncio.run(main(sys.argv[1:]))

