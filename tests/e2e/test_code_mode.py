"""Code Mode in the browser: a repository scanned by `gestalt serve` and a process run from
it; Live shows the process, Code the code, Both the two joined; selecting the module that
runs shows the process that runs it, and in Both the code sits above what runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until

SERVER = """import socket
import time

from shop import models


def main():
    with socket.create_server(("127.0.0.1", 0)):
        time.sleep(600)


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A repository, and a process run from it (`python -m shop.server`, listening)."""
    root = tmp_path / "shop"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text("PRICE = 3\n")
    (root / "shop" / "server.py").write_text(SERVER)
    proc = subprocess.Popen([sys.executable, "-m", "shop.server"], cwd=root)
    yield root, proc.pid
    proc.terminate()
    proc.wait(timeout=10)


def shown(page: Any) -> set[str]:
    return set(page.evaluate("__gestalt.viewIds()") or [])


def test_live_code_both_and_what_runs_a_module(shop: tuple[Path, int], open_page: Any,
                                                tmp_path: Path) -> None:
    root, pid = shop
    module = "module:shop/shop/server.py"
    collectors = {"host": {"poll_interval": 1.0},
                  "code": {"repositories": [{"name": "shop", "path": str(root)}]}}
    with gestalt_server(tmp_path / "serve", collectors) as url:
        page = open_page(f"{url}/")
        process = wait_until(lambda: page.evaluate(
            "(pid) => __gestalt.ids().find((id) => id.startsWith('process:') && "
            "__gestalt.entity(id).attrs?.pid === pid) ?? null", pid), 30, "the process")
        wait_until(lambda: any(e.startswith("runs_as:") for e in page.evaluate(
            "__gestalt.edgeIds()")), 30, "the runs-as edge")

        # Live (the default): what runs, no code.
        wait_until(lambda: process in shown(page), 20, "the process on the Live map")
        assert module not in shown(page)

        # Code: the code, nothing that runs.
        page.locator('[data-mode="code"]').click()
        wait_until(lambda: module in shown(page), 20, "the module on the Code map")
        assert process not in shown(page)
        assert "mode=code" in page.url

        # Both: the code above what runs it.
        page.locator('[data-mode="both"]').click()
        wait_until(lambda: {module, process} <= shown(page), 20, "code and process together")
        wait_until(lambda: page.evaluate("__gestalt.layoutAlpha") < 0.02, 30, "the layout")
        above = page.evaluate(f"__gestalt.world({module!r})")["position"][1]
        below = page.evaluate(f"__gestalt.world({process!r})")["position"][1]
        assert above > below

        # Select the module: what runs it, with its health and the evidence.
        page.get_by_test_id("search").fill("shop.server")
        page.locator(f'[data-testid="search-results"] [data-id="{module}"]').click()
        details = page.get_by_test_id("details")
        wait_until(lambda: details.get_attribute("data-entity") == module, 10, "its details")
        row = page.locator(f'[data-testid="runs-as"] [data-id="{process}"]')
        row.wait_for(timeout=20_000)
        assert "python -m shop.server" in row.inner_text()
        assert "healthy" in row.inner_text()
        page.locator('[data-testid="imports"] [data-id="module:shop/shop/models.py"]').wait_for()
        page.screenshot(path=str(ARTIFACTS / "code-mode.png"))
        page.context.close()  # before the server stops
