"""Kubernetes actions against kubesim, checked with the real kubectl: delete a pod, scale a
deployment and back, cordon and uncordon a node, with the write credentials of
deploy/kubernetes/overlays/actions (a service account of its own, exactly those rules)
while the map reads with other credentials that never write."""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gestalt.engine.runtime import Engine
from gestalt.model import ids
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, kubectl, seed
from tests.support.k8s_rbac import outside, rbac_of
from tests.support.server import running_server
from tests.support.services import require_service
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

OPERATOR = "operator-token-0123456789"
HEADERS = {"X-Gestalt-Operator-Token": OPERATOR}
ACTIONS_USER = "system:serviceaccount:gestalt:gestalt-actions"
WRITES = ("create", "update", "patch", "delete", "deletecollection")


@pytest.fixture
def kubectl_bin() -> str:
    path = shutil.which("kubectl")
    require_service("kubectl", path is not None, "no kubectl on PATH")
    return path or ""


def actions_rbac() -> list[dict[str, Any]]:
    """The overlay's rules, its Role moved to the namespace this test allow-lists."""
    rbac = copy.deepcopy(rbac_of("actions"))
    for document in rbac:
        if document["kind"] in ("Role", "RoleBinding"):
            document["metadata"]["namespace"] = "shop"
    return rbac


@pytest.fixture
async def served(tmp_path: Path, kubectl_bin: str
                 ) -> AsyncIterator[tuple[KubeSim, httpx.AsyncClient, list[dict[str, Any]]]]:
    async with KubeSim(bookmark_interval=0.3) as sim:
        seed(sim)
        sim.store.create({"kind": "Namespace", "metadata": {"name": "other"}})
        sim.store.create(deployment("web", replicas=2))
        sim.store.create(deployment("db", namespace="other"))
        store = sim.store
        store.create({"kind": "Namespace", "metadata": {"name": "gestalt"}})
        store.create({"kind": "ServiceAccount",
                      "metadata": {"name": "gestalt-actions", "namespace": "gestalt"}})
        rbac = actions_rbac()
        for document in rbac:
            store.create(document)
        token = sim.service_account_token("gestalt", "gestalt-actions")
        write_kubeconfig = sim.write_kubeconfig(str(tmp_path / "actions.kubeconfig"),
                                                token=token)
        config = tmp_path / "gestalt.yaml"
        config.write_text(
            f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
            "history: {sample_interval: 0}\n"
            "collectors:\n"
            "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
            "  docker: {enabled: false}\n"
            f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
            "cluster_name: kubesim, poll_interval: 0.5}\n"
            f"actions: {{enabled: true, operator_token: {OPERATOR}, namespaces: [shop], "
            f"nodes: ['node-*'], kubeconfig: {write_kubeconfig}}}\n")
        engine = Engine(load_config(config, env={}))
        async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                      timeout=30) as client:
            await eventually(lambda: len([e for e in engine.store.entities
                                          if e.startswith("pod:kubesim/shop/")]) == 2,
                             timeout=20, what="web's two pods")
            yield sim, client, rbac


async def get(sim: KubeSim, *args: str) -> str:
    code, out = await kubectl(sim, "get", *args)
    assert code == 0, out
    return out.strip()


async def test_kubernetes_actions_do_what_they_say(
        served: tuple[KubeSim, httpx.AsyncClient, list[dict[str, Any]]]) -> None:
    sim, client, rbac = served
    pods = (await get(sim, "pods", "-n", "shop", "-o", "name")).split()
    victim = pods[0].removeprefix("pod/")
    response = await client.post("/api/actions", headers=HEADERS, json={
        "action": "delete_pod", "target": ids.k8s("pod", "kubesim", "shop", victim)})
    assert response.status_code == 200, response.text
    assert response.json()["message"] == f"pod shop/{victim} deleted"
    code, out = await kubectl(sim, "get", "pod", victim, "-n", "shop")
    assert code != 0 and "NotFound" in out

    web = ids.k8s("deployment", "kubesim", "shop", "web")
    response = await client.post("/api/actions", headers=HEADERS,
                                 json={"action": "scale", "target": web, "replicas": 4})
    assert response.status_code == 200, response.text
    assert response.json()["params"]["previous_replicas"] == 2
    assert await get(sim, "deployment", "web", "-n", "shop", "-o",
                     "jsonpath={.spec.replicas}") == "4"
    response = await client.post("/api/actions", headers=HEADERS,
                                 json={"action": "scale", "target": web, "replicas": 2})
    assert response.json()["message"] == "deployment shop/web scaled from 4 to 2"
    assert await get(sim, "deployment", "web", "-n", "shop", "-o",
                     "jsonpath={.spec.replicas}") == "2"

    node = ids.node("kubesim", "node-a")
    response = await client.post("/api/actions", headers=HEADERS,
                                 json={"action": "cordon", "target": node})
    assert response.status_code == 200, response.text
    assert await get(sim, "node", "node-a", "-o", "jsonpath={.spec.unschedulable}") == "true"
    assert "SchedulingDisabled" in await get(sim, "node", "node-a")
    response = await client.post("/api/actions", headers=HEADERS,
                                 json={"action": "uncordon", "target": node})
    assert response.status_code == 200, response.text
    assert await get(sim, "node", "node-a", "-o", "jsonpath={.spec.unschedulable}") == ""

    # Outside the allow-list: another namespace (RBAC would refuse it too, but Gestalt
    # refuses first, with a clear reason).
    response = await client.post("/api/actions", headers=HEADERS, json={
        "action": "scale", "target": ids.k8s("deployment", "kubesim", "other", "db"),
        "replicas": 0})
    assert (response.status_code, response.json()["error"]) == (
        403, "namespace 'other' is not allow-listed (actions.namespaces: shop)")
    assert await get(sim, "deployment", "db", "-n", "other", "-o",
                     "jsonpath={.spec.replicas}") == "2"

    # Writes come only from the actions' own service account, within its rules; the
    # map's credentials never write (a SelfSubjectAccessReview asks, it changes nothing).
    requests = sim.requests
    assert outside(requests, rbac, user=ACTIONS_USER) == []
    writers = {r.user for r in requests if r.verb in WRITES
               and r.resource != "selfsubjectaccessreviews.authorization.k8s.io"}
    assert writers == {ACTIONS_USER}
