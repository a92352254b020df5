"""Finding something on the map of `gestalt demo`: search that ranks what one means and
says where each result is, and a flight that shows the selection among its neighbours."""

from __future__ import annotations

import math
from typing import Any

import httpx

from tests.e2e.demo import framed, open_map
from tests.e2e.harness import ARTIFACTS, wait_until

# Matches as the API's entities say (name, id, label=value), counted independently of the UI.
MATCHES = """(q) => __gestalt.ids().filter((id) => {
  const e = __gestalt.entity(id), n = q.toLowerCase();
  return e.name.toLowerCase().includes(n) || id.toLowerCase().includes(n)
    || Object.entries(e.labels ?? {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(n));
}).length"""


def test_search_ranks_disambiguates_and_moves_with_arrows(
    demo: tuple[str, str], open_page: Any
) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    page.keyboard.press("/")
    page.keyboard.type("checkout")
    rows = page.locator('[data-testid="search-results"] [role="option"]')
    wait_until(lambda: rows.count() == 8, 10, "eight results")
    # The deployment first: what "checkout" means to the person typing it.
    assert rows.first.get_attribute("data-id").startswith("deployment:")
    texts = rows.all_inner_texts()
    assert len(set(texts)) == len(texts), texts
    # A count of every match, the eight shown among them.
    count = page.get_by_test_id("search-count").inner_text()
    total = page.evaluate(MATCHES, "checkout")
    assert f"8 of {total} matches" in count or f"8 of {total - 1} matches" in count, count
    page.screenshot(path=str(ARTIFACTS / "search.png"))
    # Arrow keys move through the rows; Enter takes the one marked.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    third = rows.nth(2)
    assert third.get_attribute("aria-selected") == "true"
    chosen = third.get_attribute("data-id")
    page.keyboard.press("Enter")
    wait_until(lambda: page.evaluate("__gestalt.selected") == chosen, 5, "the third row chosen")
    # Nothing found says so.
    page.keyboard.press("/")
    page.keyboard.type("no-such-thing-anywhere")
    none = page.get_by_test_id("search-count")
    wait_until(lambda: "No matches" in none.inner_text(), 5, "a 'no matches' line")
    assert rows.count() == 0


def on_screen(page: Any, ids: list[str]) -> list[str]:
    """Those of `ids` a viewer sees: inside the canvas and under no panel."""
    return page.evaluate(
        """(ids) => {
      const canvas = document.querySelector('[data-testid="map"] canvas').getBoundingClientRect();
      const panels = [...document.querySelectorAll('[data-obstacle]')]
        .map((el) => el.getBoundingClientRect()).filter((r) => r.width && r.height);
      const inside = (p, r) => p.x >= r.left && p.x <= r.right && p.y >= r.top && p.y <= r.bottom;
      return ids.filter((id) => { const p = __gestalt.screen(id);
        return p && inside(p, canvas) && !panels.some((r) => inside(p, r)); });
    }""",
        ids,
    )


def blockers(page: Any, target: str) -> list[str]:
    """Entities between the camera and the target's centre, covering it (in the scene)."""
    eye = page.evaluate("__gestalt.camera().position")
    scene = page.evaluate(
        "__gestalt.ids().map((id) => [id, __gestalt.world(id)]).filter(([, w]) => w)"
    )
    where = dict(scene)
    goal, size = where[target]["position"], where[target]["size"]
    d = [goal[k] - eye[k] for k in range(3)]
    length2 = sum(v * v for v in d)
    found = []
    for other, w in scene:
        if other == target or other.startswith("namespace:"):
            continue
        p = [w["position"][k] - eye[k] for k in range(3)]
        t = sum(p[k] * d[k] for k in range(3)) / length2
        if not 0 < t < 0.97:
            continue
        miss = math.dist(p, [t * v for v in d])
        if miss < w["size"] + size * 0.3 * t:
            found.append(other)
    return found


def test_fly_to_shows_neighbours_and_the_target_unblocked(
    demo: tuple[str, str], open_page: Any
) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    page.keyboard.press("/")
    page.keyboard.type("checkout")
    page.keyboard.press("Enter")
    target = wait_until(lambda: page.evaluate("__gestalt.selected"), 10, "a selection")
    wait_until(lambda: page.evaluate("__gestalt.camera()")["mode"] == "free", 20, "the flight")
    # The layout may still be settling: if it moves something in front of the selection,
    # the camera looks again from elsewhere (until the user takes it).
    wait_until(lambda: not page.evaluate("__gestalt.camera()")["moving"]
               and not blockers(page, target), 10, "the target unblocked", 0.25)
    page.screenshot(path=str(ARTIFACTS / "fly-to.png"))
    # Its neighbours, as the API says, are in view with it.
    details = httpx.get(f"{url}/api/infra/entities/{target}", timeout=10).json()
    neighbours = [c["source_id"] for c in details["incoming"]]
    neighbours += [c["target_id"] for c in details["outgoing"]]
    neighbours = [n for n in neighbours if page.evaluate(f"__gestalt.world({n!r})")]
    assert target in on_screen(page, [target])
    seen = on_screen(page, neighbours)
    assert len(seen) >= 0.8 * len(neighbours), (len(seen), len(neighbours))
    # The target is a thing among things, not the whole screen, and nothing hides it.
    camera = page.evaluate("__gestalt.camera()")
    world = page.evaluate(f"__gestalt.world({target!r})")
    height = page.get_by_test_id("map").bounding_box()["height"]
    distance = math.dist(camera["position"], world["position"])
    radius_px = world["size"] * (height / 2) / math.tan(math.radians(25)) / distance
    assert 3 <= radius_px <= 40, radius_px
    assert not blockers(page, target)
    # Esc lets go and goes back to the whole map.
    page.keyboard.press("Escape")
    wait_until(lambda: framed(page), 60, "the whole map again", 0.25)
    assert page.evaluate("__gestalt.selected") is None
