"""One site as its agent published it: a keyframe, then the deltas after it, in order.

Pure state: `SiteMirror.apply` takes one message read from the stream and says what the
hub should learn from it (a whole picture, a delta, new numbers, an event) or nothing.
The rules, so that nothing read late or twice moves the map backwards:

- The newest agent of a site is trusted (agents are ordered by their start time, which
  their id carries). A message of an older agent is refused (`stale_agent`), unless the
  trusted one fell silent: then a keyframe of any agent takes over.
- A site is built from a keyframe; deltas before the first one are of no use (ignored).
- A delta is applied only when it is the next version: an older or equal one is a
  duplicate (ignored), a later one means a gap (the hub reads the site again from its
  last keyframe; `gap` says so).
- A keyframe of the trusted agent at a version below the mirror's is ignored; one at or
  above it, following what the mirror holds, is passed on as what it changes (a delta,
  or nothing), not as a whole picture; any other completes a whole picture.
- A periodic keyframe of the trusted agent at the mirror's very version, whose digest
  (model/federation.py) is the sum the mirror keeps of what it holds, says nothing new:
  its parts are counted and their items not read.
- What does not parse, says another schema, lacks the agent's headers or is larger than
  allowed is refused with a counted reason, never raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import TypeVar, cast

import msgspec

from gestalt.model import SCHEMA_VERSION, Connection, Delta, Entity, Event, MetricsFrame
from gestalt.model.changes import decode_delta, decode_event, decode_metrics
from gestalt.model.entities import METRIC_FIELDS
from gestalt.model.federation import (
    AGENT_HEADER,
    STARTED_HEADER,
    KeyframeHead,
    RawKeyframe,
    decode_connection,
    decode_entity,
    decode_heartbeat,
    decode_keyframe_head,
    decode_raw_keyframe,
    schema_of,
)
from gestalt.sources.agents.digest import Shares, SiteDigest


@dataclass(slots=True)
class Incoming:
    """One message as read from the stream."""

    kind: str  # the subject's last token
    body: bytes
    headers: dict[str, str]
    seq: int  # stream sequence
    timestamp: float  # when the server stored it (epoch seconds)


@dataclass(slots=True)
class Picture:
    """The whole site: replace what the hub has of it."""

    entities: list[Entity]
    connections: list[Connection]


@dataclass(slots=True)
class Numbers:
    """Entities whose metrics moved (same shape, new numbers)."""

    entities: list[Entity]
    observed_at: float | None


Outcome = Picture | Delta | Numbers | Event | None


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Assembly:
    agent: str
    version: int
    parts: int
    # The parts' items by id, compared part by part with what the mirror holds (`_kept`):
    # an item equal to the mirror's is its object, the others are listed as changed too.
    entities: dict[str, Entity] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    changed_entities: list[Entity] = field(default_factory=list)
    changed_connections: list[Connection] = field(default_factory=list)
    # The mirror's `changes` when the first part came: the comparisons stand while it
    # holds (a delta of the site read between two parts makes them compare again).
    changes: int = 0
    next_part: int = 1
    # The items as they came on the wire -> the objects kept for them (see `_taken`).
    entity_wire: dict[bytes, Entity] = field(default_factory=dict)
    connection_wire: dict[bytes, Connection] = field(default_factory=dict)
    # Each item's share of the digest, by id (`item_hash` of its bytes).
    entity_hashes: dict[str, int] = field(default_factory=dict)
    connection_hashes: dict[str, int] = field(default_factory=dict)
    # Its digest was the mirror's own at its first part: its parts are only counted.
    verified: bool = False


class SiteMirror:
    def __init__(self, site: str, *, max_bytes: int) -> None:
        self.site = site
        self.max_bytes = max_bytes
        self.entities: dict[str, Entity] = {}
        self.connections: dict[str, Connection] = {}
        self.agent: str | None = None
        self.started = 0  # the trusted agent's start, epoch ms
        self.version = 0
        self.based = False  # built from a keyframe
        self.gap = False
        self.last_keyframe: float | None = None
        self.last_keyframe_version: int | None = None
        self.agent_version = 0  # the version the agent last said it is at
        self.agent_dropped = 0
        self.last_heard: float | None = None  # stream time of the trusted agent's last word
        self.last_applied: float | None = None
        self.rejected: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.last_rejected: str | None = None
        self.last_rejected_at: float | None = None  # when the server stored it (epoch s)
        self.changes = 0  # counts what changed `entities` or `connections` (see `_Assembly`)
        self._assembly: _Assembly | None = None
        # The last keyframe's items by their bytes on the wire (see `_taken`).
        self._entity_wire: dict[bytes, Entity] = {}
        self._connection_wire: dict[bytes, Connection] = {}
        self.decoded = 0  # keyframe items decoded (the others were known by their bytes)
        self._digest = SiteDigest()  # of what the mirror holds (digest.py)
        self.keyframes = 0  # keyframes taken (read in full or known by their digest)
        self.verified = 0  # periodic keyframes known by their digest, their items not read
        self.digest_missed = 0  # the trusted agent's keyframes at our version, digest not ours

    @property
    def assembling(self) -> bool:
        """A keyframe is half read: its first parts are here, the rest still to come."""
        return self._assembly is not None

    # -- one message -----------------------------------------------------------------------
    def apply(self, msg: Incoming, *, trusted_silent: bool = False) -> Outcome:
        try:
            return self._apply(msg, trusted_silent)
        except Refused as exc:
            self.rejected[exc.reason] += 1
            self.last_rejected = exc.reason
            self.last_rejected_at = msg.timestamp
            return None

    def _apply(self, msg: Incoming, trusted_silent: bool) -> Outcome:
        if len(msg.body) > self.max_bytes:
            raise Refused("oversized")
        agent = msg.headers.get(AGENT_HEADER)
        try:
            started = int(msg.headers.get(STARTED_HEADER, ""))
        except ValueError:
            raise Refused("malformed") from None
        if not agent:
            raise Refused("malformed")
        try:
            schema = schema_of(msg.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise Refused("malformed") from None
        if schema != SCHEMA_VERSION:
            raise Refused("schema")
        if agent != self.agent and self.agent is not None and started < self.started \
                and not (trusted_silent and msg.kind == "keyframe"):
            raise Refused("stale_agent")
        try:
            return self._read(msg, agent, started, trusted_silent)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise Refused("malformed") from None

    def _read(self, msg: Incoming, agent: str, started: int, trusted_silent: bool) -> Outcome:
        kind = msg.kind
        if kind == "keyframe":
            if self._known_by_digest(msg, decode_keyframe_head(msg.body), agent):
                return None
            return self._keyframe(msg, decode_raw_keyframe(msg.body), agent, started)
        current = agent == self.agent
        if kind == "heartbeat":
            beat = decode_heartbeat(msg.body)
            if current:
                self.agent_version = max(self.agent_version, beat.version)
                self.agent_dropped = beat.dropped
                self._heard(msg)
            return None
        if kind == "events":
            event = decode_event(msg.body)
            if current:
                self._heard(msg)
            return event if current or started > self.started else None
        if not current:
            self.ignored["awaiting_keyframe"] += 1  # a newer agent's: wait for its keyframe
            return None
        self._heard(msg)
        if kind == "delta":
            return self._delta(decode_delta(msg.body))
        if kind == "metrics":
            return self._metrics(decode_metrics(msg.body))
        raise Refused("unknown_subject")

    def _heard(self, msg: Incoming) -> None:
        if self.last_heard is None or msg.timestamp > self.last_heard:
            self.last_heard = msg.timestamp

    def _known_by_digest(self, msg: Incoming, head: KeyframeHead, agent: str) -> bool:
        """Takes a part of the trusted agent's periodic keyframe at the mirror's very
        version whose digest is the mirror's own: it says what the mirror holds, and its
        items are not read (see `_taken` for what reading them costs the hub's loop, while
        the site's deltas stored behind the keyframe wait). False: read it in full."""
        asm = self._assembly
        if head.part == 1:
            if head.digest is None or agent != self.agent or not self.based or self.gap \
                    or head.version != self.version:
                return False
            if self.digest() != head.digest:
                self.digest_missed += 1
                return False
            asm = self._assembly = _Assembly(agent, head.version, head.parts, verified=True)
        elif asm is None or not asm.verified:
            return False
        if asm.agent != agent or asm.version != head.version \
                or head.part != asm.next_part or head.parts != asm.parts:
            self.ignored["keyframe_part_out_of_order"] += 1
            self._assembly = None
            return True
        asm.next_part += 1
        if head.part < head.parts:
            return True
        self._assembly = None
        self.verified += 1
        self.keyframes += 1
        self.agent_version = max(self.agent_version, head.version)
        self.last_keyframe, self.last_keyframe_version = msg.timestamp, head.version
        self._heard(msg)
        self.last_applied = msg.timestamp
        return True

    def digest(self) -> str | None:
        """The digest of what the mirror holds (as a keyframe of it would say), or None
        before a keyframe was read in full."""
        return self._digest.text(self.entities, self.connections)

    def _keyframe(self, msg: Incoming, part: RawKeyframe, agent: str, started: int) -> Outcome:
        if part.part == 1:
            if agent == self.agent and self.based and part.version < self.version:
                self.ignored["old_keyframe"] += 1
                return None
            self._assembly = _Assembly(agent, part.version, part.parts, changes=self.changes)
        asm = self._assembly
        if asm is None or asm.agent != agent or asm.version != part.version \
                or part.part != asm.next_part or part.parts != asm.parts:
            self.ignored["keyframe_part_out_of_order"] += 1
            self._assembly = None
            return None
        # Each part is compared with the mirror as it comes, not the whole keyframe once
        # its last part is here: at 10,000 entities and 18,000 edges a site's comparison
        # held the hub's event loop for one long stretch (45 ms on an idle machine, several
        # times that on a loaded one, with the collector's passes it set off), and every
        # other site's deltas waited behind it. Part by part, the loop serves the other
        # sites between the parts (each is a message of its own), as it does between the
        # parts' decoding.
        self._taken(part.entities, decode_entity, self._entity_wire, self.entities,
                    asm.entities, asm.changed_entities, asm.entity_wire,
                    (self._digest.entities, asm.entity_hashes))
        self._taken(part.connections, decode_connection, self._connection_wire,
                    self.connections, asm.connections, asm.changed_connections,
                    asm.connection_wire,
                    (self._digest.connections, asm.connection_hashes))
        asm.next_part += 1
        if part.part < part.parts:
            return None
        self._assembly = None
        # The trusted agent's periodic keyframe, following what the mirror holds: the hub
        # has the site already, and learns only what differs (see `_difference`).
        following = agent == self.agent and self.based and not self.gap
        if following and asm.changes != self.changes:
            # The mirror changed between two parts (a delta of the site read among them):
            # compare again, against what it holds now, so nothing the delta did is lost.
            entities, connections = list(asm.entities.values()), list(asm.connections.values())
            asm = _Assembly(agent, part.version, part.parts,
                            entity_wire=asm.entity_wire,
                            connection_wire=asm.connection_wire,
                            entity_hashes=asm.entity_hashes,
                            connection_hashes=asm.connection_hashes)
            _kept(self.entities, entities, asm.entities, asm.changed_entities)
            _kept(self.connections, connections, asm.connections, asm.changed_connections)
        before_entities, before_connections = self.entities, self.connections
        self.changes += 1
        self.agent, self.started = agent, started
        self.version = part.version
        self.agent_version = max(self.agent_version, part.version) if agent == self.agent \
            else part.version
        self.based, self.gap = True, False
        self.last_keyframe, self.last_keyframe_version = msg.timestamp, part.version
        self.keyframes += 1
        self._heard(msg)
        self.last_applied = msg.timestamp
        self.entities, self.connections = asm.entities, asm.connections
        self._entity_wire, self._connection_wire = asm.entity_wire, asm.connection_wire
        self._digest.reset(asm.entity_hashes, asm.connection_hashes)
        if following:
            return _difference(before_entities, before_connections, self, part,
                               asm.changed_entities, asm.changed_connections)
        return Picture(list(self.entities.values()), list(self.connections.values()))

    def _taken(self, raws: list[msgspec.Raw], decode: Callable[[msgspec.Raw], _Item],
               known: dict[bytes, _Item], before: dict[str, _Item], kept: dict[str, _Item],
               changed: list[_Item], wire: dict[bytes, _Item],
               shares: tuple[Shares, dict[str, int]]) -> None:
        """`_kept` for a part's items as they came: an item whose bytes the last keyframe
        had is the object kept then, not decoded again. Most of a site is as it was at its
        last keyframe, and decoding it, then comparing it field by field with the mirror's,
        was most of a periodic keyframe's work (5-9 ms a part of a 10,000-entity site's 11,
        on the hub's loop, while the site's next deltas waited behind the parts: the
        agents' p99 in bench/federation.py --full); a known item is most often the mirror's
        very object. Keeping the bytes costs about a keyframe's size per site (6 MB at
        10,000 entities); a hash of them as the key instead cost as much CPU as it saved.

        The lookups and the bookkeeping run as whole-list passes (`map`, `dict.update`),
        Python looking only at the items decoded or not the mirror's own. Read this way or
        item by item, a keyframe of 10,000 entities still takes 70-100 ms of the loop on an
        idle core while the site's deltas stored behind it wait: a periodic one is known by
        its digest instead (`_known_by_digest`), and this reads the others.

        `shares`: the mirror's items' shares of its digest, and where this keyframe's go
        (`Shares.of_keyframe`)."""
        held, shares_to = shares
        keys = list(map(bytes, raws))
        found = list(map(known.get, keys))
        fresh: list[int] = [i for i, item in enumerate(found) if item is None]
        for i in fresh:
            found[i] = decode(raws[i])
            self.decoded += 1
        items = cast("list[_Item]", found)
        taken: tuple[list[str], list[int]] = _kept(before, items, kept, changed)
        ids: list[str] = taken[0]
        differ: list[int] = taken[1]
        wire.update(zip(keys, items, strict=True))
        own = held.of_keyframe(keys, ids, {*fresh, *differ})
        shares_to.update(zip(ids, own, strict=True))

    def _delta(self, delta: Delta) -> Outcome:
        if not self.based:
            self.ignored["awaiting_keyframe"] += 1
            return None
        if delta.version <= self.version:
            self.ignored["duplicate"] += 1
            return None
        if delta.version > self.version + 1:
            self.gap = True
            self.ignored["gap"] += 1
            return None
        for entity in delta.upserts:
            self.entities[entity.id] = entity
        for eid in delta.removals:
            self.entities.pop(eid, None)
        for conn in delta.edge_upserts:
            self.connections[conn.id] = conn
        for cid in delta.edge_removals:
            self.connections.pop(cid, None)
        self._digest.moved(chain((e.id for e in delta.upserts), delta.removals),
                           chain((c.id for c in delta.edge_upserts), delta.edge_removals))
        self.version = delta.version
        self.agent_version = max(self.agent_version, delta.version)
        self.last_applied = delta.timestamp
        self.changes += 1
        return delta

    def _metrics(self, frame: MetricsFrame) -> Outcome:
        if not self.based or frame.version != self.version:
            self.ignored["metrics_other_version"] += 1
            return None
        moved: list[Entity] = []
        for eid, values in frame.values.items():
            entity = self.entities.get(eid)
            if entity is None:
                continue
            changes = {k: v for k, v in values.items()
                       if k in METRIC_FIELDS or k in ("custom_metrics", "health")}
            if not changes:
                continue
            if not all(_metric_value(k, v) for k, v in changes.items()):
                raise Refused("malformed")
            updated = msgspec.structs.replace(entity, **changes)
            self.entities[eid] = updated
            moved.append(updated)
        self._digest.moved(e.id for e in moved)
        self.changes += 1
        return Numbers(moved, frame.observed_at) if moved else None


_Item = TypeVar("_Item", Entity, Connection)
_ID = attrgetter("id")


def _kept(before: dict[str, _Item], items: list[_Item], kept: dict[str, _Item],
          changed: list[_Item]) -> tuple[list[str], list[int]]:
    """Adds a keyframe's items to `kept` by id, each one equal to what the mirror held as
    the object it held (in `items` too, which it changes), and lists in `changed` the
    items that differ. The mirror's objects (and the hub's: it takes only what differs)
    then live on from keyframe to keyframe: replaced by the keyframe's own, every object of
    a site of 10,000 entities (its lists: about seven tracked objects an entity) was new at
    each keyframe, and the garbage collector's full passes walked the whole map again and
    again (engine/collection.py freezes only what lives long). Python compares only the
    items that are not the mirror's objects already. Returns the items' ids, and the
    indices of those that were not the mirror's objects."""
    ids = list(map(_ID, items))
    olds = list(map(before.get, ids))
    differ = [i for i, (old, item) in enumerate(zip(olds, items, strict=True))
              if old is not item]
    for i in differ:
        old, item = olds[i], items[i]
        if old is not None and old == item:
            items[i] = old
        else:
            changed.append(item)
    kept.update(zip(ids, items, strict=True))
    return ids, differ


def _difference(entities: dict[str, Entity], connections: dict[str, Connection],
                mirror: SiteMirror, last: RawKeyframe, upserts: list[Entity],
                edge_upserts: list[Connection]) -> Delta | None:
    """What a keyframe changes against what the mirror held, as one delta (None: nothing).
    A whole picture makes the hub merge and judge every entity of the site again: at
    10,000 entities that stalled its loop for most of a second, per site, at every
    keyframe, for a picture the deltas had already given it (or nearly: the deltas a
    keyframe replaced, metrics it had not sent yet)."""
    removals = [eid for eid in entities if eid not in mirror.entities]
    edge_removals = [cid for cid in connections if cid not in mirror.connections]
    if not (upserts or removals or edge_upserts or edge_removals):
        return None
    return Delta(version=last.version, timestamp=last.timestamp, observed_at=last.timestamp,
                 upserts=upserts, removals=removals, edge_upserts=edge_upserts,
                 edge_removals=edge_removals)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _metric_value(name: str, value: object) -> bool:
    """A metrics frame's value is a number (or None); custom metrics a map of numbers."""
    if name == "custom_metrics":
        return isinstance(value, dict) and all(
            isinstance(k, str) and _number(v) for k, v in value.items())
    return value is None or _number(value)
