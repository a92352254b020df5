"""A real container on the map: `docker run` -> it appears, in the scene and the event feed;
crashed, its colour changes; clicked, its details; searched, found; traced, its network and
volume light up."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ARTIFACTS, gestalt_server, wait_until
from tests.support.services import TEST_IMAGE


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


@pytest.fixture
def names(docker_engine: str) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {
        "container": f"gestalt-e2e-{tag}",
        "network": f"gestalt-e2e-net-{tag}",
        "volume": f"gestalt-e2e-vol-{tag}",
    }
    yield made
    subprocess.run(["docker", "rm", "-f", made["container"]], capture_output=True, timeout=60)
    subprocess.run(["docker", "network", "rm", made["network"]], capture_output=True, timeout=60)
    subprocess.run(["docker", "volume", "rm", made["volume"]], capture_output=True, timeout=60)


def find(page: Any, kind: str, name: str) -> str | None:
    return page.evaluate(
        "([kind, name]) => __gestalt.ids().find((id) => { const e = __gestalt.entity(id);"
        " return e.kind === kind && e.name === name; }) ?? null",
        [kind, name],
    )


def test_container_lifecycle_on_the_map(
    names: dict[str, str], open_page: Any, tmp_path: Path
) -> None:
    with gestalt_server(tmp_path, {"docker": {"poll_interval": 1.0}}) as url:
        page = open_page(f"{url}/")
        wait_until(lambda: page.evaluate("__gestalt.status") == "live", 20, "the stream")
        docker("network", "create", names["network"])
        docker("volume", "create", names["volume"])
        cid = docker(
            "run",
            "-d",
            "--name",
            names["container"],
            "--network",
            names["network"],
            "-v",
            f"{names['volume']}:/data",
            TEST_IMAGE,
            "sh",
            "-c",
            # Runs until told to crash (a stop on request is intent, not a fault).
            "until [ -f /tmp/crash ]; do sleep 0.1; done; exit 3",
        )
        entity_id = f"container:{cid[:12]}"

        # It appears in the scene and in the event feed.
        wait_until(
            lambda: page.evaluate(f"__gestalt.screen({entity_id!r})"),
            30,
            "the container on the map",
        )
        page.locator('[data-tab="events"]').click()
        page.locator(f'[data-testid="event-feed"] [data-entity="{entity_id}"]').first.wait_for(
            timeout=30_000
        )

        # Search finds it; choosing it selects it and shows its details.
        page.get_by_test_id("search").fill(names["container"])
        page.locator(f'[data-testid="search-results"] [data-id="{entity_id}"]').click()
        details = page.get_by_test_id("details")
        details.wait_for()
        assert details.get_attribute("data-entity") == entity_id
        assert names["container"] in details.inner_text()

        # Path tracing lights its network and its volume.
        network = wait_until(lambda: find(page, "network", names["network"]), 20, "the network")
        volume = wait_until(lambda: find(page, "volume", names["volume"]), 20, "the volume")
        wait_until(
            lambda: (
                {entity_id, network, volume} <= set(page.evaluate("__gestalt.highlighted()") or [])
            ),
            10,
            "network and volume on the traced path",
        )
        page.get_by_test_id("search").fill("")
        page.screenshot(path=str(ARTIFACTS / "docker.png"))

        # A click on the map selects it too.
        page.get_by_test_id("search").blur()
        page.keyboard.press("Escape")
        wait_until(lambda: page.evaluate("__gestalt.selected") is None, 5, "deselect")

        def click_it() -> bool:
            point = page.evaluate(f"__gestalt.screen({entity_id!r})")
            page.mouse.click(point["x"], point["y"])
            return page.evaluate("__gestalt.selected") == entity_id

        wait_until(click_it, 20, "a click on the container", 0.5)

        # It crashes: its colour changes.
        before = page.evaluate(f"__gestalt.colour({entity_id!r})")
        docker("exec", names["container"], "sh", "-c", "touch /tmp/crash")
        wait_until(
            lambda: page.evaluate(f"__gestalt.entity({entity_id!r}).status") != "running",
            30,
            "the crash to reach the page",
        )
        wait_until(
            lambda: page.evaluate(f"__gestalt.colour({entity_id!r})") != before, 10, "a new colour"
        )
        page.context.close()  # before the server stops
