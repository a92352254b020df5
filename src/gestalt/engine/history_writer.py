"""History's writer thread: batches, retention, and pausing when the disk is full.

Everything history keeps goes through one queue to this thread, which commits in batches
(every half second, or sooner when a batch is large): one transaction per batch, so a
crash loses at most the batch being written, never the file (SQLite, WAL).

Retention, three ways (the `history` section): by age, by the database's size, and by a
percent of the disk it lives on; the oldest moments go first, whichever limit is reached.

A full disk pauses history instead of failing: the batch is rolled back (nothing stored
is touched), `paused` says why in one line (the engine raises an alert with it), and the
live map goes on. While paused, the recorded topology still follows every delta in
memory; every `PROBE_EVERY` seconds the writer prunes and tries again, and when a write
succeeds recording resumes with a keyframe of the present, as a new run (the pause is
the gap between the two runs).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gestalt.engine.aside import aside
from gestalt.engine.history_layout import oldest_moment
from gestalt.engine.memory import LARGE_COMMIT, release
from gestalt.engine.recording import WRITER_STEP, Recorder

log = logging.getLogger(__name__)

BATCH_SECONDS = 0.5
BATCH_ROWS = 5000
PRUNE_EVERY = 600.0
# How often the size limits are checked (cheap: three pragmas).
SIZE_EVERY = 30.0
PROBE_EVERY = 10.0
# Counter changes older than this are pruned, but for each counter's newest (its baseline);
# the "rising" checks look back ten minutes.
COUNTER_KEEP = 3600.0
# Size pruning stops at this fraction of the limit, so it does not run on every check.
SIZE_LOW_WATER = 0.9
STOP = object()

_STATEMENTS = {
    "event": "INSERT INTO events (seq, id, ts, entity_id, severity, source, body) "
             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
             "ts = excluded.ts, severity = excluded.severity, body = excluded.body",
    "alert": "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)",
    "alert_gone": "DELETE FROM alerts WHERE id = ?",
    "notification": "INSERT INTO notifications (ts, receiver, alert_id, state, severity, "
                    "outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "counter": "INSERT INTO counters VALUES (?, ?, ?)",
}


def is_disk_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
        "disk is full" in str(exc) or "No space left" in str(exc)


def file_bytes(path: Path) -> int:
    """The database on disk: the file, its write-ahead log and shared memory."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(f"{path}{suffix}").st_size
        except OSError:
            pass
    return total


class Writer:
    def __init__(self, path: Path, conn: sqlite3.Connection, recorder: Recorder, *,
                 max_age: float, max_bytes: float, max_disk_percent: float) -> None:
        self.path = path
        self.conn = conn
        self.recorder = recorder
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.max_disk_percent = max_disk_percent
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.write_errors = 0
        # Why history is paused (one line for the user), and since when; None: recording.
        self.paused: str | None = None
        self.paused_at: float | None = None
        self.oldest: float | None = oldest_moment(conn)
        self.limit_bytes: float | None = None
        self._broken = False  # a batch was lost: resume with a keyframe before the next
        self.committed_at = 0.0  # the time of the last delta committed
        self._thread = threading.Thread(target=self._loop, name="history-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.queue.put(STOP)
        self._thread.join(timeout=10)

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        conn = self.conn
        # None: prune with the first batch. The monotonic clock counts from boot, so "0.0"
        # would mean "pruned at boot" and nothing would be pruned in the first minutes.
        last_prune: float | None = None
        last_size: float | None = None
        last_probe = time.monotonic()
        stopping = False
        while not stopping:
            batch: list[Any] = []
            deadline = time.monotonic() + BATCH_SECONDS
            while len(batch) < BATCH_ROWS:
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is STOP:
                    stopping = True
                    break
                batch.append(item)
            barriers = [payload for kind, payload in batch if kind == "barrier"]
            deltas = [self.recorder.follow(payload) for kind, payload in batch
                      if kind == "delta"]
            mono = time.monotonic()
            if self.paused is not None:
                if mono - last_probe >= PROBE_EVERY or stopping:
                    last_probe = mono
                    self._probe()
            else:
                prune = last_prune is None or mono - last_prune > PRUNE_EVERY
                sized = last_size is None or mono - last_size > SIZE_EVERY
                self._commit(batch, deltas, prune=prune, sized=sized)
                last_prune = mono if prune else last_prune
                last_size = mono if sized else last_size
            for barrier in barriers:
                barrier.set()
        if self.paused is None:
            try:
                with conn:
                    self.recorder.end_run(conn, time.time())
            except sqlite3.Error:
                log.exception("history: could not mark the end of this run in %s", self.path)
        conn.close()

    def _commit(self, batch: list[Any], deltas: list[Any], *, prune: bool, sized: bool) -> None:
        conn = self.conn
        now = time.time()
        try:
            with conn:
                if self._broken:
                    self.recorder.resume_run(conn, now, now)
                for kind, payload in aside(batch, WRITER_STEP):
                    statement = _STATEMENTS.get(kind)
                    if statement is not None:
                        conn.execute(statement, payload)
                    elif kind == "samples":
                        conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)",
                                         aside(payload, WRITER_STEP))
                    elif kind == "alert_log":
                        conn.execute("INSERT INTO alert_log VALUES (?, ?, ?, ?)", payload)
                for row, bodies in deltas:
                    self.recorder.write_delta(conn, row, bodies)
                if self.recorder.keyframe_due(now):
                    self.recorder.write_keyframe(conn, now)
                if prune:
                    self._prune(conn, now - self.max_age)
                if sized:
                    self._limit_size(conn, now)
            self._broken = False
            self.recorder.committed()
            if deltas:
                self.committed_at = deltas[-1][0][1]
            # Recording a large change (a first map, a source's resync) makes as many
            # temporaries as committing it did, later than the engine's own release.
            if sum(len(bodies) for _row, bodies in deltas) >= LARGE_COMMIT:
                release()
        except sqlite3.Error as exc:
            self.write_errors += 1
            self._broken = self._broken or bool(deltas)
            self.recorder.rolled_back()
            if is_disk_full(exc):
                self._pause(now)
            else:
                log.exception("history: could not write %d records to %s", len(batch),
                              self.path)

    # -- pausing -----------------------------------------------------------------------------
    def _pause(self, now: float) -> None:
        free = shutil.disk_usage(self.path.parent).free
        self.paused = (f"history paused: the disk holding {self.path} is full "
                       f"({free // 1_000_000} MB free); the live map goes on, recording "
                       "resumes when there is room (free space, or lower history.max_size_mb "
                       "or history.retention_hours)")
        self.paused_at = now
        self._broken = True
        log.error("%s", self.paused)

    def _probe(self) -> None:
        """Paused: make room by retention, then try to record the present again."""
        now = time.time()
        try:
            with self.conn:
                self._prune(self.conn, now - self.max_age)
                self._limit_size(self.conn, now)
            with self.conn:
                self.recorder.resume_run(self.conn, self.paused_at or now, now)
        except sqlite3.Error as exc:
            if not is_disk_full(exc):
                log.warning("history: still paused: %s", exc)
            return
        log.warning("history: recording again (paused since %s)", time.ctime(self.paused_at))
        self.paused = self.paused_at = None
        self._broken = False

    # -- retention ---------------------------------------------------------------------------
    def _prune(self, conn: sqlite3.Connection, cutoff: float) -> None:
        for table in ("events", "samples", "notifications", "alert_log"):
            conn.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,))
        conn.execute("DELETE FROM counters WHERE ts < ? AND ts < "
                     "(SELECT MAX(ts) FROM counters AS newer WHERE newer.key = counters.key)",
                     (time.time() - COUNTER_KEEP,))
        self.recorder.prune(conn, cutoff)
        self.oldest = oldest_moment(conn)

    def size_limit(self) -> float | None:
        limits = []
        if self.max_bytes > 0:
            limits.append(self.max_bytes)
        if self.max_disk_percent > 0:
            total = shutil.disk_usage(self.path.parent).total
            limits.append(total * self.max_disk_percent / 100.0)
        return min(limits) if limits else None

    def _limit_size(self, conn: sqlite3.Connection, now: float) -> None:
        """Over the size limit: prune the oldest fifth of what is kept, until under it."""
        self.limit_bytes = limit = self.size_limit()
        if limit is None:
            return
        for _ in range(10):
            if used_bytes(conn) <= limit * SIZE_LOW_WATER or self.oldest is None:
                break
            cutoff = self.oldest + (now - self.oldest) / 5
            log.warning("history: %d bytes used of %d allowed; forgetting before %s",
                        used_bytes(conn), int(limit), time.ctime(cutoff))
            self._prune(conn, cutoff)
        if used_bytes(conn) > limit * SIZE_LOW_WATER:
            # Nothing more to prune by runs (one long run without keyframes yet): events
            # and samples older than a minute go, the topology stays whole.
            self._prune(conn, now - 60)


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database in use (free pages are reused before the file grows)."""
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int((pages - free) * size)
