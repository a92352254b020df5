"""The floor of software WebGL on this machine: what a bare page reaches, to read the live
map's figures against (bench/browser_scale.py).

A page with no application at all (bench/webgl_floor.html) draws points of 3 px and lines
of 40 px every frame, a draw call for each and a one-line shader, in headless Chromium
on SwiftShader with software compositing (as the live map's benchmarks run). It reports the
frames shown per second and how long a task of the page waits to run (a 0 ms timer's delay,
p50 and p95: what a delta or a click waits for), for three ways of drawing:

- `page`: on the page's canvas (as the live map draws): the compositor reads each frame back
  on the page's main thread, which waits there for the drawing;
- `worker`: on an OffscreenCanvas in a worker: the wait moves to the worker;
- `bitmap`: on an OffscreenCanvas of the page's thread; a fence says when a frame is done,
  and only then is it shown, as an ImageBitmap.

The live map at 10,000 entities draws about 10,000 glyphs (points) and up to 6,000 edges
(lines) a frame, at 1,000 entities 1,000 glyphs and 2,000 edges (and rings, halos, particles
and meshes besides): the rows give those parts alone and together, with no application
around them, so the least a frame of the map's primitives costs here.

    .venv/bin/python bench/webgl_floor.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import command_line, percentile, write_result  # noqa: E402
from tests.e2e.harness import launch_chromium  # noqa: E402

PAGE = Path(__file__).resolve().parent / "webgl_floor.html"
MODES = ("page", "worker", "bitmap")
# (points, lines) a frame.
CASES = ((0, 0), (1000, 0), (10000, 0), (30000, 0), (0, 2000), (0, 6000), (1000, 2000),
         (10000, 6000))


def measure(browser: Any, mode: str, points: int, lines: int, seconds: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{PAGE.as_uri()}?mode={mode}&points={points}&lines={lines}")
    page.wait_for_function("window.shown > 10", timeout=30_000)
    shown0 = page.evaluate("window.shown")
    t0 = time.monotonic()
    time.sleep(seconds)  # a measurement window, not synchronisation
    fps = (page.evaluate("window.shown") - shown0) / (time.monotonic() - t0)
    delays = page.evaluate("timerDelays()")
    page.close()
    if errors:
        raise SystemExit(f"{mode}, {points} points, {lines} lines: {errors[0]}")
    return {"mode": mode, "points": points, "lines": lines, "fps": round(fps, 1),
            "task_wait_ms_p50": round(percentile(delays, 50), 1),
            "task_wait_ms_p95": round(percentile(delays, 95), 1)}


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of each window")


def main() -> None:
    args = command_line(__doc__, options)
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for points, lines in CASES:
                for mode in MODES:
                    rows.append(measure(browser, mode, points, lines, args.seconds))
                    row = rows[-1]
                    print(f"{points:6} points {lines:5} lines, {mode:6}: {row['fps']:5.1f} fps, "
                          f"a task waits "
                          f"{row['task_wait_ms_p50']} ms (p95 {row['task_wait_ms_p95']})",
                          file=sys.stderr, flush=True)
        finally:
            browser.close()
    write_result("webgl_floor", {
        "renderer": "Chromium headless, SwiftShader (software WebGL), software compositing",
        "viewport": "1280x800",
        "point_px": 3,
        "line_px": 40,
        "rows": rows,
    })


if __name__ == "__main__":
    main()
