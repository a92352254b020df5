"""The answers of the live API, as they were at a past moment (`?at=`).

Each reads history (engine/past.py) and shapes the same document the live answer has,
plus `at` (the moment asked), and `gap` when the moment falls where nothing was recorded
(Gestalt down, or history paused). Metric values are not part of the recorded topology
(they move every second; recording strips them): an entity's values at a moment come from
its metric samples, and the overall health score from the topology's own series.

`PastView` stands in for the engine when a `world.infra.*` path is answered at a moment.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from gestalt.engine.filters import TopologyFilter
from gestalt.engine.past import (
    OutsideRetention,
    Past,
    State,
    alerts_at,
    changes,
    iso,
    sample_at,
)
from gestalt.engine.runtime import TOPOLOGY_SERIES, Engine
from gestalt.engine.scoring import overall_status, summarize
from gestalt.engine.store import Store
from gestalt.model import Alert, Connection, Entity, Topology

# A moment this far ahead of the clock is refused (clocks of client and server differ a
# little; "in an hour" is a mistake).
FUTURE_SLACK = 5.0
_encode = msgspec.json.Encoder().encode


class BadMoment(ValueError):
    """A moment that cannot be answered as asked (in the future, or `from` after `to`)."""


async def state_at(engine: Engine, at: float) -> State:
    await _answerable(engine, at)
    return await engine.history.read(lambda conn: engine.history.past.state_at(conn, at))


async def _answerable(engine: Engine, at: float) -> None:
    """Refuse a moment in the future; wait for the deltas up to `at` still queued."""
    if at > time.time() + FUTURE_SLACK:
        raise BadMoment(f"{iso(at)} is in the future (now is {iso(time.time())})")
    await engine.history.settled(at)


async def topology_at(engine: Engine, at: float, entities: list[Entity] | None = None,
                      connections: list[Connection] | None = None,
                      state: State | None = None) -> dict[str, Any]:
    """The topology document at `at` (the filtered `entities`/`connections` when given)."""
    state = state if state is not None else await state_at(engine, at)
    ents = list(state.entities.values()) if entities is None else entities
    conns = list(state.connections.values()) if connections is None else connections
    summary = summarize(ents)
    summary.overall = await overall_at(engine, at)
    return {"version": state.version, "timestamp": state.timestamp, "at": at,
            "entities": ents, "connections": conns, "summary": summary, "sources": [],
            "gap": _gap(state)}


async def topology_json_at(engine: Engine, at: float,
                           flt: TopologyFilter | None = None) -> bytes:
    """The JSON of `topology_at` (filtered by `flt`, the summary of what it keeps, as the
    live route's), rebuilt, shaped and encoded in one turn of history's reading thread:
    the event loop is not held for the 10,000 entities' summary and encoding, and a busy
    machine makes the answer wait for one thread hand-over, not three."""
    await _answerable(engine, at)
    past, window = engine.history.past, sample_window(engine)
    return await engine.history.read(lambda conn: topology_json(conn, past, at, window, flt))


def topology_json(conn: sqlite3.Connection, past: Past, at: float, window: float,
                  flt: TopologyFilter | None = None) -> bytes:
    """`topology_json_at`'s work, in history's reading thread."""
    state = past.state_at(conn, at)
    overall = sample_at(conn, TOPOLOGY_SERIES, at, window).get("health")
    return encode_topology(past, state, overall, flt)


def encode_topology(past: Past, state: State, overall: float | None,
                    flt: TopologyFilter | None = None) -> bytes:
    entities: list[Entity] = list(state.entities.values())
    connections: list[Connection] = list(state.connections.values())
    if flt is not None and not flt.empty:
        entities, connections = flt.apply(entities, connections)
    summary = summarize(entities)
    summary.overall = overall
    return _encode({"version": state.version, "timestamp": state.timestamp, "at": state.at,
                    "entities": past.encoded(entities),
                    "connections": past.encoded(connections), "summary": summary,
                    "sources": [], "gap": _gap(state)})


async def change_json_at(engine: Engine, at: float, since: float,
                         flt: TopologyFilter | None = None) -> bytes:
    """The topology at `at` as the change from the one at `since` (`?at=&since=`): a
    browser scrubbing holds the map at `since` and applies the few entities and edges that
    differ, not the whole topology again. Encoded in history's reading thread, as
    `topology_json_at`."""
    await _answerable(engine, at)
    await _answerable(engine, since)
    past, window = engine.history.past, sample_window(engine)
    return await engine.history.read(
        lambda conn: change_json(conn, past, at, since, window, flt))


def change_json(conn: sqlite3.Connection, past: Past, at: float, since: float, window: float,
                flt: TopologyFilter | None = None) -> bytes:
    """`change_json_at`'s work: `{version, timestamp, at, since, since_version, upserts,
    removals, edge_upserts, edge_removals, summary, sources, gap}`. Applied to the topology
    at `since` (the same filter), it gives the topology at `at`: the same entities, edges,
    summary and gap. `since_version` lets the client check that it holds that topology."""
    state = past.state_at(conn, at)
    try:
        base = past.state_at(conn, since)
    except OutsideRetention as exc:
        raise OutsideRetention(since, exc.oldest, name="since") from None
    overall = sample_at(conn, TOPOLOGY_SERIES, at, window).get("health")
    entities, connections = _kept(state, flt)
    old_entities, old_connections = _kept(base, flt)
    upserts, removals = changes(old_entities, entities)
    edge_upserts, edge_removals = changes(old_connections, connections)
    summary = summarize(entities.values())
    summary.overall = overall
    return _encode({"version": state.version, "timestamp": state.timestamp, "at": state.at,
                    "since": base.at, "since_version": base.version,
                    "upserts": past.encoded(upserts), "removals": removals,
                    "edge_upserts": past.encoded(edge_upserts), "edge_removals": edge_removals,
                    "summary": summary, "sources": [], "gap": _gap(state)})


def _kept(state: State, flt: TopologyFilter | None
          ) -> tuple[dict[str, Entity], dict[str, Connection]]:
    """A state's entities and connections by id, those `flt` keeps."""
    if flt is None or flt.empty:
        return state.entities, state.connections
    entities, connections = flt.apply(state.entities.values(), state.connections.values())
    return {e.id: e for e in entities}, {c.id: c for c in connections}


def sample_window(engine: Engine) -> float:
    """How far back a metric sample still stands for a moment."""
    return max(engine.history.sample_interval * 3, 30.0)


async def overall_at(engine: Engine, at: float) -> float | None:
    window = sample_window(engine)
    values = await engine.history.read(lambda conn: sample_at(conn, TOPOLOGY_SERIES, at, window))
    return values.get("health")


async def health_at(engine: Engine, at: float) -> dict[str, Any]:
    state = await state_at(engine, at)
    summary = summarize(state.entities.values())
    summary.overall = await overall_at(engine, at)
    return {"overall": summary.overall, "status": overall_status(summary), "summary": summary,
            "sources": [], "at": at, "gap": _gap(state)}


async def entity_at(engine: Engine, entity_id: str, at: float) -> dict[str, Any] | None:
    state = await state_at(engine, at)
    entity = state.entities.get(entity_id)
    if entity is None:
        return None
    window = sample_window(engine)
    metrics = await engine.history.read(lambda conn: sample_at(conn, entity_id, at, window))
    edges = [c for c in state.connections.values()
             if entity_id in (c.source_id, c.target_id)]
    events = await engine.history.events(limit=20, entity_id=entity_id, until=at)
    return {
        "entity": entity,
        "incoming": [c for c in edges if c.target_id == entity_id],
        "outgoing": [c for c in edges if c.source_id == entity_id],
        "events": events,
        "metrics": metrics,
        "at": at,
        "gap": _gap(state),
    }


async def alerts_then(engine: Engine, at: float) -> list[Alert]:
    """Every alert as it stood at `at`; raises OutsideRetention like the topology."""
    oldest = engine.history.oldest
    if oldest is None or at < oldest:
        raise OutsideRetention(at, oldest)
    if at > time.time() + FUTURE_SLACK:
        raise BadMoment(f"{iso(at)} is in the future (now is {iso(time.time())})")
    return await engine.history.read(lambda conn: alerts_at(conn, at))


def _gap(state: State) -> dict[str, Any] | None:
    if state.gap is None:
        return None
    stopped, resumed = state.gap
    return {"from": stopped, "to": resumed,
            "message": f"nothing recorded from {iso(stopped)} to "
                       f"{iso(resumed) if resumed is not None else 'now'} (Gestalt was down "
                       "or history paused): this is the last state recorded before"}


class PastView:
    """The engine as it was at a moment, for the `world.infra.*` paths: the store holds
    the recorded topology; anything else is the live engine's."""

    def __init__(self, engine: Engine, state: State, alerts: list[Alert]) -> None:
        self._engine = engine
        self._alerts = alerts
        self.state = state
        self.store = Store()
        self.store.apply(upserts=state.entities.values(), edge_upserts=state.connections.values())
        self.store.version, self.store.timestamp = state.version, state.timestamp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def topology(self) -> Topology:
        entities = list(self.store.entities.values())
        return Topology(version=self.state.version, timestamp=self.state.timestamp,
                        entities=entities, connections=list(self.store.connections.values()),
                        summary=summarize(entities), sources=[])

    def summary(self) -> Any:
        return summarize(self.store.entities.values())

    def alerts(self) -> list[Alert]:
        return self._alerts

    def source_statuses(self) -> list[Any]:
        return []


async def past_view(engine: Engine, at: float) -> PastView:
    state = await state_at(engine, at)
    return PastView(engine, state, await alerts_then(engine, at))
