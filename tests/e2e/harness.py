"""A real `gestalt serve` and Debian's Chromium, for the browser tests and benchmarks.

Chromium is driven through Playwright's `executable_path` (no browser download works here);
WebGL runs on SwiftShader, the software path, since there is no GPU.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.daemons import free_port, start_until_ready, stop

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]
WEB_INDEX = ROOT / "src" / "gestalt" / "web" / "index.html"
ARTIFACTS = ROOT / "web" / "tests" / "artifacts"
ALL_COLLECTORS = ("host", "kubernetes", "docker", "nats", "otel", "postgres", "synthetic")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def ensure_web_built() -> None:
    """Build the UI when it is missing (make test builds it first; this is for direct runs)."""
    if not WEB_INDEX.is_file():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-web.sh")], check=True)


@contextmanager
def gestalt_server(
    workdir: Path,
    collectors: dict[str, dict[str, Any]],
    visualization: dict[str, Any] | None = None,
    port: int | None = None,
    settings: dict[str, Any] | None = None,
    ready_timeout: float = 30,
) -> Iterator[str]:
    """Run `gestalt serve` with only `collectors` enabled (on `port`, else a free one) and
    any other top-level `settings` (`actions`...); yields its base URL once it is ready
    (`ready_timeout` seconds at most)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port, "data_dir": str(workdir / "data")},
        "collectors": {name: {"enabled": False} for name in ALL_COLLECTORS},
        "visualization": visualization or {},
        **(settings or {}),
    }
    for name, section in collectors.items():
        config["collectors"][name] = {"enabled": True, **section}
    path = workdir / "gestalt.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    gestalt = Path(sys.executable).with_name("gestalt")
    proc = start_until_ready(
        "gestalt serve",
        [str(gestalt), "serve", "--config", str(path), "--port", str(port), "--log-level",
         "warning"],
        workdir / "gestalt.log", f"http://127.0.0.1:{port}/readyz", ready_timeout,
        env={**os.environ, "GESTALT_CONFIG": str(path)}, cwd=workdir)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, grace=10)


@contextmanager
def demo_server(workdir: Path, pods: int = 120) -> Iterator[tuple[str, str]]:
    """Run `gestalt demo` (kubesim, NATS demo traffic and this machine, about 500
    entities); yields its base URL and the simulated cluster's kubeconfig, for kubectl."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "demo.log"
    gestalt = Path(sys.executable).with_name("gestalt")
    url = f"http://127.0.0.1:{port}"
    proc = start_until_ready(
        "gestalt demo",
        [str(gestalt), "demo", "--no-open", "--port", str(port), "--pods", str(pods)],
        log_path, f"{url}/readyz", 90,
        # A wide console, so that the kubeconfig path is not wrapped.
        env={**{k: v for k, v in os.environ.items() if k != "GESTALT_CONFIG"}, "COLUMNS": "400"},
        cwd=workdir)
    try:
        found = re.search(r"kubeconfig (\S+?kubeconfig)", log_path.read_text())
        assert found, f"gestalt demo did not say its kubeconfig: {log_path.read_text()[-2000:]}"
        yield url, found.group(1)
    finally:
        stop(proc, grace=15)


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def drop_file(page: Any, name: str, text: str) -> None:
    """Drop a file on the page as a user dragging it from a file manager would."""
    transfer = page.evaluate_handle(
        "([name, text]) => { const dt = new DataTransfer(); "
        "dt.items.add(new File([text], name, { type: 'application/json' })); return dt; }",
        [name, text])
    page.dispatch_event("body", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("body", "drop", {"dataTransfer": transfer})
