"""Browser fixtures: Debian's Chromium through Playwright, and a built web UI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, demo_server, ensure_web_built, launch_chromium
from tests.support.services import require_service


# Package scope: Playwright's sync API runs an event loop on this thread while it is open,
# so it must be closed before any asyncio test runs (pyproject lists tests/e2e last).
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    require_service(
        "Chromium",
        os.access(CHROMIUM, os.X_OK),
        f"{CHROMIUM} missing (scripts/services.sh installs Debian's chromium)",
    )
    from playwright.sync_api import sync_playwright

    ensure_web_built()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class ConsoleErrors(list[str]):
    """Errors the page logged; every test ends by asserting there were none.

    But one: Chromium aborts a request in flight with `net::ERR_NETWORK_CHANGED` when the
    machine's interfaces change, and a Docker test's container start adds one (a veth).
    That is the browser's view of this machine, not the page's doing; the page retries
    what it lost, and each test asserts what the page shows after."""

    def add(self, text: str) -> None:
        if "net::ERR_NETWORK_CHANGED" not in text:
            self.append(text)


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[tuple[Any, ConsoleErrors]] = []

    def open_(url: str, width: int = 1280, height: int = 800) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors = ConsoleErrors()
        page.on("console", lambda m: errors.add(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        pages.append((page, errors))
        return page

    yield open_
    for page, _ in pages:
        page.context.close()
    for _, errors in pages:
        assert not errors, f"console errors: {errors[:5]}"


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One `gestalt demo` for the tests that read the map as a user would: its URL and the
    simulated cluster's kubeconfig."""
    with demo_server(tmp_path_factory.mktemp("demo")) as running:
        yield running
