"""Judging what changed: which subjects an alert evaluation must judge again, and what the
others said when they were last judged.

Judging every entity and connection every second was most of a hub's CPU at 10,000
entities while a hundred of them changed a second (bench/federation.py). A rule's reading
of a subject depends on the subject, and for a few checks on the clock or on state kept
elsewhere (a counter's window, the anomaly models), so a subject is judged again when

- the store put or removed it, a metric-only change too (`Store.watch`): this is how a
  source going stale (its entities are put again, marked stale) and a subject vanishing
  reach the rules;
- the reading of one of its rules expires (`Check.expires`): a pod pending, a counter
  whose rise leaves its window, a Docker container's crash loop ending by the clock, an
  unusual series. At that time, not every second for everyone;
- the anomaly detector says its verdict may have moved (`Detector.watch`).

Everyone else's observations go to the lifecycle again as they were, so a rule's `for`
keeps counting with the clock, and an alert without an observation gets its verdict
exactly as in a full evaluation (`Lifecycle.apply` is the same for both). Source statuses
are few; the manager judges them every time. The first evaluation is full, and so is one
after the detector forgot everything.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from gestalt.engine.alerts.rules import Observation, RuleSet
from gestalt.engine.anomaly.detector import Detector
from gestalt.engine.health import NEVER
from gestalt.engine.store import Store
from gestalt.engine.touched import Touched


class Judged:
    def __init__(self, rules: RuleSet, store: Store, detector: Detector) -> None:
        self._rules = rules
        self._store = store
        self._detector = detector
        # Watched from the first evaluation on: with alerts disabled nobody would take
        # what they collect (every id that ever changed).
        self._changed: Touched | None = None
        self._moved: Touched | None = None
        # Subject id -> the observations it gave when last judged (none: not kept).
        self._said: dict[str, list[Observation]] = {}
        # Subject id -> when its reading expires, and the same as a heap (entries that no
        # longer match `_expires` are skipped when they come up).
        self._expires: dict[str, float] = {}
        self._timers: list[tuple[float, str]] = []
        self._full = True
        self.last_judged = 0  # subjects judged by the last evaluation (/metrics, tests)

    def judge_all(self) -> None:
        """The next evaluation judges every subject (as the first does): after an
        evaluation that failed half-way, what it took to judge is not lost."""
        self._full = True

    def due(self, now: float) -> list[str]:
        """The subjects to judge at `now`: ids of entities and connections."""
        if self._changed is None or self._moved is None:
            self._changed, self._moved = self._store.watch(), self._detector.watch()
            self._full = True
        changed, _ = self._changed.take()
        moved, forgot = self._moved.take()
        if self._full or forgot:
            self._full = False
            self._said.clear()
            self._expires.clear()
            self._timers.clear()
            store = self._store
            due = [*store.entities, *store.connections]
        else:
            changed |= moved
            timers, expires = self._timers, self._expires
            while timers and timers[0][0] <= now:
                when, subject_id = heapq.heappop(timers)
                if expires.get(subject_id) == when:
                    del expires[subject_id]
                    changed.add(subject_id)
            due = list(changed)
        self.last_judged = len(due)
        return due

    def judge(self, subject_ids: Iterable[str], now: float) -> None:
        """Judge these subjects as they are now, and keep what each said."""
        entities, connections = self._store.entities, self._store.connections
        rules, said, expires = self._rules, self._said, self._expires
        for subject_id in subject_ids:
            entity = entities.get(subject_id)
            conn = connections.get(subject_id)
            found: list[Observation] = []
            when = NEVER
            if entity is not None:
                found.extend(rules.observe((entity,), (), (), now))
                when = rules.expiry(entity, now)
            if conn is not None:
                found.extend(rules.observe((), (conn,), (), now, names=entities))
                when = min(when, rules.expiry(conn, now))
            if found:
                said[subject_id] = found
            else:
                said.pop(subject_id, None)
            if when == NEVER:
                expires.pop(subject_id, None)
            elif expires.get(subject_id) != when:
                expires[subject_id] = when
                heapq.heappush(self._timers, (when, subject_id))

    def observations(self) -> Iterator[Observation]:
        """What every subject said when last judged."""
        for found in self._said.values():
            yield from found
