"""kubesim fixtures: an emulated API server per test, seeded with a node and a namespace."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from gestalt.sim.kubesim import KubeSim
from tests.support.services import require_service


def seed(sim: KubeSim, namespace: str = "shop") -> None:
    store = sim.store
    store.create({"kind": "Node", "metadata": {"name": "node-a", "labels": {
        "kubernetes.io/hostname": "node-a"}}, "status": {
        "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "nodeInfo": {"kubeletVersion": "v1.32.4"}}})
    store.create({"kind": "Namespace", "metadata": {"name": namespace},
                  "status": {"phase": "Active"}})


def deployment(name: str, namespace: str = "shop", replicas: int = 2,
               image: str = "registry.local/web:1") -> dict:
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                               "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "app", "image": image,
                                         "resources": {"requests": {"cpu": "100m"},
                                                       "limits": {"memory": "256Mi"}}}]}}}}


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    async with KubeSim(bookmark_interval=0.3) as server:
        seed(server)
        yield server


@pytest.fixture
async def api(sim: KubeSim) -> AsyncIterator[httpx.AsyncClient]:
    verify = ssl.create_default_context(cafile=sim.ca_file)
    async with httpx.AsyncClient(base_url=sim.url, verify=verify,
                                 headers={"Authorization": f"Bearer {sim.token}"},
                                 timeout=10) as client:
        yield client


@pytest.fixture
def kubectl_bin() -> str:
    path = shutil.which("kubectl")
    require_service("kubectl", path is not None,
                    "no kubectl on PATH (scripts/services.sh installs it)")
    assert path is not None
    return path


async def kubectl(sim: KubeSim, *args: str, stdin: str | None = None,
                  timeout: float = 30) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", sim.kubeconfig, *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
    return proc.returncode or 0, out.decode()


async def wait_until(condition, *, timeout: float = 10.0, what: str = "condition"):  # noqa: ANN001,ANN201
    """Poll `condition()` until truthy (returns it) or fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
