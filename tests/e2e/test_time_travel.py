"""Time travel in the browser, against a real `gestalt serve` watching the real Docker
engine: scrub back to before a container started (it is absent, the banner says the map
is not live), play forward (it appears), compare two moments, open a shared `?t=` link in
a fresh page, and come back to live. And against the synthetic source replacing pods:
compare two moments picked on the timeline, then back to live (the comparison ends, its
ghosts with it)."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.support.services import TEST_IMAGE


@pytest.fixture
def container(docker_engine: str) -> Iterator[str]:
    name = f"gestalt-e2e-tt-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def find(page: Any, name: str) -> str | None:
    return page.evaluate(
        "(name) => __gestalt.ids().find((id) => __gestalt.entity(id).name === name) ?? null",
        name)


def scrub(page: Any, moment: float) -> None:
    page.locator('[data-testid="tl-scrub"]').fill(f"{moment:.1f}")


def test_scrub_play_compare_and_share_a_moment(
    container: str, open_page: Any, tmp_path: Path
) -> None:
    with gestalt_server(tmp_path, {"docker": {"poll_interval": 0.5}}) as url:
        page = open_page(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 20, "the stream")
        wait_until(lambda: page.evaluate("__gestalt.version") > 0, 20, "the first snapshot")
        before = time.time()
        wait_until(lambda: time.time() > before + 1.5, 5, "a moment to pass")  # a clear 'before'
        subprocess.run(["docker", "run", "-d", "--name", container, TEST_IMAGE, "sh", "-c",
                        "trap 'exit 0' TERM; sleep 600 & wait"], check=True,
                       capture_output=True, timeout=60)
        wait_until(lambda: find(page, container), 30, "the container on the live map")
        # The timeline knows the retained range (refreshed every 10 s, and on load).
        page.reload()
        wait_until(lambda: find(page, container), 30, "the container after a reload")

        # Scrub back: the map shows the moment before the container existed.
        scrub(page, before + 0.5)
        wait_until(lambda: page.evaluate("__gestalt.at") is not None, 10, "the past")
        banner = page.locator('[data-testid="time-banner"]')
        banner.wait_for(timeout=10_000)
        assert "Not live" in banner.inner_text()
        # At 1280 px it sits beside the health summary, not over its end.
        health, shown = page.get_by_test_id("health").bounding_box(), banner.bounding_box()
        assert shown["x"] >= health["x"] + health["width"], (shown, health)
        page.screenshot(path=str(ARTIFACTS / "time-banner-1280.png"))
        wait_until(lambda: page.evaluate("__gestalt.shownVersion") is not None, 10, "the past map")
        wait_until(lambda: find(page, container) is None, 10, "the container gone from the past")
        assert "t=" in page.url

        # Pick this moment for a comparison.
        page.locator('[data-testid="tl-mark"]').click()

        # Play forward at 1x: the container appears while the map is still in the past.
        page.locator('[data-testid="tl-play"]').click()

        def appeared_in_the_past() -> bool:
            return find(page, container) is not None and page.evaluate("__gestalt.at") is not None

        wait_until(appeared_in_the_past, 30, "the container appearing during playback")
        page.locator('[data-testid="tl-play"]').click()  # pause

        # Compare the picked moment with this one: the container was added.
        page.locator('[data-testid="tl-compare"]').click()
        added = page.locator('[data-testid="compare"] [data-change="added"]')
        added.first.wait_for(timeout=10_000)
        assert container in page.locator('[data-testid="compare"]').inner_text()

        # The snapshot button downloads this moment.
        href = page.locator('[data-testid="tl-snapshot"]').get_attribute("href") or ""
        assert href.startswith("/api/infra/snapshot?at=")

        # A shared link opens at its moment in a fresh page.
        shared = datetime.fromtimestamp(before + 0.5, UTC).isoformat().replace("+00:00", "Z")
        fresh = open_page(f"{url}/?t={shared}")
        fresh.locator('[data-testid="time-banner"]').wait_for(timeout=20_000)
        # The pill says the page shows the past (it stayed "connecting" on a shared link).
        pill = fresh.get_by_test_id("connection")
        wait_until(lambda: pill.get_attribute("data-status") == "past", 10, "the pill: past")
        wait_until(lambda: abs((fresh.evaluate("__gestalt.at") or 0) - (before + 0.5)) < 0.01,
                   10, "the shared moment")
        wait_until(lambda: fresh.evaluate("__gestalt.shownVersion") is not None, 10,
                   "the shared moment's map")
        assert find(fresh, container) is None

        # Back to live: the banner goes, the container is there, the URL forgets the moment.
        fresh.locator('[data-testid="tl-live"]').click()
        wait_until(lambda: fresh.evaluate("__gestalt.at") is None, 10, "live again")
        wait_until(lambda: pill.get_attribute("data-status") == "live", 20, "the pill: live")
        wait_until(lambda: find(fresh, container) is not None, 20, "the container, live")
        assert fresh.locator('[data-testid="time-banner"]').count() == 0
        assert "t=" not in fresh.url
        # Closed while the server runs: a page left polling a stopped server logs errors.
        for opened in (page, fresh):
            opened.context.close()


def headline_count(page: Any) -> int:
    """The health summary's count of entities ("... · 167 entities")."""
    text = page.get_by_test_id("health").inner_text()
    found = re.search(r"(\d+) entities", text)
    assert found, text
    return int(found.group(1))


def test_back_to_live_ends_a_comparison(open_page: Any, tmp_path: Path) -> None:
    """A new user's steps: the timeline at about 20%, "Compare...", at about 95%, "Changes
    since ...", then "Back to live". Before the fix the live map kept the comparison's
    ghosts (207 entities on the page, 167 on the server) and the headline counted them."""
    churning = {"entities": 60, "edges": 90, "churn_per_second": 2}
    with gestalt_server(tmp_path, {"synthetic": churning}) as url:
        page = open_page(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 20, "the stream")
        started = time.time()
        wait_until(lambda: time.time() > started + 8, 10, "pods to be replaced")
        page.reload()  # the timeline knows the retained range
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 20, "the stream again")
        scrubber = page.locator('[data-testid="tl-scrub"]')
        low, high = (float(scrubber.get_attribute(a) or 0) for a in ("min", "max"))

        scrub(page, low + 0.2 * (high - low))
        wait_until(lambda: page.evaluate("__gestalt.shownVersion") is not None, 10, "the past")
        page.locator('[data-testid="tl-mark"]').click()
        scrub(page, low + 0.95 * (high - low))
        page.locator('[data-testid="tl-compare"]').click()
        removed = page.locator('[data-testid="compare"] li[data-change="removed"]')
        removed.first.wait_for(timeout=10_000)
        gone = [removed.nth(i).get_attribute("data-entity") for i in range(removed.count())]
        # Each gone entity's line names it as it was and where it was (its pod, a container's).
        for i in range(removed.count()):
            line = removed.nth(i).inner_text()
            entity = gone[i] or ""
            assert entity not in line, line
            if entity.startswith("container:"):
                assert " · pod " in line, line
        # While comparing, the headline counts the moment shown, without its ghosts.
        at = page.evaluate("__gestalt.at")
        then = httpx.get(f"{url}/api/infra/topology", params={"at": at}, timeout=10).json()
        wait_until(lambda: set(gone) <= set(page.evaluate("__gestalt.ids()")), 10, "the ghosts")
        wait_until(lambda: headline_count(page) == len(then["entities"]), 10,
                   "the headline's count of the moment shown")

        page.get_by_test_id("time-banner").get_by_role("button", name="Back to live").click()
        wait_until(lambda: page.evaluate("__gestalt.at") is None
                   and page.evaluate("__gestalt.status") == "live", 20, "live again")

        def as_served() -> bool:
            served = {e["id"] for e in
                      httpx.get(f"{url}/api/infra/topology", timeout=10).json()["entities"]}
            return set(page.evaluate("__gestalt.ids()")) == served

        wait_until(as_served, 20, "the live map as the server has it")
        assert not set(gone) & set(page.evaluate("__gestalt.ids()"))
        wait_until(lambda: headline_count(page) == page.evaluate("__gestalt.entities"), 10,
                   "the headline's count of the live map")
        assert page.get_by_test_id("compare").count() == 0
        wait_until(lambda: page.evaluate("__gestalt.changes()") == [], 10, "no marks")
        assert page.get_by_test_id("tl-mark").count() == 1
        page.screenshot(path=str(ARTIFACTS / "compare-back-to-live.png"))
        page.context.close()  # before its server stops
