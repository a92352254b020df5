"""Cost and anomalies in the browser, on `gestalt demo`: colouring the map by cost and by
waste (the costliest pod in the scale's hot end, the top spenders panel with the total the
API gives), and "Unusual now" showing exactly the entities with an anomaly."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.e2e.demo import open_map
from tests.e2e.harness import ARTIFACTS, wait_until

HOT = (1.0, 0.42, 0.18)  # state/insight.ts: the top of the cost scale


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_colour_by_cost_top_spenders_and_unusual_now(demo: tuple[str, str],
                                                       open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    cost = wait_until(lambda: (c := get(f"{url}/api/infra/cost"))["top"] and c, 60,
                      "the demo's pods to cost something")
    # The health summary says what it all costs.
    line = page.get_by_test_id("insight-line")
    wait_until(lambda: line.is_visible() and "/mo" in line.inner_text(), 15, "the cost line")
    page.locator('[data-colour="cost"]').click()
    panel = page.get_by_test_id("top-spenders")
    wait_until(lambda: panel.is_visible(), 15, "the top spenders panel")
    # Beside "Fit all", not over it: the button stays in sight and answers a click.
    fit, box = page.get_by_test_id("fit-all").bounding_box(), panel.bounding_box()
    assert fit and box, (fit, box)
    assert box["x"] + box["width"] <= fit["x"] or box["y"] >= fit["y"] + fit["height"], (fit, box)
    page.get_by_test_id("fit-all").click(timeout=5_000)
    # The panel's total is the API's (per month, as people read it).
    month = cost["totals"]["total_per_hour"] * 730
    total = panel.get_by_test_id("cost-total").inner_text()
    assert total.endswith(f"{cost['currency']}/mo")
    assert abs(float(total.split()[0]) - month) <= max(1.0, month * 0.05), (total, month)
    # The costliest unit is drawn in the hot end of the scale, a cheap one is not.
    costs = get(f"{url}/api/infra/cost")["entities"]
    dearest = max(costs, key=lambda i: costs[i]["cost"])

    def colour(entity: str) -> list[float] | None:
        return page.evaluate(f"__gestalt.colour({entity!r})")

    wait_until(lambda: (c := colour(dearest)) and all(abs(a - b) < 0.08
                                                      for a, b in zip(c, HOT, strict=True)),
               15, "the costliest unit in the hot colour")
    cheapest = min(costs, key=lambda i: costs[i]["cost"])
    if costs[cheapest]["cost"] < costs[dearest]["cost"] / 10:
        assert colour(cheapest) != colour(dearest)
    page.screenshot(path=str(ARTIFACTS / "insight-cost.png"))
    # Clicking a spender selects it.
    first = panel.locator("[data-spender]").first
    first.click()
    wait_until(lambda: page.evaluate("__gestalt.selected") == first.get_attribute(
        "data-spender"), 10, "the spender selected")
    page.locator('[data-colour="waste"]').click()
    assert panel.is_visible()
    page.locator('[data-colour="health"]').click()
    wait_until(lambda: not panel.is_visible(), 10, "the panel gone with health colours")

    # Unusual now: the map shows exactly the entities with an unmuted anomaly.
    page.get_by_test_id("unusual-only").click()

    def matches() -> bool:
        unusual = {a["entity_id"] for a in get(f"{url}/api/infra/anomalies")["anomalies"]
                   if not a["muted"]}
        shown = set(page.evaluate("__gestalt.viewIds()") or [])
        return shown == unusual & set(page.evaluate("__gestalt.ids()"))

    wait_until(matches, 20, "only the unusual entities on the map", 0.5)
    # It is shown among the active filters, and an empty map says why.
    if not page.evaluate("__gestalt.viewIds()"):
        assert "Nothing is unusual now" in page.get_by_test_id("empty-note").inner_text()
    page.locator('[data-active="unusual"]').click()  # its chip turns it off
    wait_until(lambda: len(page.evaluate("__gestalt.viewIds()") or []) > 50, 20,
               "the whole map back")
