"""A running OtlpSource on free loopback ports with a RecordingSink, for the OTLP tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gestalt.engine.runtime import Engine
from gestalt.model import SourceState, ids
from gestalt.model.config import OtelCollector, load_config
from gestalt.sources.base import ReceivesStreams
from gestalt.sources.otlp import OtlpSource
from tests.support.daemons import free_port
from tests.support.docker import LABEL, Objects, docker
from tests.support.nats_server import NatsServer
from tests.support.postgres import BENCH_PASSWORD, BENCH_USER, DATABASE, PgCluster
from tests.support.services import TEST_IMAGE, docker_host
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually


@contextlib.asynccontextmanager
async def running_source(**overrides: object) -> AsyncIterator[tuple[OtlpSource, RecordingSink]]:
    config = msgspec.structs.replace(
        OtelCollector(otlp_endpoint="127.0.0.1:0", otlp_http_endpoint="127.0.0.1:0",
                      flush_interval=0.2),
        **overrides,
    )
    source = OtlpSource(config)
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        ready = asyncio.create_task(source.ready.wait())
        done, _ = await asyncio.wait({ready, task}, timeout=20,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # the source failed to start: raise its error
        assert ready in done, "the OTLP receiver did not start listening within 20 s"
        yield source, sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- a mesh of SDK-instrumented processes, one in a Docker container -----------------------

MESH_SERVICE = Path(__file__).parents[1] / "fixtures" / "otlp" / "mesh_service.py"
MESH_OTLP_TOKEN = "mesh-otlp-token"
# How an OpenTelemetry SDK is told to send the token (docs/deploy.md): the exporters read it.
OTLP_HEADERS = f"Authorization=Bearer%20{MESH_OTLP_TOKEN}"


def python_in_container() -> list[str]:
    """`docker run` options that make this interpreter and its venv usable in the busybox
    test image (no Python inside, no registry to pull one from): both mounted read-only at
    their own paths, with the shared libraries they load."""
    venv, base = os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)
    options: list[str] = []
    for path in dict.fromkeys([base, venv, "/lib", "/lib64", "/usr/lib",
                               str(MESH_SERVICE.parent)]):
        if os.path.isdir(path):
            options += ["-v", f"{path}:{path}:ro"]
    return options


def container_python() -> str:
    return os.path.join(os.path.realpath(sys.prefix), "bin", "python")


@dataclass
class Mesh:
    """`front` runs on this host, `back` in a container, `plain` is an uninstrumented
    busybox httpd; all on one user-defined Docker network."""

    engine: Engine
    front: asyncio.subprocess.Process
    back_id: str  # container entity ids
    plain_id: str
    front_id: str  # the process entity id
    database_id: str
    subject_id: str


@contextlib.asynccontextmanager
async def running_mesh(
    tmp_path: Path, objects: Objects, postgres: PgCluster, nats: NatsServer, *, traces: bool
) -> AsyncIterator[Mesh]:
    network = await objects.network()
    gateway = await docker("network", "inspect", "-f",
                           "{{(index .IPAM.Config 0).Gateway}}", network)
    subject = f"mesh.{objects.prefix}.orders"
    config = tmp_path / "gestalt.yaml"
    config.write_text(
        f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
        "alerts: {enabled: false}\n"
        "collectors:\n"
        "  host: {enabled: true, poll_interval: 0.5}\n"
        "  kubernetes: {enabled: false}\n"
        f'  docker: {{enabled: true, socket: "{docker_host()}", poll_interval: 0.5}}\n'
        f"  nats: {{enabled: true, url: '{nats.url}', monitor_url: '{nats.monitor_url}',\n"
        "          poll_interval: 0.5, subjects: ['mesh.>']}\n"
        f"  postgres: {{enabled: true, dsns: ['{postgres.dsn()}'], poll_interval: 0.5}}\n"
        # The receiver listens on the network's gateway: the container's way to this host;
        # not loopback, so exporters must send the token.
        f"  otel: {{otlp_endpoint: null, otlp_http_endpoint: 'http://{gateway}:0',\n"
        f"          token: {MESH_OTLP_TOKEN},\n"
        "          prometheus_endpoint: null, flush_interval: 0.2, window_seconds: 30}\n")
    engine = Engine(load_config(config, env={}))
    await engine.start()
    front: asyncio.subprocess.Process | None = None
    stack = contextlib.ExitStack()
    try:
        otlp = engine.sources["otlp"]
        assert isinstance(otlp, ReceivesStreams)
        await eventually(lambda: engine.hub.statuses["otlp"].state == SourceState.OK,
                         timeout=20, what="the OTLP receiver to listen")
        otlp_url = f"http://{gateway}:{otlp.ports()['http']}"
        no_traces = [] if traces else ["--no-traces"]

        plain = f"{objects.prefix}-plain"
        objects.containers.append(plain)
        plain_full = await docker(
            "run", "-d", "--name", plain, "--label", LABEL, "--network", network, TEST_IMAGE,
            "sh", "-c", "mkdir /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www")
        # The container calls the host process back through the gateway: on a port chosen
        # now, as the host process needs the container's address to start.
        front_port = free_port(gateway)
        back = f"{objects.prefix}-back"
        objects.containers.append(back)
        back_full = await docker(
            "run", "-d", "--name", back, "--label", LABEL, "--network", network,
            "-e", f"OTEL_EXPORTER_OTLP_HEADERS={OTLP_HEADERS}",
            *python_in_container(), TEST_IMAGE,
            container_python(), str(MESH_SERVICE), "--name", "back", "--listen", "0.0.0.0:8080",
            "--otlp", otlp_url, "--call", f"http://{gateway}:{front_port}/work",
            "--call", f"http://{plain}:8080/", *no_traces, "--interval", "0.1")
        back_ip, plain_ip = [
            await docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\")"
                         ".IPAddress}}", name) for name in (back, plain)]
        # Its log, for a failing test to look at (an unread pipe would fill and stall it).
        log = stack.enter_context(await asyncio.to_thread(open, tmp_path / "front.log", "wb"))
        front_dsn = postgres.dsn(user=BENCH_USER, password=BENCH_PASSWORD).replace(
            "@127.0.0.1:", "@localhost:")
        front = await asyncio.create_subprocess_exec(
            sys.executable, str(MESH_SERVICE), "--name", "front",
            "--listen", f"{gateway}:{front_port}",
            "--otlp", otlp_url, "--call", f"http://{back_ip}:8080/work",
            "--call", f"http://{plain_ip}:8080/", "--postgres", front_dsn,
            "--nats", nats.url.replace("127.0.0.1", "localhost"), "--subject", subject,
            *no_traces, "--interval", "0.1",
            env={**os.environ, "OTEL_EXPORTER_OTLP_HEADERS": OTLP_HEADERS},
            stdout=asyncio.subprocess.PIPE, stderr=log)
        assert front.stdout is not None
        listening = await asyncio.wait_for(front.stdout.readline(), 30)
        assert listening.strip() == str(front_port).encode(), listening
        yield Mesh(
            engine=engine, front=front,
            back_id=ids.container(back_full), plain_id=ids.container(plain_full),
            front_id=ids.process(socket.gethostname(), front.pid),
            database_id=ids.database("postgresql", f"127.0.0.1:{postgres.port}", DATABASE),
            subject_id=ids.nats_subject(nats.name, subject),
        )
    finally:
        if front is not None and front.returncode is None:
            front.terminate()
            try:
                await asyncio.wait_for(front.wait(), 15)
            except TimeoutError:
                # Its exit hung (an exporter's last flush, a task that would not cancel):
                # a CI run waited here until pytest's 600 s timeout.
                front.kill()
                await front.wait()
        stack.close()
        await engine.stop()
