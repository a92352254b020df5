"""Many items as JSON, in blocks: what a snapshot joins.

A snapshot of 10,000 entities and 20,000 edges used to join one cached bytes object per
item (30,000 of them, each with its object header and msgspec's spare room: 4 MB above
the JSON itself) into one 6.5 MB document, cached again while the graph stood still. Here
the items are kept in blocks of `BLOCK` items; a change marks its block stale, and the
next reader encodes that block again, once, in one msgspec call. A snapshot is about a
hundred block-sized parts, handed to the socket as they are: nothing the size of the whole
topology is built for a stream. The price: the first reader after heavy churn encodes
again every block that changed (at most the whole topology, as a plain encode would).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")

# Items per block: large enough that a snapshot is about a hundred parts at 30,000 items,
# small enough that the blocks a replaced pod touches (its own, and those of its edges)
# are encoded again in about 0.3 ms (1 ms at 1,000 items a block).
BLOCK = 250

_encode: Callable[[object], bytes] = msgspec.json.Encoder().encode


class Blocks(Generic[T]):
    """Items by id, and their JSON in blocks (`parts`). Insertion fills the block with
    room first, so churn (one item gone, another come) touches one block, not two."""

    __slots__ = ("_json", "_members", "_room", "_where", "size")

    def __init__(self, size: int = BLOCK) -> None:
        self.size = size
        self._where: dict[str, int] = {}  # id -> its block
        self._members: list[dict[str, T]] = []  # per block: id -> item
        self._json: list[bytes | None] = []  # per block: its items' JSON, None when stale
        self._room: set[int] = set()  # blocks with room (after removals)

    def __len__(self) -> int:
        return len(self._where)

    def put(self, key: str, item: T) -> None:
        index = self._where.get(key)
        if index is None:
            index = self._with_room()
            self._where[key] = index
        members = self._members[index]
        members[key] = item
        self._json[index] = None
        if len(members) >= self.size:
            self._room.discard(index)

    def remove(self, key: str) -> None:
        index = self._where.pop(key, None)
        if index is None:
            return
        del self._members[index][key]
        self._json[index] = None
        self._room.add(index)

    def parts(self) -> list[bytes]:
        """The JSON of every item, `a,b,c` per block (no brackets), one part per non-empty
        block; stale blocks are encoded now."""
        parts = []
        for index, members in enumerate(self._members):
            if not members:
                continue
            body = self._json[index]
            if body is None:
                # The list's brackets off: a slice is an exact-size copy, so the block keeps
                # none of msgspec's spare room either.
                body = self._json[index] = _encode(list(members.values()))[1:-1]
            parts.append(body)
        return parts

    def each(self) -> Iterator[bytes]:
        """Every item's JSON on its own (encoded now: for the rare reader that splits)."""
        for members in self._members:
            for item in members.values():
                yield _encode(item)

    def _with_room(self) -> int:
        while self._room:
            index = next(iter(self._room))
            if len(self._members[index]) < self.size:
                return index
            self._room.discard(index)
        self._members.append({})
        self._json.append(None)
        index = len(self._members) - 1
        self._room.add(index)
        return index
