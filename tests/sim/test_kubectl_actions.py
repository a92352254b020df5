"""The verbs Gestalt's actions use, done by the real kubectl against kubesim: what kubectl
prints and what it leaves behind are what a real API server gives (so the actions' tests
against kubesim mean something)."""

from __future__ import annotations

from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, kubectl


async def test_cordon_and_uncordon(sim: KubeSim, kubectl_bin: str) -> None:
    code, out = await kubectl(sim, "cordon", "node-a")
    assert (code, out.strip()) == (0, "node/node-a cordoned")
    code, out = await kubectl(sim, "get", "node", "node-a", "--no-headers")
    assert code == 0 and out.split()[1] == "Ready,SchedulingDisabled"
    code, out = await kubectl(sim, "cordon", "node-a")
    assert (code, out.strip()) == (0, "node/node-a already cordoned")
    code, out = await kubectl(sim, "uncordon", "node-a")
    assert (code, out.strip()) == (0, "node/node-a uncordoned")
    code, out = await kubectl(sim, "get", "node", "node-a", "-o",
                              "jsonpath={.spec.unschedulable}")
    assert (code, out) == (0, "")


async def test_delete_pod_and_its_replacement(sim: KubeSim, kubectl_bin: str) -> None:
    sim.store.create(deployment("web", replicas=1))
    code, out = await kubectl(sim, "wait", "--for=create", "pod", "-l", "app=web", "-n",
                              "shop", "--timeout=20s")
    assert code == 0, out
    code, name = await kubectl(sim, "get", "pods", "-n", "shop", "-o", "name")
    code, out = await kubectl(sim, "delete", name.strip(), "-n", "shop")
    pod = name.strip().removeprefix("pod/")
    assert (code, out.strip()) == (0, f'pod "{pod}" deleted')
    code, out = await kubectl(sim, "wait", "--for=jsonpath={.status.readyReplicas}=1",
                              "deployment/web", "-n", "shop", "--timeout=20s")
    assert code == 0, out
    code, after = await kubectl(sim, "get", "pods", "-n", "shop", "-o", "name")
    assert after.strip() and after.strip() != name.strip()
