"""`world.infra.nats.*`: subjects, streams and sampled messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from gestalt.engine.filters import split_values
from gestalt.engine.paths.base import (
    Params,
    PathError,
    Result,
    entities_of,
    entity_row,
    limit_of,
    path,
)
from gestalt.engine.runtime import Engine
from gestalt.model import EntityKind
from gestalt.sources.base import SamplesMessages


@path("world.infra.nats.subjects", "List NATS subjects", source="nats",
      columns=("name", "subscribers", "msgs_per_sec", "bytes_per_sec", "queue_depth", "health"))
async def _nats_subjects(engine: Engine, params: Params) -> Result:
    return [{**entity_row(e), **e.custom_metrics}
            for e in entities_of(engine, EntityKind.NATS_SUBJECT, "nats")]


@path("world.infra.nats.streams", "List JetStream streams", source="nats",
      columns=("name", "subjects", "messages", "bytes", "consumers", "msgs_per_sec", "storage",
               "health"))
async def _nats_streams(engine: Engine, params: Params) -> Result:
    rows = []
    for e in entities_of(engine, EntityKind.NATS_STREAM, "nats"):
        row = {**entity_row(e, "storage"), **e.custom_metrics}
        # "subjects": the stream's configured subjects; how many distinct ones it holds
        # is a count of its own.
        row["distinct_subjects"] = row.pop("subjects", None)
        row["subjects"] = e.attrs.get("subjects")
        rows.append(row)
    return rows


@path("world.infra.nats.messages", "Stream messages on subjects (sampled)", source="nats",
      columns=("timestamp", "subject", "size", "payload"),
      params=("subjects", "limit", "seconds"))
async def _nats_messages(engine: Engine, params: Params) -> Result:
    """What arrives within `seconds` (default 2, at most 10), at most `limit` messages.
    The live stream is GET /api/infra/nats/messages/stream."""
    subjects = sorted(split_values([params.get("subjects", "")]))
    if not subjects:
        raise PathError(400, "pass subjects=<subject>[,<subject>...] (wildcards allowed)")
    try:
        seconds = min(10.0, max(0.1, float(params.get("seconds", "2"))))
    except ValueError as exc:
        raise PathError(400, "seconds must be a number") from exc
    most = limit_of(params)
    samples: list[dict[str, Any]] = []
    stream = nats_messages(engine, subjects)
    try:
        async with asyncio.timeout(seconds):
            async for sample in stream:
                samples.append(sample)
                if len(samples) >= most:
                    break
    except TimeoutError:
        pass
    finally:
        await stream.aclose()
    return samples


def nats_messages(engine: Engine, subjects: list[str]) -> AsyncGenerator[dict[str, Any], None]:
    """Sampled messages of `subjects` as they arrive, from the NATS source (it offers
    `SamplesMessages`); the caller closes the iterator."""
    source = engine.sources.get("nats")
    if source is None:
        raise PathError(409, "source nats is not enabled (collectors.nats.enabled)")
    if not isinstance(source, SamplesMessages):
        raise PathError(409, "source nats does not sample messages in this build")
    return source.sampled_messages(subjects)
