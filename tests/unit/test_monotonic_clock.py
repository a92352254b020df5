"""Nothing may depend on uptime: the monotonic clock counts from boot, so right after a
boot it reads a few seconds. Timers that start from 0.0 ("last done at the epoch of the
monotonic clock") fire late or never on a freshly booted machine; these tests run the
code with a monotonic clock near zero. (History's pruning: tests/unit/test_history.py.)
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes_asyncio.client import Configuration

from gestalt.model.config import NatsCollector
from gestalt.sources.kubernetes.access import ClusterAccess
from gestalt.sources.nats import NatsSource


async def test_the_first_401_after_boot_reloads_the_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gestalt.sources.kubernetes.access.time",
                        SimpleNamespace(monotonic=lambda: 2.0))  # two seconds after boot
    reloads: list[Configuration] = []

    async def reload() -> Configuration:
        reloads.append(Configuration())
        return reloads[-1]

    access = ClusterAccess(server="https://127.0.0.1:6443", cluster="c1", verify=True,
                           configuration=Configuration(), reload=reload)
    assert await access.refresh()
    assert len(reloads) == 1 and access.configuration is reloads[0]
    assert await access.refresh()  # the same burst of 401s: one reload answers it
    assert len(reloads) == 1


async def test_a_sampler_not_started_yet_is_not_late() -> None:
    source = NatsSource(NatsCollector(subjects=["orders.>"]))
    # Whatever the loop's clock reads (near zero after boot, or days), nothing has been
    # started, so nothing is late.
    assert source._sampler_late() is False
