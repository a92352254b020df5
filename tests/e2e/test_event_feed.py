"""The event feed across a server restart, as a user sees it: `gestalt serve` stopped with
SIGTERM and started again with the same config and data dir. The feed keeps every event it
showed (those of entities the restart lost included: they are history, greyed), adds what
happened meanwhile, and the Events tab's badge counts what the feed lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import gestalt_server, wait_until
from tests.support.daemons import free_port

# Pods replaced as it churns: some events are about pods the second run does not have.
CONFIG = {"synthetic": {"entities": 200, "edges": 400, "churn_per_second": 10, "seed": 1}}


def feed_and_badge(page: Any) -> tuple[dict[str, str], int]:
    """The feed's rows (event id -> entity id) and the Events tab's count, read in one
    instant: read apart, an event arriving between the two reads made them differ."""
    rows, count = page.evaluate(
        "[[...document.querySelectorAll('[data-testid=\"event-feed\"] .event')]"
        ".map((r) => [r.dataset.event, r.dataset.entity]),"
        " document.querySelector('[data-tab=\"events\"] .count')?.textContent]")
    return dict(rows), int(count or 0)


def feed(page: Any) -> dict[str, str]:
    return feed_and_badge(page)[0]


def is_change(event: dict[str, Any]) -> bool:
    """In the feed's "Changes" lane (panels/EventFeed.tsx `isAlertEvent`)."""
    return event.get("source") != "alerts" and not event["reason"].startswith("Alert")


def test_feed_keeps_its_events_across_a_restart(browser: Any, tmp_path: Path) -> None:
    port = free_port()
    # Its own page: an outage makes the console report failed requests, as it should.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    with gestalt_server(tmp_path, CONFIG, port=port) as url:
        page.goto(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 30, "the stream")
        page.locator('[data-tab="events"]').click()
        wait_until(lambda: len(feed(page)) >= 20, 90, "the feed to fill")
    page.get_by_test_id("outage").wait_for(timeout=30_000)
    held, count = feed_and_badge(page)
    assert count == len(held)
    snapshots = page.evaluate("__gestalt.stream.snapshots")
    sizes: list[int] = []
    with gestalt_server(tmp_path, CONFIG, port=port) as url:

        def back() -> bool:
            rows, count = feed_and_badge(page)
            sizes.append(len(rows))
            assert count == len(rows)
            return bool(page.evaluate("__gestalt.stream.snapshots") > snapshots
                    and page.evaluate("__gestalt.status") == "live")

        wait_until(back, 60, "the page to reconnect")
        on_map = set(page.evaluate("__gestalt.ids()"))
        # The restart lost entities that some rows are about (else this proves nothing).
        assert set(held.values()) - on_map
        server = [e for e in httpx.get(f"{url}/api/infra/events", params={"limit": 1000})
                  .json()["events"] if is_change(e)]
        assert len(server) < 200  # all of them fit in the feed

        def caught_up() -> bool:
            rows = feed(page)
            sizes.append(len(rows))
            return {e["id"] for e in server} <= rows.keys()

        # Whatever happened while the page was away, as a reload would show it.
        wait_until(caught_up, 30, "the feed to have what the server has")
        rows, count = feed_and_badge(page)
        # Every row it held is still there (the synthetic source numbers each run's events
        # apart), and the feed never shrank on the way.
        assert held.keys() <= rows.keys(), sorted(held.keys() - rows.keys())
        assert min(sizes) >= len(held), (len(held), sizes[:20])
        assert count == len(rows)
        context.close()  # before the server goes, so that no stream breaks under it
