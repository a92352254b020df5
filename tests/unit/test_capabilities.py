"""Capabilities a source may offer beyond observations are protocols (sources/base.py): the
sources that offer them say so, and asking one that does not is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gestalt.engine.paths import PathError, resolve
from gestalt.engine.runtime import Engine
from gestalt.model.config import (
    Config,
    HostCollector,
    NatsCollector,
    OtelCollector,
    ServerConfig,
)
from gestalt.sources import ReceivesStreams, SamplesMessages, Sink
from gestalt.sources.host import HostSource
from gestalt.sources.nats import NatsSource
from gestalt.sources.otlp import OtlpSource


class PlainNats:
    """A source named nats that observes and offers nothing more (an older build's)."""

    name = "nats"

    async def run(self, sink: Sink) -> None:
        raise AssertionError("not run")


def test_the_sources_that_offer_a_capability_declare_it() -> None:
    assert isinstance(NatsSource(NatsCollector()), SamplesMessages)
    assert isinstance(OtlpSource(OtelCollector()), ReceivesStreams)
    assert not isinstance(HostSource(HostCollector()), SamplesMessages | ReceivesStreams)


async def test_a_source_without_message_sampling_answers_409_not_a_crash(
    tmp_path: Path,
) -> None:
    engine = Engine(Config(server=ServerConfig(data_dir=str(tmp_path))), sources=[PlainNats()])
    with pytest.raises(PathError) as refused:
        await resolve(engine, "world.infra.nats.messages", {"subjects": "orders.>"})
    assert refused.value.status == 409
    assert refused.value.message == "source nats does not sample messages in this build"
