"""Event feed latency: a real Docker event and a kubesim event -> the row in the browser's
event feed (headless Chromium), p50/p99.

`gestalt serve` runs the docker source against this machine's engine and the kubernetes
source against kubesim (its own process, plain HTTP). The page shows the feed's "changes"
lane; a MutationObserver notes when each row (`li[data-event]`) enters the DOM and the
animation frame that follows it (the frame that paints it), on the page's wall clock.

- Docker: `docker run -d` (the `start` row) and `docker stop` (the `die` row), timed from
  the engine's own event time (`timeNano`, carried in the feed event's id); the engine runs
  on this machine, so both clocks are one.
- kubesim: a core/v1 Event about an existing pod, created over the API as a kubelet would;
  timed from just before the request (Kubernetes event times have whole seconds only).

The machine's 1-minute load average is recorded with the figures: the browser, the server,
dockerd and kubesim share its cores.

    .venv/bin/python bench/feed_latency.py [--iterations 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from benchlib import command_line, summary_ms, write_result  # noqa: E402
from tests.e2e.harness import ensure_web_built, gestalt_server, launch_chromium, wait_until  # noqa: E402
from tests.support.daemons import free_port, start_until_ready, stop  # noqa: E402
from tests.support.services import TEST_IMAGE  # noqa: E402

TARGET_P99_MS = 200
CLUSTER = "bench"

# Notes when each feed event arrives over SSE (before the page handles it): splits the
# latency into the server's share and the page's.
RECEIVED = """
window.__feedReceived = {};
const listen = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, listener, options) {
  if (type === "event") {
    listen.call(this, type, (ev) => {
      const at = performance.timeOrigin + performance.now();
      try { window.__feedReceived[JSON.parse(ev.data).id] = at; } catch { /* not an event */ }
    }, options);
  }
  return listen.call(this, type, listener, options);
};
"""

# Notes each feed row's arrival: when it entered the DOM and the next animation frame.
OBSERVE = """
() => {
  window.__feedRows = {};
  const note = (ids) => {
    const dom = performance.timeOrigin + performance.now();
    requestAnimationFrame(() => {
      const frame = performance.timeOrigin + performance.now();
      for (const id of ids) window.__feedRows[id] = { dom, frame };
    });
  };
  new MutationObserver((mutations) => {
    const ids = [];
    for (const m of mutations) for (const node of m.addedNodes) {
      if (node.nodeType !== 1) continue;
      const rows = node.matches('li[data-event]') ? [node]
        : [...node.querySelectorAll('li[data-event]')];
      for (const row of rows) if (!(row.dataset.event in window.__feedRows)) {
        window.__feedRows[row.dataset.event] = null;
        ids.push(row.dataset.event);
      }
    }
    if (ids.length) note(ids);
  }).observe(document.body, { childList: true, subtree: true });
}
"""


def load() -> float:
    return round(os.getloadavg()[0], 2)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


def row(page: Any, part: str, suffix: str, what: str) -> tuple[str, dict[str, float]]:
    """The feed row whose event id contains `part` and ends with `suffix`, once painted:
    (event id, {received, dom, frame}) in epoch ms."""
    found = wait_until(
        lambda: page.evaluate(
            "([part, suffix]) => { const id = Object.keys(__feedRows).find((k) =>"
            " k.includes(part) && k.endsWith(suffix) && __feedRows[k]);"
            " return id ? [id, {...__feedRows[id], received: __feedReceived[id] ?? null}]"
            " : null; }", [part, suffix]),
        30, what, 0.02)
    return found[0], found[1]


def measure_docker(page: Any, iterations: int) -> dict[str, list[float]]:
    """Engine event time -> row, for each container's `start` and `die`."""
    out: dict[str, list[float]] = {
        f"{verb}{part}": [] for verb in ("start", "die") for part in ("", "_dom", "_received")}
    prefix = f"gestalt-feed-{uuid.uuid4().hex[:6]}"
    try:
        for i in range(iterations):
            name = f"{prefix}-{i}"
            cid = docker("run", "-d", "--name", name, "--label", "gestalt.bench=feed", TEST_IMAGE,
                         "sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")[:12]
            for verb in ("start", "die"):
                if verb == "die":
                    docker("stop", name)
                # docker:<engine>/<container>/<timeNano>/<verb>
                event_id, seen = row(page, f"/{cid}/", f"/{verb}", f"the {verb} row of {name}")
                at = int(event_id.split("/")[-2]) / 1e9
                out[f"{verb}_dom"].append(seen["dom"] / 1000 - at)
                if seen["received"]:
                    out[f"{verb}_received"].append(seen["received"] / 1000 - at)
                out[verb].append(seen["frame"] / 1000 - at)
            docker("rm", "-f", name)
    finally:
        left = docker("ps", "-aq", "--filter", "label=gestalt.bench=feed").split()
        if left:
            docker("rm", "-f", *left)
    return out


def measure_kubesim(page: Any, api: str, iterations: int) -> dict[str, list[float]]:
    """Event created (request sent) -> row, for Events about a pod."""
    out: dict[str, list[float]] = {"event_dom": [], "event": [], "event_received": []}
    with httpx.Client(base_url=api, timeout=10) as client:
        pod = client.get("/api/v1/pods", params={"limit": 1}).json()["items"][0]["metadata"]
        for i in range(iterations):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{pod['name']}.bench{i}-{uuid.uuid4().hex[:6]}",
                             "namespace": pod["namespace"]},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod["name"],
                                   "namespace": pod["namespace"], "uid": pod.get("uid", "")},
                "reason": "Pulled", "message": f"bench {i}: image already present on machine",
                "type": "Normal", "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
                "source": {"component": "kubelet"},
            }
            sent = time.time()
            created = client.post(f"/api/v1/namespaces/{pod['namespace']}/events", json=body)
            created.raise_for_status()
            uid = created.json()["metadata"]["uid"]
            # k8s-event:<cluster>/<uid> (one id per event: a recurrence updates its row)
            _, seen = row(page, f"/{uid}", f"/{uid}", f"the row of event {i}")
            out["event_dom"].append(seen["dom"] / 1000 - sent)
            if seen["received"]:
                out["event_received"].append(seen["received"] / 1000 - sent)
            out["event"].append(seen["frame"] / 1000 - sent)
    return out


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=int, default=30,
                        help="changes timed in each of Docker and kubesim")


def main() -> None:
    args = command_line(__doc__, options)
    from playwright.sync_api import sync_playwright

    ensure_web_built()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        kubeconfig = work / "kubeconfig"
        sim = start_until_ready(
            "kubesim",
            [sys.executable, "-m", "gestalt.sim.kubesim", "--scenario", "static", "--pods", "12",
             "--no-tls", "--port", str(port), "--kubeconfig-out", str(kubeconfig)],
            work / "kubesim.log", f"http://127.0.0.1:{port}/version", 60)
        try:
            with (
                gestalt_server(work / "serve", {
                    "docker": {},
                    "kubernetes": {"kubeconfig": str(kubeconfig), "cluster_name": CLUSTER},
                }) as url,
                sync_playwright() as playwright,
            ):
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.add_init_script(RECEIVED)
                page.goto(f"{url}/")
                wait_until(lambda: page.evaluate("__gestalt.status") == "live", 30, "the stream")
                page.locator('[data-tab="events"]').click()
                page.locator(".feed").wait_for(timeout=30_000)
                page.evaluate(OBSERVE)
                load_before = load()
                docker_ms = measure_docker(page, args.iterations)
                kube_ms = measure_kubesim(page, f"http://127.0.0.1:{port}", args.iterations)
                load_after = load()
                browser.close()
        finally:
            stop(sim, grace=5)
    engine = docker("version", "--format", "{{.Server.Version}}")
    every = docker_ms["start"] + docker_ms["die"] + kube_ms["event"]
    result = {
        "what": "source event -> its row painted in the browser's event feed (Chromium headless)",
        "iterations": args.iterations,
        "docker_engine": engine,
        "docker_start": summary_ms(docker_ms["start"]),
        "docker_die": summary_ms(docker_ms["die"]),
        "kubesim_event": summary_ms(kube_ms["event"]),
        "all": summary_ms(every),
        "received": {  # the SSE frame reached the page: the server's share
            "docker_start": summary_ms(docker_ms["start_received"]),
            "docker_die": summary_ms(docker_ms["die_received"]),
            "kubesim_event": summary_ms(kube_ms["event_received"]),
        },
        "in_dom": {  # the row entered the DOM (before the frame that paints it)
            "docker_start": summary_ms(docker_ms["start_dom"]),
            "docker_die": summary_ms(docker_ms["die_dom"]),
            "kubesim_event": summary_ms(kube_ms["event_dom"]),
        },
        "target_p99_ms": TARGET_P99_MS,
        "within_target": summary_ms(every)["p99_ms"] < TARGET_P99_MS,
        "load_average_1m": {"before": load_before, "after": load_after},
    }
    write_result("feed_latency", result)


if __name__ == "__main__":
    main()
