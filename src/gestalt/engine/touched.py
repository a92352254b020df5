"""What changed since a reader last looked: the ids a writer touched, collected for it.

The store and the anomaly detector hand one out (`watch()`) to a reader that does work per
subject (the alert evaluation) so that it can work on what changed instead of on the whole
graph every time. A writer that cannot say what it changed (a detector reset, models read
back from disk) says `everything`.
"""

from __future__ import annotations


class Touched:
    __slots__ = ("__weakref__", "everything", "ids")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.everything = False

    def take(self) -> tuple[set[str], bool]:
        """The ids touched since the last take, and whether everything was; starts over."""
        ids, everything = self.ids, self.everything
        self.ids, self.everything = set(), False
        return ids, everything
