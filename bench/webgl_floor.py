"""The floor of software WebGL on this machine: what a bare page reaches, to read the live
map's figures against (bench/browser_scale.py).

A page with no application at all (bench/webgl_floor.html) draws n points of 3 px, or n
lines of 40 px, every frame, with one draw call and a one-line shader, in headless Chromium
on SwiftShader with software compositing (as the live map's benchmarks run). It reports the
frames shown per second and how long a task of the page waits to run (a 0 ms timer's delay,
p50 and p95: what a delta or a click waits for), for three ways of drawing:

- `page`: on the page's canvas (as the live map draws): the compositor reads each frame back
  on the page's main thread, which waits there for the drawing;
- `worker`: on an OffscreenCanvas in a worker: the wait moves to the worker;
- `bitmap`: on an OffscreenCanvas of the page's thread; a fence says when a frame is done,
  and only then is it shown, as an ImageBitmap.

The live map at 10,000 entities draws about 10,000 glyphs (points) and up to 6,000 edges
(lines) a frame, at 1,000 entities 1,000 glyphs and 2,000 edges: each row is what one part
costs alone, with no application around it.

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
CASES = (("points", 0), ("points", 1000), ("points", 10000), ("points", 30000), ("lines", 2000),
         ("lines", 6000))


def measure(browser: Any, mode: str, kind: str, n: int, seconds: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{PAGE.as_uri()}?mode={mode}&kind={kind}&n={n}")
    page.wait_for_function("window.shown > 10", timeout=30_000)
    shown0 = page.evaluate("window.shown")
    t0 = time.monotonic()
    time.sleep(seconds)  # a measurement window, not synchronisation
    fps = (page.evaluate("window.shown") - shown0) / (time.monotonic() - t0)
    delays = page.evaluate("timerDelays()")
    page.close()
    if errors:
        raise SystemExit(f"{mode} {kind} {n}: {errors[0]}")
    return {"mode": mode, "kind": kind, "n": n, "fps": round(fps, 1),
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
            for kind, n in CASES:
                for mode in MODES:
                    rows.append(measure(browser, mode, kind, n, args.seconds))
                    row = rows[-1]
                    print(f"{kind:6} {n:6} {mode:6}: {row['fps']:5.1f} fps, a task waits "
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
