"""The Kubernetes source as it runs in a pod, against kubesim: the service account's
token and CA as the kubelet mounts them, KUBERNETES_SERVICE_HOST/PORT, and kubesim's
RBAC set to exactly the rules deploy/kubernetes renders. Nothing outside those rules is
ever requested, no Secret is read with its data, a namespaced install degrades per kind
without a retry loop, and a rotated token is used without a restart. `gestalt
check-access` answers for the same rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gestalt.model import EntityKind, SourceState
from gestalt.model.config import KubernetesCollector
from gestalt.sim.kubesim import KubeSim
from gestalt.sim.kubesim.server import fingerprint
from gestalt.sources.kubernetes import KubernetesSource
from gestalt.sources.kubernetes.access import in_cluster
from tests.sim.conftest import deployment, seed
from tests.support.cli import gestalt, user_env, write_config
from tests.support.k8s_rbac import (
    USER,
    grant,
    outside,
    rbac_of,
    rotate,
    secret_data_reads,
    write_service_account,
)
from tests.support.sinks import RecordingSink
from tests.support.wait import eventually

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kubectl_bin")]

CLUSTER = "kubesim"


@pytest.fixture
def kubectl_bin() -> str:
    import shutil

    from tests.support.services import require_service

    path = shutil.which("kubectl")
    require_service("kubectl", path is not None, "no kubectl on PATH (renders the overlays)")
    return path or ""


def populate(sim: KubeSim) -> None:
    """Objects in two namespaces, a node, a volume and a Secret."""
    seed(sim, "shop")
    store = sim.store
    store.create(deployment("web", namespace="default", replicas=2))
    store.create(deployment("cart", namespace="shop", replicas=1))
    store.create({"kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
                  "type": "Opaque", "data": {"password": "c2VjcmV0"}})
    store.create({"kind": "PersistentVolume", "metadata": {"name": "pv-1"},
                  "spec": {"capacity": {"storage": "1Gi"}}, "status": {"phase": "Available"}})


@contextlib.asynccontextmanager
async def running(sim: KubeSim, root: Path, **settings: object
                  ) -> AsyncIterator[tuple[KubernetesSource, RecordingSink]]:
    config = KubernetesCollector(cluster_name=CLUSTER, inactivity_timeout=5.0,
                                 poll_interval=0.5, **settings)  # type: ignore[arg-type]
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(sim.port)}
    source = KubernetesSource(config, access=in_cluster(config, root=str(root), environ=environ))
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        yield source, sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def open_watches(sim: KubeSim) -> int:
    return sum(len(watchers) for watchers in sim.store.watchers.values())


def names(sink: RecordingSink, kind: str) -> set[str]:
    return {e.name for e in sink.of_kind(kind)}


async def test_the_cluster_overlay_shows_the_whole_map(tmp_path: Path) -> None:
    rbac = rbac_of("cluster")
    async with KubeSim(bookmark_interval=0.3) as sim:
        populate(sim)
        root = write_service_account(tmp_path / "sa", sim, grant(sim, rbac))
        async with running(sim, root) as (_source, sink):
            await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=30, what="OK")
            await sink.wait_for(lambda: len(sink.of_kind(EntityKind.POD)) == 3, what="pods")
            assert {"node-a"} <= names(sink, EntityKind.NODE)
            assert "db" in names(sink, EntityKind.SECRET)
            assert {"default", "shop", "gestalt"} <= names(sink, EntityKind.NAMESPACE)
            assert sink.not_permitted == []
            # Each kind is watched once listed: the pods seen, their watch may be a moment away.
            await sink.wait_for(lambda: {r.resource for r in sim.requests if r.user == USER
                                         and r.verb == "watch"} >= {"pods", "nodes", "secrets"},
                                what="watches of pods, nodes and secrets")
        mine = [r for r in sim.requests if r.user == USER]
        assert outside(sim.requests, rbac) == []
        assert [r for r in mine if r.status in (401, 403)] == []
        assert secret_data_reads(sim.requests) == []


async def test_the_namespaced_overlay_degrades_per_kind_without_retrying(
        tmp_path: Path) -> None:
    rbac = rbac_of("namespaced")
    async with KubeSim(bookmark_interval=0.3) as sim:
        populate(sim)
        root = write_service_account(tmp_path / "sa", sim, grant(sim, rbac))
        async with running(sim, root, namespaces=["default"]) as (source, sink):
            await sink.wait_for(lambda: sink.state is SourceState.DEGRADED, timeout=30,
                                what="DEGRADED")
            await sink.wait_for(lambda: len(sink.of_kind(EntityKind.POD)) == 2, what="pods")
            # The namespace itself, read by name; nothing of the namespaces not granted.
            await sink.wait_for(lambda: names(sink, EntityKind.NAMESPACE) == {"default"},
                                what="the namespace read by name")
            assert sink.not_permitted == ["nodes", "nodes.metrics.k8s.io", "persistentvolumes"]
            reason = sink.statuses[-1][1]
            assert "not permitted by RBAC" in reason and "nodes" in reason
            assert names(sink, EntityKind.NODE) == set() and "cart" not in {
                e.attrs.get("k8s_kind") and e.name for e in sink.entities.values()}
            # A while later: still no request for what is not permitted, no status churn.
            seen = len(sink.statuses)
            before = len(sim.requests)
            await asyncio.sleep(2.0)  # quiet time on purpose: nothing may happen in it
            assert len(sink.statuses) == seen
            assert all(r.verb in ("watch", "list", "get") for r in sim.requests[before:])
            assert source.permissions is not None
        mine = [r for r in sim.requests if r.user == USER]
        assert not [r for r in mine if r.resource in ("nodes", "persistentvolumes")
                    or (r.resource == "namespaces" and r.name is None)]
        assert outside(sim.requests, rbac) == []
        assert [r for r in mine if r.status in (401, 403)] == []
        assert secret_data_reads(sim.requests) == []


async def test_a_rotated_token_is_used_without_a_restart(tmp_path: Path) -> None:
    rbac = rbac_of("cluster")
    async with KubeSim(bookmark_interval=0.3) as sim:
        populate(sim)
        first = grant(sim, rbac)
        root = write_service_account(tmp_path / "sa", sim, first)
        async with running(sim, root) as (source, sink):
            await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=30, what="OK")
            # OK comes with the lists; a watch may still be on its way, and one that opens
            # after the drop below would keep the old token. Wait for all of them.
            informers = len(source.informers)
            await eventually(lambda: open_watches(sim) == informers, timeout=30,
                             what="every informer's watch open")
            second = sim.service_account_token("gestalt", "gestalt")
            rotate(root, second)  # the kubelet rotates well before the old one expires
            sim.faults.drop_watches()  # every informer opens its watch again
            uses_second = fingerprint(f"Bearer {second}")
            await eventually(lambda: len({r.path for r in sim.requests if r.verb == "watch"
                                          and r.credential == uses_second}) == informers,
                             timeout=30, what="the watches opened again with the new token")
            sim.revoke(first)  # now the old token expires
            revoked_at = len(sim.requests)
            sim.faults.drop_watches()
            sim.store.create(deployment("late", namespace="default", replicas=1))
            await sink.wait_for(lambda: any(n.startswith("late-") for n in names(
                sink, EntityKind.POD)), timeout=30, what="a pod created after the rotation")
            after = sim.requests[revoked_at:]
            assert after and all(r.credential == uses_second for r in after)
            assert [r for r in after if r.status == 401] == []  # never needed a 401 to learn
            # The dropped watches count as a blip (DOWN) until each is open again.
            await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=30, what="OK")
            assert source._access is not None and source._access.token_file is not None
            assert source._access.token_file.reads == 2


async def test_an_expired_token_is_read_again_after_a_401(tmp_path: Path) -> None:
    """The file changed without a new inode or mtime the process could see in time: the
    401 makes it read the file again, and it carries on."""
    rbac = rbac_of("cluster")
    async with KubeSim(bookmark_interval=0.3) as sim:
        populate(sim)
        first = grant(sim, rbac)
        root = write_service_account(tmp_path / "sa", sim, first)
        async with running(sim, root) as (source, sink):
            await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=30, what="OK")
            second = sim.service_account_token("gestalt", "gestalt")
            assert source._access is not None and source._access.token_file is not None
            token_file = source._access.token_file
            rotate(root, second)
            info = (root / "token").stat()  # as if the change had not been noticed:
            token_file._seen = (info.st_ino, info.st_mtime_ns, info.st_size)
            token_file._token = first
            sim.revoke(first)
            sim.faults.drop_watches()
            sim.store.create(deployment("later", namespace="default", replicas=1))
            await sink.wait_for(lambda: any(n.startswith("later-") for n in names(
                sink, EntityKind.POD)), timeout=30, what="a pod after the 401")
            await sink.wait_for(lambda: sink.state is SourceState.OK, timeout=30, what="OK")
            assert any(r.status == 401 for r in sim.requests)  # it did take a 401 to learn


def test_check_access_answers_for_the_rendered_rules(tmp_path: Path) -> None:
    async def setup(overlay: str | None) -> tuple[KubeSim, str]:
        sim = KubeSim()
        populate(sim)
        token = grant(sim, rbac_of(overlay)) if overlay else sim.service_account_token(
            "gestalt", "gestalt")
        await sim.start()
        return sim, token

    async def scenario(overlay: str | None, namespaces: list[str]) -> tuple[int, str, str]:
        sim, token = await setup(overlay)
        try:
            kubeconfig = sim.write_kubeconfig(str(tmp_path / f"kc-{overlay}"), token=token)
            config = write_config(tmp_path / f"{overlay}.yaml",
                                  kubernetes={"kubeconfig": kubeconfig,
                                              "namespaces": namespaces})
            proc = await asyncio.to_thread(gestalt, "check-access", "-c", str(config),
                                           "--json", env=user_env())
            return proc.returncode, proc.stdout, proc.stderr
        finally:
            await sim.stop()

    code, out, err = asyncio.run(scenario("cluster", []))
    assert code == 0, err
    checks = json.loads(out)["checks"]
    assert all(c["allowed"] for c in checks if c["required"])
    secrets = [c for c in checks if c["resource"] == "secrets"]
    assert {c["verb"] for c in secrets} == {"list", "watch"} and "metadata" in secrets[0]["for"]

    code, out, err = asyncio.run(scenario(None, []))  # a service account with no rules
    assert code == 1 and "required permission(s) missing" in err, err
    assert "list pods (all namespaces)" in err

    code, out, err = asyncio.run(scenario("namespaced", ["default"]))
    assert code == 0, err
    assert "optional not granted" in err
    refused = {(c["resource"], c["verb"]) for c in json.loads(out)["checks"]
               if c["allowed"] is False}
    assert ("nodes", "list") in refused and ("pods", "list") not in refused

    code, out, err = asyncio.run(scenario("namespaced", []))  # rules for a namespace only,
    assert code == 1, err  # but configured for the whole cluster


def test_in_cluster_says_what_is_missing(tmp_path: Path) -> None:
    from gestalt.sources.base import PermanentSourceError

    config = KubernetesCollector()
    with pytest.raises(PermanentSourceError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster(config, root=str(tmp_path), environ={})
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(PermanentSourceError, match=f"service account in {tmp_path}"):
        in_cluster(config, root=str(tmp_path), environ=environ)


async def test_access_granted_later_is_used_without_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gestalt.sources.kubernetes import permissions

    monkeypatch.setattr(permissions, "RECHECK", 0.5)
    rbac = rbac_of("namespaced")
    async with KubeSim(bookmark_interval=0.3) as sim:
        populate(sim)
        root = write_service_account(tmp_path / "sa", sim, grant(sim, rbac))
        async with running(sim, root, namespaces=["default"]) as (_source, sink):
            await sink.wait_for(lambda: "nodes" in sink.not_permitted, timeout=30,
                                what="nodes not permitted")
            nodes_role = next(d for d in rbac_of("cluster") if d["kind"] == "ClusterRole")
            sim.store.create({**nodes_role, "metadata": {"name": "nodes-too"}, "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}]})
            sim.store.create({"kind": "ClusterRoleBinding", "metadata": {"name": "nodes-too"},
                              "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                          "kind": "ClusterRole", "name": "nodes-too"},
                              "subjects": [{"kind": "ServiceAccount", "name": "gestalt",
                                            "namespace": "gestalt"}]})
            await sink.wait_for(lambda: "node-a" in names(sink, EntityKind.NODE), timeout=30,
                                what="the node, once RBAC allows it")
            assert sink.not_permitted == ["nodes.metrics.k8s.io", "persistentvolumes"]
        assert [r for r in sim.requests if r.user == USER and r.status == 403] == []


async def test_a_missing_kubeconfig_says_it_does_not_exist(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not kubernetes_asyncio's "Invalid kube-config file": the path, where it came from."""
    from gestalt.sources.base import PermanentSourceError
    from gestalt.sources.kubernetes.access import load_access

    missing = tmp_path / "nope" / "config"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(PermanentSourceError,
                       match=f"kubeconfig {missing} \\(from collectors.kubernetes.kubeconfig\\) "
                             "does not exist"):
        await load_access(KubernetesCollector(kubeconfig=str(missing)))
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(PermanentSourceError, match=r"from \$KUBECONFIG\) does not exist"):
        await load_access(KubernetesCollector())
