"""How much a counter rose over the last ten minutes, per entity: what the "rising" checks
(restarts, slow consumers) read, kept across restarts of Gestalt through history."""

from __future__ import annotations

from collections.abc import Callable, Iterable

# "Rising" checks compare a counter with its value this long ago.
RISING_WINDOW = 600.0


class CounterWindows:
    """How much a counter (restarts, slow consumers) rose over the last RISING_WINDOW
    seconds, per entity. Only changes are kept, so a quiet counter costs one entry; a
    counter that goes down (a new container, a restarted server) starts over.

    Each change is handed to `record` (history writes it down) and `resume` starts from
    what the last run wrote: without that, a restart of Gestalt would make every counter's
    current value its baseline, and a container that keeps restarting would read "not
    rising" (its alert resolved) until it had restarted twice more."""

    def __init__(self, window: float = RISING_WINDOW, max_entries: int = 100_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._points: dict[str, list[tuple[float, float]]] = {}
        self.record: Callable[[str, float, float], None] | None = None

    def resume(
        self,
        points: dict[str, list[tuple[float, float]]],
        *,
        last_alive: float | None,
        now: float,
        record: Callable[[str, float, float], None] | None = None,
    ) -> None:
        """Start from the last run's changes ((time, value), oldest first, per key) when it
        was alive less than a window ago. After a longer gap a rise cannot be placed in
        time, so every counter starts over from its next value, as on a first start."""
        self._points = {}
        if last_alive is not None and now - last_alive < self.window:
            self._points = {k: list(v) for k, v in points.items() if v}
        self.record = record

    def increase(self, key: str, value: float, now: float, *, born: float | None = None) -> float:
        """`born`: when the counter's owner was created, so counted from 0 (a container's
        restarts): one created within the window rose by all of its value in it, however
        late we first saw it."""
        points = self._points.get(key)
        if points is None or value < points[-1][1]:
            if len(self._points) >= self.max_entries:
                self._points.clear()  # a bound, not a policy: at worst "rising" is forgotten
            start = [(now, value)]
            if points is None and born is not None and now - self.window < born < now \
                    and value > 0:
                start.insert(0, (born, 0.0))
            self._points[key] = start
            for ts, counted in start:
                self._recorded(key, ts, counted)
            return value - start[0][1]
        if value > points[-1][1]:
            points.append((now, value))
            self._recorded(key, now, value)
        # The baseline is the newest value at or before the window's start (or the first
        # value ever seen: restarts from before we looked, and before the window, are not
        # "rising").
        cutoff = now - self.window
        while len(points) > 1 and points[1][0] <= cutoff:
            points.pop(0)
        return value - points[0][1]

    def moving(self, key: str) -> bool:
        """Whether `increase` may answer otherwise later for the same value: the counter
        rose (the rise leaves the window in time), or it is not known yet."""
        points = self._points.get(key)
        return points is None or len(points) > 1

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, key: object) -> bool:
        return key in self._points

    def forget(self, keys: Iterable[str]) -> None:
        """Counters of entities that are gone: a new entity under the same id counts afresh
        (its counter starts lower, which starts it over anyway)."""
        for key in keys:
            self._points.pop(key, None)

    def _recorded(self, key: str, now: float, value: float) -> None:
        if self.record is not None:
            self.record(key, now, value)

    def clear(self) -> None:
        self._points.clear()


# One per process: the hub scores an entity whenever it changes, and "rising" needs the
# previous values. Keyed by entity id, which is unique across sources.
COUNTERS = CounterWindows()
