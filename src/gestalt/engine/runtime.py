"""The running engine: store, hub, change log, history and supervised sources, wired.

Sources report to the hub, the hub commits to the store, and every change goes out
through one change log (`changes`): deltas from the store, metrics frames and events
from the hub. History reads the log; so does the API, which subscribes its own readers
(the SSE broadcaster): the engine knows no wire format.

`Engine.start()` opens history (so the version and the event sequence continue where the
last run stopped), starts every enabled source under the supervisor and the metrics
flusher; `Engine.stop()` stops the sources, flushes history and closes it. Both are safe
to call twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import msgspec

from gestalt.engine import tasks
from gestalt.engine.alerts import AlertManager
from gestalt.engine.alerts.manager import HISTORY_RULE
from gestalt.engine.anomaly import ANOMALIES, expected, persist, sampling
from gestalt.engine.changelog import ChangeLog
from gestalt.engine.cost_book import CostRecorder
from gestalt.engine.counters import COUNTERS
from gestalt.engine.history import History
from gestalt.engine.hub import Hub
from gestalt.engine.memory import Releaser
from gestalt.engine.past import IDLE_SECONDS
from gestalt.engine.registry import SPECS, build_sources
from gestalt.engine.store import Store
from gestalt.engine.supervisor import Supervisor
from gestalt.engine.validation import validate
from gestalt.model import Alert, SourceState, SourceStatus, Summary, Topology
from gestalt.model.config import Config
from gestalt.sources import Source
from gestalt.sources.base import ComparesWithCluster, HasDetails, ReadsClusterObjects

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
# The history series that holds the whole topology's health score.
TOPOLOGY_SERIES = "topology"


class Engine:
    def __init__(
        self,
        config: Config,
        *,
        sources: list[Source] | None = None,
        simulated: frozenset[str] = frozenset(),
    ) -> None:
        validate(config)
        self.config = config
        self.history = History(
            Path(config.server.data_dir) / "history.sqlite3",
            retention_hours=config.history.retention_hours,
            sample_interval=config.history.sample_interval,
            max_size_mb=config.history.max_size_mb,
            max_disk_percent=config.history.max_disk_percent,
            keyframe_interval=config.history.keyframe_interval,
            keyframe_deltas=config.history.keyframe_deltas,
        )
        self.store = Store(ring_size=config.server.delta_ring_size)
        self.hub = Hub(self.store, health=config.health, simulated=simulated)
        self.changes = ChangeLog()
        self.store.subscribe(self.changes.delta)
        # A gone entity's "rising" counters go with it (pods are replaced all day long).
        self.store.subscribe(lambda delta: COUNTERS.forget(delta.removals))
        # A large commit's temporaries go back to the system once it is sent and recorded.
        self.releaser = Releaser()
        self.store.subscribe(lambda delta: self.releaser.committed(
            len(delta.upserts) + len(delta.removals) + len(delta.edge_upserts)
            + len(delta.edge_removals)))
        self.hub.on_event(self.changes.event)
        self.changes.subscribe(self.history.record)
        self.hub.on_status(self._on_status)
        self.supervisor = Supervisor(self.hub)
        if sources is None:
            sources, self.not_running = build_sources(config)
        else:
            self.not_running = {}
        self.sources: dict[str, Source] = {s.name: s for s in sources}
        for source in sources:
            if isinstance(source, ComparesWithCluster):
                source.use_clusters(self.cluster_reader)
        self._tasks: list[asyncio.Task[None]] = []
        self.alert_manager = AlertManager(config, self.store, self.history,
                                          statuses=self.source_statuses, emit=self.changes.event)
        self._status_changed = asyncio.Event()
        self.started = False
        # Set when this engine shows a snapshot file (read-only, no sources): what it is.
        self.snapshot: dict[str, Any] | None = None
        self._history_paused: str | None = None
        # One detector per process (the health checks read it); a new engine starts afresh.
        self.anomalies = ANOMALIES
        self._models_path = Path(config.server.data_dir) / persist.FILE_NAME
        sampling.configure(self.anomalies, config.anomaly)
        sampling.feed_events(self.anomalies, self.store, self.changes.event)
        self.cost = CostRecorder(self.store, self.history, config.cost)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self.started:
            return
        await asyncio.to_thread(self.history.open)
        self.store.continue_log(self.history.log_id, self.history.last_version)
        self.changes.event_seq = self.history.last_event_seq
        # "Rising" checks continue from the last run's counters (before any source reports).
        COUNTERS.resume(self.history.saved_counters, last_alive=self.history.last_alive,
                        now=time.time(), record=self.history.record_counter)
        for name, reason in self.not_running.items():
            self.hub.register(name, SourceState.DISABLED)
            self.hub.statuses[name].reason = reason
        for source in self.sources.values():
            self.supervisor.start(source)
        self._tasks.append(tasks.guarded("metrics-flusher", self._flush_metrics))
        self.alert_manager.restore()
        # What users said to expect outlives a restart (until its time is up); so does
        # what the models learned.
        await expected.restore(self.anomalies, self.history, time.time())
        if self.config.anomaly.enabled:
            await asyncio.to_thread(persist.load, self.anomalies, self._models_path, time.time())
        if self.config.alerts.enabled:
            self._tasks.append(tasks.guarded("alerts", self.alert_manager.run))
        if self.config.cost.enabled:
            self._tasks.append(tasks.guarded("cost", self.cost.run))
        if self.config.anomaly.enabled:
            self._tasks.append(tasks.guarded("anomalies", lambda: sampling.run(
                self.anomalies, self.store, self.config.anomaly.interval)))
        self.started = True
        log.info("engine started: sources %s", ", ".join(self.sources) or "(none)")

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.supervisor.stop()
        await tasks.stop(self._tasks)
        self._tasks.clear()
        self.releaser.cancel()
        if self.config.anomaly.enabled:
            try:
                await asyncio.to_thread(persist.save, self.anomalies, self._models_path,
                                        time.time())
            except OSError as exc:  # a full disk loses what was learned, not the shutdown
                log.warning("anomaly: cannot save the models to %s: %s", self._models_path, exc)
        if COUNTERS.record == self.history.record_counter:
            COUNTERS.record = None
        await asyncio.to_thread(self.history.close)

    def cluster_reader(self, cluster: str | None) -> ReadsClusterObjects | None:
        """The running source that reads `cluster` (None: the only one), for sources that
        compare something with a cluster (sources.base.ComparesWithCluster)."""
        readers = [s for s in self.sources.values() if isinstance(s, ReadsClusterObjects)]
        if cluster is None:
            return readers[0] if len(readers) == 1 else None
        return next((r for r in readers if r.cluster == cluster), None)

    # -- views -----------------------------------------------------------------------------
    def source_statuses(self) -> list[SourceStatus]:
        statuses = list(self.hub.statuses.values())
        for index, status in enumerate(statuses):
            source = self.sources.get(status.name)
            if isinstance(source, HasDetails):
                statuses[index] = msgspec.structs.replace(status, details=source.details())
        return statuses

    def footprint(self) -> dict[str, int]:
        """What the engine holds, item counts per structure (the soak benchmark's series)."""
        return {**self.store.footprint(), **self.hub.footprint(), **self.history.footprint(),
                "counters": len(COUNTERS), "alerts": len(self.alert_manager.alerts())}

    def source_names(self) -> frozenset[str]:
        """Every source name an entity can carry here, running or not (for filters)."""
        return frozenset(SPECS) | frozenset(self.hub.statuses) | frozenset(self.sources)

    def topology(self) -> Topology:
        store = self.store
        entities = list(store.entities.values())
        return Topology(
            version=store.version,
            timestamp=store.timestamp,
            entities=entities,
            connections=list(store.connections.values()),
            summary=self.summary(),
            sources=self.source_statuses(),
        )

    def summary(self) -> Summary:
        """The health summary, as it is now (the store keeps its sums current)."""
        return self.store.summary()

    def topology_parts(self) -> list[bytes]:
        """The whole topology as JSON (the same document as `topology()`), in parts: the
        store's blocks of entities and connections as they are (engine/blocks.py), between
        a few small pieces. Clients joining while nothing changes share the same block
        objects; nothing the size of the whole topology is built."""
        store = self.store
        parts = [b'{"version":' + str(store.version).encode()
                 + b',"timestamp":' + _encoder.encode(store.timestamp) + b',"entities":[']
        _comma_separated(parts, store.entity_json.parts())
        parts.append(b'],"connections":[')
        _comma_separated(parts, store.connection_json.parts())
        parts.append(b'],"summary":' + _encoder.encode(self.summary())
                     + b',"sources":' + _encoder.encode(self.source_statuses()) + b"}")
        return parts

    def topology_json(self) -> bytes:
        """`topology_parts` as one document (a REST answer)."""
        return b"".join(self.topology_parts())

    async def settled(self, timeout: float) -> bool:
        """Wait until no source is still starting; False when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while any(s.state is SourceState.STARTING for s in self.hub.statuses.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._status_changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._status_changed.wait()
            except TimeoutError:
                return False
        return True

    def _on_status(self, _status: SourceStatus) -> None:
        self._status_changed.set()

    def alerts(self) -> list[Alert]:
        """Alerts (pending, firing, unknown, recently resolved), newest first."""
        if self.snapshot is not None:
            return list(self.snapshot["alerts"])
        return sorted(self.alert_manager.alerts(), key=lambda a: -a.updated_at)

    async def _flush_metrics(self) -> None:
        interval = self.config.server.metrics_interval
        last_summary = 0.0
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            if now - last_summary >= self.config.history.sample_interval and self.store.entities:
                # The whole topology's health over time (world.infra.health.history).
                last_summary = now
                overall = self.store.summary().overall
                if overall is not None:
                    self.history.record_metrics({TOPOLOGY_SERIES: {"health": overall}}, now)
            frame = self.store.flush_metrics()
            if frame is not None:
                self.changes.metrics(frame)
            self._watch_history()
            self.history.release_idle_past(IDLE_SECONDS)

    def _watch_history(self) -> None:
        """History paused (a full disk) is an alert; recording again resolves it."""
        paused = self.history.paused
        if paused != self._history_paused:
            self._history_paused = paused
            self.alert_manager.raise_external(HISTORY_RULE, "history:", "history", paused)


def _comma_separated(parts: list[bytes], blocks: list[bytes]) -> None:
    for index, block in enumerate(blocks):
        if index:
            parts.append(b",")
        parts.append(block)
