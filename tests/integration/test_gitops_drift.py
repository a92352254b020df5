"""GitOps drift end to end: a Git repository made here with dulwich, applied to kubesim
with the real kubectl, then changed in the cluster (scale, patch, delete, an extra object)
and in Git (a new commit); the engine's map, health, paths and entity API follow."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dulwich import porcelain

from gestalt.engine.runtime import Engine
from gestalt.model import EntityKind, SourceState
from gestalt.model.config import load_config
from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import kubectl, seed
from tests.support.server import running_server
from tests.support.services import require_service
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

DEPLOY = "deployment:kubesim/shop/web"
SERVICE = "service:kubesim/shop/web"
CONFIG = "configmap:kubesim/shop/web-conf"
STRAY = "configmap:kubesim/shop/stray"
STRAY_YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray, namespace: shop}\n" \
    "data: {a: b}\n"


def web(replicas: int = 2, mode: str = "prod") -> dict[str, str]:
    """The repository's files."""
    return {
        "apps/web.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop, labels: {{app: web}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: registry.local/web:1
        ports: [{{containerPort: 8080}}]
        resources: {{requests: {{cpu: "0.1", memory: 128Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
""",
        "apps/config.yaml": f"""\
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-conf, namespace: shop}}
data: {{mode: {mode}}}
""",
    }


def commit(repo: Path, files: dict[str, str], message: str, *, remove: tuple[str, ...] = ()
           ) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for name in remove:
        (repo / name).unlink()
    porcelain.add(str(repo), paths=[str(repo / n) for n in files])
    if remove:
        porcelain.remove(str(repo), paths=[str(repo / n) for n in remove], cached=True)
    sha = porcelain.commit(str(repo), message.encode(), author=b"t <t@example.com>",
                           committer=b"t <t@example.com>")
    return sha.decode()


async def apply(sim: KubeSim, files: dict[str, str]) -> None:
    code, out = await kubectl(sim, "apply", "-f", "-", stdin="\n---\n".join(files.values()))
    assert code == 0, out


@pytest.fixture
def kubectl_bin() -> str:
    path = shutil.which("kubectl")
    require_service("kubectl", path is not None,
                    "no kubectl on PATH (scripts/services.sh installs it)")
    return path or ""


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    async with KubeSim(bookmark_interval=0.3) as server:
        seed(server)
        yield server


def engine_for(tmp_path: Path, sim: KubeSim, repositories: str) -> Engine:
    config = tmp_path / "gestalt.yaml"
    config.write_text(
        f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
        "history: {sample_interval: 0}\n"
        "collectors:\n"
        "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
        "  docker: {enabled: false}\n"
        f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
        "cluster_name: kubesim, poll_interval: 0.5}\n"
        "  gitops:\n    enabled: true\n    poll_interval: 0.3\n    repositories:\n"
        + repositories)
    return Engine(load_config(config, env={}))


def attr(engine: Engine, entity_id: str, name: str) -> Any:
    entity = engine.store.entities.get(entity_id)
    return None if entity is None else entity.attrs.get(name)


async def state_is(engine: Engine, entity_id: str, state: str, timeout: float = 15) -> None:
    await eventually(lambda: attr(engine, entity_id, "gitops_state") == state,
                     timeout=timeout, what=f"{entity_id} {state} "
                     f"(is {attr(engine, entity_id, 'gitops_state')})")


async def compared_again(client: httpx.AsyncClient) -> None:
    """Wait until every repository has been compared again after now."""
    since = time.time()

    async def fresh() -> bool:
        rows = (await client.get("/api/paths/world.infra.gitops.repositories")).json()["result"]
        return all(r["checked_at"] > since for r in rows)

    await eventually(fresh, timeout=15, what="a fresh comparison")


async def test_drift_follows_the_cluster_and_git(tmp_path: Path, sim: KubeSim,
                                                 kubectl_bin: str) -> None:
    repo = tmp_path / "repo"
    porcelain.init(str(repo))
    first = commit(repo, web(), "web at 2 replicas")
    await apply(sim, web())
    engine = engine_for(tmp_path, sim, f"    - {{name: shop, path: {repo}, ref: master, "
                                       "subpath: apps, cluster: kubesim}\n")
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        for entity_id in (DEPLOY, SERVICE, CONFIG):
            await state_is(engine, entity_id, "in_sync")
        # In sync although the API server filled in defaults the manifest does not set.
        code, out = await kubectl(sim, "get", "deployment", "web", "-n", "shop", "-o",
                                  "jsonpath={.spec.revisionHistoryLimit} {.spec.template.spec"
                                  ".containers[0].terminationMessagePath}")
        assert (code, out) == (0, "10 /dev/termination-log")
        # The same quantity in another spelling (Git says 0.1) is no drift either.
        code, out = await kubectl(sim, "patch", "deployment", "web", "-n", "shop", "-p",
                                  '{"spec":{"template":{"spec":{"containers":[{"name":"app",'
                                  '"resources":{"requests":{"cpu":"100m"}}}]}}}}')
        assert code == 0, out
        await compared_again(client)
        assert attr(engine, DEPLOY, "gitops_state") == "in_sync"
        deploy = engine.store.entities[DEPLOY]
        # One entity, both sources: the Kubernetes source names it, Git's state rides along.
        assert deploy.sources == ["kubernetes", "gitops"] and deploy.kind is EntityKind.DEPLOYMENT
        assert deploy.attrs["gitops_revision"] == first[:12]
        assert deploy.attrs["gitops_file"] == "apps/web.yaml"

        # kubectl scale: spec.replicas drifts; nothing else (API defaults are not drift).
        code, out = await kubectl(sim, "scale", "deployment", "web", "-n", "shop",
                                  "--replicas=5")
        assert code == 0, out
        await state_is(engine, DEPLOY, "drifted")
        diff = json.loads(attr(engine, DEPLOY, "gitops_diff"))
        assert diff == [{"path": "spec.replicas", "desired": 2, "live": 5}]
        assert "drifted from Git: spec.replicas: 2 -> 5" in engine.store.entities[
            DEPLOY].health_reasons
        details = (await client.get(f"/api/infra/entities/{DEPLOY}")).json()
        assert json.loads(details["entity"]["attrs"]["gitops_diff"])[0]["path"] == "spec.replicas"
        assert details["contributions"]["gitops"]["attrs"]["gitops_state"] == "drifted"

        # An edit-style patch: the container's image and a key added to the ConfigMap.
        code, out = await kubectl(sim, "patch", "deployment", "web", "-n", "shop", "-p",
                                  '{"spec":{"template":{"spec":{"containers":[{"name":"app",'
                                  '"image":"registry.local/web:2"}]}}}}')
        assert code == 0, out
        code, out = await kubectl(sim, "patch", "configmap", "web-conf", "-n", "shop",
                                  "--type", "merge", "-p", '{"data":{"debug":"1"}}')
        assert code == 0, out
        await eventually(lambda: attr(engine, DEPLOY, "gitops_differences") == 2, timeout=15,
                         what="the image drift")
        paths = [d["path"] for d in json.loads(attr(engine, DEPLOY, "gitops_diff"))]
        assert paths == ["spec.replicas", "spec.template.spec.containers[name=app].image"]
        await state_is(engine, CONFIG, "drifted")
        assert json.loads(attr(engine, CONFIG, "gitops_diff")) == [
            {"path": "data.debug", "desired": None, "live": "1"}]

        # A deleted object is missing (shown from Git alone); an extra one is extra.
        code, out = await kubectl(sim, "delete", "service", "web", "-n", "shop")
        assert code == 0, out
        code, out = await kubectl(sim, "create", "-f", "-", stdin=STRAY_YAML)
        assert code == 0, out
        await state_is(engine, SERVICE, "missing")
        await state_is(engine, STRAY, "extra")
        assert engine.store.entities[SERVICE].sources == ["gitops"]
        drift = (await client.get("/api/paths/world.infra.gitops.drift")).json()
        rows = {(r["kind"], r["name"]): r["state"] for r in drift["result"]}
        assert rows == {("Deployment", "web"): "drifted", ("ConfigMap", "web-conf"): "drifted",
                        ("Service", "web"): "missing", ("ConfigMap", "stray"): "extra"}
        for name in ("world.infra.gitops.drift", "world.infra.gitops.objects",
                     "world.infra.gitops.repositories"):
            await columns_filled(client, name)

        async def feed_says_so() -> bool:
            events = await engine.history.events(limit=100, source="gitops")
            return {"GitOpsDrifted", "GitOpsMissing", "GitOpsExtra"} <= {e.reason for e in events}

        await eventually(feed_says_so, timeout=10, what="drift events in the feed")

        # A commit that matches the cluster clears all of it.
        matched = web(replicas=5).copy()
        matched["apps/web.yaml"] = matched["apps/web.yaml"].replace(
            "registry.local/web:1", "registry.local/web:2").split("---")[0]
        matched["apps/config.yaml"] = matched["apps/config.yaml"].replace(
            "{mode: prod}", "{mode: prod, debug: '1'}")
        matched["apps/stray.yaml"] = STRAY_YAML
        second = commit(repo, matched, "match the cluster")
        for entity_id in (DEPLOY, CONFIG, STRAY):
            await state_is(engine, entity_id, "in_sync")
        await eventually(lambda: SERVICE not in engine.store.entities, timeout=15,
                         what="the service gone from Git and the cluster")
        assert attr(engine, DEPLOY, "gitops_revision") == second[:12]
        assert engine.store.entities[DEPLOY].health_reasons == []
        repos = (await client.get("/api/paths/world.infra.gitops.repositories")).json()
        assert repos["result"][0]["in_sync"] == 3 and repos["result"][0]["drifted"] == 0


async def columns_filled(client: httpx.AsyncClient, name: str) -> None:
    """Every column the path declares has a value in some row (as tests/unit/
    test_paths_columns.py checks for the paths fed by captured entities)."""
    from gestalt.engine.paths import REGISTRY

    rows = (await client.get(f"/api/paths/{name}")).json()["result"]
    assert rows, f"{name}: no rows"
    empty = [c for c in REGISTRY[name].columns if all(r.get(c) is None for r in rows)]
    assert not empty, f"{name}: columns {empty} are empty in every row"


async def test_bad_input_is_per_file_and_the_rest_is_compared(tmp_path: Path, sim: KubeSim,
                                                              kubectl_bin: str) -> None:
    repo = tmp_path / "repo"
    porcelain.init(str(repo))
    files = web()
    commit(repo, {**files, "apps/broken.yaml": "kind: [unclosed\n",
                  "apps/nameless.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
           "with bad files")
    await apply(sim, files)
    engine = engine_for(
        tmp_path, sim,
        f"    - {{name: shop, path: {repo}, ref: master, subpath: apps}}\n"
        f"    - {{name: typo-ref, path: {repo}, ref: mian}}\n"
        f"    - {{name: gone, path: {tmp_path / 'nowhere'}}}\n")
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        for entity_id in (DEPLOY, SERVICE, CONFIG):
            await state_is(engine, entity_id, "in_sync")
        errors = (await client.get("/api/paths/world.infra.gitops.errors")).json()["result"]
        found = {(e["repository"], e["file"]): e["error"] for e in errors}
        await columns_filled(client, "world.infra.gitops.errors")
        assert found[("shop", "apps/broken.yaml")] == \
            "not valid YAML (line 2): did not find expected ',' or ']'"
        assert found[("shop", "apps/nameless.yaml")] == \
            "document 1: ConfigMap without `metadata.name`"
        assert found[("typo-ref", "(repository)")] == "ref 'mian' not found (branches: master)"
        assert found[("gone", "(repository)")] == f"{tmp_path / 'nowhere'}: no such repository " \
            "or directory"
        status = engine.hub.statuses["gitops"]
        assert status.state is SourceState.DEGRADED and "(and 3 more)" in status.reason


async def test_a_kustomization_folder_and_the_controllers_own_word(
        tmp_path: Path, sim: KubeSim, kubectl_bin: str) -> None:
    """A plain folder (not Git) whose kustomization sets the image tag and a label: what
    `kubectl apply -k` put in the cluster is in sync; `kubectl set image` drifts it. An
    Argo CD Application and a Flux Kustomization in the cluster say their own sync."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "web.yaml").write_text(web()["apps/web.yaml"])
    (folder / "kustomization.yaml").write_text(
        "resources: [web.yaml]\n"
        "labels: [{pairs: {team: shop}}]\n"
        "images: [{name: registry.local/web, newTag: '3'}]\n")
    code, out = await kubectl(sim, "apply", "-k", str(folder))
    assert code == 0, out
    code, out = await kubectl(sim, "apply", "-f", "-", stdin="""\
apiVersion: v1
kind: Namespace
metadata: {name: argocd}
---
apiVersion: v1
kind: Namespace
metadata: {name: flux-system}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec: {project: default}
status:
  sync: {status: OutOfSync, revision: abc123}
  health: {status: Healthy}
  resources:
  - {kind: Deployment, namespace: shop, name: web, status: OutOfSync}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop, namespace: flux-system}
spec: {path: ./deploy, prune: true}
status:
  lastAppliedRevision: main@sha1:abc123
  conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded}]
  inventory: {entries: [{id: shop_web__Service, v: v1}]}
""")
    assert code == 0, out
    engine = engine_for(tmp_path, sim, f"    - {{name: folder, path: {folder}, ignore_differences:"
                                       " [{kind: Deployment, json_pointers: [/spec/replicas]}]}\n")
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        await state_is(engine, DEPLOY, "in_sync")
        await state_is(engine, SERVICE, "in_sync")
        assert attr(engine, DEPLOY, "gitops_file") == "./ (kustomize)"
        assert attr(engine, DEPLOY, "gitops_revision") == ""  # a folder has no commit
        assert attr(engine, DEPLOY, "gitops_controller") == "argocd: OutOfSync (shop)"
        assert attr(engine, SERVICE, "gitops_controller") == "flux: Ready (shop@main@sha1:abc123)"
        # ignore_differences: an autoscaler owns the replicas, so scaling is no drift.
        code, out = await kubectl(sim, "scale", "deployment", "web", "-n", "shop",
                                  "--replicas=6")
        assert code == 0, out
        await compared_again(client)
        assert attr(engine, DEPLOY, "gitops_state") == "in_sync"
        code, out = await kubectl(sim, "set", "image", "deployment/web", "-n", "shop",
                                  "app=registry.local/web:1")
        assert code == 0, out
        await state_is(engine, DEPLOY, "drifted")
        assert json.loads(attr(engine, DEPLOY, "gitops_diff")) == [{
            "path": "spec.template.spec.containers[name=app].image",
            "desired": "registry.local/web:3", "live": "registry.local/web:1"}]
        repos = (await client.get("/api/paths/world.infra.gitops.repositories")).json()
        assert repos["result"][0]["controllers"] == \
            "argocd shop: OutOfSync, flux shop: Ready"


async def test_secret_values_from_git_and_the_cluster_never_enter(
        tmp_path: Path, sim: KubeSim, kubectl_bin: str) -> None:
    """A Secret with a value in Git, applied with kubectl (whose last-applied annotation
    copies the value): compared by its labels, and the value is nowhere Gestalt answers or
    keeps."""
    canary = f"canary-{time.time_ns()}"
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop, labels: "
              f"{{app: db}}}}\nstringData: {{password: {canary}}}\n")
    repo = tmp_path / "repo"
    porcelain.init(str(repo))
    commit(repo, {"secret.yaml": secret}, "a secret")
    code, out = await kubectl(sim, "apply", "-f", "-", stdin=secret)
    assert code == 0, out
    engine = engine_for(tmp_path, sim, f"    - {{name: shop, path: {repo}, ref: master}}\n")
    seen: list[bytes] = []
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        secret_id = "secret:kubesim/shop/db"
        await state_is(engine, secret_id, "in_sync")
        code, out = await kubectl(sim, "label", "secret", "db", "-n", "shop", "app=other",
                                  "--overwrite")
        assert code == 0, out
        await state_is(engine, secret_id, "drifted")
        assert json.loads(attr(engine, secret_id, "gitops_diff")) == [
            {"path": "metadata.labels.app", "desired": "db", "live": "other"}]
        for path in (f"/api/infra/entities/{secret_id}", "/api/infra/topology",
                     "/api/paths/world.infra.gitops.objects", "/api/infra/events"):
            response = await client.get(path)
            assert response.status_code == 200, path
            seen.append(response.content)
        await engine.history.flushed()
    seen += [p.read_bytes() for p in (tmp_path / "data").glob("history.sqlite3*")]
    assert seen and not any(canary.encode() in chunk for chunk in seen)


async def test_a_remote_repository_is_fetched_and_followed(
        tmp_path: Path, sim: KubeSim, kubectl_bin: str) -> None:
    """`url:` (here file://, the same pack protocol as https://): mirrored with dulwich, a
    new commit on the remote is fetched and compared; an unreachable URL is that
    repository's error."""
    upstream = tmp_path / "upstream"
    porcelain.init(str(upstream))
    commit(upstream, web(), "web at 2 replicas")
    await apply(sim, web(replicas=3))
    engine = engine_for(
        tmp_path, sim,
        f"    - {{name: remote, url: 'file://{upstream}', ref: master, subpath: apps}}\n"
        f"    - {{name: gone, url: 'file://{tmp_path / 'nowhere'}'}}\n"
        f"    cache_dir: {tmp_path / 'mirrors'}\n")
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=10) as client:
        await state_is(engine, DEPLOY, "drifted")
        assert json.loads(attr(engine, DEPLOY, "gitops_diff")) == [
            {"path": "spec.replicas", "desired": 2, "live": 3}]
        newer = commit(upstream, web(replicas=3), "web at 3 replicas")
        await state_is(engine, DEPLOY, "in_sync")
        assert attr(engine, DEPLOY, "gitops_revision") == newer[:12]
        errors = (await client.get("/api/paths/world.infra.gitops.errors")).json()["result"]
        found = {(e["repository"], e["file"]): e["error"] for e in errors}
        await columns_filled(client, "world.infra.gitops.errors")
        assert found[("gone", "(repository)")].startswith(
            f"file://{tmp_path / 'nowhere'}: cannot fetch: ")
