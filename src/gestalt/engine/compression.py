"""How a stored body (one entity's or connection's JSON, engine/recording.py) is compressed.

A body is a few hundred bytes of JSON, too little for deflate to find repeats in by
itself: it is packed with a dictionary. The first ones were packed with a fixed preset
(`_ZDICT`, zlib framing: their first byte is 0x78); since layout 3, with a dictionary
trained on the topology itself (raw deflate, after one byte naming the dictionary).
"""

from __future__ import annotations

import functools
import sqlite3
import zlib
from collections.abc import Iterable, Mapping

# A preset dictionary for zlib: a body is a few hundred bytes of JSON, too little for
# deflate to find repeats in; primed with the field names and common values it shrinks
# by about half. Stored bodies depend on it: never edit it, add a new one beside it.
_ZDICT = (
    b'"kind":"network","attrs":{"via":"owns","depends","volume","http","grpc","nats",'
    b'"container_id","restart_count":0,"image":"ports","node","phase":"Running",'
    b'"pod_ip","host_ip","ready":true,"replicas","ready_replicas","command","created",'
    b'"namespace":"default","status":"running","health_status":"ok","health_reasons":[],'
    b'"labels":{"app":"app.kubernetes.io/name","pod-template-hash","annotations":{},'
    b'"endpoints":["sources":["kubernetes","docker","host","nats","otel","postgres"],'
    b'"stale":true,"created_at":1764000000.0,"source_id":"target_id":"id":"name":'
    b'"pod:","container:","service:","deployment:","replicaset:","node:","process:"'
)


def pack(body: bytes) -> bytes:
    packer = _primed(_ZDICT, 15).copy()
    return packer.compress(body) + packer.flush()


# deflate's memLevel for packing bodies. Each body is packed by a copy of a primed
# compressor, and a copy allocates and fills deflate's whole state: the window and its
# chain (64 KiB each at a 32 KiB window), the hash heads and the pending buffer (2^(memLevel
# + 8) bytes each). At memLevel 9 those two are 128 KiB, which glibc maps and unmaps
# afresh for every body (its mmap threshold, which `gestalt serve` holds at 128 KiB:
# cli/serve.py): 210-275 us a body. At 8 (64 KiB each) the state freed at the heap's top
# made glibc trim the heap and fault it back in at the next body, 130 us in a fresh
# process; at 6 (16 KiB each) 10-15 us whatever the heap looked like. History's writer
# packs every body of a hub's first pictures (300,000 at 10 sites of 10,000 entities), in
# a thread that competes with the event loop for the GIL. A body of a few hundred bytes
# packs to the same bytes at any memLevel; longer input (references) packs within 1 % of
# the size, and everything unpacks the same.
MEM_LEVEL = 6


@functools.lru_cache(maxsize=4)
def _primed(words: bytes, wbits: int) -> zlib._Compress:
    """A compressor that has taken in `words` and nothing else; each body is packed by a
    copy of it. Making one per body set the dictionary up again each time (deflate hashes
    all of it): that was half of packing a ~130-byte body, and history's writer thread
    packs every body that changes (a tenth of a core at 100 changes/s). The copy's output
    is byte for byte the same. (zlib's copy holds the object's lock: threads may share it.)"""
    return zlib.compressobj(6, zlib.DEFLATED, wbits, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, words)


def unpack(packed: bytes) -> bytes:
    unpacker = zlib.decompressobj(zdict=_ZDICT)
    return unpacker.decompress(packed) + unpacker.flush()


# Trained dictionaries: a body packed with one starts with its id (1..MAX_DICTIONARIES), then
# raw deflate; 0x78 (120), the first byte of a zlib stream, is a body packed with _ZDICT.
MAX_DICTIONARIES = 119
DICTIONARY_BYTES = 32 * 1024  # deflate's window: a longer dictionary is not used
# Bodies of each kind (entity kinds, edge kinds) a dictionary is made of.
SAMPLES_PER_KIND = 4
Dictionaries = Mapping[int, bytes]


def pack_with(body: bytes, dictionary: tuple[int, bytes]) -> bytes:
    number, words = dictionary
    packer = _primed(words, -15).copy()
    return bytes((number,)) + packer.compress(body) + packer.flush()


def unpack_body(packed: bytes, dictionaries: Dictionaries) -> bytes:
    """A stored body; KeyError when its dictionary is not in `dictionaries`."""
    if packed[0] == 0x78:
        return unpack(packed)
    unpacker = zlib.decompressobj(-15, zdict=dictionaries[packed[0]])
    return unpacker.decompress(memoryview(packed)[1:]) + unpacker.flush()


def train(bodies: Iterable[tuple[str, bytes]]) -> bytes:
    """A deflate dictionary from (group, body) samples: a few bodies of each group, the
    most common groups last (deflate reaches the end of a dictionary most cheaply)."""
    groups: dict[str, list[bytes]] = {}
    for group, body in bodies:
        groups.setdefault(group, []).append(body)
    parts = [body for group in sorted(groups, key=lambda g: len(groups[g]))
             for body in groups[group][-SAMPLES_PER_KIND:]]
    return b"".join(parts)[-DICTIONARY_BYTES:]


def load_dictionaries(conn: sqlite3.Connection) -> dict[int, bytes]:
    return dict(conn.execute("SELECT id, body FROM dictionaries"))


def trained_with(blobs: Iterable[bytes]) -> set[int]:
    """The trained dictionaries these stored blobs (bodies or references) need."""
    return {b[0] for b in blobs if 1 <= b[0] <= MAX_DICTIONARIES}
