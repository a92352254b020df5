"""In the browser: the map coloured by GitOps drift with the diff in the details panel
(a Git repository made here, kubesim, the real kubectl), and the experiment dialog, shown
only when actions are enabled, pausing a real Docker container and reporting on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dulwich import porcelain

from gestalt.model import ids
from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.support.docker import SERVE, Objects, docker_sync
from tests.support.services import require_service

pytestmark = pytest.mark.e2e

OPERATOR = "operator-token-0123456789"
AMBER = [0.98, 0.72, 0.16]
MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: registry.local/web:1}]}
"""


def kubesim(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    kubeconfig = workdir / "kubeconfig"
    log = (workdir / "kubesim.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gestalt.sim.kubesim", "--scenario", "empty",
                             "--kubeconfig-out", str(kubeconfig), "--bookmark-interval", "0.5"],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))

    def answers() -> bool:
        return kubeconfig.exists() and kubectl(str(kubeconfig), "get", "namespaces",
                                               check=False).returncode == 0

    wait_until(answers, 30, "kubesim answering kubectl")
    return proc, str(kubeconfig)


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_colour_by_drift_and_the_diff(open_page: Any, tmp_path: Path) -> None:
    require_service("kubectl", subprocess.run(["which", "kubectl"]).returncode == 0, "no kubectl")
    repo = tmp_path / "repo"
    porcelain.init(str(repo))
    (repo / "shop.yaml").write_text(MANIFESTS)
    porcelain.add(str(repo), paths=[str(repo / "shop.yaml")])
    porcelain.commit(str(repo), b"shop", author=b"t <t@example.com>",
                     committer=b"t <t@example.com>")
    proc, kubeconfig = kubesim(tmp_path)
    try:
        kubectl(kubeconfig, "apply", "-f", "-", stdin=MANIFESTS)
        kubectl(kubeconfig, "scale", "deployment", "web", "-n", "shop", "--replicas=3")
        web = "deployment:kubesim/shop/web"
        with gestalt_server(tmp_path / "gestalt", {
            "kubernetes": {"kubeconfig": kubeconfig, "cluster_name": "kubesim"},
            "gitops": {"poll_interval": 0.5, "repositories": [
                {"name": "shop", "path": str(repo), "ref": "master"}]},
        }) as url:
            page = open_page(f"{url}/?sel={web}&colour=drift")
            page.wait_for_selector("[data-testid=drift][data-state=drifted]", timeout=30_000)
            row = page.locator("[data-testid=drift-diff] tr[data-path='spec.replicas']")
            assert row.locator("td.desired").inner_text() == "2"
            assert row.locator("td.live").inner_text() == "3"
            assert page.locator("[data-testid=legend-drift] [data-drift=drifted]").count() == 1
            wait_until(lambda: page.evaluate(f"__gestalt.colour({web!r})") is not None, 20,
                       "the deployment drawn")
            colour = page.evaluate(f"__gestalt.colour({web!r})")
            assert [round(c, 2) for c in colour] == AMBER
            page.screenshot(path=str(ARTIFACTS / "drift.png"))
            # Back to health: the drifted deployment is not amber for that (it is healthy).
            page.click("[data-testid=colour-switch] [data-colour=health]")
            wait_until(lambda: [round(c, 2) for c in page.evaluate(
                f"__gestalt.colour({web!r})")] != AMBER, 10, "health colours again")
            assert "colour=drift" not in page.url
            # Actions are off by default: no experiment on offer.
            assert page.locator("[data-testid=experiment-open]").count() == 0
            # The cluster put back as Git says: in sync, the diff gone.
            kubectl(kubeconfig, "scale", "deployment", "web", "-n", "shop", "--replicas=2")
            page.wait_for_selector("[data-testid=drift][data-state=in_sync]", timeout=30_000)
            assert page.locator("[data-testid=drift-diff]").count() == 0
            page.context.close()  # before the server goes: no reconnect errors after
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_experiment_dialog(open_page: Any, tmp_path: Path, docker_engine: str,
                               objects: Objects) -> None:
    name = f"{objects.prefix}-c0"
    objects.containers.append(name)
    full_id = docker_sync("run", "-d", "--name", name, "--label", "gestalt.test=1",
                          "gestalt-busybox:test", *SERVE)
    target = ids.container(full_id)
    settings = {"actions": {"enabled": True, "operator_token": OPERATOR,
                            "docker_socket": docker_engine, "containers": [f"{objects.prefix}-*"]}}
    with gestalt_server(tmp_path, {"docker": {"socket": docker_engine, "poll_interval": 0.5}},
                        settings=settings) as url:
        page = open_page(f"{url}/?sel={target}")
        page.click("[data-testid=experiment-open]", timeout=30_000)
        dialog = page.locator("[data-testid=experiment]")
        assert dialog.locator("[data-testid=experiment-action] option").all_inner_texts() == [
            "stop", "kill", "pause", "unpause", "restart"]
        page.select_option("[data-testid=experiment-action]", "pause")
        page.wait_for_selector("[data-testid=experiment-blast]")
        assert page.is_disabled("[data-testid=experiment-run]")  # no token, no confirmation
        page.fill("[data-testid=experiment-token]", OPERATOR)
        page.click("[data-testid=experiment-dry-run]")
        page.wait_for_selector("[data-testid=experiment-result][data-outcome=dry_run]")
        assert json.loads(docker_sync("inspect", "--format", "{{json .State.Status}}",
                                      full_id)) == "running"
        page.check("[data-testid=experiment-confirm]")
        page.click("[data-testid=experiment-run]")
        page.wait_for_selector("[data-testid=experiment-result][data-outcome=done]")
        assert json.loads(docker_sync("inspect", "--format", "{{json .State.Status}}",
                                      full_id)) == "paused"
        wait_until(lambda: page.evaluate(f"__gestalt.entity({target!r})?.health_status")
                   == "warning", 20, "the paused container's warning")
        page.click("[data-testid=experiment-undo]")
        wait_until(lambda: json.loads(docker_sync("inspect", "--format",
                                                  "{{json .State.Status}}", full_id))
                   == "running", 10, "unpaused")
        wait_until(lambda: page.evaluate(f"__gestalt.entity({target!r})?.health_status")
                   == "ok", 20, "the container healthy again")
        page.click("[data-testid=experiment-report]")
        ttd = page.wait_for_selector("[data-testid=ttd]").inner_text()
        ttr = page.locator("[data-testid=ttr]").inner_text()
        assert ttd.endswith(" s") and ttr.endswith(" s"), (ttd, ttr)
        page.screenshot(path=str(ARTIFACTS / "experiment.png"))
        page.context.close()
