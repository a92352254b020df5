"""The `docker` source: containers, networks and volumes of one Docker engine, live.

Each run: connect, subscribe to /events, then list (so nothing that happens between the
list and the watch is lost), send one snapshot, then apply events as they come, while a
second task polls container stats. A container that stops has no CPU, memory or traffic:
its metrics are cleared, not left at their last values. Whether someone asked for a stop
comes from the events (see StopRequests); each list reads the engine's recent past back
for it, so a restart of Gestalt does not forget a `docker stop` of a minute ago.

When the event stream ends or the engine stops answering, `run` raises; the supervisor
keeps the last state visible as stale and runs it again, and the new run's snapshot is
exactly what the engine then has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from gestalt.model import METRIC_FIELDS, Connection, Entity, SourceState, ids
from gestalt.model.config import DockerCollector
from gestalt.sources.base import Sink, SourceError, SourceUnavailable
from gestalt.sources.docker import entities
from gestalt.sources.docker.api import ContainerInspect, DockerEvent, Engine, Stats, epoch
from gestalt.sources.docker.events import (
    CONTAINER_CHANGES,
    StopRequests,
    action,
    feed_event,
)
from gestalt.sources.docker.stats import Metrics, StatsTracker
from gestalt.sources.polling import poll_every

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Requests in flight at once for inspects and stats: enough to list hundreds of containers
# quickly without queueing a burst of work in a small engine.
CONCURRENCY = 8
# What a stopped container uses: nothing, so no numbers (None: absent, not the last ones).
NO_METRICS: dict[str, float | int | None] = dict.fromkeys([*sorted(METRIC_FIELDS),
                                                          "cpu_usage"])
# States in which a container has processes: paused ones are frozen but hold their memory.
_LIVE = frozenset({"running", "paused"})
# How far back a list asks the engine for stop requests (it remembers less in practice).
STOPS_LOOKBACK = 24 * 3600.0


class DockerSource:
    name = "docker"

    def __init__(self, config: DockerCollector, *, host: str | None = None) -> None:
        self._config = config
        self.url = host or os.environ.get("DOCKER_HOST") or config.socket or DEFAULT_SOCKET
        # Only a local engine's PIDs are this machine's PIDs.
        self._local = self.url.startswith("unix://")
        self._stats = StatsTracker()
        self._metrics: dict[str, Metrics] = {}
        self._engine = ""
        # What the current run has reported: container id -> its edge ids.
        self._container_edges: dict[str, set[str]] = {}
        # Containers in a _LIVE state: the ones with stats.
        self._live: set[str] = set()
        self._stops = StopRequests()

    async def run(self, sink: Sink) -> None:
        async with Engine(self.url) as engine:
            info = await engine.info()
            self._engine = info.Name
            since = epoch(info.SystemTime) or time.time()
            async with engine.events(since=f"{since:.6f}") as stream:
                await self._relist(engine, sink, until=since)
                sink.status(SourceState.OK)
                await _first_to_end(self._watch(engine, sink, stream),
                                    self._poll_stats(engine, sink))

    # -- list --------------------------------------------------------------------------------
    async def _relist(self, engine: Engine, sink: Sink, *, until: float) -> None:
        networks = await engine.networks()
        volumes = await engine.volumes()
        summaries = await engine.containers()
        for event in await engine.past_events(since=f"{until - STOPS_LOOKBACK:.6f}",
                                              until=f"{until:.6f}",
                                              actions=("start", "kill", "stop", "die",
                                                       "destroy")):
            self._stops.observe(event)
        self._stops.keep_only({s.Id for s in summaries})
        inspected = await _bounded(engine.inspect, [s.Id for s in summaries])
        observed_at = time.time()
        found: list[Entity] = [entities.network(n, engine=self._engine) for n in networks]
        found += [entities.volume(v, engine=self._engine) for v in volumes]
        edges: list[Connection] = []
        self._container_edges.clear()
        self._live.clear()
        for c in inspected:
            if c is None:
                continue  # removed between the list and the inspect; its event follows
            entity, links = self._container(c)
            found.append(entity)
            edges += links
            if c.Id not in self._live:  # it may have stopped while we were away
                sink.metrics(entity.id, NO_METRICS, observed_at)
        self._metrics = {cid: m for cid, m in self._metrics.items() if cid in self._live}
        sink.snapshot(found, edges, observed_at=observed_at)
        log.info("docker: engine %s at %s: %d containers, %d networks, %d volumes",
                 self._engine, self.url, len(self._container_edges), len(networks), len(volumes))

    def _container(self, c: ContainerInspect) -> tuple[Entity, list[Connection]]:
        if c.State.Status in _LIVE:
            self._live.add(c.Id)
        else:  # a stopped container has no CPU or memory to show, not the last ones seen
            self._live.discard(c.Id)
            self._metrics.pop(c.Id, None)
        entity, edges = entities.container(
            c, engine=self._engine, local=self._local, metrics=self._metrics.get(c.Id),
            stop_requested=self._stops.asked(c.Id), exit_witnessed=self._stops.witnessed(c.Id),
        )
        self._container_edges[c.Id] = {e.id for e in edges}
        return entity, edges

    # -- watch -------------------------------------------------------------------------------
    async def _watch(self, engine: Engine, sink: Sink, stream: AsyncIterator[DockerEvent]) -> None:
        try:
            async with asyncio.TaskGroup() as group:  # a refresh that fails ends the run
                refresher = _Refresher(
                    group, lambda cid, at: self._refresh_container(engine, sink, cid, at))
                async for event in stream:
                    await self._apply(engine, sink, event, refresher)
                raise SourceError(f"the Docker engine at {self.url} closed its event stream")
        except ExceptionGroup as failed:
            raise failed.exceptions[0]  # noqa: B904  (the first failure is the reason)

    async def _apply(
        self, engine: Engine, sink: Sink, event: DockerEvent, refresher: _Refresher
    ) -> None:
        verb, _ = action(event)
        attrs = event.Actor.Attributes or {}
        observed_at = event.timeNano / 1e9 if event.timeNano else time.time()
        if event.Type == "container" and verb in CONTAINER_CHANGES:
            self._stops.observe(event)
            refresher.request(event.Actor.ID, observed_at)
            feed = feed_event(event, engine=self._engine, source=self.name,
                              stop_requested=self._stops.asked(event.Actor.ID))
            if feed is not None:
                sink.event(feed)
        elif event.Type == "network" and verb in ("connect", "disconnect"):
            refresher.request(attrs.get("container", ""), observed_at)
        elif event.Type == "network" and verb == "create":
            found = await engine.network(event.Actor.ID)
            if found is not None:
                sink.upsert([entities.network(found, engine=self._engine)],
                            observed_at=observed_at)
        elif event.Type == "network" and verb == "destroy":
            sink.remove([ids.docker_network(self._engine, attrs.get("name", ""))],
                        observed_at=observed_at)
        elif event.Type == "volume" and verb == "create":
            created = await engine.volume(event.Actor.ID)
            if created is not None:
                sink.upsert([entities.volume(created, engine=self._engine)],
                            observed_at=observed_at)
        elif event.Type == "volume" and verb == "destroy":
            sink.remove([ids.docker_volume(self._engine, event.Actor.ID)],
                        observed_at=observed_at)

    async def _refresh_container(
        self, engine: Engine, sink: Sink, container_id: str, observed_at: float
    ) -> None:
        """Report the container as it is now (events only say that something changed)."""
        inspected = await engine.inspect(container_id)
        if inspected is None:
            # Gone. Events carry the full id; inspect results are keyed by it too.
            old_edges = self._container_edges.pop(container_id, set())
            self._live.discard(container_id)
            self._metrics.pop(container_id, None)
            sink.remove([ids.container(container_id)], old_edges, observed_at=observed_at)
            return
        old_edges = self._container_edges.get(inspected.Id, set())
        entity, edges = self._container(inspected)
        dropped = old_edges - {e.id for e in edges}
        if dropped:
            sink.remove((), dropped, observed_at=observed_at)
        if inspected.Id not in self._live:
            sink.metrics(entity.id, NO_METRICS, observed_at)
        sink.upsert([entity], edges, observed_at=observed_at)

    # -- stats -------------------------------------------------------------------------------
    async def _poll_stats(self, engine: Engine, sink: Sink) -> None:
        async def stats_of(container_id: str) -> Stats | None:
            try:
                return await engine.stats(container_id)
            except SourceUnavailable:
                raise  # the engine is gone: the run ends and the supervisor takes over
            except SourceError as exc:
                # One container's stats failing (a pause racing the request times out)
                # must not take the whole source down: skip its sample this round.
                log.debug("docker: no stats for %s this round: %s", container_id[:12], exc)
                return None

        async def sample_all() -> None:
            live = sorted(self._live)
            samples = await _bounded(stats_of, live)
            for container_id, sample in zip(live, samples, strict=True):
                if sample is None or container_id not in self._live:
                    continue  # stopped or removed while we asked
                values = self._stats.metrics(container_id, sample)
                self._metrics[container_id] = values
                sink.metrics(ids.container(container_id), values,
                             observed_at=epoch(sample.read) or time.time())
            self._stats.keep_only(self._live)

        await poll_every(self._config.poll_interval, sample_all)


class _Refresher:
    """Inspects containers after their events: one request at a time per container (news
    that comes meanwhile makes one more, not one each), containers independently. The
    engine can take 30 s to answer for one container (a health check probing it while it
    is being paused holds it until the probe times out): that container's news waits, the
    others' do not."""

    def __init__(self, group: asyncio.TaskGroup,
                 refresh: Callable[[str, float], Awaitable[None]]) -> None:
        self._group = group
        self._refresh = refresh
        self._due: dict[str, float] = {}  # container id -> when its latest news happened
        self._busy: set[str] = set()
        self._limit = asyncio.Semaphore(CONCURRENCY)

    def request(self, container_id: str, observed_at: float) -> None:
        if not container_id:
            return
        self._due[container_id] = observed_at
        if container_id not in self._busy:
            self._busy.add(container_id)
            self._group.create_task(self._run(container_id))

    async def _run(self, container_id: str) -> None:
        try:
            while container_id in self._due:
                async with self._limit:
                    await self._refresh(container_id, self._due.pop(container_id))
        finally:
            self._busy.discard(container_id)


async def _bounded(call: Callable[[T], Awaitable[R]], args: list[T]) -> list[R]:
    """`call` over `args` with at most CONCURRENCY in flight, results in order."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(arg: T) -> R:
        async with limit:
            return await call(arg)

    try:
        async with asyncio.TaskGroup() as group:  # one failure cancels the rest
            tasks = [group.create_task(one(a)) for a in args]
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904  (the first failure is the reason)
    return [t.result() for t in tasks]


async def _first_to_end(*loops: Awaitable[None]) -> None:
    """Run loops that should never end; when one does (or fails), stop the others and
    re-raise its error."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
        raise SourceError("a Docker watch loop ended without an error")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
