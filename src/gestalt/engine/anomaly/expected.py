"""Saying an anomaly is expected (a deploy, a batch job), and remembering it across restarts.

A user's word is recorded once, as an `AnomalyExpected` event in the feed; that event is
the record. When the engine starts, the mutes whose time is not up are read back from
those events in history, so a series muted for two hours stays muted through a restart
(and one whose time ran out while Gestalt was down is not revived). The message is made
and read here only: its wording is the format.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid

import msgspec

from gestalt.engine.anomaly.detector import Detector
from gestalt.engine.history import History
from gestalt.model import Entity, Event, Severity
from gestalt.model.changes import decode_event

log = logging.getLogger(__name__)

MAX_MINUTES = 7 * 24 * 60  # the longest a user may mute a series for
EVENT_PREFIX = "anomaly-expected:"
EVERY_SERIES = "every series"
_MESSAGE = re.compile(r"^(?P<what>.+?) expected to be unusual for (?P<minutes>[0-9.e+]+) min: "
                      r"(?P<reason>.*)$", re.S)


def expected_event(entity: Entity, series: str | None, minutes: float, reason: str,
                   now: float) -> Event:
    """The feed's record of a mute (and what `restore` reads back)."""
    return Event(
        id=f"{EVENT_PREFIX}{uuid.uuid4().hex}", type="Normal", reason="AnomalyExpected",
        message=f"{series or EVERY_SERIES} expected to be unusual for {minutes:g} min: {reason}",
        entity_id=entity.id, entity_kind=entity.kind, entity_name=entity.name,
        namespace=entity.namespace, timestamp=now, source="anomaly", severity=Severity.INFO)


def mute_of(event: Event) -> tuple[str | None, float, str] | None:
    """(series or None for every series, until, reason) of an `AnomalyExpected` event."""
    match = _MESSAGE.match(event.message)
    if event.reason != "AnomalyExpected" or match is None:
        return None
    what = match["what"]
    until = event.timestamp + float(match["minutes"]) * 60
    return (None if what == EVERY_SERIES else what), until, match["reason"]


def _expected_events(conn: sqlite3.Connection, since: float) -> list[Event]:
    # A range on the unique index of ids: only these events are read, however busy the feed.
    rows = conn.execute("SELECT id, body FROM events WHERE id >= ? AND id < ? AND ts >= ? "
                        "ORDER BY ts", (EVENT_PREFIX, EVENT_PREFIX[:-1] + ";", since))
    events = []
    for event_id, body in rows:
        try:
            events.append(decode_event(body))
        except msgspec.DecodeError as exc:  # one unreadable row must not stop the engine
            log.warning("anomaly: cannot read event %s in history: %s", event_id, exc)
    return events


async def restore(detector: Detector, history: History, now: float) -> int:
    """Mute again what users said to expect and whose time is not up; how many."""
    restored = 0
    for event in await history.read(lambda conn: _expected_events(conn, now - MAX_MINUTES * 60)):
        mute = mute_of(event)
        if mute is None:
            log.warning("anomaly: cannot read the mute in event %s: %r", event.id, event.message)
            continue
        series, until, reason = mute
        if until > now:
            detector.mute(event.entity_id, series, until, reason, at=event.timestamp)
            restored += 1
    return restored
