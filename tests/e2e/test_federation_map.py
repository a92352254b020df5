"""Federation in the browser: two kubesim clusters, each with its own `gestalt agent`
process, publish to a real nats-server with JetStream; one `gestalt serve` hub reads both.
Both sites are on the map with a filter chip each, "By site" puts each site's entities
together apart from the other's, and the site whose agent is killed turns down ("agent
silent") in the health summary's site list."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.support.daemons import stop
from tests.support.nats_server import NatsServer, new_server

SITES = ("east", "west")
GESTALT = str(Path(sys.executable).with_name("gestalt"))


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    server = new_server(name="gestalt-e2e-federation")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def kubesim(workdir: Path, site: str) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = workdir / f"{site}.kubeconfig"
    with open(workdir / f"kubesim-{site}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gestalt.sim.kubesim", "--scenario", "static", "--nodes", "1",
             "--namespaces", "2", "--pods", "12", "--kubeconfig-out", str(kubeconfig),
             "--bookmark-interval", "0.5"], stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ))
    wait_until(lambda: kubeconfig.exists() and kubeconfig.stat().st_size > 0, 30,
               f"kubesim {site}'s kubeconfig")
    return proc, kubeconfig


def agent(workdir: Path, site: str, kubeconfig: Path, url: str) -> subprocess.Popen[bytes]:
    config = workdir / f"agent-{site}.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"data_dir": str(workdir / f"agent-{site}")},
        "agent": {"site": site, "url": url, "heartbeat_interval": 0.5},
        "collectors": {"host": {"enabled": False}, "docker": {"enabled": False},
                       "nats": {"enabled": False}, "otel": {"enabled": False},
                       "kubernetes": {"enabled": True, "kubeconfig": str(kubeconfig),
                                      "cluster_name": site, "poll_interval": 1.0}}}))
    with open(workdir / f"agent-{site}.log", "wb") as log:
        return subprocess.Popen([GESTALT, "agent", "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, env=dict(os.environ))


def pods_of(page: Any, site: str) -> list[str]:
    ids: list[str] = page.evaluate("__gestalt.viewIds()")
    return [i for i in ids if i.startswith(f"pod:{site}/")]


def centre(page: Any, ids: list[str]) -> tuple[list[float], float]:
    """The centre of these entities on the map (x, z) and how far the farthest is from it."""
    points = [page.evaluate(f"__gestalt.world({i!r})")["position"] for i in ids]
    c = [sum(p[k] for p in points) / len(points) for k in (0, 2)]
    return c, max(math.dist(c, (p[0], p[2])) for p in points)


def test_two_sites_on_one_map(nats: NatsServer, open_page: Any, tmp_path: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    agents: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for site in SITES:
            sim, kubeconfig = kubesim(tmp_path, site)
            procs.append(sim)
            agents[site] = agent(tmp_path, site, kubeconfig, nats.url)
        hub = {"url": nats.url, "sites": list(SITES), "durable": "e2e-hub",
               "silence_timeout": 6.0}
        with gestalt_server(tmp_path / "hub", {"agents": hub}) as url:
            page = open_page(f"{url}/", 1440, 900)
            wait_until(lambda: page.evaluate("__gestalt.status") == "live", 30, "the stream")
            wait_until(lambda: all(len(pods_of(page, s)) >= 12 for s in SITES), 90,
                       "both sites' pods on the map")
            sites = page.get_by_test_id("sites")
            for site in SITES:
                row = sites.locator(f'li[data-site="{site}"]')
                wait_until(lambda row=row: row.get_attribute("data-state") == "ok"
                           and "agent connected" in row.inner_text(), 30,
                           f"site {site} ok and connected in the site list")

            # A filter chip per site; the east chip leaves only east's entities shown.
            page.get_by_test_id("filter-button").click()
            chips = page.get_by_test_id("site-filters")
            chips.wait_for()
            assert [c.inner_text() for c in chips.locator("button").all()] == \
                [f"site {s}" for s in SITES]
            chips.locator('[data-filter="sources:site:east"]').click()
            wait_until(lambda: not pods_of(page, "west") and pods_of(page, "east"), 15,
                       "only east shown with its chip on")
            chips.locator('[data-filter="sources:site:east"]').click()
            wait_until(lambda: pods_of(page, "west"), 15, "west back with the chip off")
            page.keyboard.press("Escape")

            # By site: each site's pods together, apart from the other's.
            page.locator('[data-layout="site"]').click()
            wait_until(lambda: page.evaluate("__gestalt.layoutAlpha") < 0.005, 60,
                       "the layout to settle")
            (east, east_spread), (west, west_spread) = (
                centre(page, pods_of(page, s)) for s in SITES)
            assert math.dist(east, west) > max(east_spread, west_spread), \
                (east, east_spread, west, west_spread)

            # West's agent killed: its site goes down, silent; east stays ok.
            agents["west"].send_signal(signal.SIGKILL)
            agents["west"].wait(10)
            west_row = sites.locator('li[data-site="west"]')
            wait_until(lambda: west_row.get_attribute("data-state") == "down", 30,
                       "west down in the site list")
            wait_until(lambda: "agent silent" in west_row.inner_text(), 15,
                       "west said silent")
            assert sites.locator('li[data-site="east"]').get_attribute("data-state") == "ok"
            page.screenshot(path=str(ARTIFACTS / "federation.png"))
            page.context.close()  # before the server stops
    finally:
        for proc in [*agents.values(), *procs]:
            if proc.poll() is None:
                stop(proc, grace=10)
