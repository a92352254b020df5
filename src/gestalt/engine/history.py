"""History in SQLite (WAL): events, metric samples and topology deltas, kept across restarts.

Writes never block the event loop: they go through a queue to one writer thread that
commits in batches (every half second, or sooner when a batch is large). Reads run in a
worker thread on their own connection; WAL lets them proceed while the writer writes.
History is a reader of the engine's change log (engine/changelog.py): it keeps events as
the log encoded them, and deltas by reference (engine/recording.py: each entity body
stored once, keyframes), with their version, so the version continues after a restart (a
browser resuming with an old Last-Event-ID gets a fresh snapshot, never a wrong replay)
and the topology at any kept moment can be rebuilt (engine/past.py).

The layout and its upgrades are in engine/history_layout.py; the writer thread, retention
and pausing on a full disk in engine/history_writer.py.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from gestalt.engine.changelog import Entry
from gestalt.engine.history_layout import LAYOUT, HistoryError, migrate, oldest_moment
from gestalt.engine.history_writer import Writer, file_bytes, is_disk_full
from gestalt.engine.past import Past, read_deltas
from gestalt.engine.recording import Recorder
from gestalt.model import Alert, Delta, Event, MetricsFrame
from gestalt.model.changes import decode_event

__all__ = ["LAYOUT", "History", "HistoryError", "Notification"]

log = logging.getLogger(__name__)
T = TypeVar("T")


# One line of the notification log: (ts, receiver, alert id, state, severity, outcome, detail).
Notification = tuple[float, str, str, str, str, str, str]

RECENT_EVENTS = 500
# Entities whose last sample time is remembered before quiet ones are forgotten.
SAMPLE_INDEX_LIMIT = 50_000
# The writer's page cache (SQLite's default is 2 MB): it writes each page once a batch and
# reads back little, so a large cache only holds pages written already; at 10,000 entities
# the default's 2 MB stayed resident (bench/server_rss.py), and writing was no slower
# with this one.
WRITER_CACHE_KIB = 256

_alert_encoder = msgspec.json.Encoder()
_alert_decoder = msgspec.json.Decoder(Alert)


class History:
    def __init__(
        self, path: str | Path, *, retention_hours: float = 168.0, sample_interval: float = 10.0,
        max_size_mb: float = 0.0, max_disk_percent: float = 0.0,
        keyframe_interval: float = 600.0, keyframe_deltas: int = 1000,
    ) -> None:
        self.path = Path(path)
        self.retention = retention_hours * 3600.0
        self.max_bytes = max_size_mb * 1_000_000
        self.max_disk_percent = max_disk_percent
        self.recorder = Recorder(keyframe_seconds=keyframe_interval,
                                 keyframe_deltas=keyframe_deltas)
        self.sample_interval = sample_interval
        self.past = Past()
        self.last_version = 0
        self.last_event_seq = 0
        # The identity of the change log these versions count in (layout 4's `meta`); until
        # opened, one of its own (versions from 0, kept nowhere).
        self.log_id = secrets.token_hex(8)
        # Newest last; what a new event stream starts with.
        self.recent_events: deque[tuple[int, Event]] = deque(maxlen=RECENT_EVENTS)
        self._last_sample: dict[str, float] = {}
        # The index is pruned when it grows past this: SAMPLE_INDEX_LIMIT, or twice what the
        # last pruning kept (see `record_metrics`).
        self._prune_above = SAMPLE_INDEX_LIMIT
        self._writer: Writer | None = None
        self._oldest: float | None = None  # read-only: the oldest moment when opened
        self.last_delta_at = 0.0  # the time of the last delta handed to the writer
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._owner: int | None = None  # the lock file's descriptor while open for writing
        # Alert state and the last successful notification per (receiver, alert), as the
        # last run left them: the alert manager starts from these (no re-page, no lost
        # resolve after a restart).
        self.saved_alerts: list[tuple[Alert, str | None]] = []
        self.saved_deliveries: dict[tuple[str, str], tuple[str, str, float]] = {}
        # Counter changes per key, oldest first ("rising" checks, see counters.CounterWindows),
        # and the last time the previous run wrote a sample (how long Gestalt was away).
        self.saved_counters: dict[str, list[tuple[float, float]]] = {}
        self.last_alive: float | None = None

    def footprint(self) -> dict[str, int]:
        return {"sample_index": len(self._last_sample), "recent_events": len(self.recent_events)}

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._own()
        try:
            self._open()
        except BaseException:
            self._disown()
            raise

    def _own(self) -> None:
        """One process writes a history: HistoryError when another holds it. Two (a second
        `gestalt serve`, `agent` or `mcp` given the same server.data_dir) both ran, without
        a word, each counting its versions on from the other's and recording its own map
        into the one log. A POSIX lock on `<file>.lock`: the system drops it when the
        process ends, however it ends; engines within one process (tests) share it."""
        path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 16, 0).decode(errors="replace").strip()
            os.close(fd)
            raise HistoryError(
                f"{self.path} is in use by another Gestalt process"
                + (f" (pid {holder})" if holder.isdigit() else "")
                + ": give each `gestalt serve`, `agent` and `mcp` a server.data_dir of its "
                "own (--data-dir)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._owner = fd

    def _disown(self) -> None:
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def _open(self) -> None:
        conn = self._connect()
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master").fetchone():
                # A new database: pruning gives pages back to the disk (only settable before
                # the first table).
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        # Versions count on across restarts, pauses and pruning.
        (self.last_version,) = conn.execute(
            "SELECT MAX(v) FROM (SELECT MAX(version) AS v FROM deltas UNION ALL "
            "SELECT MAX(version) FROM keyframes UNION ALL SELECT MAX(start_version) FROM runs)"
        ).fetchone()
        (self.last_event_seq,) = conn.execute("SELECT MAX(seq) FROM events").fetchone()
        self.last_version = self.last_version or 0
        self.last_event_seq = self.last_event_seq or 0
        (self.log_id,) = conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        rows = conn.execute(
            "SELECT seq, body FROM events ORDER BY seq DESC LIMIT ?", (RECENT_EVENTS,)
        ).fetchall()
        for seq, body in reversed(rows):
            self.recent_events.append((seq, decode_event(body)))
        self.saved_alerts = [(_alert_decoder.decode(body), prior) for body, prior in
                             conn.execute("SELECT body, prior FROM alerts ORDER BY ts")]
        # SQLite returns the other columns of the row holding MAX(ts).
        self.saved_deliveries = {
            (receiver, alert_id): (state, severity, ts)
            for receiver, alert_id, state, severity, ts in conn.execute(
                "SELECT receiver, alert_id, state, severity, MAX(ts) FROM notifications "
                "WHERE outcome = 'sent' GROUP BY receiver, alert_id")
        }
        for key, ts, value in conn.execute("SELECT key, ts, value FROM counters "
                                           "ORDER BY key, ts"):
            self.saved_counters.setdefault(key, []).append((ts, value))
        (self.last_alive,) = conn.execute("SELECT MAX(ts) FROM samples").fetchone()
        self._reader = conn
        writing = self._connect()
        writing.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        writer = Writer(self.path, writing, self.recorder, max_age=self.retention,
                        max_bytes=self.max_bytes, max_disk_percent=self.max_disk_percent)
        try:
            with writer.conn:
                self.recorder.start_run(writer.conn, self.last_version, time.time())
            writer.oldest = oldest_moment(writer.conn)
        except sqlite3.Error as exc:
            if not is_disk_full(exc):
                raise
            writer._pause(time.time())
        self._writer = writer
        writer.start()

    def open_readonly(self) -> None:
        """Open for reading only (a past moment without a server): nothing is written, not
        even a run; HistoryError when there is no history here or it is of another layout."""
        if not self.path.is_file():
            raise HistoryError(f"no history at {self.path} (server.data_dir): nothing "
                               "recorded there yet")
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False)
            (layout,) = conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot read it: {exc}") from exc
        if layout != LAYOUT:
            conn.close()
            raise HistoryError(f"{self.path} has history layout {layout}; this Gestalt reads "
                               f"{LAYOUT} (start `gestalt serve` once to upgrade it)")
        self._reader = conn
        self._oldest = oldest_moment(conn)

    def close(self) -> None:
        """Flush everything queued and close. Safe to call twice."""
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._disown()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    # -- state ------------------------------------------------------------------------------
    @property
    def paused(self) -> str | None:
        """Why history is not recording (a full disk), in one line; None while it records."""
        return self._writer.paused if self._writer is not None else None

    @property
    def write_errors(self) -> int:
        return self._writer.write_errors if self._writer is not None else 0

    @property
    def oldest(self) -> float | None:
        """The oldest moment whose topology is kept."""
        return self._writer.oldest if self._writer is not None else self._oldest

    def usage(self) -> dict[str, Any]:
        """What history takes on disk and how far back it reaches (for /api/infra/health)."""
        writer = self._writer
        limit = writer.limit_bytes if writer is not None else None
        return {"bytes": file_bytes(self.path), "limit_bytes": limit, "oldest": self.oldest,
                "paused": self.paused, "path": str(self.path)}

    def _put(self, kind: str, payload: Any) -> None:
        if self._writer is not None:
            self._writer.queue.put((kind, payload))

    # -- writing (called on the event loop; never blocks) ------------------------------------
    def record(self, entry: Entry) -> None:
        """Keep one entry of the change log (History is a `ChangeLog` reader)."""
        change = entry.change
        if isinstance(change, Delta):
            self.last_version = max(self.last_version, change.version)
            for entity_id in change.removals:  # a replaced pod's id never samples again
                self._last_sample.pop(entity_id, None)
            self.last_delta_at = change.timestamp
            self._put("delta", change)
        elif isinstance(change, MetricsFrame):
            self.record_metrics(change.values, change.timestamp)
        else:
            assert entry.seq is not None  # every event is numbered by the log
            self.last_event_seq = entry.seq
            self.recent_events.append((entry.seq, change))
            self._put("event", (entry.seq, change.id, change.timestamp, change.entity_id,
                                change.severity.value, change.source, entry.body))

    def record_metrics(self, values: dict[str, dict[str, Any]], now: float | None = None) -> None:
        now = time.time() if now is None else now
        if len(self._last_sample) > max(self._prune_above, SAMPLE_INDEX_LIMIT):
            # Entities come and go (pods are replaced): forget the ones long quiet. The next
            # pruning waits until the index has doubled again: a map larger than the limit,
            # all of it sampled lately (110,000 entities of federated sites), kept it over
            # the limit, and it was rebuilt whole at each metrics frame, 50-340 ms of the
            # hub's event loop every second.
            horizon = now - 10 * max(self.sample_interval, 1.0)
            self._last_sample = {k: t for k, t in self._last_sample.items() if t >= horizon}
            self._prune_above = 2 * len(self._last_sample)
        rows: list[tuple[str, str, float, float]] = []
        for entity_id, fields in values.items():
            last = self._last_sample.get(entity_id)
            if last is not None and now - last < self.sample_interval:
                continue
            self._last_sample[entity_id] = now
            for name, value in fields.items():
                if name == "custom_metrics":
                    rows.extend((entity_id, k, now, float(v)) for k, v in value.items())
                elif isinstance(value, int | float):
                    rows.append((entity_id, name, now, float(value)))
        if rows:
            self._put("samples", rows)

    def record_frame(self, key: str, rows: list[tuple[str, str, float, float]],
                     now: float) -> bool:
        """Samples made together at `now` (the cost recorder's rates, made off the loop), kept
        all or none by `key`'s sample interval, as `record_metrics` keeps one key's: on the
        loop, gating each of 41,600 keys held it 183 ms once a minute at 110,000 entities.
        False: skipped (too soon after the last)."""
        last = self._last_sample.get(key)
        if last is not None and now - last < self.sample_interval:
            return False
        self._last_sample[key] = now
        if rows:
            self._put("samples", rows)
        return True

    def import_samples(self, rows: list[tuple[str, str, float, float]]) -> None:
        """Metric samples as they are (a snapshot being shown)."""
        if rows:
            self._put("samples", rows)

    def record_alert(self, alert: Alert, prior: str | None = None) -> None:
        body = _alert_encoder.encode(alert)
        self._put("alert", (alert.id, alert.updated_at, alert.state, prior, body))
        self._put("alert_log", (alert.updated_at, alert.id, alert.state, body))

    def forget_alert(self, alert_id: str) -> None:
        self._put("alert_gone", (alert_id,))

    def record_notification(self, line: Notification) -> None:
        self._put("notification", line)

    def record_counter(self, key: str, ts: float, value: float) -> None:
        self._put("counter", (key, ts, value))

    # -- reading ---------------------------------------------------------------------------
    async def events(
        self,
        *,
        limit: int = 100,
        since: float | None = None,
        until: float | None = None,
        entity_id: str | None = None,
        severity: str | None = None,
        source: str | None = None,
    ) -> list[Event]:
        """Newest first. Reads the database, so events from before a restart are included."""
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if until is not None:
            clauses.append("ts <= ?")
            params.append(until)
        if entity_id is not None:
            clauses.append("entity_id = ?")
            params.append(entity_id)
        if severity is not None:
            clauses.append("severity = ?")
            params.append(severity)
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT body FROM events {where} ORDER BY ts DESC, seq DESC LIMIT ?"
        rows = await self._read(sql, (*params, limit))
        return [decode_event(body) for (body,) in rows]

    async def deltas(self, *, since: int = 0, limit: int = 1000) -> list[Delta]:
        """The deltas after version `since`, oldest first, as they were recorded (without
        the noise that recording strips: metric values, `updated_at`)."""
        return await self.read(lambda conn: read_deltas(conn, since, limit=limit,
                                                           past=self.past))

    async def metric_series(
        self, entity_id: str, names: list[str] | None, since: float, until: float | None = None
    ) -> dict[str, list[tuple[float, float]]]:
        sql = "SELECT name, ts, value FROM samples WHERE entity_id = ? AND ts >= ?"
        params: list[Any] = [entity_id, since]
        if until is not None:
            sql += " AND ts <= ?"
            params.append(until)
        if names:
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params.extend(names)
        rows = await self._read(sql + " ORDER BY ts", tuple(params))
        series: dict[str, list[tuple[float, float]]] = {}
        for name, ts, value in rows:
            series.setdefault(name, []).append((ts, value))
        return series

    async def frame_at(self, entity_id: str, name: str, at: float, since: float
                       ) -> tuple[float, dict[str, dict[str, float]]] | None:
        """The samples recorded together with `entity_id`'s `name` when it was last recorded
        in [since, at]: (that time, entity id -> name -> value); None when it was not."""
        def query(conn: sqlite3.Connection) -> tuple[float, dict[str, dict[str, float]]] | None:
            (ts,) = conn.execute("SELECT MAX(ts) FROM samples WHERE entity_id = ? AND name = ? "
                                 "AND ts >= ? AND ts <= ?", (entity_id, name, since, at)).fetchone()
            if ts is None:
                return None
            frame: dict[str, dict[str, float]] = {}
            for key, field, value in conn.execute(
                    "SELECT entity_id, name, value FROM samples WHERE ts = ?", (ts,)):
                frame.setdefault(key, {})[field] = value
            return ts, frame

        return await self.read(query)

    async def notifications(self, *, limit: int = 100) -> list[Notification]:
        """The notification log, newest first."""
        rows = await self._read(
            "SELECT ts, receiver, alert_id, state, severity, outcome, detail FROM notifications "
            "ORDER BY seq DESC LIMIT ?", (limit,))
        return [tuple(row) for row in rows]

    async def flushed(self) -> None:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        done = threading.Event()
        if self._writer is None:
            return
        self._put("barrier", done)
        await asyncio.to_thread(done.wait, 10)

    async def settled(self, at: float) -> None:
        """Before reading the past at `at`: wait for the deltas up to it still queued."""
        writer = self._writer
        if writer is not None and writer.paused is None \
                and writer.committed_at < self.last_delta_at and at >= writer.committed_at:
            await self.flushed()

    def release_idle_past(self, idle: float, now: float | None = None) -> bool:
        """Forget what the past's caches hold when nobody asked for a moment for `idle`
        seconds; whether it did. Never waits: a reading under way keeps them."""
        now = time.monotonic() if now is None else now
        if not self.past.holds or now - self.past.used_at < idle \
                or not self._read_lock.acquire(blocking=False):
            return False
        try:
            self.past = Past()
        finally:
            self._read_lock.release()
        return True

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run `query` on the reading connection, in a worker thread (engine/past.py)."""
        def run() -> T:
            with self._read_lock:
                if self._reader is None:
                    raise HistoryError(f"history at {self.path} is closed")
                return query(self._reader)

        return await asyncio.to_thread(run)

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        def run() -> list[Any]:
            with self._read_lock:
                if self._reader is None:
                    return []
                return self._reader.execute(sql, params).fetchall()

        return await asyncio.to_thread(run)
