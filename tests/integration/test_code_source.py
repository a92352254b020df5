"""Code Mode end to end: repositories on disk in the engine's map, kept current by the
watch, and linked to what really runs them (a `gestalt serve` process, a Docker container
built with an OCI source label)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gestalt.engine.runtime import Engine
from gestalt.model import ConnectionKind
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, seed
from tests.support.cli import serving, write_config
from tests.support.docker import Objects, docker_sync
from tests.support.services import TEST_IMAGE
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SOURCE_URL = "https://example.com/acme/shop-api"


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def engine_config(tmp_path: Path, repositories: list[dict[str, Any]], **collectors: Any) -> Path:
    sections: dict[str, Any] = {name: {"enabled": False} for name in
                                ("host", "kubernetes", "docker", "nats", "otel")}
    sections.update(collectors)
    sections["code"] = {"enabled": True, "debounce_seconds": 0.05,
                        "repositories": repositories}
    path = tmp_path / "gestalt.yaml"
    path.write_text(yaml.safe_dump({"server": {"data_dir": str(tmp_path / "data")},
                                    "collectors": sections}))
    return path


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[tuple[Engine, Path]]:
    repo = tmp_path / "shop"
    write(repo, "pyproject.toml", '[project]\nname = "shop-api"\n'
                                  f'[project.urls]\nSource = "{SOURCE_URL}.git"\n')
    write(repo, "shop/__init__.py", "")
    write(repo, "shop/models.py", "PRICE = 1\n")
    write(repo, "shop/api.py", "from shop import models\n")
    engine = Engine(load_config(engine_config(tmp_path, [{"name": "shop", "path": str(repo)}],
                                              docker={"enabled": True, "poll_interval": 1}),
                                env={}))
    await engine.start()
    try:
        await eventually(lambda: "module:shop/shop/api.py" in engine.store.entities,
                         timeout=20, what="the first scan")
        yield engine, repo
    finally:
        await engine.stop()


def edge(engine: Engine, kind: ConnectionKind, source: str, target: str) -> Any:
    return engine.store.connections.get(f"{kind.value}:{source}->{target}")


async def test_an_edit_is_on_the_map_within_two_seconds_and_a_deletion_removes_it(
        shop: tuple[Engine, Path]) -> None:
    engine, repo = shop
    api, models = "module:shop/shop/api.py", "module:shop/shop/models.py"
    assert edge(engine, ConnectionKind.IMPORTS, api, models).attrs == {"statements": 1}
    write(repo, "shop/orders.py", "from shop.models import PRICE\nimport shop.api\n")
    started = time.monotonic()
    await eventually(lambda: edge(engine, ConnectionKind.IMPORTS, "module:shop/shop/orders.py",
                                  models), timeout=2, what="the new module's import")
    created = time.monotonic() - started
    write(repo, "shop/api.py", "from shop import models\nfrom shop import orders\n")
    started = time.monotonic()
    await eventually(lambda: edge(engine, ConnectionKind.IMPORTS, api,
                                  "module:shop/shop/orders.py"), timeout=2, what="the edit")
    edited = time.monotonic() - started
    assert engine.store.entities[models].attrs["importers"] == 2
    os.remove(repo / "shop" / "orders.py")
    await eventually(lambda: "module:shop/shop/orders.py" not in engine.store.entities,
                     timeout=2, what="the deleted module to go")
    assert [c for c in engine.store.connections.values()
            if "module:shop/shop/orders.py" in (c.source_id, c.target_id)] == []
    assert engine.store.entities[models].attrs["importers"] == 1
    print(f"new module on the map after {created:.3f}s, edit after {edited:.3f}s")


@pytest.fixture
def labelled_image(docker_engine: str) -> Iterator[str]:
    tag = f"gestalt-code-test:{secrets.token_hex(4)}"
    dockerfile = f"FROM {TEST_IMAGE}\nLABEL org.opencontainers.image.source={SOURCE_URL}\n"
    proc = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=dockerfile,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    yield tag
    docker_sync("rmi", "-f", tag, check=False)


async def test_a_container_built_from_the_repository_runs_it(
        shop: tuple[Engine, Path], labelled_image: str, objects: Objects) -> None:
    engine, _ = shop
    name = f"{objects.prefix}-shop"
    objects.containers.append(name)
    full_id = docker_sync("run", "-d", "--name", name, "--label", "gestalt.test=1",
                          labelled_image, "sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")
    container = f"container:{full_id[:12]}"
    link = await eventually(lambda: edge(engine, ConnectionKind.RUNS_AS, "repository:shop",
                                         container), timeout=20, what="the runs-as edge")
    assert link.attrs["evidence"] == \
        f"image label org.opencontainers.image.source={SOURCE_URL}"
    docker_sync("rm", "-f", name)
    await eventually(lambda: not edge(engine, ConnectionKind.RUNS_AS, "repository:shop",
                                      container), timeout=20, what="the edge to go with it")


async def test_gestalt_serve_is_linked_to_the_gestalt_package_by_its_process(
        tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", host={"poll_interval": 1},
                          code={"watch": False,
                                "repositories": [{"name": "gestalt", "path": str(ROOT)}]})
    async with serving(config) as served, httpx.AsyncClient(base_url=served.url) as client:
        async def rows() -> list[dict[str, Any]]:
            response = await client.get("/api/code/runs_as",
                                        params={"entity": "package:gestalt/src/gestalt"})
            return [r for r in response.json()["result"]
                    if r["runtime_id"].endswith(f"/{served.proc.pid}")]

        found = await eventually(rows, timeout=30, what="the serve process's runs-as row")
        assert [r["code_id"] for r in found] == ["module:gestalt/src/gestalt/cli/__main__.py"]
        # The module's name after -m is evidence of its own, not a path in the repository.
        assert found[0]["evidence"].split("; ")[0] == "python -m gestalt.cli"
        assert "inside the repository" not in found[0]["evidence"]
        assert found[0]["kind"] == "process"
        scan = (await client.post("/api/code/scan", timeout=60)).json()["result"]
        assert scan[0]["repository"] == "gestalt" and scan[0]["modules"] > 300


WORKER = '''"""Handles one job, traced with the OpenTelemetry SDK (code.* span attributes)."""
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def handle() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-worker"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{sys.argv[1]}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attributes = {"code.function.name": "shop.worker.handle", "code.filepath": __file__}
    with provider.get_tracer("shop").start_as_current_span(
            "handle", kind=trace.SpanKind.SERVER, attributes=attributes):
        pass
    provider.shutdown()


if __name__ == "__main__":
    handle()
'''


async def test_a_traced_service_is_linked_to_the_module_its_spans_name(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    write(repo, "shop/__init__.py", "")
    worker = write(repo, "shop/worker.py", WORKER)
    otel = {"enabled": True, "otlp_endpoint": None, "otlp_http_endpoint": "127.0.0.1:0",
            "prometheus_endpoint": None}
    engine = Engine(load_config(engine_config(tmp_path, [{"name": "shop", "path": str(repo)}],
                                              otel=otel), env={}))
    await engine.start()
    try:
        module = "module:shop/shop/worker.py"
        await eventually(lambda: module in engine.store.entities, timeout=20, what="the scan")
        otlp = engine.sources["otlp"]
        await eventually(lambda: otlp.ports().get("http"), timeout=20,  # type: ignore[attr-defined]
                         what="the OTLP/HTTP receiver")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(worker), str(otlp.ports()["http"]),  # type: ignore[attr-defined]
            stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        link = await eventually(lambda: next(
            (c for c in engine.store.connections.values() if c.kind is ConnectionKind.RUNS_AS
             and c.source_id == module), None), timeout=20, what="the runs-as edge")
        service = engine.store.entities[link.target_id]
        assert service.name == "shop-worker"
        assert link.attrs["evidence"] == ("spans name the code shop.worker.handle; "
                                          f"spans name the file {worker}")
    finally:
        await engine.stop()


async def test_pods_are_linked_by_image_and_by_backstage_label(tmp_path: Path) -> None:
    api, worker = tmp_path / "api", tmp_path / "worker"
    write(api, "api/__init__.py", "")
    write(worker, "worker.ts", "export const work = 1;\n")
    write(worker, "catalog-info.yaml", (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: shop-worker\n"
        "  annotations:\n    backstage.io/kubernetes-id: shop-worker\n"
        "spec:\n  type: service\n  system: shop\n"))
    async with KubeSim(bookmark_interval=0.3) as sim:
        seed(sim)
        sim.store.create(deployment("api", image="ghcr.io/acme/shop-api:1.2", replicas=1))
        labelled = deployment("worker", image="registry.local/worker:7", replicas=1)
        labelled["spec"]["template"]["metadata"]["labels"]["backstage.io/kubernetes-id"] = \
            "shop-worker"
        sim.store.create(labelled)
        repositories = [{"name": "api", "path": str(api),
                         "runtime": {"images": ["ghcr.io/acme/shop-api"]}},
                        {"name": "worker", "path": str(worker)}]
        engine = Engine(load_config(engine_config(
            tmp_path, repositories, kubernetes={"enabled": True, "kubeconfig": sim.kubeconfig}),
            env={}))
        await engine.start()
        try:
            def links(repository: str) -> dict[str, str]:
                return {c.target_id: str(c.attrs["evidence"])
                        for c in engine.store.connections.values()
                        if c.kind is ConnectionKind.RUNS_AS and c.source_id == repository}

            by_image = await eventually(lambda: links("repository:api"), timeout=30,
                                        what="the api pod linked")
            by_label = await eventually(lambda: links("repository:worker"), timeout=30,
                                        what="the worker pod linked")
        finally:
            await engine.stop()
    # The pod, and its container (the image runs there), by the image the config names.
    assert sorted(target.split(":")[0] for target in by_image) == ["container", "pod"]
    assert next(t for t in by_image if t.startswith("pod:")).startswith("pod:kubesim/shop/api-")
    assert set(by_image.values()) == {"image ghcr.io/acme/shop-api:1.2 (runtime.images)"}
    # The worker's pod by the label Backstage's catalog-info.yaml names.
    assert [t.rsplit("-", 2)[0] for t in by_label] == ["pod:kubesim/shop/worker"]
    assert list(by_label.values()) == \
        ["label backstage.io/kubernetes-id=shop-worker (catalog-info.yaml)"]
