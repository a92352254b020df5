"""Time travel in the browser, against a real `gestalt serve` watching the real Docker
engine: scrub back to before a container started (it is absent, the banner says the map
is not live), play forward (it appears), compare two moments, open a shared `?t=` link in
a fresh page, and come back to live."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
