"""Draw calls do not grow with the number of entities (instancing, one buffer per style,
far entities as glyphs in one Points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until

# The same kinds at both sizes, through the URL's filter, so the same batches are in use.
KINDS = "pod,container,service,deployment,replicaset,namespace"


def click_a_glyph(page: Any) -> None:
    """At 10,000 entities a pod is a glyph, not a mesh: clicking it still selects and traces."""
    # A pod in the middle of the map, clear of the panels over its edges.
    pod = page.evaluate(
        "__gestalt.ids().find((id) => { const p = __gestalt.screen(id);"
        " return __gestalt.entity(id).kind === 'pod' && p"
        " && p.x > 350 && p.x < 750 && p.y > 150 && p.y < 550; })"
    )
    assert pod, "no pod in the middle of the map"
    # The layout still moves at this point: what lies under the cursor is read just before
    # and just after the click, and the pick must be among it.
    near = """(p) => __gestalt.ids().filter((id) => {
      const q = __gestalt.screen(id);
      return q && Math.hypot(q.x - p.x, q.y - p.y) < 25;
    })"""
    picked: list[tuple[str, set[str]]] = []

    def click() -> bool:
        # The pod may have moved off the cursor between reading its place and the click:
        # then nothing is picked, and the click is tried again.
        point = page.evaluate(f"__gestalt.screen({pod!r})")
        under = set(page.evaluate(near, point))
        page.mouse.click(point["x"], point["y"])
        under |= set(page.evaluate(near, point))
        selected = page.evaluate("__gestalt.selected")
        if selected:
            picked.append((selected, under))
        return bool(selected)

    wait_until(click, 20, "a click to select an entity", 0.5)
    selected, under = picked[-1]
    # Entities crowd at this scale: the pick may be a neighbour, but one under the cursor.
    assert selected in under, (selected, under)
    wait_until(lambda: selected in (page.evaluate("__gestalt.highlighted()") or []), 10, "a path")
    page.screenshot(path=str(ARTIFACTS / "scale.png"))


def draw_calls(open_page: Any, workdir: Path, entities: int) -> dict[str, int]:
    synthetic = {"entities": entities, "edges": entities * 2, "churn_per_second": 0}
    with gestalt_server(workdir, {"synthetic": synthetic}, {"max_entities": 20000}) as url:
        page = open_page(f"{url}/?kind={KINDS}")
        wait_until(lambda: page.evaluate("__gestalt.viewNodes") > 0, 60, "the map")
        frames = page.evaluate("__gestalt.frames")
        wait_until(lambda: page.evaluate("__gestalt.frames") > frames + 2, 60, "frames")
        if entities >= 10000:
            # The camera frames the map as the layout spreads it out; framed, it is on screen.
            wait_until(
                lambda: page.evaluate(
                    "__gestalt.glyphs + __gestalt.meshes > __gestalt.viewNodes / 2"
                ),
                60,
                "the map framed",
                0.25,
            )
        result = page.evaluate(
            "({calls: __gestalt.drawCalls, nodes: __gestalt.viewNodes,"
            " meshes: __gestalt.meshes, glyphs: __gestalt.glyphs})"
        )
        if entities >= 10000:
            click_a_glyph(page)
        page.context.close()  # before the server goes, so that no stream breaks under it
        return result


def test_draw_calls_do_not_grow_from_100_to_10000(open_page: Any, tmp_path: Path) -> None:
    small = draw_calls(open_page, tmp_path / "small", 100)
    large = draw_calls(open_page, tmp_path / "large", 10000)
    assert large["nodes"] > 50 * small["nodes"]
    # Level of detail adds at most two batches (glyphs, ring circles), whatever the count.
    assert 0 < large["calls"] <= small["calls"] + 2, (small, large)
    # The small map fits the triangle budget: all meshes. The large one, framed whole, is
    # mostly glyphs (what lies off screen is not drawn; rings may be circles of lines).
    assert small["meshes"] == small["nodes"] and small["glyphs"] == 0, small
    assert large["glyphs"] > 20 * large["meshes"], large
    assert large["glyphs"] + large["meshes"] <= large["nodes"], large
