"""Helpers for browser tests against `gestalt demo`: inject problems into its simulated
cluster with kubectl, and ask what a viewer of the map sees."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from tests.e2e.harness import wait_until


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def crash_pods(kubeconfig: str, count: int) -> list[str]:
    """Put one pod in each of `count` namespaces into CrashLoopBackOff (its status, as the
    kubelet would write it); returns their entity ids."""
    pods = json.loads(kubectl(kubeconfig, "get", "pods", "-A", "-o", "json"))["items"]
    ids: list[str] = []
    seen: set[str] = set()
    for pod in pods:
        meta = pod["metadata"]
        if meta["namespace"] in seen or not pod["status"].get("containerStatuses"):
            continue
        seen.add(meta["namespace"])
        name = pod["status"]["containerStatuses"][0]["name"]
        waiting = {"reason": "CrashLoopBackOff", "message": "injected"}
        patch = {
            "status": {
                "containerStatuses": [
                    {
                        "name": name,
                        "ready": False,
                        "restartCount": 9,
                        "state": {"running": None, "waiting": waiting},
                    }
                ]
            }
        }
        kubectl(
            kubeconfig,
            "patch",
            "pod",
            meta["name"],
            "-n",
            meta["namespace"],
            "--subresource=status",
            "-p",
            json.dumps(patch),
        )
        ids.append(f"pod:kubesim/{meta['namespace']}/{meta['name']}")
        if len(ids) == count:
            break
    return ids


# Which entities a viewer sees: projected inside the canvas and under no panel.
VISIBLE = """() => {
  const canvas = document.querySelector('[data-testid="map"] canvas').getBoundingClientRect();
  const panels = [...document.querySelectorAll('[data-obstacle]')]
    .map((el) => el.getBoundingClientRect()).filter((r) => r.width && r.height);
  const inside = (p, r) => p.x >= r.left && p.x <= r.right && p.y >= r.top && p.y <= r.bottom;
  let shown = 0, total = 0;
  for (const id of __gestalt.ids()) {
    if (__gestalt.entity(id).kind === 'namespace') continue;
    total += 1;
    const p = __gestalt.screen(id);
    if (p && inside(p, canvas) && !panels.some((r) => inside(p, r))) shown += 1;
  }
  return {shown, total};
}"""


def visible_share(page: Any) -> float:
    seen = page.evaluate(VISIBLE)
    return seen["shown"] / max(1, seen["total"])


def framed(page: Any) -> bool:
    """The camera frames the whole map: it is not on its way anywhere and a viewer sees
    nearly every entity. (The layout may still move: on a busy machine it takes minutes to
    cool, and the camera follows it.)"""
    camera = page.evaluate("__gestalt.camera()")
    return bool(camera) and not camera["moving"] and visible_share(page) > 0.98


def open_map(open_page: Any, url: str, width: int, height: int) -> Any:
    page = open_page(f"{url}/", width, height)
    # A busy 2-core machine renders a 500-entity map in software slowly: actions get time.
    page.set_default_timeout(60_000)
    wait_until(lambda: page.evaluate("__gestalt.viewNodes") > 300, 60, "the demo's map")
    wait_until(lambda: framed(page), 120, "the map framed", 0.25)
    return page


def legend_colour(page: Any, health: str) -> tuple[int, int, int]:
    legend = page.get_by_test_id("legend")
    if legend.locator(".legend-body").count() == 0:
        legend.locator(".legend-toggle").click()
    swatch = legend.locator(f'[data-health="{health}"] i')
    rgb = swatch.evaluate("(el) => getComputedStyle(el).backgroundColor")
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return r, g, b
