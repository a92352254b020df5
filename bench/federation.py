"""Federation: N `gestalt agent` processes (synthetic sites of M entities each, churning)
publish to a real nats-server with JetStream; one `gestalt serve` hub reads them all and
runs a local synthetic source of the same size in the same process.

Measured: time to the complete map; hub ingest (observations/s while churning); hub RSS;
source -> hub -> SSE latency (a delta's `observed_at` at the agent's source, to the SSE
frame reaching a client of the hub) p50/p99, for the agents' sites and for the local
source in the same run (their ratio is the cost of federation), with where it goes hop by
hop (source -> NATS server -> hub's store -> client: the server's and the hub's own
timestamps, one clock on one machine); and the hub's cold start from the stream (a fresh
hub, new data dir, the agents running: time to the complete map).

The local source stamps `observed_at` inside the hub's event loop, so a stall of that loop
before a change is invisible in its figure; an agent's change sees every stall it meets.

The issue asks for 10 agents x 10,000 entities: `--full` runs that (results in
federation_full_scale.json); the default is scaled down to 4 x 2,000 so that it runs in a
minute on a 2-core machine shared with other work (GESTALT_BENCH_AGENTS,
GESTALT_BENCH_ENTITIES, GESTALT_BENCH_SECONDS override either). The cold start here reads
the stream the run produced; bench/federation_history.py measures it from a stream
holding an hour of history.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import httpx
import nats
import yaml
from benchlib import (
    ROOT,
    command_line,
    gestalt_serve,
    stop_all,
    summary_ms,
    synthetic_agent_config,
    write_result,
)
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gestalt.model.changes import decode_delta

sys.path.insert(0, str(ROOT))
from tests.support.nats_server import new_server  # noqa: E402
from tests.support.sse import frames  # noqa: E402

ENVIRONMENT = """\
environment:
  GESTALT_BENCH_AGENTS    sites (default 4; with --full 10)
  GESTALT_BENCH_ENTITIES  entities per site (default 2000; with --full 10000)
  GESTALT_BENCH_SECONDS   the latency window, s (default 30)
  GESTALT_BENCH_SETTLE    s from the client's snapshot to the window (default 5)"""


class Scale(NamedTuple):
    """How big a run is: `--full` runs the issue's scale (10 agents x 10,000 entities) and
    records it apart (federation_full_scale.json), so the default, scaled-down run does not
    overwrite it; GESTALT_BENCH_* override either."""

    full: bool
    agents: int
    entities: int
    seconds: float
    # Latency under steady churn is measured from this many seconds after the measuring
    # client's own snapshot arrived (the hub still digests the sites' first pictures once
    # the map is complete, and serving that snapshot stalls it).
    settle: float

    @classmethod
    def chosen(cls, *, full: bool) -> Scale:
        return cls(full=full,
                   agents=int(os.environ.get("GESTALT_BENCH_AGENTS", "10" if full else "4")),
                   entities=int(os.environ.get("GESTALT_BENCH_ENTITIES",
                                               "10000" if full else "2000")),
                   seconds=float(os.environ.get("GESTALT_BENCH_SECONDS", "30")),
                   settle=float(os.environ.get("GESTALT_BENCH_SETTLE", "5")))

    @property
    def ready_s(self) -> float:
        """A hub reading 10 sites of 10,000 entities on a loaded 2-core machine may take
        minutes before every source has started."""
        return 600 if self.full else 60

    @property
    def client_timeout_s(self) -> float:
        """... and not answer for a while meanwhile (the result has its slowest answer)."""
        return 300 if self.full else 30

    @property
    def churn(self) -> float:
        """100 changes/s in all, shared by the agents and the local source."""
        return 100.0 / (self.agents + 1)


def agent_config(tmp: Path, index: int, url: str, scale: Scale) -> Path:
    return synthetic_agent_config(tmp, index, url, entities=scale.entities, churn=scale.churn,
                                  keyframe_interval=60)


def hub_collectors(url: str, scale: Scale) -> str:
    sites = ", ".join(f"site{i}" for i in range(scale.agents))
    return (f"agents: {{enabled: true, url: \"{url}\", sites: [{sites}], durable: bench-hub,"
            f" silence_timeout: 60}}\n"
            f"synthetic: {{enabled: true, entities: {scale.entities}, "
            f"edges: {scale.entities}, churn_per_second: {scale.churn}, cluster: local}}\n"
            # Named, so that the URL's "nats:" is not taken for the section.
            "nats: {enabled: false}")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of the process's main thread (the event loop) and of all
    its other threads together (history's writer, workers), from /proc."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if task.name == str(pid):
            main += used
        else:
            others += used
    return main, others


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def total(client: httpx.AsyncClient, url: str) -> int:
    health = (await client.get(f"{url}/api/infra/health")).json()
    return int(health["summary"]["total"])


async def observations(client: httpx.AsyncClient, url: str) -> float:
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith("gestalt_observations_total"):
            return float(line.split()[-1])
    return float("nan")


async def collector(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    """The hub's garbage collector figures from /metrics (engine/collection.py): name
    (with its generation) -> value."""
    found: dict[str, float] = {}
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith("gestalt_gc_"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def full_passes(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The collector's full passes (generation 2) between two readings: each one stops the
    hub's event loop for its duration."""
    def get(figures: dict[str, float], name: str) -> float:
        return figures.get(f'{name}{{generation="2"}}', 0.0)

    count = get(after, "gestalt_gc_passes_total") - get(before, "gestalt_gc_passes_total")
    took = get(after, "gestalt_gc_pause_seconds_total") - \
        get(before, "gestalt_gc_pause_seconds_total")
    cpu = get(after, "gestalt_gc_cpu_seconds_total") - get(before, "gestalt_gc_cpu_seconds_total")
    return {"count": count, "total_ms": round(took * 1000, 1),
            "mean_ms": round(took * 1000 / count, 1) if count else 0.0,
            "mean_cpu_ms": round(cpu * 1000 / count, 1) if count else 0.0}


SLOWEST_ANSWER: list[float] = []  # the hub's slowest answer to /api/infra/health, s


async def until_total(client: httpx.AsyncClient, url: str, at_least: int,
                      timeout: float = 600) -> float:
    started = time.monotonic()
    while True:
        asked = time.monotonic()
        reached = await total(client, url)
        SLOWEST_ANSWER.append(time.monotonic() - asked)
        if reached >= at_least:
            break
        if time.monotonic() - started > timeout:
            health = (await client.get(f"{url}/api/infra/health")).json()
            raise RuntimeError(f"the map did not reach {at_least} entities in {timeout}s: "
                               f"{health['summary']['total']}, {health['sources']}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def until_caught_up(client: httpx.AsyncClient, url: str, timeout: float = 600) -> float:
    """Until the hub has read what the sites' agents stored meanwhile: a complete map may
    still be behind the stream (at 10 x 10,000 the hub took its first picture of the
    sites a minute behind their agents), and the latency of a backlog is not the
    latency of the churn."""
    started = time.monotonic()
    while True:
        health = (await client.get(f"{url}/api/infra/health")).json()
        sites = [s["details"] for s in health["sources"] if s["name"].startswith("site:")]
        if all((d.get("pending_messages") or 0) < 100 and (d.get("lag_seconds") or 0) < 1
               for d in sites):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            behind = [(d["site"], d.get("pending_messages"), d.get("lag_seconds"))
                      for d in sites]
            raise RuntimeError(f"the hub did not catch up with the stream in {timeout}s: "
                               f"{behind}")
        await asyncio.sleep(0.5)


class Seen(NamedTuple):
    """One delta frame as it reached the client: when the change was observed (at its
    source), committed to the hub's store (the frame's `timestamp`) and arrived."""

    observed: float
    committed: float
    arrived: float


async def latencies(url: str, seconds: float, settle: float) -> dict[str, list[Seen]]:
    """SSE delta frames for `seconds`, by origin (the agents' sites, the local source),
    from `settle` seconds after this client's snapshot arrived: serving a snapshot of the
    whole map stalls the hub for most of a second on a loaded machine, and the deltas
    behind it measured that, not the churn (a browser opening the map pays it once)."""
    found: dict[str, list[Seen]] = {"agents": [], "local": []}
    async with httpx.AsyncClient(timeout=None) as client, \
            client.stream("GET", f"{url}/api/infra/topology/stream") as response:
        starts = ends = float("inf")
        async for frame in frames(response):
            if frame.event == "snapshot" and starts == float("inf"):
                starts = time.monotonic() + settle
                ends = starts + seconds
            if time.monotonic() > ends:
                break
            if frame.event != "delta" or time.monotonic() < starts:
                continue
            arrived = time.time()
            delta = frame.json()
            observed = delta.get("observed_at")
            ids_ = [e["id"] for e in delta.get("upserts", [])] + delta.get("removals", [])
            if observed is None or not ids_:
                continue
            origin = "local" if "local/" in ids_[0] else "agents"
            found[origin].append(Seen(observed, delta["timestamp"], arrived))
    return found


async def stored_at(nats_url: str, after_seq: int) -> dict[float, float]:
    """The agents' deltas stored in the stream after `after_seq`: their `observed_at` ->
    when the NATS server stored them (its own clock, read afterwards from each message's
    metadata: nothing listens during the window, so the measurement costs the run nothing)."""
    nc = await nats.connect(nats_url)
    found: dict[float, float] = {}
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            "gestalt.*.delta", stream="GESTALT",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                  opt_start_seq=after_seq + 1, ack_policy=AckPolicy.NONE))
        while True:
            try:
                msgs = await sub.fetch(512, timeout=2)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for msg in msgs:
                delta = decode_delta(msg.data)
                if delta.observed_at is not None:
                    found[delta.observed_at] = msg.metadata.timestamp.timestamp()
            if not msgs or msgs[-1].metadata.num_pending == 0:
                break
    finally:
        await nc.close()
    return found


def hops(seen: list[Seen], stored: dict[float, float] | None = None) -> dict[str, object]:
    """Where the time goes, hop by hop: source -> NATS server (the agent's process and its
    publish), NATS -> the hub's store (delivery, decode, merge, commit), the hub's store ->
    the client (SSE)."""
    out: dict[str, object] = {}
    if stored is not None:
        matched = [(s, stored[s.observed]) for s in seen if s.observed in stored]
        out["source_to_nats"] = summary_ms([at - s.observed for s, at in matched])
        out["nats_to_hub_store"] = summary_ms([s.committed - at for s, at in matched])
        out["unmatched"] = len(seen) - len(matched)
    else:
        out["source_to_hub_store"] = summary_ms([s.committed - s.observed for s in seen])
    out["hub_store_to_client"] = summary_ms([s.arrived - s.committed for s in seen])
    return out


async def last_seq(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info("GESTALT")).state.last_seq)
    finally:
        await nc.close()


async def measure(url: str, pid: int, expected: int, started: float,
                  nats_url: str, scale: Scale) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=scale.client_timeout_s) as client:
        complete = await until_total(client, url, expected)
        first_map_s = time.monotonic() - started
        caught_up = await until_caught_up(client, url)
        before, t0 = await observations(client, url), time.monotonic()
        seq = await last_seq(nats_url)
        cpu_before, c0 = cpu_seconds(pid), time.monotonic()
        gc_before = await collector(client, url)
        lat = await latencies(url, scale.seconds, scale.settle)
        gc_after = await collector(client, url)
        after, t1 = await observations(client, url), time.monotonic()
        cpu_after, c1 = cpu_seconds(pid), time.monotonic()
        stored = await stored_at(nats_url, seq)
        health = (await client.get(f"{url}/api/infra/health")).json()
        # Where the agents' latency goes: server -> hub, per site (the rest is the agent).
        server_to_hub = {s["name"]: round(s["details"]["lag_seconds"] * 1000, 1)
                         for s in health["sources"] if s["name"].startswith("site:")}
        # Keyframes the hub took, and those it knew by their digest (not read item by item).
        keyframes = {key: sum(s["details"].get(key, 0) for s in health["sources"]
                              if s["name"].startswith("site:"))
                     for key in ("keyframes", "keyframes_known_by_digest",
                                 "keyframes_digest_missed")}
        slowest = max(SLOWEST_ANSWER)
        return {"time_to_complete_map_s": round(first_map_s, 2),
                "slowest_health_answer_while_filling_s": round(slowest, 2),
                "waited_for_map_s": round(complete, 2),
                # From the complete map to the hub reading the stream's present.
                "then_caught_up_with_the_stream_s": round(caught_up, 2),
                "ingest_obs_per_s": round((after - before) / (t1 - t0), 1),
                "latency_agents": summary_ms([s.arrived - s.observed for s in lat["agents"]]),
                "latency_local": summary_ms([s.arrived - s.observed for s in lat["local"]]),
                "hops_agents": hops(lat["agents"], stored),
                "hops_local": hops(lat["local"]),
                "last_server_to_hub_ms": server_to_hub,
                "keyframes": keyframes,
                "hub_rss_mb": round(rss_mb(pid), 1),
                # CPU the hub used in the window, in percent of one core: its event loop,
                # and its other threads (history's writer above all).
                "hub_cpu_percent": {
                    "event_loop": round((cpu_after[0] - cpu_before[0]) / (c1 - c0) * 100, 1),
                    "other_threads": round((cpu_after[1] - cpu_before[1]) / (c1 - c0) * 100,
                                           1)},
                # The collector's full passes since the hub started, and in the window.
                "hub_gc_full_passes": {
                    "since_start": full_passes({}, gc_after),
                    "longest_ms": round(gc_after.get(
                        'gestalt_gc_longest_pause_seconds{generation="2"}', 0.0) * 1000, 1),
                    "in_window": full_passes(gc_before, gc_after),
                    # Young passes (generations 0 and 1) stop the loop too.
                    "longest_young_ms": round(max(gc_after.get(
                        f'gestalt_gc_longest_pause_seconds{{generation="{g}"}}', 0.0)
                        for g in (0, 1)) * 1000, 1),
                    "frozen_objects": gc_after.get("gestalt_gc_frozen_objects"),
                    "freezes": gc_after.get("gestalt_gc_freezes_total"),
                    "settles": gc_after.get("gestalt_gc_settles_total")},
                "hub_entities": await total(client, url),
                "load_average_1m": os.getloadavg()[0]}


def main() -> None:
    full = command_line(__doc__, lambda parser: parser.add_argument(
        "--full", action="store_true",
        help="the issue's scale, 10 agents x 10,000 entities (minutes; results in "
             "federation_full_scale.json)"), epilog=ENVIRONMENT).full
    scale = Scale.chosen(full=full)
    nats = new_server(name="gestalt-bench-federation")
    nats.start()
    agents: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="gestalt-bench-fed-"))
    try:
        started = time.monotonic()
        for i in range(scale.agents):
            log = open(tmp / f"agent{i}.log", "ab")  # noqa: SIM115 (the child keeps it)
            agents.append(subprocess.Popen(
                [sys.executable, "-m", "gestalt.cli", "agent", "--config",
                 str(agent_config(tmp, i, nats.url, scale)), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT))
        # Each site holds about `entities` entities (the synthetic world rounds a little).
        expected = int((scale.agents + 1) * scale.entities * 0.98)
        with gestalt_serve(hub_collectors(nats.url, scale),
                           ready_timeout=scale.ready_s) as (url, pid):
            live = asyncio.run(measure(url, pid, expected, started, nats.url, scale))
        stream = nats.get("/jsz?streams=true")
        cold_started = time.monotonic()  # the process's start counts
        with gestalt_serve(hub_collectors(nats.url, scale),
                           ready_timeout=scale.ready_s) as (url, pid):
            ready = time.monotonic() - cold_started

            async def cold() -> dict[str, object]:
                async with httpx.AsyncClient(timeout=scale.client_timeout_s) as client:
                    SLOWEST_ANSWER.clear()
                    after_ready = await until_total(client, url, expected)
                    took = time.monotonic() - cold_started
                    return {"time_to_complete_map_s": round(took, 2),
                            "process_ready_s": round(ready, 2),
                            "map_complete_after_ready_s": round(after_ready, 2),
                            "slowest_health_answer_while_filling_s":
                                round(max(SLOWEST_ANSWER), 2),
                            "hub_rss_mb": round(rss_mb(pid), 1),
                            "gc_full_passes": full_passes({}, await collector(client, url)),
                            "observations": await observations(client, url)}

            cold_start = asyncio.run(cold())
        agents_total = live["latency_agents"]
        local_total = live["latency_local"]
        ratio = (agents_total["p99_ms"] / local_total["p99_ms"]
                 if isinstance(agents_total, dict) and isinstance(local_total, dict)
                 and local_total["p99_ms"] else None)
        result = {
            "scale": f"{scale.agents} agents x {scale.entities} entities + a local source "
                     f"of {scale.entities} on a {os.cpu_count()}-core machine "
                     "(issue: 10 x 10,000)",
            "agents": scale.agents, "entities_per_site": scale.entities,
            "changes_per_s_total": 100, "window_s": scale.seconds, "settle_s": scale.settle,
            "live": live, "p99_ratio_agents_to_local": round(ratio, 2) if ratio else None,
            "cold_start_from_stream": cold_start,
            "stream_messages": stream.get("messages"), "stream_bytes": stream.get("bytes"),
        }
        path = write_result("federation_full_scale" if scale.full else "federation", result)
        print(yaml.safe_dump(result, sort_keys=False))
        print(f"written to {path}")
    finally:
        stop_all(agents)
        nats.stop()


if __name__ == "__main__":
    main()
