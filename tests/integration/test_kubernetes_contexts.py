"""Several clusters from one kubeconfig in one process (`collectors.kubernetes.contexts`):
each context is a source of its own, its entities named by its cluster."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml

from gestalt.engine.registry import build_sources
from gestalt.engine.runtime import Engine
from gestalt.model import SourceState
from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, seed
from tests.support.federation import quiet_config
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


def merged_kubeconfig(path: Path, sims: dict[str, KubeSim]) -> str:
    document: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                      "contexts": [], "current-context": next(iter(sims))}
    for name, sim in sims.items():
        one = sim.kubeconfig_dict(name)
        for key in ("clusters", "users", "contexts"):
            document[key] += one[key]
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.parametrize("contexts", [["alpha", "beta"], "all"])
async def test_each_context_is_a_source_of_its_own(tmp_path: Path,
                                                    contexts: list[str] | str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        sims = {}
        for name in ("alpha", "beta"):
            sim = await stack.enter_async_context(KubeSim(bookmark_interval=0.3))
            seed(sim)
            sim.store.create(deployment(f"web-{name}", replicas=1))
            sims[name] = sim
        config = quiet_config()
        kube = config.collectors.kubernetes
        kube.enabled = True
        kube.kubeconfig = merged_kubeconfig(tmp_path / "kubeconfig", sims)
        kube.contexts = contexts
        kube.poll_interval = 0.5
        sources, _ = build_sources(config)
        assert [s.name for s in sources] == ["kubernetes:alpha", "kubernetes:beta"]
        engine = Engine(config, sources=sources)
        await engine.start()
        try:
            def pods(cluster: str) -> list[str]:
                return [eid for eid in engine.store.entities
                        if eid.startswith(f"pod:{cluster}/shop/web-{cluster}-")]

            await eventually(lambda: pods("alpha") and pods("beta"),
                             what="pods of both clusters")
            assert engine.hub.statuses["kubernetes:alpha"].state is SourceState.OK
            assert engine.store.entities[pods("beta")[0]].sources == ["kubernetes:beta"]
        finally:
            await engine.stop()
