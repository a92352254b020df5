"""The Gestalt container image, built once per test session by scripts/build-image.sh
(local Debian bases where no registry is reachable, cached by their recipe; the image
itself by Docker's layer cache, so a run without changes takes seconds)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.services import _docker_ok, require_service

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("GESTALT_IMAGE", "gestalt:test")
LABEL = "gestalt-image-test"
# Cold, the two local bases take minutes (mostly downloading Debian packages); cached,
# the whole build takes seconds.
BUILD_TIMEOUT = 3600


@pytest.fixture(scope="session")
def gestalt_image() -> str:
    ok, why = _docker_ok()
    require_service("Docker engine", ok, why)
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "build-image.sh"), "--tag", IMAGE],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT)
    assert proc.returncode == 0, f"scripts/build-image.sh failed:\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip().splitlines()[-1] == IMAGE
    print(f"image {IMAGE} ready in {time.monotonic() - started:.0f}s")
    return IMAGE


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr.strip()}"
    return proc.stdout.strip()


def inspect(name: str) -> dict:
    return json.loads(docker("inspect", name))[0]


@contextmanager
def container(image: str, *args: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """A detached container of the image, removed afterwards (its logs printed when the
    test failed)."""
    name = f"gestalt-test-{secrets.token_hex(4)}"
    docker("run", "-d", "--name", name, "--label", LABEL, *args, image, *command)
    try:
        yield name
    finally:
        logs = subprocess.run(["docker", "logs", "--tail", "60", name], capture_output=True,
                              text=True, timeout=30)
        print(f"--- {name} logs ---\n{logs.stdout}{logs.stderr}")
        docker("rm", "-f", "-v", name, check=False)


def hardened() -> list[str]:
    """How docs/deploy.md runs the image: read-only root, a tmpfs for /tmp, no
    capabilities, no privilege escalation."""
    return ["--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges"]
