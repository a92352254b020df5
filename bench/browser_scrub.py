"""Browser benchmark: scrubbing the timeline at 1,000 entities in headless Chromium.

Starts `gestalt serve` with the synthetic source (1,000 entities, 2,000 edges, live churn),
lets history record for `--record` seconds so that there is a past to scrub, opens the map,
then drags the timeline's handle with the real mouse (press, moves, release) across the
retained range and back for `--seconds`. The moves go out 30 times a second without
waiting for the page (a hand does not; Chromium merges those that come within one frame):
each awaited in turn would be acked only once the page has drawn, and the driver rather
than the page would set the pace. Each drag position asks the server for the
topology at that moment (one request out at a time, the latest position wins; after the
first, as the change from the moment shown, `?at=&since=`); the page
stamps each snapshot it applies and the first frame that shows it (`__gestalt.snapshots`).

Reported: map updates per second while dragging (moments applied and rendered, target
>= 10/s), distinct moments shown, the latency from a drag position (its input event) to
the map showing that moment (applied, rendered: p50/p99) and where it goes (waiting for
the request before, the request, the merge), the longest time the map stood
still while the handle moved, and the server's own time for `?at=` at this size. WebGL
runs on SwiftShader (software) as in browser_scale.py: figures are a CPU floor, and the
machine's load (reported) moves them.

    .venv/bin/python bench/browser_scrub.py [--entities 1000] [--record 75] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from benchlib import command_line, percentile, write_result
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, ensure_web_built, gestalt_server

TARGET_PER_SECOND = 10
MOVES_PER_SECOND = 30


def pct(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 1) if values else None


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def page_now(page: Any) -> float:
    """The page's clock (epoch ms), the one its timings use."""
    return float(await page.evaluate("performance.timeOrigin + performance.now()"))


def server_moments(url: str, oldest: float, newest: float, n: int = 20) -> dict[str, Any]:
    """What one `?at=` costs the server here, asked one after another (no page open)."""
    took = []
    with httpx.Client(timeout=60) as client:
        for i in range(n):
            at = oldest + (newest - oldest) * (i + 0.5) / n
            started = time.monotonic()
            client.get(f"{url}/api/infra/topology", params={"at": f"{at:.3f}"}).raise_for_status()
            took.append((time.monotonic() - started) * 1000)
    return {"requests": n, "p50_ms": pct(took, 50), "p99_ms": pct(took, 99),
            "mean_ms": round(statistics.fmean(took), 1)}


async def drag(page: Any, seconds: float) -> tuple[float, float, int]:
    """Drag the timeline's handle from near the live end to near the oldest moment and
    back, with the real mouse. Returns the page's clock at press and release (ms), and
    the number of moves sent."""
    box = await page.locator('[data-testid="tl-scrub"]').bounding_box()
    assert box, "the timeline's scrubber is not on the page"
    y = box["y"] + box["height"] / 2
    left, right = box["x"] + 0.03 * box["width"], box["x"] + 0.97 * box["width"]
    await page.mouse.move(right, y)
    started = await page_now(page)
    await page.mouse.down()
    t0 = time.monotonic()
    sent = []
    while (elapsed := time.monotonic() - t0) < seconds:
        # A triangle: right to left in the first half, back in the second.
        phase = elapsed / seconds
        along = 1 - 2 * phase if phase < 0.5 else 2 * phase - 1
        sent.append(asyncio.ensure_future(page.mouse.move(left + along * (right - left), y)))
        # Pacing the hand, not synchronisation.
        await asyncio.sleep(max(0.0, t0 + len(sent) / MOVES_PER_SECOND - time.monotonic()))
    await asyncio.gather(*sent)
    await page.mouse.up()
    return started, await page_now(page), len(sent)


async def measure(
    browser: Any, entities: int, churn: float, record: float, seconds: float
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        gestalt_server(
            Path(tmp),
            {"synthetic": {"entities": entities, "edges": entities * 2, "churn_per_second": churn}},
            {"max_entities": max(20000, entities * 2)},
            ready_timeout=60,
        ) as url,
    ):
        recording_from = time.time()
        await asyncio.sleep(record)  # recording a past to scrub
        server = server_moments(url, recording_from + 1, time.time() - 1)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{url}/")
        await until(lambda: page.evaluate("__gestalt.firstFullRender"), 300, "first full render")
        await until(lambda: page.evaluate("__gestalt.status === 'live'"), 60, "the live stream")
        scrubber = page.locator('[data-testid="tl-scrub"]')

        async def oldest() -> float:
            return float(await scrubber.get_attribute("min") or "inf")

        async def retained_enough() -> bool:
            return await oldest() < time.time() - record / 2

        await until(retained_enough, 30, "the timeline's retained range")
        retained = time.time() - await oldest()
        await page.evaluate("""() => {
            window.__scrubInputs = 0;
            document.querySelector('[data-testid="tl-scrub"]')
              .addEventListener('input', () => { window.__scrubInputs += 1; });
        }""")
        load_before = os.getloadavg()
        frames0 = await page.evaluate("__gestalt.frames")
        started, ended, moves = await drag(page, seconds)
        frames = await page.evaluate("__gestalt.frames") - frames0
        frame_ms = (await page.evaluate("__gestalt.frameTimes"))[-frames:] if frames else []
        load_after = os.getloadavg()
        inputs = await page.evaluate("window.__scrubInputs")
        # Moments asked by this drag; those shown while the handle moved.
        snaps = [s for s in await page.evaluate("__gestalt.snapshots")
                 if s["asked_at"] is not None and started <= s["asked_at"] <= ended]
        shown = sorted((s for s in snaps if (s["rendered_at"] or ended + 1) <= ended),
                       key=lambda s: s["rendered_at"])
        applied = [s["applied_at"] - s["asked_at"] for s in snaps]
        # Where the time to apply goes (a page that records sent_at/received_at): waiting
        # for the request before it to come back, the request itself (server, network and
        # the page's main thread getting to the answer), the merge.
        fetched = [s for s in snaps if s.get("sent_at") is not None]
        waited = [s["sent_at"] - s["asked_at"] for s in fetched]
        fetching = [s["received_at"] - s["sent_at"] for s in fetched]
        merging = [s["applied_at"] - s["received_at"] for s in fetched]
        rendered = [s["rendered_at"] - s["asked_at"] for s in shown]
        still = [b - a for a, b in zip([started] + [s["rendered_at"] for s in shown],
                                       [s["rendered_at"] for s in shown] + [ended], strict=True)]
        drag_s = (ended - started) / 1000
        result = {
            "entities": await page.evaluate("__gestalt.entities"),
            "retained_s": round(retained, 1),
            "drag_s": round(drag_s, 2),
            # Moves within one frame come as one input event; the map can show no more
            # moments than it draws frames.
            "mouse_moves": moves,
            "input_events": inputs,
            "map_frames": frames,
            "map_frames_per_second": round(frames / drag_s, 2),
            "frame_ms_p50": pct(frame_ms, 50),
            "moments_applied": len(snaps),
            "moments_shown": len(shown),
            "distinct_moments_shown": len({round(s["at"] or 0, 3) for s in shown}),
            "updates_per_second": round(len(shown) / drag_s, 2),
            "position_to_applied_ms_p50": pct(applied, 50),
            "position_to_applied_ms_p99": pct(applied, 99),
            "position_to_sent_ms_p50": pct(waited, 50),
            "sent_to_received_ms_p50": pct(fetching, 50),
            "sent_to_received_ms_p99": pct(fetching, 99),
            "received_to_applied_ms_p50": pct(merging, 50),
            "position_to_rendered_ms_p50": pct(rendered, 50),
            "position_to_rendered_ms_p99": pct(rendered, 99),
            "longest_still_ms": round(max(still)),
            "server_topology_at": server,
            "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
            "page_errors": errors[:3],
        }
        await page.close()
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            return await measure(browser, args.entities, args.churn, args.record, args.seconds)
        finally:
            await browser.close()


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=1000, help="entities of the map")
    parser.add_argument("--churn", type=float, default=5.0, help="synthetic changes per second")
    parser.add_argument("--record", type=float, default=75.0, help="seconds of history first")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of dragging")


def main() -> None:
    args = command_line(__doc__, options)
    ensure_web_built()
    result = asyncio.run(run(args))
    write_result("browser_scrub", {
        "renderer": "Chromium headless, SwiftShader (software WebGL)",
        "viewport": "1280x800",
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        **result,
        "target_updates_per_second": TARGET_PER_SECOND,
        "meets_target": result["updates_per_second"] >= TARGET_PER_SECOND,
    })


if __name__ == "__main__":
    main()
