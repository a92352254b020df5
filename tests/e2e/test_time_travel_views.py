"""Time travel's views in the browser, against a real `gestalt serve` watching the real
Docker engine: two moments compared on the map (added, changed and removed containers
marked in the legend's colours, the removed one a ghost left out of the headline's
counts; back to live ends the comparison), the map exported as a PNG, and a snapshot file
(downloaded from the server) dropped on the page, shown read-only with the "snapshot"
badge; a foreign or corrupt file gets a one-line message. Screenshots go to the
artifacts."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ARTIFACTS, drop_file, gestalt_server, wait_until
from tests.e2e.pixels import count_near, export_png
from tests.support.services import TEST_IMAGE

BACKGROUND = (7, 11, 20)  # the map's clear colour, #070b14
# web/src/state/compare.ts CHANGE_COLOURS, in 8 bits.
MARKS = {"added": (163, 230, 54), "changed": (245, 115, 181), "removed": (219, 224, 235)}


@pytest.fixture
def names(docker_engine: str) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {role: f"gestalt-e2e-{role}-{tag}" for role in ("gone", "stays", "new")}
    yield made
    subprocess.run(["docker", "rm", "-f", *made.values()], capture_output=True, timeout=60)


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)


def run(name: str) -> None:
    docker("run", "-d", "--name", name, TEST_IMAGE, "sh", "-c",
           "trap 'exit 0' TERM; sleep 600 & wait")


def find(page: Any, name: str) -> str | None:
    return page.evaluate(
        "(name) => __gestalt.ids().find((id) => __gestalt.entity(id).name === name) ?? null",
        name)


def status(page: Any, name: str) -> str | None:
    entity = find(page, name)
    return page.evaluate(f"__gestalt.entity({entity!r}).status") if entity else None


def marks(page: Any) -> dict[str, str]:
    return {m["id"]: m["change"] for m in page.evaluate("__gestalt.changes()")}


def headline_count(page: Any) -> int:
    """The health summary's count of entities ("... · 167 entities")."""
    found = re.search(r"(\d+) entities", page.get_by_test_id("health").inner_text())
    assert found, page.get_by_test_id("health").inner_text()
    return int(found.group(1))


def marks_in_picture(page: Any, path: Path, expected: dict[str, str]) -> bool:
    """In an exported picture of the map (the canvas alone: no label covers a mark), each
    entity's mark is drawn around it in the legend's colour. False when the map moved
    while the picture was taken (look again)."""
    box = page.locator('[data-testid="map"] canvas').bounding_box()
    before = {e: page.evaluate(f"__gestalt.screen({e!r})") for e in expected}
    width, height, pixels = export_png(page, path)
    assert (width, height) == (round(box["width"]), round(box["height"]))
    after = {e: page.evaluate(f"__gestalt.screen({e!r})") for e in expected}
    for entity, change in expected.items():
        a, b = before[entity], after[entity]
        if a is None or b is None or abs(a["x"] - b["x"]) > 2 or abs(a["y"] - b["y"]) > 2:
            return False
        cx, cy = round(a["x"] - box["x"]), round(a["y"] - box["y"])
        around = [pixels[y * width + x] for y in range(max(0, cy - 32), min(height, cy + 32))
                  for x in range(max(0, cx - 32), min(width, cx + 32))]
        assert count_near(around, MARKS[change], 8) >= 12, f"no {change} mark around {entity}"
    # A blank export is the background alone (0); a small map drawn far away lit 1,909
    # pixels in one CI run.
    lit = len(pixels) - count_near(pixels, BACKGROUND, 3)
    assert lit > 1000, f"the exported map is blank ({lit} pixels not background)"
    return True


def test_compare_marks_changes_on_the_map_and_the_map_exports_as_png(
    names: dict[str, str], open_page: Any, tmp_path: Path
) -> None:
    with gestalt_server(tmp_path, {"docker": {"poll_interval": 0.5}}) as url:
        run(names["gone"])
        run(names["stays"])
        page = open_page(f"{url}/", 1280, 800)
        wait_until(lambda: find(page, names["gone"]) and find(page, names["stays"]), 30,
                   "both containers on the live map")
        earlier = time.time() + 1.0
        wait_until(lambda: time.time() > earlier + 1.0, 5, "a moment to pass")
        # Between the two moments: one removed, one stopped (changed), one started.
        docker("rm", "-f", names["gone"])
        docker("stop", "-t", "0", names["stays"])
        run(names["new"])
        wait_until(lambda: find(page, names["new"]) and find(page, names["gone"]) is None
                   and status(page, names["stays"]) != "running", 30, "the changes, live")
        # The scrubber moves in steps of 0.1 s from the oldest moment: a moment a step or
        # less after the last change could land before it (one CI run missed the new one).
        later = time.time() + 0.5
        wait_until(lambda: time.time() > later + 0.2, 5, "a moment to pass")
        page.reload()  # the timeline knows the retained range
        wait_until(lambda: find(page, names["new"]), 30, "the map after a reload")

        # Pick the earlier moment, go to the later one, compare.
        page.locator('[data-testid="tl-scrub"]').fill(f"{earlier:.1f}")
        wait_until(lambda: find(page, names["gone"]) is not None, 20, "the earlier map")
        page.locator('[data-testid="tl-mark"]').click()
        page.locator('[data-testid="tl-scrub"]').fill(f"{later:.1f}")
        wait_until(lambda: find(page, names["new"]) is not None, 20, "the later map")
        page.locator('[data-testid="tl-compare"]').click()
        page.locator('[data-testid="compare"]').wait_for(timeout=10_000)

        ids = {role: page.locator(f'[data-testid="compare"] li[data-change="{change}"]',
                                  has_text=names[role]).get_attribute("data-entity")
               for role, change in (("gone", "removed"), ("stays", "changed"), ("new", "added"))}
        expected = {ids["new"]: "added", ids["stays"]: "changed", ids["gone"]: "removed"}
        # On the map: each marked as the list says; the removed one is a ghost, grey and stale.
        wait_until(lambda: expected.items() <= marks(page).items(), 20, "the marks on the map")
        ghost = page.evaluate(f"__gestalt.entity({ids['gone']!r})")
        assert ghost["stale"] is True and ghost["name"] == names["gone"]
        assert page.evaluate("__gestalt.at") == pytest.approx(later, abs=0.2)
        # The headline counts the moment shown: the ghost was not there then.
        then = httpx.get(f"{url}/api/infra/topology", params={"at": page.evaluate("__gestalt.at")},
                         timeout=10).json()
        assert ids["gone"] not in {e["id"] for e in then["entities"]}
        assert page.evaluate("__gestalt.entities") > len(then["entities"])
        wait_until(lambda: headline_count(page) == len(then["entities"]), 5,
                   "the headline's count of the moment shown")

        # The legend explains the marks, in the colours they are drawn in.
        legend = page.get_by_test_id("legend")
        if legend.locator(".legend-body").count() == 0:
            legend.locator(".legend-toggle").click()
        for change, colour in MARKS.items():
            entry = legend.locator(f'[data-testid="legend-compare"] [data-change="{change}"]')
            assert entry.is_visible()
            stroke = entry.locator("svg > *").evaluate("(el) => el.getAttribute('stroke')")
            assert stroke == "rgb({} {} {})".format(*colour), (change, stroke)

        # And the picture shows each mark around its entity: the map exported as a PNG (a
        # real picture of the canvas) is looked at where each entity is.
        wait_until(lambda: page.evaluate("__gestalt.layoutAlpha") < 0.005, 60, "the layout")
        page.screenshot(path=str(ARTIFACTS / "compare-marks.png"))
        path = tmp_path / "map.png"
        wait_until(lambda: marks_in_picture(page, path, expected), 60,
                   "an exported picture with every mark", 0.5)
        (ARTIFACTS / "exported-map.png").write_bytes(path.read_bytes())

        # Back to live ends the comparison: no ghost, no list, no marks; the map and its
        # headline hold what the server holds now.
        page.get_by_test_id("time-banner").get_by_role("button", name="Back to live").click()
        wait_until(lambda: page.evaluate("__gestalt.status") == "live"
                   and page.evaluate("__gestalt.at") is None, 20, "live again")

        def as_served() -> bool:
            served = httpx.get(f"{url}/api/infra/topology", timeout=10).json()
            return page.evaluate("__gestalt.ids()") and \
                set(page.evaluate("__gestalt.ids()")) == {e["id"] for e in served["entities"]} \
                and headline_count(page) == len(served["entities"])

        wait_until(as_served, 20, "the live map, as the server has it")
        assert page.evaluate(f"__gestalt.entity({ids['gone']!r})") is None
        assert page.get_by_test_id("compare").count() == 0
        wait_until(lambda: marks(page) == {}, 10, "no marks")
        page.context.close()


def test_a_dropped_snapshot_opens_read_only_and_a_bad_file_says_why(
    names: dict[str, str], open_page: Any, tmp_path: Path
) -> None:
    with gestalt_server(tmp_path, {"docker": {"poll_interval": 0.5}}) as url:
        run(names["gone"])
        page = open_page(f"{url}/")
        wait_until(lambda: find(page, names["gone"]), 30, "the container on the live map")
        taken = time.time()
        snapshot = httpx.get(f"{url}/api/infra/snapshot", params={"at": taken}, timeout=30)
        assert snapshot.status_code == 200
        body = snapshot.json()
        docker("rm", "-f", names["gone"])
        wait_until(lambda: find(page, names["gone"]) is None, 30, "the container gone, live")

        # A foreign file and a corrupt one: a clear message, the live map stays.
        drop_file(page, "notes.json", json.dumps({"hello": "world"}))
        error = page.get_by_test_id("snapshot-error")
        error.wait_for(timeout=5_000)
        assert "notes.json: not a Gestalt snapshot" in error.inner_text()
        drop_file(page, "cut.json", snapshot.text[: len(snapshot.text) // 2])
        wait_until(lambda: "cut.json: not a Gestalt snapshot (not JSON)" in error.inner_text(),
                   5, "the corrupt file's message")
        assert page.get_by_test_id("snapshot-badge").count() == 0
        assert page.evaluate("__gestalt.status") == "live"

        # The real snapshot: its moment, read-only, with the badge; no timeline to travel.
        drop_file(page, "incident.json", snapshot.text)
        badge = page.get_by_test_id("snapshot-badge")
        badge.wait_for(timeout=10_000)
        assert "snapshot" in badge.inner_text().lower() and "incident.json" in badge.inner_text()
        wait_until(lambda: find(page, names["gone"]) is not None, 10, "the snapshot's map")
        assert page.evaluate("__gestalt.version") == body["topology"]["version"]
        assert page.evaluate("__gestalt.entities") == len(body["topology"]["entities"])
        assert page.get_by_test_id("timeline").count() == 0
        page.get_by_test_id("snapshot-error").wait_for(state="detached", timeout=5_000)
        # Live changes no longer reach it: a container the server sees now does not appear.
        run(names["new"])

        def served() -> bool:
            topology = httpx.get(f"{url}/api/infra/topology", timeout=10).json()
            return any(e["name"] == names["new"] for e in topology["entities"])

        wait_until(served, 30, "the new container on the server")
        assert find(page, names["new"]) is None
        page.screenshot(path=str(ARTIFACTS / "snapshot-dropped.png"))
        page.context.close()
