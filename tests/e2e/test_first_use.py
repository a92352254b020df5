"""What a new user meets first, in a real Chromium against a real `gestalt serve`
(synthetic source): a shared link with a moment that cannot be read says so and stays
live, ..."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.harness import ARTIFACTS, drop_file, gestalt_server, wait_until

SYNTHETIC = {"entities": 60, "edges": 90, "churn_per_second": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gestalt_server(tmp_path_factory.mktemp("first-use"), {"synthetic": SYNTHETIC}) as url:
        yield url


def live(page: Any) -> None:
    wait_until(lambda: page.evaluate("window.__gestalt?.status") == "live", 20, "the stream")
    wait_until(lambda: page.evaluate("__gestalt.version") > 0, 20, "the first snapshot")


def test_an_unreadable_moment_in_the_link_is_named_and_the_map_stays_live(
    server: str, open_page: Any
) -> None:
    page = open_page(f"{server}/?t=yesterday&layout=namespace")
    live(page)
    notice = page.locator('[data-testid="url-notice"]')
    notice.wait_for(timeout=10_000)
    assert "t=yesterday" in notice.inner_text()
    assert "RFC 3339" in notice.inner_text()
    assert page.evaluate("__gestalt.at") is None
    assert page.locator('[data-testid="time-banner"]').count() == 0
    # The bad value leaves the link (a copy of it would carry the mistake on); the rest stays.
    query = parse_qs(urlsplit(page.url).query)
    assert "t" not in query and query.get("layout") == ["namespace"]
    page.locator('[data-testid="url-notice-dismiss"]').click()
    notice.wait_for(state="detached", timeout=5_000)


def test_the_cost_panel_is_titled_for_its_mode(server: str, open_page: Any) -> None:
    page = open_page(f"{server}/")
    live(page)
    panel = page.get_by_test_id("top-spenders")
    title = page.get_by_test_id("top-spenders-title")
    page.locator('[data-colour="waste"]').click()
    wait_until(lambda: panel.is_visible(), 15, "the cost panel in waste mode")
    assert title.inner_text() == "Most waste (idle cost)"
    assert panel.get_attribute("aria-label") == "Most waste (idle cost)"
    page.locator('[data-colour="cost"]').click()
    wait_until(lambda: title.inner_text() == "Top spenders", 5, "the cost title")


def downloaded(page: Any, action: Callable[[], None]) -> str:
    with page.expect_download(timeout=20_000) as download:
        action()
    return str(download.value.suggested_filename)


def stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def test_exports_are_named_after_the_site_and_the_moment_shown(
    server: str, open_page: Any
) -> None:
    with urllib.request.urlopen(f"{server}/api/infra/config", timeout=10) as response:
        site = json.load(response)["site"]
    assert re.fullmatch(r"[A-Za-z0-9._-]+", site), site
    page = open_page(f"{server}/")
    live(page)
    export = page.locator('[data-testid="tl-export"]')
    names = {fmt: downloaded(page, lambda fmt=fmt: export.select_option(fmt))
             for fmt in ("json", "graphml", "dot", "mermaid", "png")}
    names["snapshot"] = downloaded(page, page.locator('[data-testid="tl-snapshot"]').click)
    pattern = re.compile(rf"gestalt-{re.escape(site)}-(\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\dZ)"
                         r"(-snapshot\.json|\.\w+)")
    now = time.time()
    for what, name in names.items():
        match = pattern.fullmatch(name)
        assert match, (what, name)
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
        assert now - 60 <= moment.timestamp() <= now + 1, (what, name)  # live: now
    assert names["graphml"].endswith(".graphml") and names["png"].endswith(".png")
    assert names["snapshot"].endswith("-snapshot.json") and names["dot"].endswith(".dot")

    # In the past: the moment shown, to the second.
    wait_until(lambda: page.evaluate("__gestalt.version") > 0 and time.time() > now + 2, 10,
               "a moment to look back at")
    page.locator('[data-testid="tl-scrub"]').fill(f"{now - 1:.1f}")
    wait_until(lambda: page.evaluate("__gestalt.at") is not None, 10, "the past")
    at = page.evaluate("__gestalt.at")
    assert downloaded(page, lambda: export.select_option("graphml")) == \
        f"gestalt-{site}-{stamp(at)}.graphml"
    assert downloaded(page, lambda: export.select_option("png")) == \
        f"gestalt-{site}-{stamp(at)}.png"
    assert downloaded(page, page.locator('[data-testid="tl-snapshot"]').click) == \
        f"gestalt-{site}-{stamp(at)}-snapshot.json"


# The search box is the first thing a new user reaches for: never narrower than this.
MIN_SEARCH_PX = 200


def header_layout(page: Any) -> dict[str, Any]:
    """Each control of the top bar (its box), the search input's width, the viewport's."""
    return page.evaluate("""() => {
      const bar = document.querySelector('.topbar');
      const boxes = [...bar.children].filter((c) => c.getClientRects().length).map((c) => {
        const r = c.getBoundingClientRect();
        return { name: c.className || c.tagName, left: r.left, right: r.right, top: r.top,
                 bottom: r.bottom };
      });
      const search = document.querySelector('.search input').getBoundingClientRect().width;
      return { boxes, search, width: window.innerWidth };
    }""")


def overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["name"], b["name"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1]


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_snapshot_badge_leaves_the_header_readable(
    server: str, open_page: Any, width: int, height: int
) -> None:
    with urllib.request.urlopen(f"{server}/api/infra/snapshot", timeout=30) as response:
        snapshot = response.read().decode()
    page = open_page(f"{server}/", width, height)
    live(page)
    readable(page)  # live
    drop_file(page, "incident-2026-11-30-checkout-outage.json", snapshot)
    page.get_by_test_id("snapshot-badge").wait_for(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / f"header-snapshot-{width}.png"))
    readable(page)


def readable(page: Any) -> None:
    layout = header_layout(page)
    assert overlaps(layout["boxes"]) == [], layout
    assert all(b["left"] >= 0 and b["right"] <= layout["width"] + 0.5
               for b in layout["boxes"]), layout
    assert layout["search"] >= MIN_SEARCH_PX, layout


def test_a_ghost_shows_what_was_known_of_it_without_asking_for_it_now(
    tmp_path: Any, open_page: Any
) -> None:
    """Compare two moments: an entity removed between them comes back as a ghost; its
    details are what was known at the earlier moment (no 404 in the console)."""
    churning = {"entities": 60, "edges": 90, "churn_per_second": 10}
    with gestalt_server(tmp_path, {"synthetic": churning}) as url:
        page = open_page(f"{url}/")
        live(page)
        earlier = time.time()
        wait_until(lambda: time.time() > earlier + 4, 10, "pods to be replaced")
        later = time.time()
        page.reload()  # the timeline knows the retained range
        live(page)
        scrub = page.locator('[data-testid="tl-scrub"]')
        scrub.fill(f"{earlier:.1f}")
        wait_until(lambda: page.evaluate("__gestalt.shownVersion") is not None, 10, "the past")
        page.locator('[data-testid="tl-mark"]').click()
        scrub.fill(f"{later:.1f}")
        page.locator('[data-testid="tl-compare"]').click()
        removed = page.locator('[data-testid="compare"] li[data-change="removed"]').first
        removed.wait_for(timeout=10_000)
        ghost = removed.get_attribute("data-entity")
        removed.locator(".entity-link").click()
        details = page.get_by_test_id("details")
        wait_until(lambda: details.get_attribute("data-entity") == ghost, 10, "its details")
        note = page.get_by_test_id("details-ghost")
        note.wait_for(timeout=10_000)
        assert note.inner_text().startswith("Removed between")
        # What was known then: its relations at the earlier moment.
        wait_until(lambda: page.locator('[data-testid="details"] .relations').count() > 0, 10,
                   "its relations then")
        page.screenshot(path=str(ARTIFACTS / "ghost-details.png"))
        page.context.close()  # before its server stops


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_in_the_past_the_cost_is_the_one_recorded_then(tmp_path: Any, open_page: Any) -> None:
    churning = {"entities": 60, "edges": 90, "churn_per_second": 10}
    with gestalt_server(tmp_path, {"synthetic": churning},
                        settings={"cost": {"record_interval": 1},
                                  "history": {"sample_interval": 0.5}}) as url:
        # Nothing recorded at a moment: said so, not a figure.
        nothing = get_json(f"{url}/api/infra/cost?at=1")
        assert nothing["recorded_at"] is None and nothing["totals"] is None
        page = open_page(f"{url}/")
        live(page)
        line = page.get_by_test_id("insight-line")
        wait_until(lambda: line.get_attribute("data-cost") == "live", 15, "the live cost")
        start = time.time()

        def recorded() -> list[list[float]]:
            return get_json(f"{url}/api/infra/metrics/cost:total?since={start - 10}"
                            f"&until={time.time()}")["series"]["total_per_hour"]

        wait_until(lambda: len(recorded()) >= 3, 15, "a few records of cost")
        # A moment halfway between two records (a second apart): the timeline moves in
        # tenths of a second from its own start, so the moment the page shows may be 0.05 s
        # off the one asked for; next to a record, that was the next record's (the page
        # showed 36.25 USD/mo where the moment asked for had 36.37).
        (before, _), (after, _) = recorded()[-3:-1]
        moment = (before + after) / 2
        past = get_json(f"{url}/api/infra/cost?at={moment}")
        assert past["recorded_at"] == before, (past["recorded_at"], before, after)
        total = past["totals"]["total_per_hour"]
        # It is what was recorded then (the series of the total, read back).
        series = get_json(f"{url}/api/infra/metrics/cost:total?since={moment - 10}"
                          f"&until={moment}")["series"]["total_per_hour"]
        assert series[-1] == [past["recorded_at"], total]
        assert past["top"] and all(r["name"] for r in past["top"])

        page.locator('[data-testid="tl-scrub"]').fill(f"{moment:.1f}")
        wait_until(lambda: line.get_attribute("data-cost") == "past", 10, "the past's cost")
        month = total * 730
        figure = f"{month:.0f}" if month >= 100 else f"{month:.2f}"
        assert line.inner_text().startswith(f"{figure} {past['currency']}/mo then"), \
            (line.inner_text(), figure)
        # What is unusual *now* is not offered for the past either.
        unusual_now = page.get_by_test_id("unusual-only")
        assert unusual_now.is_disabled() and "live only" in unusual_now.get_attribute("title")
        assert "unusual" not in line.inner_text()
        page.locator('[data-colour="cost"]').click()
        page.get_by_test_id("top-spenders").wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "past-cost.png"))
        page.locator('[data-testid="tl-live"]').click()
        wait_until(lambda: line.get_attribute("data-cost") == "live", 10, "the live cost again")
        assert unusual_now.is_enabled()
        page.context.close()  # before its server stops
