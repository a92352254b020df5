"""The informer loop for one kind: list, then watch from the list's resourceVersion.

Layers, as in kopf's watching.py: an outer loop that (re)lists, an inner loop that
(re)watches from the last version seen, and the raw stream below. A 410 Gone goes back
out to relist (once per 410); a dropped or silent connection rewatches from the last
version; 429 waits as long as Retry-After says; 403 marks only this kind as forbidden
and keeps trying slowly. Every wait after a failure is jittered exponential backoff.

A certificate the TLS handshake rejects (the API server came back with a new CA, or our
client certificate was rotated) ends the whole run, as a 401 does once reloading the
credentials did not help: the trusted CA is baked into the run's HTTP client, and only a
new run reads the kubeconfig again (under the supervisor's backoff). Retrying with the
old CA would fail forever while kubectl, reading the same file, works.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from gestalt.sources.base import PermanentSourceError, SourceError
from gestalt.sources.kubernetes.api import (
    Api,
    ApiError,
    Forbidden,
    Gone,
    Kind,
    Throttled,
    Unauthorized,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FORBIDDEN_RETRY = 60.0


class CertificateRejected(SourceError):
    """The TLS handshake with the API server failed over a certificate: reload and rerun."""


def rejected_certificate(exc: BaseException) -> ssl.SSLError | None:
    """The certificate failure behind an httpx error: our CA does not trust the server's
    certificate, or the server rejected ours. Other TLS errors (an EOF while the server
    shuts down) are ordinary network failures."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        if isinstance(seen, ssl.SSLError) and any(
                word in (seen.reason or "") for word in ("CERTIFICATE", "UNKNOWN_CA")):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Backoff:
    """Exponential backoff with full jitter: start <= 1 s, cap 30 s (ARCHITECTURE §3)."""

    def __init__(self, start: float = 0.5, cap: float = 30.0) -> None:
        self.start, self.cap, self.failures = start, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.start * 2 ** self.failures)
        self.failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


class Listener:
    """What an informer reports to (the source)."""

    def prepare(self, kind: Kind, objects: list[Obj]) -> list[Any]:
        """What to keep of one page of a list (as pages arrive); `listed` gets them all."""
        return objects

    def listed(self, kind: Kind, namespace: str | None, objects: list[Any]) -> None: ...
    def changed(self, kind: Kind, event_type: str, obj: Obj) -> None: ...
    def healthy(self, kind: Kind, namespace: str | None) -> None: ...
    def failing(self, kind: Kind, namespace: str | None, reason: str,
                forbidden: bool = False) -> None: ...


class Informer:
    def __init__(self, api: Api, kind: Kind, namespace: str | None, listener: Listener,
                 *, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.api, self.kind, self.namespace, self.listener = api, kind, namespace, listener
        self.sleep = sleep
        self.lists = 0  # how many times this informer listed (a 410 adds exactly one)
        self.resource_version = ""
        self._reauthenticated = False  # reloaded credentials since the last success

    @property
    def label(self) -> str:
        return f"{self.kind.plural}" + (f" in {self.namespace}" if self.namespace else "")

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                objects, self.resource_version = await self.api.list(
                    self.kind, self.namespace, functools.partial(self.listener.prepare, self.kind))
            except Exception as exc:  # noqa: BLE001  (classified in _failed)
                await self._failed(exc, backoff, "list")
                continue
            self.lists += 1
            self._reauthenticated = False
            self.listener.listed(self.kind, self.namespace, objects)
            # The listener keeps what it needs; this frame lives as long as the watch.
            del objects
            self.listener.healthy(self.kind, self.namespace)
            backoff.reset()
            await self._watch(backoff)  # returns when a relist is needed

    async def _watch(self, backoff: Backoff) -> None:
        while True:
            try:
                async for event_type, payload in self.api.watch(self.kind, self.namespace,
                                                                 self.resource_version):
                    if event_type == "OPEN":
                        self._reauthenticated = False
                        if backoff.failures:
                            backoff.reset()
                            self.listener.healthy(self.kind, self.namespace)
                    elif event_type == "BOOKMARK":
                        self.resource_version = str(payload)
                    else:
                        assert isinstance(payload, dict)
                        self.resource_version = payload["metadata"].get(
                            "resourceVersion") or self.resource_version
                        self.listener.changed(self.kind, event_type, payload)
                # The server ended the watch (timeoutSeconds): rewatch at once.
            except Gone:
                log.info("kubernetes: %s: resourceVersion %s expired (410), relisting",
                         self.label, self.resource_version)
                return
            except Exception as exc:  # noqa: BLE001  (classified in _failed)
                await self._failed(exc, backoff, "watch")

    async def _failed(self, exc: Exception, backoff: Backoff, what: str) -> None:
        if isinstance(exc, Unauthorized):
            if not self._reauthenticated and await self.api.access.refresh():
                self._reauthenticated = True  # an expired token: try once with fresh ones
                return
            raise PermanentSourceError(f"kubernetes: unauthorized ({exc.message}); check the "
                                       "credentials in the kubeconfig") from exc
        rejected = rejected_certificate(exc)
        if rejected is not None:
            raise CertificateRejected(
                f"kubernetes: TLS with {self.api.access.server} failed: "
                f"{rejected.reason or rejected}; reloading the kubeconfig") from exc
        if isinstance(exc, Throttled):
            delay = exc.retry_after if exc.retry_after is not None else backoff.next()
            log.info("kubernetes: %s: throttled (429), retrying in %.1fs", self.label, delay)
            await self.sleep(delay)
            return
        if isinstance(exc, Forbidden):
            reason = f"cannot {what} {self.label}: forbidden by RBAC"
            self.listener.failing(self.kind, self.namespace, reason, forbidden=True)
            await self.sleep(FORBIDDEN_RETRY * random.uniform(0.8, 1.2))
            return
        if isinstance(exc, httpx.ReadTimeout) and what == "watch":
            reason = f"{self.label}: watch silent for {self.api.inactivity_timeout:g}s"
        elif isinstance(exc, httpx.HTTPError | ApiError):
            reason = f"{self.label}: {what} failed: {type(exc).__name__}: {exc}"
        else:
            raise exc  # a bug, not a network problem: let the supervisor see it
        delay = backoff.next()
        log.info("kubernetes: %s; retrying in %.1fs", reason, delay)
        if backoff.failures > 1 or not isinstance(exc, httpx.ReadTimeout):
            self.listener.failing(self.kind, self.namespace, reason)
        await self.sleep(delay)
