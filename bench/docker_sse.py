"""Docker event -> SSE frame: from the engine's event time (`timeNano` of a container's
`start` or `die`) to a client of `gestalt serve` reading the delta that shows it.

Both clocks are this machine's. Each iteration runs a container and stops it; the client
parses the topology stream while a `docker events` process reports the engine's times.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import httpx
from benchlib import gestalt_serve, summary_ms, write_result

ITERATIONS = 30
IMAGE = "gestalt-busybox:test"
SERVE = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


async def measure(url: str) -> dict[str, object]:
    label = f"gestalt.bench={uuid.uuid4().hex[:8]}"
    events = await asyncio.create_subprocess_exec(
        "docker", "events", "--format", "{{json .}}", "--filter", f"label={label}",
        "--filter", "event=start", "--filter", "event=die",
        stdout=asyncio.subprocess.PIPE)
    engine_time: dict[tuple[str, str], float] = {}
    seen_time: dict[tuple[str, str], float] = {}

    async def read_events() -> None:
        assert events.stdout is not None
        async for line in events.stdout:
            doc = json.loads(line)
            engine_time[(doc["id"][:12], doc["status"])] = doc["timeNano"] / 1e9

    async def read_stream() -> None:
        async with httpx.AsyncClient(timeout=None) as client, client.stream(
                "GET", f"{url}/api/infra/topology/stream") as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or '"upserts"' not in line:
                    continue
                now = time.time()
                for entity in json.loads(line[6:]).get("upserts", []):
                    if entity.get("kind") != "container":
                        continue
                    short = entity["id"].split(":", 1)[1]
                    state = {"running": "start", "exited": "die"}.get(entity.get("status"))
                    if state:
                        seen_time.setdefault((short, state), now)

    readers = [asyncio.create_task(read_events()), asyncio.create_task(read_stream())]
    names = []
    try:
        await asyncio.sleep(1)
        for i in range(ITERATIONS):
            name = f"gst-bench-{uuid.uuid4().hex[:6]}-{i}"
            names.append(name)
            await asyncio.to_thread(subprocess.run, ["docker", "run", "-d", "--name", name,
                                    "--label", label, IMAGE, *SERVE], check=True,
                                    capture_output=True)
            await asyncio.to_thread(subprocess.run, ["docker", "stop", "-t", "5", name],
                                    check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while len(seen_time) < 2 * ITERATIONS and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    finally:
        for task in readers:
            task.cancel()
        events.terminate()
        await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", *names],
                                capture_output=True)
    result: dict[str, object] = {"iterations": ITERATIONS}
    for state in ("start", "die"):
        latencies = [seen_time[k] - engine_time[k] for k in seen_time
                     if k[1] == state and k in engine_time]
        result[state] = summary_ms(latencies)
    return result


def main() -> None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    with gestalt_serve(f'docker: {{enabled: true, socket: "{host}", poll_interval: 3.0}}') as (
            url, _pid):
        write_result("docker_sse", asyncio.run(measure(url)))


if __name__ == "__main__":
    main()
