"""Where a frame's time goes on the live map, in headless Chromium with SwiftShader.

Starts `gestalt serve` with the synthetic source (as bench/browser_scale.py does), waits for
the first full render, then records for a few seconds (1) a Chromium performance trace and
(2) a sampling JS profile, and prints: per thread, busy time by top-level event (the page's
main thread, the GPU thread where SwiftShader rasterises, the compositor); and the JS time
per frame by function (self and inclusive), for the functions the scene runs each frame.
`--load` records the page's load instead, from navigation to the first full render, and
gives the JS time in ms over all of it.
Profile an unminified build to read the names (`npx vite build --minify false`).

    .venv/bin/python bench/browser_profile.py [--entities 10000] [--seconds 6] [--orbit]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser_scale import orbit  # noqa: E402
from benchlib import command_line  # noqa: E402
from tests.e2e.harness import ensure_web_built, gestalt_server, launch_chromium, wait_until  # noqa: E402

CATEGORIES = [
    "devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink",
    "gpu", "viz", "cc", "toplevel", "disabled-by-default-devtools.timeline.frame",
]
# The functions worth following inclusive time for (names of the unminified build).
FOLLOW = [
    "update", "readPositions", "partition", "writeGlyphs", "writeMeshes", "writeEdges", "write",
    "render", "renderBufferDirect", "uploadBuffer", "updateBuffer", "bufferSubData", "setView",
    "buildView", "placeLabels", "wishLabels", "refreshStyle", "sync", "applyDelta", "frame",
    # the load
    "applySnapshot", "build", "diff", "fitAll", "compileShaders", "compile",
]


def threads_of(events: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    names = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    return names


def trace_summary(events: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Busy ms per second by thread, and by top-level event name within each thread."""
    names = threads_of(events)
    by_thread: dict[str, Counter[str]] = defaultdict(Counter)
    # Complete events ("X") nested within one another: count only the outermost per thread.
    spans: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            spans[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
    children: dict[str, Counter[str]] = defaultdict(Counter)
    for key, items in spans.items():
        items.sort(key=lambda s: (s[0], -s[1]))
        end = -1.0
        thread = names.get(key, str(key))
        for start, stop, name in items:
            if start >= end:
                by_thread[thread][name] += (stop - start) / 1000
                end = stop
            else:
                children[thread][name] += (stop - start) / 1000
    out = {}
    for thread, counter in by_thread.items():
        total = sum(counter.values())
        if total < 20:
            continue
        out[thread] = {
            "busy_ms_per_s": round(total / seconds, 1),
            "top": {k: round(v / seconds, 1) for k, v in counter.most_common(8)},
            "nested": {k: round(v / seconds, 1) for k, v in children[thread].most_common(12)},
        }
    return out


def profile_summary(profile: dict[str, Any], frames: int) -> dict[str, Any]:
    """Self and inclusive ms per frame by function name."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {}
    for n in profile["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]
    deltas = profile["timeDeltas"]
    self_ms: Counter[str] = Counter()
    incl_ms: Counter[str] = Counter()
    for sample, dt in zip(profile["samples"], deltas[1:] + [0], strict=True):
        ms = dt / 1000
        frame = nodes[sample]["callFrame"]
        name = frame["functionName"] or f"({frame['url'].rsplit('/', 1)[-1]})"
        self_ms[name] += ms
        seen = set()
        node = sample
        while node in nodes:
            fn = nodes[node]["callFrame"]["functionName"]
            if fn in FOLLOW and fn not in seen:
                incl_ms[fn] += ms
                seen.add(fn)
            node = parent.get(node, -1)
    per = max(frames, 1)
    return {
        "self_ms_per_frame": {k: round(v / per, 2) for k, v in self_ms.most_common(25)},
        "inclusive_ms_per_frame": {k: round(v / per, 2) for k, v in incl_ms.most_common()},
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=10000,
                        help="entities of the map (twice as many edges)")
    parser.add_argument("--churn", type=float, default=20.0, help="synthetic changes per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds recorded")
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds after the first full render")
    parser.add_argument("--orbit", action="store_true", help="drag the camera while recording")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="write the sampling JS profile (.cpuprofile, as DevTools reads) there")
    parser.add_argument("--load", action="store_true",
                        help="record the load (navigation to first full render) instead")
    parser.add_argument("--trace-out", type=Path, default=None,
                        help="write the trace's events (JSON) there")


def main() -> None:
    args = command_line(__doc__, options)
    from playwright.sync_api import sync_playwright

    ensure_web_built()
    with (
        tempfile.TemporaryDirectory() as tmp,
        gestalt_server(
            Path(tmp),
            {"synthetic": {"entities": args.entities, "edges": args.entities * 2,
                           "churn_per_second": args.churn}},
            {"max_entities": max(20000, args.entities * 2)},
            ready_timeout=30 + args.entities / 250,
        ) as url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def record() -> Any:
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 250})
            browser.start_tracing(page=page, categories=CATEGORIES)
            cdp.send("Profiler.start")
            return cdp

        def first_full_render() -> None:
            wait_until(lambda: page.evaluate("__gestalt.firstFullRender"), 600,
                       "first full render", 0.25)

        if args.load:
            cdp = record()
            t0 = time.monotonic()
            page.goto(f"{url}/", timeout=(30 + args.entities / 250) * 1000)
            first_full_render()
            elapsed = time.monotonic() - t0
            frames = 1  # JS time over the whole load, not per frame
        else:
            page.goto(f"{url}/", timeout=(30 + args.entities / 250) * 1000)
            first_full_render()
            time.sleep(args.settle)  # let the layout settle before measuring, not synchronisation
            cdp = record()
            frames0 = page.evaluate("__gestalt.frames")
            t0 = time.monotonic()
            if args.orbit:
                orbit(page, args.seconds)
            else:
                time.sleep(args.seconds)  # a measurement window
            elapsed = time.monotonic() - t0
            frames = page.evaluate("__gestalt.frames") - frames0
        profile = cdp.send("Profiler.stop")["profile"]
        trace = json.loads(browser.stop_tracing())
        stats = page.evaluate("({dc: __gestalt.drawCalls, tri: __gestalt.triangles,"
                              " meshes: __gestalt.meshes, glyphs: __gestalt.glyphs,"
                              " alpha: __gestalt.layoutAlpha})")
        cost = page.evaluate("__gestalt.drawCost ? __gestalt.drawCost(7) : {}")
        browser.close()
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    if args.trace_out:
        args.trace_out.write_text(json.dumps(events))
    if args.profile_out:
        args.profile_out.write_text(json.dumps(profile))
    result = {
        "entities": args.entities,
        "orbit": args.orbit,
        "load": args.load,
        "seconds": round(elapsed, 2),
        "frames": frames,
        "fps": round(frames / elapsed, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **stats,
        "draw_cost_ms": {k: round(v, 1) for k, v in cost.items()},
        "threads": trace_summary(events, elapsed),
        "js": profile_summary(profile, frames),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
