"""The panels around the map, read by someone on call: a health headline that leads with
what is wrong, alerts as incidents, an event feed that can be filtered, a loud outage,
filters that say what they do, a legend that explains colours and shapes, details in words
and units, folded groups that say what they hold, and a phone that shows what it found."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.demo import crash_pods, framed, open_map, visible_share
from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.support.daemons import free_port

SEVERITY = {"critical": 3, "error": 2, "warning": 1, "info": 0}


def owns(page: Any) -> list[tuple[str, str]]:
    """The page's "owns" edges (ids are `owns:<owner>-><owned>`)."""
    pairs = []
    for edge in page.evaluate("__gestalt.edgeIds()"):
        if edge.startswith("owns:"):
            owner, owned = edge[5:].split("->")
            pairs.append((owner, owned))
    return pairs


def feed_entities(page: Any) -> set[str]:
    """The entities of the event feed's rows, read at one instant."""
    return set(
        page.evaluate(
            "[...document.querySelectorAll('[data-testid=\"event-feed\"] .event')]"
            ".map((r) => r.dataset.entity)"
        )
    )


def count_critical(page: Any) -> int:
    return page.evaluate(
        "__gestalt.ids().filter((id) => { const e = __gestalt.entity(id);"
        " return !e.stale && e.health_status === 'critical'; }).length"
    )


def test_health_headline_details_and_legend(demo: tuple[str, str], open_page: Any) -> None:
    url, kubeconfig = demo
    [pod] = crash_pods(kubeconfig, 1)
    page = open_map(open_page, url, 1440, 900)
    # The headline leads with the worst state and its count, as the checks count it.
    health = page.get_by_test_id("health")
    wait_until(lambda: health.get_attribute("data-state") == "critical", 60, "a critical headline")

    def agrees() -> bool:
        text = page.get_by_test_id("health-headline").inner_text()
        return text == f"{count_critical(page)} critical"

    wait_until(agrees, 20, "the headline to count the critical entities")
    # The by-kind table has column headers.
    health.locator(".health-main").click()
    headers = page.get_by_test_id("health-by-kind").locator("thead th").all_inner_texts()
    assert headers == ["Kind", "All", "Critical", "Warning", "Healthy"]
    page.screenshot(path=str(ARTIFACTS / "health.png"))
    page.keyboard.press("Escape")
    assert page.get_by_test_id("health-by-kind").count() == 0

    # Details in words and units: the crashed pod's health says what the checks say.
    page.goto(f"{url}/?sel={pod}")
    details = page.get_by_test_id("details")
    details.wait_for()
    fields = dict(
        zip(
            details.locator(".fields dt").all_inner_texts(),
            details.locator(".fields dd").all_inner_texts(),
            strict=True,
        )
    )
    assert fields["Health"] == "critical", fields
    assert not [k for k in fields if "_" in k], fields
    assert re.fullmatch(r"\d+m \([\d.]+ cores?\)", fields["CPU request"]), fields
    assert fields["Memory request"].endswith("MiB"), fields
    assert "crash-looping" in details.locator(".reasons").inner_text()

    # The legend: open on a first visit, collapsed on the next unless the user opened it.
    legend = page.get_by_test_id("legend")
    page.reload()
    legend.wait_for()
    assert legend.locator(".legend-body").count() == 0
    legend.locator(".legend-toggle").click()
    page.reload()
    legend.locator(".legend-body").wait_for()


def test_alerts_grouped_by_incident(demo: tuple[str, str], open_page: Any) -> None:
    url, kubeconfig = demo
    [pod] = crash_pods(kubeconfig, 1)
    page = open_map(open_page, url, 1440, 900)
    page.locator('[data-tab="alerts"]').click()
    # The pod's container, the pod, its replica set and deployment: one incident.
    parent = {owned: owner for owner, owned in owns(page)}
    deployment = pod
    while deployment in parent and not parent[deployment].startswith("namespace:"):
        deployment = parent[deployment]
    assert deployment.startswith("deployment:"), deployment

    def firing() -> list[dict[str, str]] | None:
        """The firing incidents read at one instant, once the deployment's is among them
        (the list refreshes every few seconds)."""
        rows = page.evaluate(
            """() => [...document.querySelectorAll('[data-testid="alerts-firing"] .incident')]
              .map((r) => ({root: r.dataset.root, cls: r.className,
                msg: r.querySelector('.event-msg').textContent,
                title: r.querySelector('button').title}))"""
        )
        return rows if any(r["root"] == deployment for r in rows) else None

    shown = {"rows": wait_until(firing, 90, "the crash loop's incident to fire", 0.5)}
    roots = [r["root"] for r in shown["rows"]]
    assert len(roots) == len(set(roots)), "one row per incident"
    assert pod not in roots, "the pod's alerts are part of its deployment's incident"
    # Worst first; rule titles, not ids; the whole story on hover.
    severities = [SEVERITY[re.search(r"sev-(\w+)", r["cls"]).group(1)] for r in shown["rows"]]
    assert severities == sorted(severities, reverse=True), severities
    row = next(r for r in shown["rows"] if r["root"] == deployment)
    assert "Crash-looping" in row["msg"]
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", row["msg"])
    assert pod.rsplit("/", 1)[1] in row["title"]
    # The badge counts firing incidents only (pending ones wait below, apart).
    badge = page.get_by_test_id("alerts-badge")

    def badge_counts_firing() -> bool:
        counted = page.evaluate(
            """() => [document.querySelector('[data-testid="alerts-badge"]')?.textContent,
              document.querySelectorAll('[data-testid="alerts-firing"] .incident').length]"""
        )
        return counted[0] == str(counted[1])

    wait_until(badge_counts_firing, 20, "the badge to count the firing incidents")
    assert "bad" in badge.get_attribute("class")
    page.screenshot(path=str(ARTIFACTS / "alerts.png"))


def test_event_feed_lanes_and_filters(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    page.locator('[data-tab="events"]').click()
    rows = page.locator('[data-testid="event-feed"] .event')
    wait_until(lambda: rows.count() > 3, 60, "events")

    def read(attribute: str) -> list[str]:
        """One attribute of every row, read at one instant (rows come and go)."""
        return page.evaluate(
            "(a) => [...document.querySelectorAll('[data-testid=\"event-feed\"] .event')]"
            ".map((r) => r.getAttribute(a))",
            attribute,
        )

    def reasons() -> list[str]:
        return read("data-reason")

    # Alert transitions have their own lane; the changes lane has none of them.
    assert not [r for r in reasons() if r.startswith("Alert")]
    page.locator('[data-lane="alerts"]').click()
    wait_until(lambda: rows.count() > 0, 60, "alert transitions")
    assert all(r.startswith("Alert") for r in reasons())
    page.locator('[data-lane="changes"]').click()
    # Warnings and worse.
    page.locator('[data-filter="serious"]').click()
    classes = read("class")
    assert all(re.search(r"sev-(warning|error|critical)", c) for c in classes), classes
    page.locator('[data-filter="serious"]').click()
    # Only what concerns the selection (and what it owns).
    entity = read("data-entity")[0]
    page.evaluate(
        "(id) => history.replaceState(null, '', '?sel=' + encodeURIComponent(id))", entity
    )
    page.reload()
    page.locator('[data-tab="events"]').click()
    wait_until(lambda: rows.count() > 0, 30, "events again")
    page.locator('[data-filter="selected"]').click()
    entities = set(read("data-entity"))
    assert entity in entities
    owned = {entity}
    pairs = owns(page)
    while grown := {b for a, b in pairs if a in owned} - owned:
        owned |= grown
    assert entities <= set(owned), entities - set(owned)
    # A highlight means a new problem: never on an informational row.
    assert not [c for c in read("class") if "fresh" in c and "sev-info" in c]


def test_outage_banner_and_events_after_restart(browser: Any, tmp_path: Path) -> None:
    port = free_port()
    first = {"entities": 400, "edges": 800, "churn_per_second": 10, "seed": 1}
    # Its own page: an outage makes the console report failed requests, as it should.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    with gestalt_server(tmp_path / "a", {"synthetic": first}, port=port) as url:
        page.goto(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 30, "the stream")
        page.locator('[data-tab="events"]').click()
        rows = page.locator('[data-testid="event-feed"] .event')
        wait_until(lambda: rows.count() >= 3, 60, "events from the first server")
        before = feed_entities(page)
        first_world = set(page.evaluate("__gestalt.ids()"))
        # The user looks closely at one corner of it.
        box = page.get_by_test_id("map").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
        for _ in range(12):
            page.mouse.wheel(0, -400)
        wait_until(lambda: visible_share(page) < 0.5, 15, "the zoom to leave most out", 0.25)
    # The server is gone: a banner, since when the data is old, the map greyed.
    banner = page.get_by_test_id("outage")
    banner.wait_for(timeout=30_000)
    assert re.search(r"Disconnected.*data as of \d\d:\d\d:\d\d", banner.inner_text())
    assert page.locator(".app.disconnected").count() == 1
    pill = page.get_by_test_id("connection")
    assert "all sources ok" not in pill.get_attribute("title")
    assert "server" in pill.get_attribute("title")
    page.screenshot(path=str(ARTIFACTS / "outage.png"))
    # Another server (another world) comes up on the same address: the page resyncs, and
    # events of entities that no longer exist go.
    # (Another cluster name: none of the first world's ids exists in it, whichever
    # entities the first world's events happened to be about.)
    # It churns, and the page's resume reaches it only once its version has passed the
    # page's: the resume must still be answered with a snapshot (it names the first
    # server's change log), not with the second world's deltas on top of the first.
    second = {"entities": 20, "edges": 30, "churn_per_second": 30, "seed": 2,
              "cluster": "other"}
    held = page.evaluate("__gestalt.version")
    snapshots = page.evaluate("__gestalt.stream.snapshots")
    page.route("**/api/infra/topology/stream*", lambda route: route.abort())
    with gestalt_server(tmp_path / "b", {"synthetic": second}, port=port) as url:
        wait_until(lambda: httpx.get(f"{url}/api/infra/topology").json()["version"] > held,
                   90, "the second world's version past the page's")
        page.unroute("**/api/infra/topology/stream*")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 60, "the resync")
        wait_until(lambda: page.evaluate("__gestalt.stream.snapshots") > snapshots, 30,
                   "the second world's snapshot")
        wait_until(lambda: banner.count() == 0, 10, "the banner to go")
        assert page.locator(".app.disconnected").count() == 0
        # The stream is live as soon as it connects; the new world's snapshot follows.
        gone = wait_until(lambda: before - set(page.evaluate("__gestalt.ids()")), 30,
                          "the second world on the map")
        assert not set(page.evaluate("__gestalt.ids()")) & first_world
        # Another world: the camera frames it, wherever it was looking in the first.
        wait_until(lambda: framed(page), 60, "the second world framed", 0.25)
        page.screenshot(path=str(ARTIFACTS / "another-world-framed.png"))

        def first_world_gone() -> bool:
            # (The second world's own churn may leave events of its replaced pods: those
            # are this world's history, marked gone, and may stay.)
            return not feed_entities(page) & gone

        wait_until(first_world_gone, 20, "events of gone entities to be dropped")
        context.close()  # before the server goes, so that no stream breaks under it


def test_filters_popover_and_unknown_values(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    menu = page.get_by_test_id("filters")
    page.get_by_test_id("filter-button").click()
    menu.wait_for()
    # It leaves the side panel's tabs uncovered.
    box = menu.bounding_box()
    for tab in page.locator("[data-tab]").all():
        t = tab.bounding_box()
        assert box["x"] + box["width"] <= t["x"] or box["y"] >= t["y"] + t["height"], (box, t)
    page.keyboard.press("Escape")
    wait_until(lambda: menu.count() == 0, 5, "Esc to close the filters")
    page.get_by_test_id("filter-button").click()
    menu.wait_for()
    page.mouse.click(500, 600)  # on the map
    wait_until(lambda: menu.count() == 0, 5, "a click outside to close the filters")
    # Clear all.
    page.get_by_test_id("filter-button").click()
    page.locator('[data-filter="health:critical"]').click()
    wait_until(lambda: "health=critical" in page.url, 5, "the filter in the URL")
    page.get_by_test_id("clear-filters").click()
    wait_until(lambda: "health=" not in page.url, 5, "Clear all")
    # A URL with a value nothing has: a word, and a chip to remove it.
    page.goto(f"{url}/?health=purple")
    note = page.get_by_test_id("empty-note")
    note.wait_for(timeout=30_000)
    chip = page.locator('[data-active="health:purple"]')
    assert "unknown" in chip.inner_text()
    page.screenshot(path=str(ARTIFACTS / "unknown-filter.png"))
    chip.click()
    wait_until(lambda: page.evaluate("__gestalt.viewNodes") > 300, 30, "the whole map back")
    assert "health=" not in page.url


def test_phone_search_shows_what_it_found(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 390, 844)
    for button in page.locator("[data-layout], [data-testid='filter-button']").all():
        assert button.bounding_box()["height"] >= 44
    page.get_by_test_id("search").click()
    page.keyboard.type("checkout")
    page.keyboard.press("Enter")
    chosen = wait_until(lambda: page.evaluate("__gestalt.selected"), 10, "a selection")
    sheet = page.get_by_test_id("side")

    def above_the_sheet() -> bool:
        point = page.evaluate(f"__gestalt.screen({chosen!r})")
        top = sheet.bounding_box()["y"]
        camera = page.evaluate("__gestalt.camera()")
        return bool(point) and not camera["moving"] and 0 < point["y"] < top - 10

    wait_until(above_the_sheet, 20, "the selection above the open sheet", 0.25)
    page.screenshot(path=str(ARTIFACTS / "phone-search.png"))


def test_legend_explains_kinds_and_hover_names(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    legend = page.get_by_test_id("legend")
    if legend.locator(".legend-body").count() == 0:
        legend.locator(".legend-toggle").click()
    icons = {}
    for kind in ("nats_subject", "secret", "nats_consumer", "pod", "deployment"):
        item = legend.locator(f'[data-kind="{kind}"]')
        icons[kind] = item.locator("svg").inner_html()
    # Three kinds that shared one grey triangle now differ, and icons carry kind colours.
    assert len({icons[k] for k in ("nats_subject", "secret", "nats_consumer")}) == 3
    fills = {k: re.search(r'fill="(rgb[^"]+)"', v).group(1) for k, v in icons.items()}
    assert len(set(fills.values())) == len(fills), fills
    # Hover: the name, kind and health, and a pointer cursor.
    target = page.evaluate(
        """() => __gestalt.ids().find((id) => { const e = __gestalt.entity(id);
          const p = __gestalt.screen(id); return e.kind === 'deployment' && p
          && document.elementFromPoint(p.x, p.y)?.tagName === 'CANVAS'; })"""
    )
    entity = page.evaluate(f"__gestalt.entity({target!r})")

    def hovered() -> bool:
        # The demo's layout keeps moving: another deployment may drift under the pointer
        # between reading the target's place and moving there. Move again until it is this
        # one that the label names.
        point = page.evaluate(f"__gestalt.screen({target!r})")
        page.mouse.move(point["x"], point["y"])
        label = page.locator('.label[data-kind="hovered"]')
        return label.count() > 0 and label.first.inner_text().startswith(
            f"{entity['name']} · Deployment")

    wait_until(hovered, 20, f"a hover label naming {entity['name']}", 0.5)
    cursor = page.evaluate("getComputedStyle(document.querySelector('.map canvas')).cursor")
    assert cursor == "pointer"


def test_folded_groups_say_what_they_hold(open_page: Any, tmp_path: Path) -> None:
    synthetic = {"entities": 300, "edges": 600, "churn_per_second": 0}
    with gestalt_server(tmp_path, {"synthetic": synthetic}, {"max_entities": 120}) as url:
        page = open_page(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.folded") > 0, 60, "folded groups")
        note = page.get_by_test_id("fold-note").inner_text()
        folded = page.evaluate("__gestalt.folded")
        total = page.evaluate("__gestalt.entities")
        assert f"of {total} shown" in note and f"{folded} groups folded" in note, note
        group = next(i for i in page.evaluate("__gestalt.viewIds()") if i.startswith("agg:"))
        page.goto(f"{url}/?sel={group}")
        details = page.get_by_test_id("details")
        title = details.locator("h3").inner_text()
        assert "agg:" not in title and re.match(r"\d+ \S+s? (of|in) ", title), title
        # Its label once, not twice.
        wait_until(lambda: page.evaluate("__gestalt.viewNodes") > 0, 30, "the map")
        wait_until(lambda: page.locator(f'.label[data-id="{group}"]').count() == 1, 20, "one label")
        page.get_by_test_id("expand").click()
        page.get_by_test_id("fold").wait_for()
        assert page.get_by_test_id("expand").count() == 0
        wait_until(lambda: group not in page.evaluate("__gestalt.viewIds()"), 20, "expanded")
        # Selected for a while: no metrics requests for a group (a 404 is a console error,
        # which the fixture reports).
        frames = page.evaluate("__gestalt.frames")
        wait_until(lambda: page.evaluate("__gestalt.frames") > frames + 5, 20, "a few frames")
        page.context.close()


def test_no_three_clock_warning(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    warnings: list[str] = []
    page = open_page("about:blank")
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(f"{url}/")
    wait_until(lambda: page.evaluate("__gestalt.frames") > 10, 60, "frames")
    assert not [w for w in warnings if "THREE." in w], warnings
