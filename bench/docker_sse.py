"""Docker event -> SSE frame: from the engine's event time (`timeNano` of a container's
`start` or `die`) to a client of `gestalt serve` reading the delta that shows it.

Both clocks are this machine's. Each iteration runs a container and stops it; the client
parses the topology stream while a `docker events` process reports the engine's times.

The baseline, measured in the same run: a bare client of the engine's API (its /events
stream and, for each event, one GET /containers/{id}/json, over the same socket the source
uses) and when that inspect answers. Whatever Gestalt adds is the difference; the engine's
own time (an inspect waits while the engine tears a dead container down) is in both.
Target: p50 and p99 within 1.5x the baseline's.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import httpx
from benchlib import command_line, gestalt_serve, summary_ms, write_result

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

    raw_time: dict[tuple[str, str], float] = {}
    event_time: dict[tuple[str, str], float] = {}  # when the bare client read the event

    async def raw_client() -> None:
        """Events and an inspect per event, nothing else: the engine's own round trip."""
        transport = httpx.AsyncHTTPTransport(uds=DOCKER_SOCKET)
        filters = json.dumps({"label": [label], "event": ["start", "die"],
                              "type": ["container"]})
        async with httpx.AsyncClient(transport=transport, base_url="http://docker",
                                     timeout=None) as api, api.stream(
                "GET", "/events", params={"filters": filters}) as response:
            async for line in response.aiter_lines():
                doc = json.loads(line)
                key = (doc["id"][:12], doc["status"])
                event_time.setdefault(key, time.time())
                await api.get(f"/containers/{doc['id']}/json")
                raw_time.setdefault(key, time.time())

    readers = [asyncio.create_task(read_events()), asyncio.create_task(read_stream()),
               asyncio.create_task(raw_client())]
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
        baseline = [raw_time[k] - engine_time[k] for k in raw_time
                    if k[1] == state and k in engine_time]
        arrival = [event_time[k] - engine_time[k] for k in event_time
                   if k[1] == state and k in engine_time]
        result[state] = summary_ms(latencies)
        result[f"{state}_event_arrival"] = summary_ms(arrival)
        result[f"{state}_baseline"] = summary_ms(baseline)
        ours, raw = result[state], result[f"{state}_baseline"]
        assert isinstance(ours, dict) and isinstance(raw, dict)
        result[f"{state}_vs_baseline"] = {
            q: round(ours[q] / raw[q], 2) if raw[q] else None for q in ("p50_ms", "p99_ms")}
    result["target_ratio"] = 1.5
    return result


DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
DOCKER_SOCKET = DOCKER_HOST.removeprefix("unix://")


def main() -> None:
    command_line(__doc__, epilog="environment:\n  DOCKER_HOST  the engine's socket "
                 "(default unix:///var/run/docker.sock)")
    host = DOCKER_HOST
    with gestalt_serve(f'docker: {{enabled: true, socket: "{host}", poll_interval: 3.0}}') as (
            url, _pid):
        write_result("docker_sse", asyncio.run(measure(url)))


if __name__ == "__main__":
    main()
