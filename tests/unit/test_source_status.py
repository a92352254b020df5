"""A source's status carries what it may not read (RBAC), per kind, into the API."""

from __future__ import annotations

import msgspec

from gestalt.engine.hub import Hub
from gestalt.engine.store import Store
from gestalt.model import SourceState, SourceStatus


def test_not_permitted_kinds_reach_the_status_and_leave_it() -> None:
    hub = Hub(Store(ring_size=10))
    seen: list[SourceStatus] = []
    hub.on_status(seen.append)
    sink = hub.sink("kubernetes")
    sink.status(SourceState.DEGRADED, "not permitted by RBAC (not read): nodes",
                not_permitted=["nodes", "persistentvolumes"])
    status = hub.statuses["kubernetes"]
    assert status.not_permitted == ["nodes", "persistentvolumes"]
    encoded = msgspec.json.decode(msgspec.json.encode(status))
    assert encoded["not_permitted"] == ["nodes", "persistentvolumes"]
    # Same state and reason, fewer kinds: still a change.
    sink.status(SourceState.DEGRADED, "not permitted by RBAC (not read): nodes",
                not_permitted=["nodes"])
    assert hub.statuses["kubernetes"].not_permitted == ["nodes"]
    assert [s.not_permitted for s in seen] == [["nodes", "persistentvolumes"], ["nodes"]]
    sink.status(SourceState.OK)
    assert "not_permitted" not in msgspec.json.decode(
        msgspec.json.encode(hub.statuses["kubernetes"]))
