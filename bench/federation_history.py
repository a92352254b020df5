"""Federation: a fresh hub's cold start from a stream holding 1 h of history for 10 sites,
against the same from a stream holding 5 minutes of it (time to the complete map).

How the stream gets an hour of history without waiting an hour: real `gestalt agent`
processes (synthetic sites of ENTITIES entities each) run with time accelerated by
SPEEDUP, consistently for what the stream is made of: each site churns SPEEDUP times
faster than its share of the issue's 100 changes/s, and sends its periodic keyframe
SPEEDUP times more often than the default `agent.keyframe_interval` (300 s). Run for
3600 / SPEEDUP s, the stream then holds what an hour holds: 360,000 changes (in delta
messages, the events they raise on their own subject) and 12 keyframes per site, with at
most one keyframe interval's worth of changes (3,000 per site) after each site's last
one, which is what a hub reads besides that keyframe (the synthetic source makes up the
ticks it missed on a busy machine, so the count of changes holds; its pace does not).
What time-based messages are fewer than in a real hour: the agents' heartbeats (sent
only while idle) and metrics frames (sent on the engine's own clock). The result
records the stream's message counts by subject, so the claim can be checked.

The stream is made as a hub makes it (collectors.agents' defaults: file storage, 24 h,
discard the oldest), with `max_bytes` raised so that the hour surely fits (a keyframe of
10,000 entities is about 6.5 MB, 13 parts: 12 an hour for 10 sites is near the default
`stream_max_bytes` of 1 GiB; the result's `stream_bytes` says how near).

The engine commits what changed in a moment as one delta, so a site churning faster
puts more changes in each delta message: the stream holds fewer, larger deltas than a
real hour would, with the same changes in them. A hub reads them all the same way.

Measured, at 5 min and at 60 min of history: the agents stopped (SIGSTOP: the stream
stays still while a hub reads it; SIGCONT afterwards), a fresh `gestalt serve` (new data
dir, a durable consumer of its own) and the time from its process start to the complete
map, its RSS, and how many messages lie after the sites' last keyframes. The hub starts
each site from its last keyframe, so the two times should differ by noise only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
import yaml
from benchlib import (
    ROOT,
    command_line,
    gestalt_serve,
    stop_all,
    synthetic_agent_config,
    write_result,
)
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from gestalt.model.federation import KEYFRAME_START_HEADER

sys.path.insert(0, str(ROOT))
from tests.support.nats_server import new_server  # noqa: E402

AGENTS = int(os.environ.get("GESTALT_BENCH_AGENTS", "10"))
ENTITIES = int(os.environ.get("GESTALT_BENCH_ENTITIES", "10000"))
SPEEDUP = float(os.environ.get("GESTALT_BENCH_SPEEDUP", "4"))
HISTORY_S = float(os.environ.get("GESTALT_BENCH_HISTORY_S", "3600"))
SHORT_S = 300.0  # the short stream: one keyframe interval of history
KEYFRAME_INTERVAL = 300.0  # AgentConfig's default
CHURN_PER_SITE = 100.0 / AGENTS  # the issue's 100 changes/s in all
STREAM_MAX_BYTES = 8 * 1024**3


def agent_config(tmp: Path, index: int, url: str) -> Path:
    # 10 sites' keyframes at once must not time out on a busy machine (publish_timeout).
    return synthetic_agent_config(tmp, index, url, entities=ENTITIES,
                                  churn=CHURN_PER_SITE * SPEEDUP,
                                  keyframe_interval=KEYFRAME_INTERVAL / SPEEDUP,
                                  publish_timeout=30)


def hub_collectors(url: str, durable: str) -> str:
    sites = ", ".join(f"site{i}" for i in range(AGENTS))
    return (f"agents: {{enabled: true, url: \"{url}\", sites: [{sites}], durable: {durable},"
            f" silence_timeout: 3600, stream_max_bytes: {STREAM_MAX_BYTES}}}\n"
            "nats: {enabled: false}")


async def make_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(StreamConfig(
            name="GESTALT", subjects=["gestalt.>"], storage=StorageType.FILE,
            max_age=86_400.0, max_bytes=STREAM_MAX_BYTES, discard=DiscardPolicy.OLD,
            duplicate_window=120.0))
    finally:
        await nc.close()


async def stream_state(url: str) -> dict[str, object]:
    """The stream's size, its messages by kind, and what a hub reads to build each site
    (from the first part of its last keyframe to the end: an upper bound, other sites'
    messages in that range included)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("GESTALT", subjects_filter="gestalt.>")
        by_kind: dict[str, int] = {}
        for name, count in (info.state.subjects or {}).items():
            kind = name.rsplit(".", 1)[1]
            by_kind[kind] = by_kind.get(kind, 0) + count
        last = info.state.last_seq
        after_keyframe: list[int] = []
        for i in range(AGENTS):
            try:
                msg = await js.get_last_msg("GESTALT", f"gestalt.site{i}.keyframe")
            except NotFoundError:
                continue
            first = (msg.headers or {}).get(KEYFRAME_START_HEADER)
            start = int(first) if first and first.isdigit() else msg.seq
            after_keyframe.append(last - start + 1)
        return {"stream_messages": info.state.messages, "stream_bytes": info.state.bytes,
                "messages_by_kind": by_kind,
                "stream_range_after_last_keyframe": {
                    "max": max(after_keyframe, default=0),
                    "min": min(after_keyframe, default=0)}}
    finally:
        await nc.close()


def cold_start(url: str, durable: str, expected: int) -> dict[str, object]:
    started = time.monotonic()  # the process's start counts
    with gestalt_serve(hub_collectors(url, durable)) as (base, pid):
        ready = time.monotonic() - started

        async def complete() -> dict[str, object]:
            async with httpx.AsyncClient(timeout=60) as client:
                while True:
                    health = (await client.get(f"{base}/api/infra/health")).json()
                    if health["summary"]["total"] >= expected:
                        break
                    if time.monotonic() - started > 900:
                        raise RuntimeError(f"no complete map in 900 s: {health['summary']}")
                    await asyncio.sleep(0.1)
            took = time.monotonic() - started
            return {"time_to_complete_map_s": round(took, 2), "process_ready_s": round(ready, 2),
                    "hub_rss_mb": round(rss_mb(pid), 1),
                    "load_average_1m": os.getloadavg()[0]}

        return asyncio.run(complete())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def signal_all(agents: list[subprocess.Popen[bytes]], sig: int) -> None:
    for proc in agents:
        proc.send_signal(sig)


def main() -> None:
    command_line(__doc__, epilog="""\
environment:
  GESTALT_BENCH_AGENTS     sites (default 10)
  GESTALT_BENCH_ENTITIES   entities per site (default 10000)
  GESTALT_BENCH_SPEEDUP    time acceleration (default 4)
  GESTALT_BENCH_HISTORY_S  history in the long stream, s (default 3600)""")
    server = new_server(name="gestalt-bench-federation-history")
    server.start()
    agents: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="gestalt-bench-fedhist-"))
    expected = int(AGENTS * ENTITIES * 0.98)
    results: dict[str, object] = {}
    try:
        asyncio.run(make_stream(server.url))
        began = time.monotonic()
        for i in range(AGENTS):
            log = open(tmp / f"agent{i}.log", "ab")  # noqa: SIM115 (the child keeps it)
            agents.append(subprocess.Popen(
                [sys.executable, "-m", "gestalt.cli", "agent", "--config",
                 str(agent_config(tmp, i, server.url)), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT))
        paused = 0.0  # time the agents spent stopped does not count as history
        for label, history_s in (("short", SHORT_S), ("hour", HISTORY_S)):
            left = began + paused + history_s / SPEEDUP - time.monotonic()
            if left > 0:
                time.sleep(left)
            stopped = time.monotonic()
            signal_all(agents, signal.SIGSTOP)
            try:
                state = asyncio.run(stream_state(server.url))
                print(f"{label}: {state}", flush=True)
                results[label] = {"history_s": history_s,
                                  "wall_s": round(stopped - began - paused, 1),
                                  **state, "cold_start": cold_start(server.url, f"cold-{label}",
                                                                    expected)}
                print(f"{label}: {results[label]}", flush=True)
            finally:
                signal_all(agents, signal.SIGCONT)
                paused += time.monotonic() - stopped
        result = {
            "scale": f"{AGENTS} sites x {ENTITIES} entities, 100 changes/s in all, keyframes "
                     f"every {KEYFRAME_INTERVAL:g} s, time accelerated x{SPEEDUP:g} "
                     f"on a {os.cpu_count()}-core machine",
            "agents": AGENTS, "entities_per_site": ENTITIES, "speedup": SPEEDUP,
            "changes_expected_in_history": int(HISTORY_S * 100), **results}
        path = write_result("federation_cold_start", result)
        print(yaml.safe_dump(result, sort_keys=False))
        print(f"written to {path}")
    finally:
        stop_all(agents)
        server.stop()


if __name__ == "__main__":
    main()
