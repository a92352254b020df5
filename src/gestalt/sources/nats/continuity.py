"""What the NATS source judges across polls, and across a restart of the server:

- a consumer's backlog grows or not only over a window of polls (`ConsumerWatch`);
- streams and consumers a server that started moments ago has not read back from disk yet
  are kept, stale, rather than reported gone (`JetStreamRecovery`).

Both keep an alert as it was while the source cannot tell, instead of resolving it and
paging again a moment later.
"""

from __future__ import annotations

from collections import deque

import msgspec

from gestalt.model import Connection, Entity, EntityKind
from gestalt.sources.nats.monitor import Poll

# A backlog is judged over its last GROWTH_POLLS polls, and at least GROWTH_WINDOW seconds:
# growing when it rose over them and never fell; not growing when it fell, or did not rise
# at all. A lull shorter than the window (a publisher starved of CPU for a second, or
# reconnecting) leaves it growing: a short pause must not resolve an alert that holds.
GROWTH_POLLS = 3
GROWTH_WINDOW = 10.0
# A server answers its monitoring port before it has recovered its JetStream streams from
# disk. For this long after it starts, a stream or consumer seen before that it does not
# list is kept, stale.
JETSTREAM_RECOVERY = 30.0
_JETSTREAM_KINDS = (EntityKind.NATS_STREAM, EntityKind.NATS_CONSUMER)


class ConsumerWatch:
    def __init__(self) -> None:
        # (poll time, pending): the shortest recent run that covers the growth window.
        self.pending: deque[tuple[float, int]] = deque()
        self.stalled = False
        self.growing = False

    def growth(self, at: float, pending: int) -> tuple[bool | None, list[int], float]:
        """Whether the backlog grows, over the window ending with this poll; None until the
        polls since a start (of Gestalt, or of the server) cover a window: that is no data
        yet, which must not read as "not growing"."""
        self.pending.append((at, pending))
        while len(self.pending) > GROWTH_POLLS + 1 and at - self.pending[1][0] >= GROWTH_WINDOW:
            self.pending.popleft()
        history, span = [n for _, n in self.pending], at - self.pending[0][0]
        if len(history) < GROWTH_POLLS + 1 or span < GROWTH_WINDOW:
            return None, history, span
        rose = history[-1] > history[0]
        return (rose and all(a <= b for a, b in zip(history, history[1:], strict=False)),
                history, span)


class JetStreamRecovery:
    """The last observation, to carry its streams and consumers (and the edges that touch
    them) into the polls of a server that started moments ago."""

    def __init__(self) -> None:
        # Kept whole (a copy of the lists, not their items) and searched only when a young
        # server's poll needs it: a server up for long costs no pass over the map per poll.
        self._entities: tuple[Entity, ...] = ()
        self._edges: tuple[Connection, ...] = ()

    def carry(self, poll: Poll, entities: list[Entity], connections: list[Connection]) -> None:
        """Add to this poll's `entities` and `connections`, stale, those a server that started
        moments ago has not listed yet, with the edges among them."""
        start = poll.varz.start
        if start is not None and (poll.varz.now - start).total_seconds() < JETSTREAM_RECOVERY:
            self._add_unlisted(entities, connections)
        self._entities, self._edges = tuple(entities), tuple(connections)

    def _add_unlisted(self, entities: list[Entity], connections: list[Connection]) -> None:
        before = [e for e in self._entities if e.kind in _JETSTREAM_KINDS]
        if not before:
            return
        listed = {e.id for e in entities}
        carried = {e.id: msgspec.structs.replace(e, stale=True)
                   for e in before if e.id not in listed}
        if not carried:
            return
        entities.extend(carried.values())
        present = listed | carried.keys()
        connections.extend(
            c for c in self._edges if (c.source_id in carried or c.target_id in carried)
            and c.source_id in present and c.target_id in present)
