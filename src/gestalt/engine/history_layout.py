"""History's database layout, and its upgrades.

The database says its layout in `PRAGMA user_version`; `migrate` upgrades an older one in
place, one step per layout, and refuses one written by a newer Gestalt.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class HistoryError(Exception):
    """History cannot be opened as it is; the message is one line for the user."""


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

# Layout 2, time travel (engine/recording.py): entity and connection bodies stored once by
# content hash, deltas by reference (`form` 1; layout-1 rows stay whole JSON, `form` 0),
# keyframes, runs (what was recorded without a hole; the gaps between are downtime) and
# every alert change (the alerts at a past moment). Deltas written before it become one
# run, from their first to their last.
_LAYOUT_2 = """
CREATE TABLE IF NOT EXISTS bodies (
    hash BLOB PRIMARY KEY,
    body BLOB NOT NULL,
    last_used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keyframes (
    version INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS keyframes_ts ON keyframes (ts);
CREATE TABLE IF NOT EXISTS runs (
    start_version INTEGER NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_log (
    ts REAL NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_log_ts ON alert_log (ts);
ALTER TABLE deltas ADD COLUMN form INTEGER NOT NULL DEFAULT 0;
INSERT INTO runs (start_version, start_ts, end_ts, kind)
    SELECT MIN(version) - 1, MIN(ts), MAX(ts), 'start' FROM deltas HAVING COUNT(*) > 0;
INSERT INTO alert_log (ts, id, state, body) SELECT ts, id, state, body FROM alerts;
"""

# Layout 3 (engine/recording.py): keyframes may be incremental, `base` the keyframe they
# build on (NULL: a full one, as every keyframe before); bodies may be packed with a
# dictionary trained on the topology (their first byte its id; older ones keep theirs).
_LAYOUT_3 = """
ALTER TABLE keyframes ADD COLUMN base INTEGER;
CREATE TABLE IF NOT EXISTS dictionaries (
    id INTEGER PRIMARY KEY,
    body BLOB NOT NULL,
    items INTEGER NOT NULL
);
"""

# Layout 4: `meta`, and in it `log_id`, the identity of this database's change log (random,
# made once). Versions count on across restarts only within one database: a browser resuming
# with another log's id (another data dir, a history deleted and begun again) is answered
# with a snapshot, whatever its version (api/sse.py).
_LAYOUT_4 = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', lower(hex(randomblob(8))));
"""

# The upgrade to layout N is MIGRATIONS[N - 1]; the current layout is len(MIGRATIONS).
MIGRATIONS: tuple[str, ...] = (_LAYOUT_1, _LAYOUT_2, _LAYOUT_3, _LAYOUT_4)
LAYOUT = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database to the current layout, one step at a time, or refuse it."""
    (layout,) = conn.execute("PRAGMA user_version").fetchone()
    if layout > LAYOUT:
        raise HistoryError(f"{path} was written by a newer Gestalt (history layout {layout}; "
                           f"this one reads up to {LAYOUT}): use that version, or another "
                           "data dir")
    for step in range(layout, LAYOUT):
        # One transaction per step: the layout and its number change together.
        conn.executescript(f"BEGIN; {MIGRATIONS[step]}\nPRAGMA user_version = {step + 1}; COMMIT;")


def oldest_moment(conn: sqlite3.Connection) -> float | None:
    """The start of the first run kept: the oldest moment history can answer."""
    (oldest,) = conn.execute("SELECT MIN(start_ts) FROM runs").fetchone()
    return float(oldest) if oldest is not None else None
