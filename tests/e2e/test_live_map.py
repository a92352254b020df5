"""The live map in a real Chromium against a real `gestalt serve` (synthetic source)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until

SYNTHETIC = {"entities": 150, "edges": 300, "churn_per_second": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gestalt_server(
        tmp_path_factory.mktemp("live"), {"synthetic": SYNTHETIC}, {"max_entities": 5000}
    ) as url:
        yield url


def gestalt(page: Any, expression: str) -> Any:
    return page.evaluate(f"window.__gestalt.{expression}")


def same_as_api(page: Any, url: str) -> bool:
    """The browser holds exactly what a fresh GET returns, at the same version."""
    api = httpx.get(f"{url}/api/infra/topology", timeout=10).json()
    state = page.evaluate(
        "({v: __gestalt.version, ids: __gestalt.ids(), edges: __gestalt.edgeIds()})"
    )
    if state["v"] != api["version"]:
        return False
    assert sorted(state["ids"]) == sorted(e["id"] for e in api["entities"])
    assert sorted(state["edges"]) == sorted(c["id"] for c in api["connections"])
    return True


def test_snapshot_deltas_and_resume(server: str, open_page: Any) -> None:
    page = open_page(f"{server}/")
    wait_until(
        lambda: gestalt(page, "entities") > 0 and gestalt(page, "status") == "live", 20, "snapshot"
    )
    wait_until(
        lambda: same_as_api(page, server), 20, "the browser to match GET /api/infra/topology"
    )
    assert page.get_by_test_id("connection").get_attribute("data-status") == "live"
    # It is drawn: every entity is a view node, instanced, with a handful of draw calls.
    wait_until(lambda: gestalt(page, "viewNodes") == gestalt(page, "entities"), 10, "view nodes")
    # The first draw waits for the layout to place the view (MapCanvas): not the same turn.
    wait_until(lambda: gestalt(page, "drawCalls") > 0, 10, "the first draw")
    assert gestalt(page, "drawCalls") < 40

    # Deltas change the map: churn replaces pods.
    before = set(gestalt(page, "ids()"))
    wait_until(lambda: set(gestalt(page, "ids()")) - before, 20, "a new entity to appear")
    wait_until(lambda: before - set(gestalt(page, "ids()")), 20, "an entity to disappear")
    timings = gestalt(page, "deltas")
    assert timings and all(t["applied_at"] >= t["received_at"] for t in timings)
    wait_until(
        lambda: all(t["rendered_at"] for t in gestalt(page, "deltas")[:-3]), 10, "rendered deltas"
    )

    # The stream drops; the client resumes with its last version and catches up from the
    # server's ring (no second snapshot), ending where a fresh GET is.
    stream = gestalt(page, "stream")
    gestalt(page, "dropStream()")
    wait_until(
        lambda: (
            gestalt(page, "stream")["connects"] > stream["connects"]
            and gestalt(page, "status") == "live"
        ),
        15,
        "reconnect",
    )
    versions = {gestalt(page, "version")}
    wait_until(
        lambda: versions.add(gestalt(page, "version")) or len(versions) > 1,
        15,
        "deltas after resume",
    )
    wait_until(lambda: same_as_api(page, server), 20, "resumed state to match a fresh GET")
    assert gestalt(page, "stream")["snapshots"] == stream["snapshots"]


def test_search_filters_selection_in_url(server: str, open_page: Any) -> None:
    page = open_page(f"{server}/")
    wait_until(lambda: gestalt(page, "viewNodes") > 0, 20, "the map")
    api = httpx.get(f"{server}/api/infra/topology", timeout=10).json()
    service = next(e for e in api["entities"] if e["kind"] == "service")

    # "/" focuses search; the query goes into the URL and the result selects the entity.
    page.keyboard.press("/")
    page.keyboard.type(service["name"])
    wait_until(
        lambda: parse_qs(urlparse(page.url).query).get("q") == [service["name"]], 5, "q in the URL"
    )
    page.locator(f'[data-testid="search-results"] [data-id="{service["id"]}"]').click()
    wait_until(
        lambda: parse_qs(urlparse(page.url).query).get("sel") == [service["id"]],
        5,
        "sel in the URL",
    )
    details = page.get_by_test_id("details")
    details.wait_for()
    assert details.get_attribute("data-entity") == service["id"]
    assert "simulated" in details.inner_text()
    # Path tracing: the service and what it routes to stay lit, the rest dims.
    lit = gestalt(page, "highlighted()")
    assert service["id"] in lit and len(lit) < gestalt(page, "viewNodes")
    page.get_by_test_id("search").fill("")

    # Filters reach the URL and the map.
    page.get_by_test_id("filter-button").click()
    page.locator('[data-filter="kinds:pod"]').click()
    wait_until(
        lambda: parse_qs(urlparse(page.url).query).get("kind") == ["pod"],
        5,
        "kind filter in the URL",
    )
    wait_until(
        lambda: page.evaluate("__gestalt.viewNodes") < gestalt(page, "entities"), 5, "filtered map"
    )
    page.locator('[data-layout="namespace"]').click()
    wait_until(
        lambda: parse_qs(urlparse(page.url).query).get("layout") == ["namespace"],
        5,
        "layout in URL",
    )

    # A shared URL restores it all.
    shared = open_page(page.url)
    wait_until(lambda: shared.evaluate("__gestalt.viewNodes") > 0, 20, "shared map")
    assert shared.get_by_test_id("details").get_attribute("data-entity") == service["id"]
    assert shared.get_by_test_id("filter-button").inner_text().endswith("1")


def test_click_on_map_and_screenshots(server: str, open_page: Any) -> None:
    page = open_page(f"{server}/")
    wait_until(lambda: gestalt(page, "viewNodes") > 0, 20, "the map")
    api = httpx.get(f"{server}/api/infra/topology", timeout=10).json()
    deployments = [e["id"] for e in api["entities"] if e["kind"] == "deployment"]
    wait_until(lambda: page.evaluate("__gestalt.frames") > 30, 20, "frames")
    target: dict[str, str] = {}

    def click_target() -> bool:
        # A deployment the map shows in the open (not under the legend or off the canvas).
        target["id"] = page.evaluate(
            """(ids) => ids.find((id) => {
              const p = __gestalt.screen(id);
              return p && document.elementFromPoint(p.x, p.y)?.tagName === "CANVAS";
            })""",
            deployments,
        )
        if not target["id"]:
            return False
        point = page.evaluate(f"__gestalt.screen({target['id']!r})")
        page.mouse.click(point["x"], point["y"])
        return page.evaluate("__gestalt.selected") == target["id"]

    wait_until(click_target, 20, "a click on the map to select a deployment", 0.5)
    page.get_by_test_id("details").wait_for()
    page.screenshot(path=str(ARTIFACTS / "desktop.png"))

    phone = open_page(f"{server}/?sel={target['id']}", 390, 844)
    wait_until(lambda: phone.evaluate("__gestalt.viewNodes") > 0, 20, "phone map")
    phone.get_by_test_id("details").wait_for()
    phone.screenshot(path=str(ARTIFACTS / "phone.png"))
    assert Path(ARTIFACTS / "phone.png").stat().st_size > 10_000
