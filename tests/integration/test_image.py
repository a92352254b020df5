"""The container image under the real Docker engine, run the way docs/deploy.md runs it:
read-only root filesystem, a tmpfs for /tmp, a volume for history, no capabilities, as
a non-root user. Locally (Docker socket mounted) it sees the engine; in-cluster mode runs
against kubesim with the service account mounted where the kubelet mounts it and
kubesim's RBAC set to exactly the rules the overlays render (host networking keeps all
traffic on loopback). Build: tests/support/image.py (scripts/build-image.sh)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gestalt.sim.kubesim import KubeSim
from tests.sim.conftest import deployment, seed
from tests.support.daemons import free_port
from tests.support.image import container, docker, hardened, inspect
from tests.support.k8s_rbac import (
    USER,
    grant,
    outside,
    rbac_of,
    render,
    secret_data_reads,
    write_service_account,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


async def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url, headers=headers)
        response.raise_for_status()
        return response.json()


async def answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            return False


def source(health: dict[str, Any], name: str) -> dict[str, Any]:
    return next((s for s in health["sources"] if s["name"] == name), {})


async def test_runs_read_only_as_non_root_and_sees_the_docker_engine(
        gestalt_image: str, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(16)
    volume = f"gestalt-history-{secrets.token_hex(4)}"
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    try:
        with container(
                gestalt_image, *hardened(), "-v", f"{volume}:/var/lib/gestalt",
                "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
                "--group-add", str(socket_gid), "-p", "127.0.0.1::8765",
                "-e", f"GESTALT_TOKEN={token}",
                "-e", "GESTALT_COLLECTORS__KUBERNETES__ENABLED=false",
                "-e", "GESTALT_COLLECTORS__NATS__ENABLED=false",
                "-e", "GESTALT_COLLECTORS__OTEL__ENABLED=false",
                # The image's own health check, often enough to see it pass here.
                "--health-interval", "2s", "--health-start-period", "1s") as name:
            port = docker("port", name, "8765/tcp").splitlines()[0].rsplit(":", 1)[1]
            base = f"http://127.0.0.1:{port}"
            await eventually(lambda: answers(f"{base}/readyz"), timeout=90,
                             what="/readyz through the published port")
            details = inspect(name)
            assert details["Config"]["User"] == "10001:10001"
            assert details["HostConfig"]["ReadonlyRootfs"] is True
            processes = docker("top", name, "-eo", "pid,uid,comm").splitlines()[1:]
            assert processes and all(line.split()[1] == "10001" for line in processes), processes

            # The Docker source reads the engine through the mounted socket: it sees
            # this very container.
            own_id = f"container:{details['Id'][:12]}"

            async def sees_itself() -> bool:
                topology = await get_json(f"{base}/api/infra/topology", token)
                return any(e["id"] == own_id for e in topology["entities"])

            await eventually(sees_itself, timeout=60, what="the container on its own map")
            health = await get_json(f"{base}/api/infra/health", token)
            assert source(health, "docker")["state"] == "ok", health["sources"]
            async with httpx.AsyncClient(timeout=5) as client:  # the token is required
                assert (await client.get(f"{base}/api/infra/topology")).status_code == 401

            await eventually(lambda: inspect(name)["State"]["Health"]["Status"] == "healthy",
                             timeout=60, what="Docker's health check (no shell in it)")
        # History went to the volume, not into the (read-only) image.
        listing = docker("run", "--rm", "--entrypoint", "/opt/gestalt/bin/python", "-v",
                         f"{volume}:/data:ro", gestalt_image, "-c",
                         "import os; print(' '.join(sorted(os.listdir('/data'))))")
        assert any(f.endswith((".db", ".sqlite", ".sqlite3")) for f in listing.split()), listing
    finally:
        docker("volume", "rm", "-f", volume, check=False)


def test_refuses_to_listen_beyond_loopback_without_a_token(gestalt_image: str) -> None:
    run = subprocess.run(["docker", "run", "--rm", *hardened(), gestalt_image],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in run.stderr


def populate(sim: KubeSim) -> None:
    seed(sim, "shop")
    sim.store.create(deployment("web", namespace="default", replicas=2))
    sim.store.create(deployment("cart", namespace="shop", replicas=1))
    sim.store.create({"kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
                      "type": "Opaque", "data": {"password": "bmV2ZXItc2hvdy1tZQ=="}})
    sim.store.create({"kind": "PersistentVolume", "metadata": {"name": "pv-1"},
                      "spec": {"capacity": {"storage": "1Gi"}}})


def overlay_config(overlay: str) -> tuple[str, dict[str, str]]:
    """The overlay's rendered ConfigMap (config.yaml) and the plain env of its
    Deployment: what the pod would get."""
    documents = render(overlay)
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]["config.yaml"]
    pod = next(d for d in documents if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0].get("env", []) if "value" in e}
    return config, env


@pytest.mark.parametrize("overlay", ["cluster", "namespaced"])
async def test_in_cluster_with_exactly_the_overlays_rules(
        gestalt_image: str, tmp_path: Path, overlay: str) -> None:
    rbac = rbac_of(overlay)
    config, env = overlay_config(overlay)
    (tmp_path / "config.yaml").write_text(config)
    token, port = secrets.token_urlsafe(16), free_port()
    async with KubeSim(bookmark_interval=1.0) as sim:
        populate(sim)
        account = write_service_account(tmp_path / "sa", sim, grant(sim, rbac))
        for path in [tmp_path, account, *account.rglob("*")]:
            os.chmod(path, os.stat(path).st_mode | stat.S_IROTH | (
                stat.S_IXOTH if path.is_dir() else 0))
        env_args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
        with container(
                gestalt_image, *hardened(), "--network", "host",
                "-v", f"{account}:{SA_PATH}:ro", "-v", f"{tmp_path / 'config.yaml'}:"
                "/etc/gestalt/config.yaml:ro", "--tmpfs", "/var/lib/gestalt:uid=10001",
                "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1",
                "-e", f"KUBERNETES_SERVICE_PORT={sim.port}",
                "-e", f"GESTALT_TOKEN={token}", "-e", f"GESTALT_SERVER__PORT={port}",
                "-e", "GESTALT_COLLECTORS__OTEL__TOKEN=otlp",
                # Free ports on the host's loopback instead of the Service's 4317/4318.
                "-e", "GESTALT_COLLECTORS__OTEL__OTLP_ENDPOINT=http://127.0.0.1:0",
                "-e", "GESTALT_COLLECTORS__OTEL__OTLP_HTTP_ENDPOINT=http://127.0.0.1:0",
                *env_args,
                command=("serve", "--config", "/etc/gestalt/config.yaml")) as name:
            base = f"http://127.0.0.1:{port}"
            await eventually(lambda: answers(f"{base}/readyz"), timeout=90, what="/readyz")
            expected_pods = 3 if overlay == "cluster" else 2

            async def pods() -> int:
                topology = await get_json(f"{base}/api/infra/topology", token)
                return sum(1 for e in topology["entities"] if e["kind"] == "pod")

            async def all_pods() -> bool:
                return await pods() == expected_pods

            await eventually(all_pods, timeout=60, what="the pods on the map")
            health = await get_json(f"{base}/api/infra/health", token)
            kubernetes = source(health, "kubernetes")
            if overlay == "cluster":
                assert kubernetes["state"] == "ok", kubernetes
                assert "not_permitted" not in kubernetes
            else:
                assert kubernetes["state"] == "degraded", kubernetes
                assert kubernetes["not_permitted"] == [
                    "nodes", "nodes.metrics.k8s.io", "persistentvolumes"]
            usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name)
            print(f"{overlay}: container memory {usage}")
    mine = [r for r in sim.requests if r.user == USER]
    assert mine, "no request came from the container"
    assert outside(sim.requests, rbac) == []
    assert [r for r in mine if r.status in (401, 403)] == []
    assert secret_data_reads(sim.requests) == []
    # The user agent says who asked (an operator reading the API server's audit log).
    assert {r.user_agent.split("/")[0] for r in mine} == {"gestalt-live"}


def test_the_rendered_config_is_valid(gestalt_image: str, tmp_path: Path) -> None:
    """The base's config.yaml, checked by the image's own `gestalt check-config` with the
    environment the pod gets: its plain env plus the two tokens from the Secret."""
    config, env = overlay_config("cluster")
    (tmp_path / "config.yaml").write_text(config)
    os.chmod(tmp_path, 0o755)
    env_args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
    out = docker("run", "--rm", "--read-only", "-v", f"{tmp_path}:/cfg:ro", *env_args,
                 "-e", "GESTALT_TOKEN=x", "-e", "GESTALT_COLLECTORS__OTEL__TOKEN=x",
                 gestalt_image, "check-config", "/cfg/config.yaml")
    assert "ok (collectors enabled: kubernetes, otel)" in out
    assert yaml.safe_load(config)["server"]["data_dir"] == "/var/lib/gestalt"
