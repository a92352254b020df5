"""The map read as an on-call engineer reads it, in `gestalt demo` (about 500 entities):
problems in the legend's colours with a label, the whole map framed whatever happened to
the camera, groups and layers titled. Each test saves its screenshots in the artifacts."""

from __future__ import annotations

from typing import Any

from tests.e2e.demo import crash_pods, framed, legend_colour, open_map, visible_share
from tests.e2e.harness import ARTIFACTS, wait_until
from tests.e2e.pixels import count_near, decode_png


def test_critical_entities_in_the_legend_colour_with_a_label(
    demo: tuple[str, str], open_page: Any
) -> None:
    url, kubeconfig = demo
    crashed = crash_pods(kubeconfig, 3)
    page = open_map(open_page, url, 1440, 900)

    def critical_crashed() -> list[str]:
        # The demo's cluster lives: a rollout may replace a crashed pod, so not all of them
        # need to be there, but most.
        health = page.evaluate(
            "(ids) => ids.map((id) => __gestalt.entity(id)?.health_status ?? null)", crashed
        )
        return [pod for pod, status in zip(crashed, health, strict=True) if status == "critical"]

    wait_until(lambda: len(critical_crashed()) >= 2, 60, "the crashed pods to be critical")
    red = legend_colour(page, "critical")
    page.get_by_test_id("legend").locator(".legend-toggle").click()  # collapse: more map
    wait_until(lambda: framed(page), 60, "the map to be framed again", 0.25)
    page.screenshot(path=str(ARTIFACTS / "critical-1440.png"))
    def examine() -> list[str]:
        """Every critical entity on screen and still: its halo in the legend's red, a label
        naming it. Returns the ones examined (a moving one is left for the next round)."""
        criticals = page.evaluate(
            "__gestalt.ids().filter((id) => __gestalt.entity(id).health_status === 'critical')"
        )
        checked = []
        for entity in criticals:
            before = page.evaluate(f"__gestalt.screen({entity!r})")
            if before is None:
                continue
            clip = {"x": before["x"] - 22, "y": before["y"] - 22, "width": 44, "height": 44}
            png = page.screenshot(clip=clip)
            after = page.evaluate(f"__gestalt.screen({entity!r})")
            if after is None or abs(after["x"] - before["x"]) > 3 \
                    or abs(after["y"] - before["y"]) > 3:
                continue  # moved under the camera (the demo lives): not this one
            _, _, pixels = decode_png(png)
            # The halo ring around it is drawn in exactly the legend's red.
            if count_near(pixels, red, 6) < 12:
                continue  # caught mid-frame (its halo pulses): look again next round
            # And some label on the map names it.
            # (Labels are placed a dozen times a second: one that just turned critical
            # gets its label within a few frames.)
            label = page.locator(f'.label[data-ids~="{entity}"]')
            try:
                wait_until(lambda label=label: label.count() >= 1 and label.first.is_visible(),
                           10, f"a label naming {entity}")
            except AssertionError:
                # Seen about one run in ten: the pointer, left over the map by the legend's
                # toggle, hovered a critical pod, and its hover label named only it, not
                # the container beside it (fixed; web/tests/criticalLabels.test.ts). Left
                # for the next round and reported, should anything else hide one.
                print("no label yet:", entity)
                continue
            checked.append(entity)
        return checked

    # The injected pods among them (at least two still and on screen at once; the demo's
    # layout keeps moving a little, so look again until they are).
    wait_until(lambda: len(set(critical_crashed()) & set(examine())) >= 2, 90,
               "two injected critical pods examined", 1.0)


def test_fit_all_after_fly_to_layout_change_and_zoom(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1440, 900)
    # Search a subject and fly to it: the camera comes close.
    page.keyboard.press("/")
    page.keyboard.type("orders.created")
    page.keyboard.press("Enter")
    wait_until(lambda: page.evaluate("__gestalt.selected"), 10, "a selection")
    wait_until(lambda: page.evaluate("__gestalt.camera()")["mode"] == "free", 15, "the flight")
    # A layout change re-frames the map while the layout moves it.
    page.locator('[data-layout="namespace"]').click()
    wait_until(lambda: framed(page), 120, "all by namespace", 0.5)
    page.screenshot(path=str(ARTIFACTS / "fit-namespace.png"))
    # Esc lets go of the selection and frames everything; another layout, the same.
    page.keyboard.press("Escape")
    assert page.evaluate("__gestalt.selected") is None
    page.locator('[data-layout="kind"]').click()
    wait_until(lambda: framed(page), 120, "all by kind", 0.5)
    page.screenshot(path=str(ARTIFACTS / "fit-kind.png"))
    # The user zooms far in (the camera is theirs); Home brings the whole map back.
    box = page.get_by_test_id("map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(12):
        page.mouse.wheel(0, -400)
    wait_until(lambda: visible_share(page) < 0.5, 15, "the zoom to leave most of the map out", 0.25)
    assert page.evaluate("__gestalt.camera()")["mode"] == "free"
    page.keyboard.press("Home")
    wait_until(lambda: framed(page), 30, "Home to frame", 0.25)
    # And the button does the same.
    for _ in range(12):
        page.mouse.wheel(0, -400)
    wait_until(lambda: visible_share(page) < 0.5, 15, "the zoom again", 0.25)
    page.get_by_test_id("fit-all").click()
    wait_until(lambda: framed(page), 30, "Fit all", 0.25)


def label_boxes(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.label')]
          .filter((el) => el.style.display !== 'none')
          .map((el) => { const r = el.getBoundingClientRect();
            return {text: el.textContent, kind: el.dataset.kind,
                    l: r.left, t: r.top, r: r.right, b: r.bottom}; })"""
    )


def assert_apart(boxes: list[dict[str, Any]]) -> None:
    for i, p in enumerate(boxes):
        for q in boxes[i + 1 :]:
            apart = p["r"] <= q["l"] or q["r"] <= p["l"] or p["b"] <= q["t"] or q["b"] <= p["t"]
            assert apart, (p, q)


def test_groups_and_layers_titled_without_overlap(demo: tuple[str, str], open_page: Any) -> None:
    url, _ = demo
    page = open_map(open_page, url, 1920, 1080)
    namespaces = {
        e["namespace"]
        for e in page.evaluate("__gestalt.ids().map((id) => __gestalt.entity(id))")
        if e.get("namespace") and e["kind"] == "pod"
    }
    assert len(namespaces) >= 3

    def titled(wanted: set[str]) -> bool:
        """Whether every wanted title is on the map (failing, the missing ones are logged)."""
        got = {b["text"].split(" · ")[0] for b in label_boxes(page) if b["kind"] == "group"}
        missing = wanted - got
        if missing:
            print("missing titles:", sorted(missing), "got:", sorted(got))
        return not missing

    # Force: each namespace ring carries its name (and cluster).
    wait_until(lambda: titled(namespaces), 20, "ring titles", 0.5)
    assert_apart(label_boxes(page))
    page.screenshot(path=str(ARTIFACTS / "titles-force.png"))

    # By namespace: every cluster of entities says what it is, hosts and NATS included.
    page.locator('[data-layout="namespace"]').click()
    wait_until(lambda: framed(page), 120, "the namespace layout", 0.5)
    wait_until(
        lambda: titled(namespaces | {"This host", "NATS"}), 20, "namespace and system titles", 0.5
    )
    assert_apart(label_boxes(page))
    page.screenshot(path=str(ARTIFACTS / "titles-namespace.png"))

    # By kind: each layer is titled with its kind and count; nothing hangs off an edge.
    page.locator('[data-layout="kind"]').click()
    wait_until(lambda: framed(page), 120, "the kind layout", 0.5)
    wanted = {"Pods", "Containers", "Deployments", "ReplicaSets", "Services", "Volumes"}
    wait_until(lambda: titled(wanted), 20, "layer titles", 0.5)
    assert_apart(label_boxes(page))
    page.screenshot(path=str(ARTIFACTS / "titles-kind.png"))
