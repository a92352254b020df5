"""deploy/kubernetes with the real kubectl against kubesim: every overlay renders with
`kubectl kustomize`, `kubectl apply -k` creates its objects, and kubesim then authorizes
the `gestalt` service account by exactly those RBAC objects (checked with
`kubectl auth can-i` and plain `kubectl get`, as an operator would)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gestalt.sim.kubesim import STORED, KubeSim
from tests.sim.conftest import kubectl

pytestmark = pytest.mark.usefixtures("kubectl_bin")

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"


def render(overlay: str) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / overlay)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def kinds(documents: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
            for d in documents}


def test_every_overlay_renders() -> None:
    cluster, namespaced, agent = render("cluster"), render("namespaced"), render("agent")
    config = next(d["metadata"]["name"] for d in cluster if d["kind"] == "ConfigMap")
    assert kinds(cluster) == {
        ("Namespace", "gestalt", None), ("ServiceAccount", "gestalt", "gestalt"),
        ("ClusterRole", "gestalt-reader", None), ("ClusterRoleBinding", "gestalt-reader", None),
        ("ConfigMap", config, "gestalt"), ("Service", "gestalt", "gestalt"),
        ("PersistentVolumeClaim", "gestalt-history", "gestalt"),
        ("Deployment", "gestalt", "gestalt")}
    # A namespaced install creates nothing cluster-scoped: no ClusterRole, no Namespace.
    assert {k for k in kinds(namespaced) if k[2] is None} == set()
    assert ("Role", "gestalt-reader", "default") in kinds(namespaced)
    assert ("RoleBinding", "gestalt-reader", "default") in kinds(namespaced)
    # The agent: the same image and access, running `gestalt agent`, no Service.
    assert not any(d["kind"] == "Service" for d in agent)
    container = next(d for d in agent if d["kind"] == "Deployment")[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "agent" and container["image"] == "gestalt:0.1.0"


def test_the_rbac_grants_only_reading() -> None:
    """Every rule of every overlay: get, list or watch only, no wildcard anywhere."""
    rules = [rule for overlay in ("cluster", "namespaced", "agent") for d in render(overlay)
             if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]
    assert rules
    for rule in rules:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    # `get` only of one named object (the namespace itself, in a namespaced install).
    assert all(rule.get("resourceNames") for rule in rules if "get" in rule["verbs"])


def test_the_deployment_is_hardened() -> None:
    deployment = next(d for d in render("cluster") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    token = next(e for e in container["env"] if e["name"] == "GESTALT_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == "gestalt-token"


async def apply(sim: KubeSim, overlay: str) -> str:
    code, out = await kubectl(sim, "apply", "-k", str(OVERLAYS / overlay), timeout=60)
    assert code == 0, out
    return out


async def can_i(sim: KubeSim, kubeconfig: Path, *args: str) -> bool:
    code, out = await kubectl_as(sim, kubeconfig, "auth", "can-i", *args)
    answer = out.strip().splitlines()[-1]  # after kubectl's warnings, if any
    assert answer in ("yes", "no"), out
    return answer == "yes"


async def kubectl_as(sim: KubeSim, kubeconfig: Path, *args: str) -> tuple[int, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_apply_the_cluster_overlay_and_read_with_its_service_account(
        sim: KubeSim, tmp_path: Path) -> None:
    out = await apply(sim, "cluster")
    for created in ("namespace/gestalt", "serviceaccount/gestalt",
                    "clusterrole.rbac.authorization.k8s.io/gestalt-reader",
                    "clusterrolebinding.rbac.authorization.k8s.io/gestalt-reader",
                    "service/gestalt", "persistentvolumeclaim/gestalt-history",
                    "deployment.apps/gestalt"):
        assert f"{created} created" in out, out
    assert sim.store.find(STORED[("apps", "deployments")], "gestalt", "gestalt") is not None
    # Applying again changes nothing.
    again = await apply(sim, "cluster")
    assert "created" not in again and "configured" not in again, again

    sa = Path(sim.write_kubeconfig(str(tmp_path / "sa"),
                                   token=sim.service_account_token("gestalt", "gestalt")))
    assert await can_i(sim, sa, "list", "pods", "--all-namespaces")
    assert await can_i(sim, sa, "watch", "deployments.apps", "-n", "shop")
    assert await can_i(sim, sa, "list", "nodes")
    assert await can_i(sim, sa, "list", "secrets", "-n", "shop")  # metadata views only
    for verb, resource in (("get", "secrets"), ("get", "pods"), ("create", "pods"),
                           ("delete", "deployments.apps"), ("create", "pods/exec"),
                           ("get", "pods/log"), ("patch", "nodes"),
                           ("list", "clusterroles.rbac.authorization.k8s.io")):
        assert not await can_i(sim, sa, verb, resource, "-n", "shop"), (verb, resource)
    code, out = await kubectl_as(sim, sa, "get", "pods", "-A")
    assert code == 0, out
    code, out = await kubectl_as(sim, sa, "create", "configmap", "x", "-n", "shop")
    assert code != 0 and "forbidden" in out.lower(), out
    # A stranger's token is authorized by nothing.
    other = Path(sim.write_kubeconfig(str(tmp_path / "other"),
                                      token=sim.service_account_token("shop", "default")))
    assert not await can_i(sim, other, "list", "pods", "--all-namespaces")


async def test_apply_the_namespaced_overlay_grants_only_its_namespaces(
        sim: KubeSim, tmp_path: Path) -> None:
    sim.store.create({"kind": "Namespace", "metadata": {"name": "gestalt"}})
    out = await apply(sim, "namespaced")
    assert "role.rbac.authorization.k8s.io/gestalt-reader created" in out, out
    assert "clusterrole" not in out
    sa = Path(sim.write_kubeconfig(str(tmp_path / "sa"),
                                   token=sim.service_account_token("gestalt", "gestalt")))
    assert await can_i(sim, sa, "list", "pods", "-n", "default")
    assert await can_i(sim, sa, "watch", "endpointslices.discovery.k8s.io", "-n", "default")
    assert await can_i(sim, sa, "get", "namespaces/default")
    assert not await can_i(sim, sa, "list", "pods", "-n", "shop")
    assert not await can_i(sim, sa, "list", "pods", "--all-namespaces")
    assert not await can_i(sim, sa, "list", "nodes")
    assert not await can_i(sim, sa, "list", "namespaces")
    assert not await can_i(sim, sa, "get", "namespaces/shop")
    code, out = await kubectl_as(sim, sa, "get", "nodes")
    assert code != 0 and "forbidden" in out.lower(), out


async def test_apply_the_agent_overlay(sim: KubeSim) -> None:
    out = await apply(sim, "agent")
    assert "deployment.apps/gestalt created" in out and "service/" not in out, out
    deployment = sim.store.get(STORED[("apps", "deployments")], "gestalt", "gestalt")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "agent"
