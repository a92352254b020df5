"""Federation on the wire: what an agent publishes to JetStream and a hub reads.

An agent (`gestalt agent`) publishes its engine's change log, the same bytes history and
the browser get (model/changes.py), to one JetStream stream, one subject per kind:

    gestalt.<site>.delta       a `Delta`, in version order
    gestalt.<site>.metrics     a `MetricsFrame`
    gestalt.<site>.events      an `Event` (the feed)
    gestalt.<site>.keyframe    the whole graph at one version, in parts (`Keyframe`)
    gestalt.<site>.heartbeat   "still here, at version V" (`Heartbeat`), when idle

Keyframes have a subject of their own so that a hub (re)building a site asks the stream
for the last one directly (`get_last_msg`) and reads on from there, instead of scanning.
Heartbeats let a hub tell an idle site from a silent one.

Every message carries headers: `Nats-Msg-Id` (JetStream deduplicates a republish after a
reconnect), the agent's id and its start time. An agent's id is new on each start
(`<name>-<start in ms>`): versions of an agent that lost its history start again, and must
never be taken for duplicates of the last run's. A hub trusts the newest agent of a site
and ignores older ones (see sources/agents), so nothing republished late moves the map
backwards.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
import re
from collections.abc import Iterable, Iterator
from typing import Annotated

import msgspec

from gestalt.model.entities import Connection, Entity
from gestalt.model.schema import SCHEMA_VERSION

SUBJECT_PREFIX = "gestalt"
KINDS = ("delta", "metrics", "events", "keyframe", "heartbeat")

# A site is one subject token: letters, digits, `-` and `_` (no dots, no wildcards).
SITE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SiteName = Annotated[str, msgspec.Meta(pattern=SITE_PATTERN)]
_SITE = re.compile(SITE_PATTERN)

# Headers (besides Nats-Msg-Id).
AGENT_HEADER = "Gestalt-Agent"
STARTED_HEADER = "Gestalt-Started"  # the agent's start, epoch milliseconds
# On every keyframe part: the stream sequence of its first part, where a rebuild starts.
KEYFRAME_START_HEADER = "Gestalt-Keyframe-Start"
MSG_ID_HEADER = "Nats-Msg-Id"

# A keyframe's digest: the sum (mod 2^64) of a hash of each of its items' JSON, entities
# and connections alike, so that the order of the items does not count and any change of
# one does. A hub that keeps the same sum of what it holds (sources/agents/mirror.py) knows
# that a periodic keyframe says nothing new without reading its items: reading a site of
# 10,000 entities took 70-100 ms of the hub's loop per keyframe on an idle core, while the
# site's deltas stored behind it waited (bench/keyframe_follow.py).
DIGEST_BITS = 64
DIGEST_MASK = (1 << DIGEST_BITS) - 1
Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]


def is_site(name: str) -> bool:
    return bool(_SITE.match(name))


def subject(site: str, kind: str) -> str:
    return f"{SUBJECT_PREFIX}.{site}.{kind}"


def site_subjects(site: str) -> str:
    """Every subject of one site (a consumer's filter, an agent's publish permission)."""
    return f"{SUBJECT_PREFIX}.{site}.>"


def is_refusal(error: BaseException | str) -> bool:
    """Whether a NATS error says the server refused our credentials or permissions."""
    text = str(error).lower()
    return "authorization" in text or "permissions violation" in text \
        or "authentication" in text


def inbox_prefix(site: str) -> str:
    """Where an agent's replies (publish acknowledgements) come: its own, so that a
    server can let it read only those (deploy/nats/gestalt.conf)."""
    return f"_INBOX.gestalt-{site}"


def agent_id(name: str, started_ms: int) -> str:
    return f"{name}-{started_ms}"


class Keyframe(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
               tag=SCHEMA_VERSION):
    """The whole graph of a site at `version`, in `parts` messages (a message has a size
    limit; a site does not). Parts of one keyframe share the version and arrive in order."""

    version: int
    timestamp: float
    part: int = 1
    parts: int = 1
    # `digest_text(digest_of(...))` of every item of the whole keyframe (on every part);
    # None from an agent that sends none.
    digest: Digest | None = None
    entities: list[Entity] = []
    connections: list[Connection] = []


class RawKeyframe(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
                  tag=SCHEMA_VERSION):
    """`Keyframe` as a hub reads it: the items as they are on the wire, each decoded on its own
    (`decode_entity`, `decode_connection`): a hub that has one's bytes already (most of a
    site's from its last keyframe) takes the object it holds instead of decoding it."""

    version: int
    timestamp: float
    part: int = 1
    parts: int = 1
    digest: Digest | None = None
    entities: list[msgspec.Raw] = []
    connections: list[msgspec.Raw] = []


class KeyframeHead(msgspec.Struct, kw_only=True):
    """A keyframe part's head alone: reading it skips the items (a part the hub need not
    read, its digest being the hub's own)."""

    version: int
    timestamp: float
    part: int = 1
    parts: int = 1
    digest: Digest | None = None


class Heartbeat(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="schema",
                tag=SCHEMA_VERSION):
    """Sent by an idle agent: its version now (a hub behind it knows how far), and what it
    has had to drop while the NATS server was out of reach."""

    version: int
    timestamp: float
    dropped: int = 0
    buffered: int = 0


class _Head(msgspec.Struct):
    schema: int = 1


_head = msgspec.json.Decoder(_Head)
_raw_keyframe = msgspec.json.Decoder(RawKeyframe)
_keyframe_head = msgspec.json.Decoder(KeyframeHead)
_entity = msgspec.json.Decoder(Entity)
_connection = msgspec.json.Decoder(Connection)
_heartbeat = msgspec.json.Decoder(Heartbeat)
_encoder = msgspec.json.Encoder()


def schema_of(body: bytes) -> int:
    """The `schema` a document says (1 when it says none); raises msgspec.DecodeError or
    ValidationError when it is not a JSON object."""
    return _head.decode(body).schema


def encode(value: Keyframe | Heartbeat) -> bytes:
    return _encoder.encode(value)


def decode_raw_keyframe(body: bytes) -> RawKeyframe:
    return _raw_keyframe.decode(body)


def decode_keyframe_head(body: bytes) -> KeyframeHead:
    return _keyframe_head.decode(body)


_hasher = functools.partial(hashlib.blake2b, digest_size=DIGEST_BITS // 8)
_digest_bytes = operator.methodcaller("digest")
_little_endian = functools.partial(int.from_bytes, byteorder="little")


def item_hash(body: bytes) -> int:
    """One item's share of a digest (its JSON's hash, the same in every process)."""
    return int.from_bytes(_hasher(body).digest(), "little")


def item_hashes(bodies: Iterable[bytes]) -> Iterator[int]:
    """`item_hash` of each, in passes of C calls (half the time of a Python loop: a site's
    first keyframe hashes all of its 28,000 items)."""
    return map(_little_endian, map(_digest_bytes, map(_hasher, bodies)))


def digest_of(*items: Iterable[bytes]) -> int:
    """The digest of items given as their JSON (`item_hash`, summed)."""
    return sum(item_hashes(itertools.chain(*items))) & DIGEST_MASK


def digest_text(digest: int) -> str:
    return f"{digest & DIGEST_MASK:016x}"


def decode_entity(raw: msgspec.Raw) -> Entity:
    return _entity.decode(raw)


def decode_connection(raw: msgspec.Raw) -> Connection:
    return _connection.decode(raw)


def decode_heartbeat(body: bytes) -> Heartbeat:
    return _heartbeat.decode(body)


def keyframe_parts(version: int, timestamp: float, entities: list[bytes],
                   connections: list[bytes], max_bytes: int,
                   digest: int | None = None) -> list[bytes]:
    """A keyframe as parts of at most about `max_bytes` each, built from the entities and
    connections encoded one by one; each part says the whole keyframe's `digest` when
    given (`digest_of` the same items)."""
    chunks: list[tuple[list[bytes], list[bytes]]] = [([], [])]
    size = 0
    for index, items in ((0, entities), (1, connections)):
        for item in items:
            if size and size + len(item) > max_bytes:
                chunks.append(([], []))
                size = 0
            chunks[-1][index].append(item)
            size += len(item) + 1
    parts = len(chunks)
    head = f'{{"schema":{SCHEMA_VERSION},"version":{version},"timestamp":'.encode() + \
        _encoder.encode(timestamp) + \
        (f',"digest":"{digest_text(digest)}"'.encode() if digest is not None else b"")
    return [b"".join((head, f',"part":{n},"parts":{parts},"entities":['.encode(),
                      b",".join(ents), b'],"connections":[', b",".join(conns), b"]}"))
            for n, (ents, conns) in enumerate(chunks, 1)]
