"""The web UI served by the container image loads in Chromium through the published port,
with the token, and shows the map (the image's Docker source sees its own container)."""

from __future__ import annotations

import os
import secrets
from typing import Any

import httpx

from tests.e2e.harness import wait_until
from tests.support.image import container, docker, hardened


def test_the_image_serves_the_ui(gestalt_image: str, open_page: Any) -> None:
    token = secrets.token_urlsafe(16)
    with container(gestalt_image, *hardened(),
                   "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
                   "--group-add", str(os.stat("/var/run/docker.sock").st_gid),
                   "-p", "127.0.0.1::8765", "-e", f"GESTALT_TOKEN={token}",
                   "-e", "GESTALT_COLLECTORS__KUBERNETES__ENABLED=false",
                   "-e", "GESTALT_COLLECTORS__NATS__ENABLED=false",
                   "-e", "GESTALT_COLLECTORS__OTEL__ENABLED=false") as name:
        port = docker("port", name, "8765/tcp").splitlines()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 90, "/readyz through the published port")
        page = open_page(f"{base}/?token={token}")
        wait_until(lambda: page.evaluate("typeof __gestalt !== 'undefined' && __gestalt.status")
                   == "live", 30, "the live stream")
        own = f"container:{docker('inspect', '-f', '{{.Id}}', name)[:12]}"
        wait_until(lambda: page.evaluate(f"__gestalt.ids().includes({own!r})"), 60,
                   "the container's own entity in the UI")
        assert page.locator('[data-testid="map"]').is_visible()
        page.context.close()  # before the container goes: its streams would end mid-frame
