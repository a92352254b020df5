"""The real kubectl against kubesim: what an SRE types must work as on a real cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gestalt.sim.kubesim import STORED, KubeSim, Rbac
from tests.sim.conftest import deployment, kubectl, wait_until

pytestmark = pytest.mark.usefixtures("kubectl_bin")

PODS = STORED[("", "pods")]
DEPLOYMENTS = STORED[("apps", "deployments")]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: app, image: "registry.local/api:IMAGE"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-settings, namespace: shop}
data: {mode: fast}
"""


def manifest(replicas: int, image: str) -> str:
    return MANIFEST.replace("REPLICAS", str(replicas)).replace("IMAGE", image)


def api_pods(sim: KubeSim) -> list[dict]:
    return [p for p in sim.store.items(PODS, "shop") if p["metadata"]["name"].startswith("api-")]


async def test_get_pods_all_namespaces(sim: KubeSim) -> None:
    sim.store.create(deployment("web", replicas=3))
    code, out = await kubectl(sim, "get", "pods", "-A")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 3
    assert all(r[0] == "shop" and r[1].startswith("web-") and r[2] == "1/1" and r[3] == "Running"
               for r in rows)


async def test_get_several_kinds_in_a_namespace(sim: KubeSim) -> None:
    sim.store.create(deployment("web"))
    sim.store.create({"kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                      "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
                               "clusterIP": "10.96.0.20", "ports": [{"port": 80}]}})
    sim.store.create({"kind": "ConfigMap", "metadata": {"name": "web-conf", "namespace": "shop"},
                      "data": {"a": "1", "b": "2"}})
    sim.store.create({"kind": "Secret", "metadata": {"name": "web-tls", "namespace": "shop"},
                      "type": "kubernetes.io/tls",
                      "data": {"tls.crt": "c2VjcmV0", "tls.key": "c2VjcmV0"}})
    code, out = await kubectl(sim, "get", "deploy,svc,cm,secret", "-n", "shop")
    assert code == 0, out
    assert "deployment.apps/web   2/2" in out
    assert "service/web   ClusterIP   10.96.0.20" in out
    assert "configmap/web-conf   2" in out
    assert "secret/web-tls   kubernetes.io/tls   2" in out


async def test_get_pods_watch_sees_changes(sim: KubeSim) -> None:
    sim.store.create(deployment("web", replicas=1))
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", sim.kubeconfig, "get", "pods", "-n", "shop", "-w",
        "--output-watch-events", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        seen: list[str] = []

        async def read_until(text: str) -> None:
            while not any(text in line for line in seen):
                line = await proc.stdout.readline()
                assert line, f"kubectl ended early: {seen}"
                seen.append(line.decode())

        await asyncio.wait_for(read_until("web-"), 20)  # the initial list
        await wait_until(lambda: sim.store.watchers[PODS], what="kubectl's watch")
        sim.store.create(deployment("late", replicas=1))
        await asyncio.wait_for(read_until("late-"), 20)
        added = [line for line in seen if "late-" in line]
        assert added[0].split()[0] == "ADDED"
    finally:
        proc.kill()
        await proc.wait()


async def test_top_pods(sim: KubeSim) -> None:
    sim.store.create(deployment("web", replicas=2))
    code, out = await kubectl(sim, "top", "pods", "-n", "shop")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert len(lines) == 3 and all(line.split()[1].endswith("m") for line in lines[1:])


async def test_apply_scale_delete(sim: KubeSim) -> None:
    code, out = await kubectl(sim, "apply", "-f", "-", stdin=manifest(2, "1"))
    assert code == 0, out
    assert "deployment.apps/api created" in out and "configmap/api-settings created" in out
    assert len(api_pods(sim)) == 2

    code, out = await kubectl(sim, "apply", "-f", "-", stdin=manifest(3, "2"))
    assert code == 0, out
    assert "deployment.apps/api configured" in out and "api-settings unchanged" in out
    pods = api_pods(sim)
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.local/api:2"}

    code, out = await kubectl(sim, "scale", "deployment", "api", "-n", "shop", "--replicas=1")
    assert code == 0, out
    assert len(api_pods(sim)) == 1
    assert sim.store.get(DEPLOYMENTS, "shop", "api")["status"]["readyReplicas"] == 1

    code, out = await kubectl(sim, "delete", "deployment", "api", "-n", "shop")
    assert code == 0, out
    assert sim.store.find(DEPLOYMENTS, "shop", "api") is None
    assert api_pods(sim) == []  # cascading deletion through the ReplicaSet


async def test_create_generators_send_protobuf(sim: KubeSim, tmp_path: Path) -> None:
    """`kubectl create configmap|secret|namespace|serviceaccount` send protobuf bodies; the
    objects land as the API server would store them (defaults included), and a kind kubesim
    cannot read as protobuf is a clear 415, not a parse error."""
    (tmp_path / "motd").write_text("hello\n")
    code, out = await kubectl(sim, "create", "configmap", "settings", "-n", "shop",
                              "--from-literal=mode=fast", f"--from-file={tmp_path / 'motd'}")
    assert (code, out.strip()) == (0, "configmap/settings created")
    code, out = await kubectl(sim, "create", "secret", "generic", "creds", "-n", "shop",
                              "--from-literal=password=s3cret")
    assert (code, out.strip()) == (0, "secret/creds created")
    code, out = await kubectl(sim, "create", "namespace", "billing")
    assert (code, out.strip()) == (0, "namespace/billing created")
    code, out = await kubectl(sim, "create", "serviceaccount", "robot", "-n", "billing")
    assert (code, out.strip()) == (0, "serviceaccount/robot created")
    configmap = sim.store.get(STORED[("", "configmaps")], "shop", "settings")
    assert configmap["data"] == {"mode": "fast", "motd": "hello\n"}
    secret = sim.store.get(STORED[("", "secrets")], "shop", "creds")
    assert (secret["type"], secret["data"]) == ("Opaque", {"password": "czNjcmV0"})
    namespace = sim.store.get(STORED[("", "namespaces")], None, "billing")
    assert namespace["status"] == {"phase": "Active"}
    assert sim.store.find(STORED[("", "serviceaccounts")], "billing", "robot") is not None
    code, out = await kubectl(sim, "create", "deployment", "web", "--image=nginx", "-n", "shop")
    assert code == 1 and "kubesim reads Deployment only as JSON" in out


async def test_wrong_token_is_refused(sim: KubeSim) -> None:
    code, out = await kubectl(sim, "get", "pods", "--token", "not-the-token")
    assert code != 0
    assert "Unauthorized" in out or "credentials" in out


async def test_rbac_forbids_one_resource(sim: KubeSim) -> None:
    sim.rbac.forbid("secrets", ["list"])
    code, out = await kubectl(sim, "get", "secrets", "-n", "shop")
    assert code != 0 and "Forbidden" in out
    code, out = await kubectl(sim, "get", "configmaps", "-n", "shop")
    assert code == 0, out


async def test_rbac_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "rbac.yaml"
    rules.write_text("deny:\n  - resource: configmaps\n    verbs: [list]\n"
                     "    namespaces: [shop]\n")
    async with KubeSim(rbac=Rbac.from_file(str(rules))) as server:
        server.store.create({"kind": "Namespace", "metadata": {"name": "shop"}})
        code, out = await kubectl(server, "get", "configmaps", "-n", "shop")
        assert code != 0 and "Forbidden" in out
        code, out = await kubectl(server, "get", "configmaps", "-n", "default")
        assert code == 0, out
