"""The actions' audit log: every request and its outcome, in SQLite, append-only.

Its own database file beside history's (`actions.sqlite3`), so history's retention never
touches it, and triggers make the table refuse UPDATE and DELETE: a row, once written, is
evidence. Each row: when, who (`operator` or `anonymous`), from where (the client address
and Origin), the action, its target and parameters, the outcome (`refused`, `dry_run`,
`done`, `failed`) and why.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    client TEXT NOT NULL,
    origin TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    experiment TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
COLUMNS = ("id", "at", "actor", "client", "origin", "action", "target", "params", "outcome",
           "message", "experiment")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        self._db = db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def record(self, *, actor: str, client: str, origin: str, action: str, target: str,
               params: dict[str, Any], outcome: str, message: str,
               experiment: str = "") -> dict[str, Any]:
        self.open()
        assert self._db is not None
        row = {"at": time.time(), "actor": actor, "client": client, "origin": origin,
               "action": action[:100], "target": target[:500],
               "params": json.dumps(params, sort_keys=True, default=str)[:2000],
               "outcome": outcome, "message": message[:2000], "experiment": experiment}
        with self._lock:
            cursor = self._db.execute(
                f"INSERT INTO audit ({', '.join(COLUMNS[1:])}) VALUES "
                f"({', '.join('?' * (len(COLUMNS) - 1))})", tuple(row.values()))
        return {"id": cursor.lastrowid, **row, "params": params}

    def entries(self, *, limit: int = 100, experiment: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        self.open()
        assert self._db is not None
        where, args = ("WHERE experiment = ?", [experiment]) if experiment else ("", [])
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit {where} "
                                    "ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        out = []
        for values in rows:
            entry = dict(zip(COLUMNS, values, strict=True))
            entry["params"] = json.loads(entry["params"])
            out.append(entry)
        return out
