"""History in SQLite (WAL): events, metric samples and topology deltas, kept across restarts.

Writes never block the event loop: they go through a queue to one writer thread that
commits in batches (every half second, or sooner when a batch is large). Reads run in a
worker thread on their own connection; WAL lets them proceed while the writer writes.
History is a reader of the engine's change log (engine/changelog.py): it keeps each
entry's bytes as the log encoded them, so what it holds is what the browser saw. Deltas
are stored with their version so the version continues after a restart (a browser
resuming with an old Last-Event-ID gets a fresh snapshot, never a wrong replay) and so
the topology at a past moment can be rebuilt from them.

The database says its layout in `PRAGMA user_version`; `open` upgrades an older one in
place, one step per layout, and refuses one written by a newer Gestalt.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from gestalt.engine.changelog import Entry
from gestalt.model import Alert, Delta, Event, MetricsFrame
from gestalt.model.changes import decode_delta, decode_event

log = logging.getLogger(__name__)

# The layout as the first releases made it (they did not set user_version: 0). Every
# statement is idempotent, so it is also the upgrade from 0 to 1.
_LAYOUT_1 = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    entity_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_entity ON events (entity_id, ts);
CREATE TABLE IF NOT EXISTS samples (
    entity_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_entity ON samples (entity_id, name, ts);
CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts);
CREATE TABLE IF NOT EXISTS deltas (
    version INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deltas_ts ON deltas (ts);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    state TEXT NOT NULL,
    prior TEXT,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    receiver TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_key ON notifications (receiver, alert_id, ts);
CREATE INDEX IF NOT EXISTS notifications_ts ON notifications (ts);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS counters_key ON counters (key, ts);
"""

# The upgrade to layout N is MIGRATIONS[N - 1]; the current layout is len(MIGRATIONS).
MIGRATIONS: tuple[str, ...] = (_LAYOUT_1,)
LAYOUT = len(MIGRATIONS)


class HistoryError(Exception):
    """History cannot be opened as it is; the message is one line for the user."""

# One line of the notification log: (ts, receiver, alert id, state, severity, outcome, detail).
Notification = tuple[float, str, str, str, str, str, str]

BATCH_SECONDS = 0.5
BATCH_ROWS = 5000
PRUNE_EVERY = 600.0
# Counter changes older than this are pruned, but for each counter's newest (its baseline);
# the "rising" checks look back ten minutes.
COUNTER_KEEP = 3600.0
RECENT_EVENTS = 500
# Entities whose last sample time is remembered before quiet ones are forgotten.
SAMPLE_INDEX_LIMIT = 50_000

_alert_encoder = msgspec.json.Encoder()
_alert_decoder = msgspec.json.Decoder(Alert)
_STOP = object()


class History:
    def __init__(
        self, path: str | Path, *, retention_hours: float = 168.0, sample_interval: float = 10.0
    ) -> None:
        self.path = Path(path)
        self.retention = retention_hours * 3600.0
        self.sample_interval = sample_interval
        self.last_version = 0
        self.last_event_seq = 0
        # Newest last; what a new event stream starts with.
        self.recent_events: deque[tuple[int, Event]] = deque(maxlen=RECENT_EVENTS)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._last_sample: dict[str, float] = {}
        self._writer: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self.write_errors = 0
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
        conn = self._connect()
        try:
            _migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        (self.last_version,) = conn.execute("SELECT MAX(version) FROM deltas").fetchone()
        (self.last_event_seq,) = conn.execute("SELECT MAX(seq) FROM events").fetchone()
        self.last_version = self.last_version or 0
        self.last_event_seq = self.last_event_seq or 0
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
        self._writer = threading.Thread(target=self._write_loop, name="history-writer", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Flush everything queued and close. Safe to call twice."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join(timeout=10)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    # -- writing (called on the event loop; never blocks) ------------------------------------
    def record(self, entry: Entry) -> None:
        """Keep one entry of the change log (History is a `ChangeLog` reader)."""
        change = entry.change
        if isinstance(change, Delta):
            self.last_version = max(self.last_version, change.version)
            for entity_id in change.removals:  # a replaced pod's id never samples again
                self._last_sample.pop(entity_id, None)
            self._queue.put(("delta", (change.version, change.timestamp, entry.body)))
        elif isinstance(change, MetricsFrame):
            self.record_metrics(change.values, change.timestamp)
        else:
            assert entry.seq is not None  # every event is numbered by the log
            self.last_event_seq = entry.seq
            self.recent_events.append((entry.seq, change))
            self._queue.put(("event", (entry.seq, change.id, change.timestamp, change.entity_id,
                                       change.severity.value, change.source, entry.body)))

    def record_metrics(self, values: dict[str, dict[str, Any]], now: float | None = None) -> None:
        now = time.time() if now is None else now
        if len(self._last_sample) > SAMPLE_INDEX_LIMIT:
            # Entities come and go (pods are replaced): forget the ones long quiet.
            horizon = now - 10 * max(self.sample_interval, 1.0)
            self._last_sample = {k: t for k, t in self._last_sample.items() if t >= horizon}
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
            self._queue.put(("samples", rows))

    def record_alert(self, alert: Alert, prior: str | None = None) -> None:
        self._queue.put(("alert", (alert.id, alert.updated_at, alert.state, prior,
                                   _alert_encoder.encode(alert))))

    def forget_alert(self, alert_id: str) -> None:
        self._queue.put(("alert_gone", (alert_id,)))

    def record_notification(self, line: Notification) -> None:
        self._queue.put(("notification", line))

    def record_counter(self, key: str, ts: float, value: float) -> None:
        self._queue.put(("counter", (key, ts, value)))

    # -- reading ---------------------------------------------------------------------------
    async def events(
        self,
        *,
        limit: int = 100,
        since: float | None = None,
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
        """The deltas after version `since`, oldest first, as they were recorded."""
        rows = await self._read("SELECT body FROM deltas WHERE version > ? "
                                "ORDER BY version LIMIT ?", (since, limit))
        return [decode_delta(body) for (body,) in rows]

    async def metric_series(
        self, entity_id: str, names: list[str] | None, since: float
    ) -> dict[str, list[tuple[float, float]]]:
        sql = "SELECT name, ts, value FROM samples WHERE entity_id = ? AND ts >= ?"
        params: list[Any] = [entity_id, since]
        if names:
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params.extend(names)
        rows = await self._read(sql + " ORDER BY ts", tuple(params))
        series: dict[str, list[tuple[float, float]]] = {}
        for name, ts, value in rows:
            series.setdefault(name, []).append((ts, value))
        return series

    async def notifications(self, *, limit: int = 100) -> list[Notification]:
        """The notification log, newest first."""
        rows = await self._read(
            "SELECT ts, receiver, alert_id, state, severity, outcome, detail FROM notifications "
            "ORDER BY seq DESC LIMIT ?", (limit,))
        return [tuple(row) for row in rows]

    async def flushed(self) -> None:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(("barrier", done))
        await asyncio.to_thread(done.wait, 10)

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        def run() -> list[Any]:
            with self._read_lock:
                if self._reader is None:
                    return []
                return self._reader.execute(sql, params).fetchall()

        return await asyncio.to_thread(run)

    # -- the writer thread -------------------------------------------------------------------
    def _write_loop(self) -> None:
        conn = self._connect()
        # None: prune with the first batch. The monotonic clock counts from boot, so "0.0"
        # would mean "pruned at boot" and nothing would be pruned in the first minutes.
        last_prune: float | None = None
        stopping = False
        while not stopping:
            batch: list[Any] = []
            deadline = time.monotonic() + BATCH_SECONDS
            while len(batch) < BATCH_ROWS:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            barriers = []
            try:
                with conn:
                    for kind, payload in batch:
                        if kind == "event":
                            conn.execute(
                                "INSERT INTO events "
                                "(seq, id, ts, entity_id, severity, source, body) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                                "ts = excluded.ts, severity = excluded.severity, "
                                "body = excluded.body",
                                payload,
                            )
                        elif kind == "samples":
                            conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", payload)
                        elif kind == "delta":
                            conn.execute(
                                "INSERT OR REPLACE INTO deltas VALUES (?, ?, ?)", payload
                            )
                        elif kind == "alert":
                            conn.execute(
                                "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)", payload
                            )
                        elif kind == "alert_gone":
                            conn.execute("DELETE FROM alerts WHERE id = ?", payload)
                        elif kind == "notification":
                            conn.execute(
                                "INSERT INTO notifications "
                                "(ts, receiver, alert_id, state, severity, outcome, detail) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", payload
                            )
                        elif kind == "counter":
                            conn.execute("INSERT INTO counters VALUES (?, ?, ?)", payload)
                        elif kind == "barrier":
                            barriers.append(payload)
                    if last_prune is None or time.monotonic() - last_prune > PRUNE_EVERY:
                        last_prune = time.monotonic()
                        self._prune(conn)
            except sqlite3.Error:
                self.write_errors += 1
                log.exception("history: could not write %d records to %s", len(batch), self.path)
            for barrier in barriers:
                barrier.set()
        conn.close()

    def _prune(self, conn: sqlite3.Connection) -> None:
        cutoff = time.time() - self.retention
        for table in ("events", "samples", "deltas", "notifications", "counters"):
            conn.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,))
        conn.execute("DELETE FROM counters WHERE ts < ? AND ts < "
                     "(SELECT MAX(ts) FROM counters AS newer WHERE newer.key = counters.key)",
                     (time.time() - COUNTER_KEEP,))


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database to the current layout, one step at a time, or refuse it."""
    (layout,) = conn.execute("PRAGMA user_version").fetchone()
    if layout > LAYOUT:
        raise HistoryError(f"{path} was written by a newer Gestalt (history layout {layout}; "
                           f"this one reads up to {LAYOUT}): use that version, or another "
                           "data dir")
    for step in range(layout, LAYOUT):
        # One transaction per step: the layout and its number change together.
        conn.executescript(f"BEGIN; {MIGRATIONS[step]}\nPRAGMA user_version = {step + 1}; COMMIT;")
