"""Connecting to NATS for federation, agent or hub: reconnect for ever once connected, but
give up at once when the server refuses the credentials, or cannot be reached at all
before the first connection (with reconnecting allowed, nats-py would retry both for
ever, the reason only in its error callback: a hub started before its NATS server showed
its sites "starting" with no reason, and an agent logged nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client

from gestalt.model.federation import is_refusal

ErrorCallback = Callable[[Exception], Awaitable[None]]


class Refused(Exception):
    """The NATS server refused these credentials or this permission."""


async def connect(url: str, *, timeout: float, on_error: ErrorCallback | None = None,
                  **options: Any) -> Client:
    """Connected, or Refused, or the connection error (for the caller to retry)."""
    loop = asyncio.get_running_loop()
    refused: asyncio.Future[str] = loop.create_future()
    unreachable: asyncio.Future[Exception] = loop.create_future()

    async def error(exc: Exception) -> None:
        if is_refusal(exc):
            if not refused.done():
                refused.set_result(str(exc))
        elif not attempt.done() and not unreachable.done():
            unreachable.set_result(exc)  # not connected yet: the caller retries, saying why
        if on_error is not None:
            await on_error(exc)

    attempt = asyncio.ensure_future(nats.connect(
        url, allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1,
        connect_timeout=timeout, error_cb=error, **options))
    waiting: set[asyncio.Future[Any]] = {attempt, refused, unreachable}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if attempt in done:
        return attempt.result()  # raises the connection error, if any
    attempt.cancel()
    try:
        client = await attempt
    except BaseException:  # cancelled, or failed anyway: the refusal or the error is the news
        pass
    else:
        await client.close()
    if refused.done():
        raise Refused(f"NATS at {url} refused: {refused.result()}")
    raise unreachable.result()
