"""The map exported as a PNG (Export… → png) reads on its own, in a real Chromium against a
real `gestalt serve` (synthetic source): the labels drawn where the page shows them, and a
caption strip along the bottom (site, moment, health counts). Before, the picture was the
WebGL canvas alone: shapes and rings, no names, no moment. The picture is saved in the
artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.e2e.pixels import count_near, export_png

SYNTHETIC = {"entities": 60, "edges": 90, "churn_per_second": 0}
BACKGROUND = (7, 11, 20)  # the map's clear colour, #070b14
# web/src/scene/mapPicture.ts: the strip is --panel (rgba(14, 20, 34, 0.92)) over the map,
# and each boxed label has a 1 px border (styles.css .label): colours the bare map has none
# of (a critical label's red border is a ring's red: its dark red fill is looked for).
STRIP = 26
STRIP_FILL = (13, 19, 33)
BORDERS = {"near": (36, 50, 77), "warning": (122, 90, 22), "hovered": (91, 156, 255),
           "selected": (232, 238, 252), "critical": (52, 10, 15)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gestalt_server(tmp_path_factory.mktemp("png-export"), {"synthetic": SYNTHETIC}) as url:
        yield url


def label_boxes(page: Any) -> list[dict[str, Any]]:
    """The labels shown over the map: kind, text and box, canvas px."""
    boxes: list[dict[str, Any]] = page.evaluate("""() => {
      const map = document.querySelector('[data-testid="map"] canvas').getBoundingClientRect();
      return [...document.querySelectorAll('[data-testid="labels"] .label')]
        .filter((el) => el.style.display !== 'none')
        .map((el) => { const r = el.getBoundingClientRect();
          return { kind: el.dataset.kind, text: el.textContent, left: r.left - map.left,
                   top: r.top - map.top, width: r.width, height: r.height }; });
    }""")
    return boxes


def settled(page: Any) -> bool:
    camera = page.evaluate("__gestalt.camera()")
    return bool(camera) and not camera["moving"] and page.evaluate("__gestalt.layoutAlpha") < 0.005


def test_the_exported_png_carries_the_labels_and_a_caption(
    server: str, open_page: Any, tmp_path: Path
) -> None:
    page = open_page(f"{server}/?layout=namespace", 1280, 800)
    wait_until(lambda: page.evaluate("window.__gestalt?.status") == "live", 20, "the stream")
    wait_until(lambda: page.evaluate("__gestalt.version") > 0, 20, "the first snapshot")
    wait_until(lambda: settled(page), 60, "the layout and the camera to settle", 0.25)
    wait_until(lambda: any(b["kind"] in BORDERS for b in label_boxes(page)), 10,
               "labels on the map")
    box = page.locator('[data-testid="map"] canvas').bounding_box()
    path = tmp_path / "map.png"

    def exported_as_shown() -> tuple[int, int, list[tuple[int, int, int]], list[Any]] | None:
        before = label_boxes(page)
        width, height, pixels = export_png(page, path)
        return (width, height, pixels, before) if label_boxes(page) == before else None

    width, height, pixels, labels = wait_until(exported_as_shown, 30, "a picture of a still map")
    (ARTIFACTS / "png-export.png").write_bytes(path.read_bytes())
    page.screenshot(path=str(ARTIFACTS / "png-export-page.png"))
    # The canvas's size, as before: the strip lies over the frame.
    assert (width, height) == (round(box["width"]), round(box["height"]))

    def region(left: float, top: float, w: float, h: float) -> list[tuple[int, int, int]]:
        x0, y0 = max(0, round(left)), max(0, round(top))
        x1, y1 = min(width, round(left + w)), min(height, round(top + h))
        return [pixels[y * width + x] for y in range(y0, y1) for x in range(x0, x1)]

    # The caption strip: filled across the bottom (the bare canvas is the background there,
    # or shapes), with light words at its left (the site, the moment, the counts).
    strip = region(0, height - STRIP + 2, width, STRIP - 4)
    filled = count_near(strip, STRIP_FILL, 3)
    assert filled > 0.6 * len(strip), f"no caption strip ({filled} of {len(strip)} pixels)"
    words = region(0, height - STRIP, 400, STRIP)
    light = sum(min(p) > 150 for p in words)
    assert light > 60, f"no words in the caption strip ({light} light pixels)"

    # Each boxed label at its place on the page, its border in its kind's colour (a group
    # title has no box, and its colour is the shapes' own: it proves nothing here). The
    # strip may cover a label near the bottom: those are left out.
    boxed = [b for b in labels
             if b["kind"] in BORDERS and b["top"] + b["height"] < height - STRIP]
    assert boxed, f"no boxed label on the map to look for: {labels}"
    for label in boxed:
        edge = count_near(region(label["left"], label["top"], label["width"], label["height"]),
                          BORDERS[label["kind"]], 6)
        assert edge >= label["width"], (
            f"the label {label['text']!r} ({label['kind']}) is not in the picture "
            f"({edge} border pixels)")
