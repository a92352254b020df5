"""A running OtlpSource on free loopback ports with a RecordingSink, for the OTLP tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec

from gestalt.model.config import OtelCollector
from gestalt.sources.otlp import OtlpSource
from tests.support.sinks import RecordingSink


@contextlib.asynccontextmanager
async def running_source(**overrides: object) -> AsyncIterator[tuple[OtlpSource, RecordingSink]]:
    config = msgspec.structs.replace(
        OtelCollector(otlp_endpoint="127.0.0.1:0", otlp_http_endpoint="127.0.0.1:0",
                      flush_interval=0.2),
        **overrides,
    )
    source = OtlpSource(config)
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        ready = asyncio.create_task(source.ready.wait())
        done, _ = await asyncio.wait({ready, task}, timeout=20,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # the source failed to start: raise its error
        assert ready in done, "the OTLP receiver did not start listening within 20 s"
        yield source, sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
