"""Running the real `gestalt` command as a user would: one-shot commands, and `gestalt
serve` as a process on a free port that is stopped with SIGTERM afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.daemons import free_port, start_until_ready, stop

GESTALT = [sys.executable, "-m", "gestalt.cli"]
COLLECTORS = ("host", "docker", "kubernetes", "nats", "otel", "postgres", "synthetic")


def user_env(**extra: str) -> dict[str, str]:
    """This process's environment without GESTALT_* settings (they would change what is
    under test), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESTALT_")}
    env.update(extra)
    return env


def gestalt(*args: str, env: Mapping[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GESTALT, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(env) if env is not None else user_env())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def write_config(path: Path, *, server: dict[str, Any] | None = None,
                 **collectors: dict[str, Any]) -> Path:
    """A config with every collector off but those given; history under `path`'s folder."""
    sections = {name: {"enabled": False} for name in COLLECTORS}
    for name, settings in collectors.items():
        sections[name] = {"enabled": True, **settings}
    document = {"server": {"data_dir": str(path.parent / "data"), **(server or {})},
                "collectors": sections}
    path.write_text(yaml.safe_dump(document))
    return path


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path  # its stdout and stderr

    @property
    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn(argv: list[str], *, env: Mapping[str, str] | None = None,
          stderr: Path | int | None = None) -> subprocess.Popen[str]:
    """A child process (stdout discarded; stderr to a file, a pipe or inherited)."""
    if isinstance(stderr, Path):
        with open(stderr, "w") as err:  # the child keeps its own descriptor
            return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                    env=dict(env) if env is not None else user_env())
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                            env=dict(env) if env is not None else user_env())


@contextlib.asynccontextmanager
async def serving(config: Path, *args: str, env: Mapping[str, str] | None = None,
                  port: int | None = None) -> AsyncIterator[Served]:
    """`gestalt serve -c config` on `port` (a free one by default), ready (`/readyz`);
    SIGTERM at the end."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = config.parent / f"serve-{port}.err"
    proc = await asyncio.to_thread(
        start_until_ready, "gestalt serve",
        [*GESTALT, "serve", "-c", str(config), "--port", str(port), *args], log_path,
        f"{url}/readyz", 30, env=env if env is not None else user_env())
    try:
        yield Served(proc, url, log_path)
    finally:
        await asyncio.to_thread(stop, proc)
