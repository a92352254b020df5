"""Cost allocation against kubesim and the real Docker engine, with known requests, usage
and prices: every figure equals the hand-computed one (rates exactly; a month to the cent).

Prices: 0.04 per vCPU-hour and 0.01 per GiB-hour, and nodes of instance type m5.large at
0.05 per vCPU-hour; storage 0.04 per GiB-month.

- node-a (m5.large): 4 vCPU, 8 GiB: 4 × 0.05 + 8 × 0.01 = 0.28 / h.
- Deployment web, 2 pods requesting 300m and 256Mi (kubesim's usage stays below: at most
  254m and 219Mi): each max(request, usage) = 0.3 vCPU, 0.25 GiB:
  0.3 × 0.05 + 0.25 × 0.01 = 0.0175 / h; the deployment 0.035 / h.
- Pod batch requesting 100m and 128Mi, using 500m and 512Mi (pinned): 0.5 vCPU, 0.5 GiB:
  0.5 × 0.05 + 0.5 × 0.01 = 0.03 / h.
- node-a idle: 0.28 - 0.035 - 0.03 = 0.215 / h.
- Claim data, 10Gi: 10 × 0.04 / 730 / h; namespace shop: 0.065 + that.
- A Docker container with --cpus 0.5 and --memory-reservation 256m, idle (usage below
  both): 0.5 × 0.04 + 0.25 × 0.01 = 0.0225 / h (no node price: Docker's host is not a
  Kubernetes node here), 16.425 a month.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from gestalt.engine.cost_book import CostRecorder
from gestalt.engine.history import History
from gestalt.engine.runtime import Engine
from gestalt.model.config import SyntheticCollector, load_config
from gestalt.sim.kubesim import KubeSim
from gestalt.sim.kubesim.controllers import running_status
from gestalt.sim.kubesim.metrics import USAGE_ANNOTATION
from gestalt.sim.kubesim.store import now_rfc3339
from tests.sim.conftest import deployment
from tests.support.docker import Objects
from tests.support.federation import quiet_config
from tests.support.server import running_server
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

MONTH = 730
WEB_POD = 0.3 * 0.05 + 0.25 * 0.01
BATCH = 0.5 * 0.05 + 0.5 * 0.01
NODE = 4 * 0.05 + 8 * 0.01
STORAGE = 10 * 0.04 / MONTH
DOCKER = 0.5 * 0.04 + 0.25 * 0.01


def seed(sim: KubeSim) -> None:
    store = sim.store
    store.create({"kind": "Node", "metadata": {"name": "node-a", "labels": {
        "kubernetes.io/hostname": "node-a", "node.kubernetes.io/instance-type": "m5.large"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
                   "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                   "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}})
    store.create({"kind": "Namespace", "metadata": {"name": "shop"}})
    web = deployment("web", replicas=2)
    web["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "300m", "memory": "256Mi"}}
    store.create(web)
    spec = {"nodeName": "node-a", "containers": [{"name": "job", "image": "batch:1", "resources": {
        "requests": {"cpu": "100m", "memory": "128Mi"}}}]}
    store.create({"kind": "Pod", "metadata": {
        "name": "batch", "namespace": "shop", "annotations": {USAGE_ANNOTATION: "500,512"}},
        "spec": spec, "status": running_status(spec, "10.0.0.99", "192.0.2.10", now_rfc3339())})
    store.create({"kind": "PersistentVolumeClaim", "metadata": {"name": "data",
                                                                "namespace": "shop"},
                  "spec": {"resources": {"requests": {"storage": "10Gi"}}},
                  "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}})


async def test_cost_equals_the_hand_computed_figures(tmp_path: Path, docker_engine: str,
                                                    objects: Objects) -> None:
    _, full_id = await objects.run("--cpus", "0.5", "--memory-reservation", "256m")
    container = f"container:{full_id[:12]}"
    async with KubeSim() as sim:
        seed(sim)
        config = tmp_path / "gestalt.yaml"
        config.write_text(
            f"server: {{data_dir: {tmp_path / 'data'}, metrics_interval: 0.2}}\n"
            "history: {sample_interval: 0}\n"
            "cost:\n  currency: EUR\n  cpu_hour: 0.04\n  memory_gib_hour: 0.01\n"
            "  storage_gib_month: 0.04\n  record_interval: 3600\n"
            "  nodes: [{match: {node.kubernetes.io/instance-type: m5.large}, cpu_hour: 0.05}]\n"
            "collectors:\n"
            "  host: {enabled: false}\n  nats: {enabled: false}\n  otel: {enabled: false}\n"
            f'  docker: {{enabled: true, socket: "{docker_engine}", poll_interval: 0.3}}\n'
            f"  kubernetes: {{enabled: true, kubeconfig: {sim.kubeconfig}, "
            "cluster_name: kubesim, poll_interval: 0.5}\n")
        engine = Engine(load_config(config, env={}))
        async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                      timeout=10) as client:
            async def ask(path: str, **params: str) -> object:
                answer = await client.get(f"/api/paths/{path}", params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()["result"]

            def measured() -> bool:
                pods = [e for e in engine.store.entities.values() if e.kind.value == "pod"]
                box = engine.store.entities.get(container)
                return len(pods) == 3 and all("cpu_usage" in p.custom_metrics for p in pods) \
                    and box is not None and "cpu_usage" in box.custom_metrics

            await eventually(measured, timeout=30, what="3 pods and the container, measured")

            # The Docker engine is the machine's: containers other than this test's (another
            # suite's, a leftover) are priced too. Their figures come from the same answer
            # the UI reads, taken before and after the summary and equal in both.
            async def others() -> dict[str, float]:
                ui = (await client.get("/api/infra/cost")).json()
                return {eid: row["cost"] for eid, row in ui["entities"].items()
                        if eid.startswith("container:") and eid != container}

            async def steady() -> tuple[dict[str, object], dict[str, float]] | None:
                before = await others()
                summary = await ask("world.infra.cost.summary")
                assert isinstance(summary, dict)
                return (summary, before) if await others() == before else None

            summary, other = await eventually(steady, timeout=30, what="a steady summary")
            assert summary["currency"] == "EUR"
            assert summary["allocated_per_hour"] == pytest.approx(  # the answer has 6 places
                round(2 * WEB_POD + BATCH + DOCKER + sum(other.values()), 6), abs=1e-9)
            assert summary["idle_per_hour"] == pytest.approx(NODE - 2 * WEB_POD - BATCH, abs=1e-9)
            assert summary["storage_per_hour"] == pytest.approx(STORAGE, abs=1e-6)

            top = {row["name"]: row for row in await ask("world.infra.cost.top")}
            assert top["batch"]["cost_per_hour"] == pytest.approx(BATCH, abs=1e-9)
            assert round(top["batch"]["cost_per_hour"] * MONTH, 2) == 21.90
            assert top["batch"]["waste_per_hour"] == 0  # it uses more than it asked for
            webs = [row for name, row in top.items() if name.startswith("web-")]
            assert len(webs) == 2
            for row in webs:
                assert round(row["cost_per_hour"] * MONTH, 2) == 12.78  # 0.0175 × 730
                wasted = (0.3 - row["cpu_usage"]) * 0.05 + (0.25 - row["memory_usage"]) * 0.01
                assert row["waste_per_hour"] == pytest.approx(wasted, abs=1e-6)
            docker_row = next(row for row in top.values() if row["id"] == container)
            assert docker_row["cost_per_hour"] == pytest.approx(DOCKER, abs=1e-9)
            assert round(docker_row["cost_per_hour"] * MONTH, 2) == 16.43
            assert docker_row["site"] == "docker" and docker_row["node"] is None

            workloads = {r["owner"]: r for r in await ask("world.infra.cost.workloads")}
            assert round(workloads["deployment:kubesim/shop/web"]["cost_per_hour"] * MONTH,
                         2) == 25.55
            namespaces = {r["namespace"]: r for r in await ask("world.infra.cost.namespaces")}
            assert namespaces["shop"]["cost_per_hour"] == pytest.approx(
                2 * WEB_POD + BATCH + STORAGE, abs=1e-6)
            (node,) = await ask("world.infra.cost.nodes")
            assert round(node["cost_per_hour"] * MONTH, 2) == 204.40
            assert round(node["idle_per_hour"] * MONTH, 2) == 156.95
            sites = {r["site"]: r for r in await ask("world.infra.cost.sites")}
            assert set(sites) == {"kubesim", "docker"}
            # What the UI colours by: every running unit's cost and waste.
            ui = (await client.get("/api/infra/cost")).json()
            assert ui["entities"][container]["cost"] == pytest.approx(DOCKER, abs=1e-9)
            ours = [row for row in ui["top"] if row["id"] not in other]
            assert ours[0]["name"] == "batch" and ui["currency"] == "EUR"

            # With time travel, at a moment: the map as recorded then, priced (requests are
            # in the recorded pods; the web pods cost their requests).
            await engine.history.flushed()
            then = {r["owner"]: r for r in await ask("world.infra.cost.workloads",
                                                    at=str(time.time()))}
            assert round(then["deployment:kubesim/shop/web"]["cost_per_hour"] * MONTH,
                         2) == 25.55

            # Over a range, from history: two recorded rates half an hour apart.
            start = time.time() + 10
            await engine.cost.record(now=start)
            await engine.cost.record(now=start + 1800)
            await engine.history.flushed()
            over = await ask("world.infra.cost.range", entity="owner:deployment:kubesim/shop/web",
                             since=str(start), until=str(start + 1800))
            assert over["cost"] == pytest.approx(2 * WEB_POD / 2, abs=1e-6)  # half an hour
            assert round(over["cost"], 2) == 0.02
            # History keeping a key's samples only every 3 h (longer than two of the
            # recorder's intervals): each rate still holds until the next record.
            engine.history.sample_interval = 3 * 3600
            later = start + 7200
            await engine.cost.record(now=later)
            await engine.cost.record(now=later + 3 * 3600)
            await engine.history.flushed()
            over = await ask("world.infra.cost.range", entity="owner:deployment:kubesim/shop/web",
                             since=str(later), until=str(later + 3 * 3600))
            assert over["cost"] == pytest.approx(2 * WEB_POD * 3, abs=1e-6)  # three hours
            engine.history.sample_interval = 0
            bad = await client.get("/api/paths/world.infra.cost.range",
                                   params={"since": "yesterday"})
            assert bad.status_code == 400


async def test_the_recorder_computes_beside_the_event_loop(tmp_path: Path) -> None:
    """Allocating every entity of a large map is computed in a worker thread, on a copy of
    the map: on the event loop it held it 1.4 s once a minute at 110,000 entities, and
    every federated site's deltas waited. The loop turns meanwhile (on the loop: not once)."""
    config = quiet_config(synthetic=SyntheticCollector(
        enabled=True, entities=10_000, edges=10_000, churn_per_second=0.0))
    engine = Engine(config)
    await engine.start()
    history = History(tmp_path / "cost.sqlite3", sample_interval=1)
    history.open()
    try:
        await eventually(lambda: len(engine.store.entities) >= 9_800, timeout=60,
                         what="the synthetic map")
        recorder = CostRecorder(engine.store, history, config.cost)
        task = asyncio.create_task(recorder.run())
        turns, deadline = 0, time.monotonic() + 60
        while "cost:total" not in history._last_sample:
            assert time.monotonic() < deadline, "no cost recorded in 60 s"
            turns += 1
            await asyncio.sleep(0)
        task.cancel()
        assert turns > 10, turns
    finally:
        history.close()
        await engine.stop()


async def test_the_cost_endpoints_compute_only_what_changed() -> None:
    """The API's cost answers come from the recorder's book: asked again with nothing
    changed, nothing is computed again (each request allocated every entity on the loop:
    1.4 s at 110,000 entities); a changed pod is, and the answer says so."""
    config = quiet_config(synthetic=SyntheticCollector(
        enabled=True, entities=2_000, edges=2_000, churn_per_second=0.0))
    engine = Engine(config)
    async with running_server(engine) as url, httpx.AsyncClient(base_url=url,
                                                                  timeout=30) as client:
        await eventually(lambda: len(engine.store.entities) >= 1_900, timeout=60,
                         what="the synthetic map")
        book = engine.cost.book
        await book.report()
        first = (await client.get("/api/infra/cost", params={"top": 5})).json()
        computed = book.computed
        for path in ("summary", "top", "namespaces", "nodes"):
            answer = await client.get(f"/api/paths/world.infra.cost.{path}")
            assert answer.status_code == 200, answer.text
        again = (await client.get("/api/infra/cost", params={"top": 5})).json()
        assert book.computed == computed
        assert again["entities"] == first["entities"]

        pod = engine.store.entities[again["top"][0]["id"]]
        dearer = msgspec.structs.replace(pod, attrs={**pod.attrs, "cpu_request": 4000})
        engine.store.apply(upserts=[dearer])
        after = (await client.get("/api/infra/cost", params={"top": 5})).json()
        assert book.computed == computed + 1
        assert after["top"][0]["id"] == pod.id and after["top"][0]["cpu_request"] == 4.0
        assert after["totals"]["allocated_per_hour"] > first["totals"]["allocated_per_hour"]
