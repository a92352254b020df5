"""What the hub's copy of a site adds up to: the digest a keyframe carries
(model/federation.py), kept for the copy as deltas and metrics frames change it, so that a
periodic keyframe saying nothing new is known without reading its items (mirror.py).

Each item's share (the hash of its JSON as the agent's store encodes it) is kept by id.
The items changed since are only noted; their shares are taken again when a keyframe asks
(once in minutes), not at every delta and frame (many a second)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import msgspec

from gestalt.model import Connection, Entity
from gestalt.model.federation import digest_text, item_hash, item_hashes

# As the agent's store encodes each item (engine/blocks.py): the bytes its digest hashed.
_encode = msgspec.json.Encoder().encode


class Shares:
    """One kind of item's shares of the digest, by id, and the ids changed since."""

    __slots__ = ("by_id", "moved")

    def __init__(self, by_id: dict[str, int] | None = None) -> None:
        self.by_id: dict[str, int] = by_id if by_id is not None else {}
        self.moved: set[str] = set()

    def of_keyframe(self, keys: list[bytes], ids: list[str], again: set[int]) -> list[int]:
        """The shares of a keyframe part's items (`keys`, their bytes; `ids`): an item the
        copy holds as it came in the last keyframe read in full (not in `again`: its bytes
        known, the copy's own object) and unchanged since keeps its share; the others'
        bytes are hashed."""
        held: list[int | None] = list(map(self.by_id.get, ids))
        again.update(i for i, share in enumerate(held) if share is None)
        if self.moved:
            again.update(i for i, key in enumerate(ids) if key in self.moved)
        if len(again) > len(keys) // 4:  # a site's first keyframe: all of them, in C calls
            return list(item_hashes(keys))
        for i in again:
            held[i] = item_hash(keys[i])
        return cast("list[int]", held)  # every None was replaced above


class SiteDigest:
    """The digest of a copy of a site; unknown (None) until a keyframe read in full gave
    every item's share."""

    def __init__(self) -> None:
        self.entities = Shares()
        self.connections = Shares()
        self._total: int | None = None

    def reset(self, entities: dict[str, int], connections: dict[str, int]) -> None:
        """The copy is a keyframe's items now, with these shares."""
        self.entities, self.connections = Shares(entities), Shares(connections)
        self._total = sum(entities.values()) + sum(connections.values())

    def moved(self, entity_ids: Iterable[str], connection_ids: Iterable[str] = ()) -> None:
        """Items changed or removed (their shares are taken again when asked)."""
        if self._total is not None:
            self.entities.moved.update(entity_ids)
            self.connections.moved.update(connection_ids)

    def text(self, entities: Mapping[str, Entity],
             connections: Mapping[str, Connection]) -> str | None:
        """The digest of the copy holding `entities` and `connections` (as a keyframe of it
        would say), or None while unknown."""
        if self._total is None:
            return None
        total = self._total
        for shares, held in ((self.entities, entities), (self.connections, connections)):
            by_id = shares.by_id
            for key in shares.moved:
                total -= by_id.pop(key, 0)
                item = held.get(key)
                if item is not None:
                    by_id[key] = share = item_hash(_encode(item))
                    total += share
            shares.moved.clear()
        self._total = total
        return digest_text(total)
