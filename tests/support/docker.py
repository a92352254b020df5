"""Docker objects for tests: unique names, a label, and removal in teardown."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator, Sequence

import pytest

from tests.support.services import TEST_IMAGE

LABEL = "gestalt.test=1"
# Exits at once on SIGTERM, so stopping it (or the engine) takes no stop timeout.
SERVE = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


def docker_sync(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


async def docker(*args: str, check: bool = True) -> str:
    """The docker CLI, in a thread: the source under test keeps running meanwhile."""
    return await asyncio.to_thread(docker_sync, *args, check=check)


class Objects:
    """Names for this test's containers, networks and volumes; all removed in teardown."""

    def __init__(self) -> None:
        self.prefix = f"gst-{uuid.uuid4().hex[:8]}"
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.volumes: list[str] = []

    async def network(self) -> str:
        name = f"{self.prefix}-net{len(self.networks)}"
        await docker("network", "create", "--label", LABEL, name)
        self.networks.append(name)
        return name

    async def volume(self) -> str:
        name = f"{self.prefix}-vol{len(self.volumes)}"
        await docker("volume", "create", "--label", LABEL, name)
        self.volumes.append(name)
        return name

    async def run(self, *options: str, start: bool = True,
                  command: Sequence[str] = SERVE) -> tuple[str, str]:
        """(name, full id) of a new container (running `command`, SERVE by default)."""
        name = f"{self.prefix}-c{len(self.containers)}"
        self.containers.append(name)
        verb = ["run", "-d"] if start else ["create"]
        full_id = await docker(*verb, "--name", name, "--label", LABEL, *options,
                               TEST_IMAGE, *command)
        return name, full_id

    def remove_all(self) -> None:
        if self.containers:
            docker_sync("rm", "-f", *self.containers, check=False)
        for name in self.networks:
            docker_sync("network", "rm", name, check=False)
        for name in self.volumes:
            docker_sync("volume", "rm", "-f", name, check=False)


@pytest.fixture
def objects(docker_engine: str) -> Iterator[Objects]:
    made = Objects()
    yield made
    made.remove_all()


