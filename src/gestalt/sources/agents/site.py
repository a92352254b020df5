"""One site read from JetStream: its agent's keyframe and changes, as this hub's source.

Each site is a source of its own (`site:<name>`), so a site whose agent stops turns stale
exactly as a local source that stops, and each site's state shows in the sources' list.

A run, step by step:
1. connect; make sure the stream exists (`create_stream`), else say it is missing;
2. find the site's last keyframe (`get_last_msg` on `gestalt.<site>.keyframe`; its parts
   name where the first part sits) and (re)create this hub's durable consumer for the
   site from there: a hub restarted rebuilds from the stream, not from the agents;
3. read up to the end of the stream into the mirror, then hand the hub the whole site
   at once (the map never shows the site going back to the keyframe and forward again);
4. follow: each message read is applied to the mirror and passed on. A gap in the
   versions (a message lost) returns to step 2, at most once per `_REBUILD_PAUSE`.

Silence (nothing from the agent for `silence_timeout`, heartbeats included) reports the
site down: its entities stay, stale; the next word from the agent brings it back. It is
judged only once the hub has read what the stream holds of the site (`_listen`): a hub
behind the stream is not told of silence by the old messages it reads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import nats
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from gestalt.model import Delta, Event, SourceState
from gestalt.model.config import AgentsCollector
from gestalt.model.federation import (
    KEYFRAME_START_HEADER,
    SUBJECT_PREFIX,
    is_refusal,
    site_subjects,
    subject,
)
from gestalt.sources.agents.advisories import Refusal, Refusals, refusal_details
from gestalt.sources.agents.connect import Refused, connect
from gestalt.sources.agents.mirror import Incoming, Numbers, Picture, SiteMirror
from gestalt.sources.agents.pull import ConsumerGone, Pull
from gestalt.sources.base import PermanentSourceError, Sink, SourceUnavailable

log = logging.getLogger(__name__)

# Messages one pull request may bring (at most two requests' worth are on their way).
_BATCH = 256
# A read that brings nothing for this long: the stream's end while catching up, a moment
# to report the site's status while following.
_QUIET = 1.0
_REBUILD_PAUSE = 10.0
# A site is degraded while it refuses its messages, and this long after the last one it
# refused: then ok again (the counts stay in its details). Counted since the hub started,
# one stale agent's burst left a healthy site degraded until the hub restarted.
_REFUSALS_SHOWN = 300.0


class SiteSource:
    def __init__(self, config: AgentsCollector, site: str,
                 refusals: Refusals | None = None) -> None:
        self.config = config
        self.site = site
        self.refusals = refusals
        self.name = f"site:{site}"
        self.durable = f"{config.durable or _default_durable()}-{site}"
        self.mirror = SiteMirror(site, max_bytes=config.max_message_bytes)
        self._connected = False
        self._silent = False
        self._pending = 0
        self._lag_seconds: float | None = None
        self._pull: Pull | None = None
        # Events are passed on once: those already in the stream when this hub started
        # are history (its own, or the feed it missed while down), not news.
        self._event_floor: int | None = None

    # -- status ----------------------------------------------------------------------------
    def details(self) -> dict[str, Any]:
        mirror = self.mirror
        out: dict[str, Any] = {
            "site": self.site, "agent": mirror.agent, "connected": self._connected,
            # Never heard counts as silent here (the verdict itself waits for a word).
            "silent": self._silent or mirror.last_heard is None, "version": mirror.version,
            "lag_versions": max(mirror.agent_version - mirror.version, 0),
            "lag_seconds": self._lag_seconds, "pending_messages": self._pending,
            "last_keyframe": mirror.last_keyframe,
            "last_keyframe_version": mirror.last_keyframe_version,
            # Keyframes taken; of them, periodic ones whose digest was the hub's own (their
            # items not read); and those at the hub's version whose digest was not.
            "keyframes": mirror.keyframes, "keyframes_known_by_digest": mirror.verified,
            "keyframes_digest_missed": mirror.digest_missed,
            "last_heard": mirror.last_heard, "agent_dropped": mirror.agent_dropped,
            "rejected": sum(mirror.rejected.values()),
            "last_rejected": mirror.last_rejected,
        }
        out.update({f"rejected_{reason}": n for reason, n in mirror.rejected.items()})
        if self.refusals is not None:
            out.update(refusal_details(self.refusals.last(self.site),
                                       self._refusal() is not None))
        out.update({f"ignored_{reason}": n for reason, n in mirror.ignored.items()})
        return out

    # -- the run ---------------------------------------------------------------------------
    async def run(self, sink: Sink) -> None:
        config = self.config
        try:
            nc = await connect(
                config.url, timeout=config.request_timeout,
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                **config.connect_options(f"gestalt-hub {self.durable}"))
        except Refused as exc:
            raise PermanentSourceError(str(exc)) from exc
        except Exception as exc:  # nats-py raises several kinds for "cannot connect"
            if is_refusal(exc):
                raise PermanentSourceError(f"NATS at {config.url} refused the hub: {exc}") \
                    from exc
            raise SourceUnavailable(f"NATS at {config.url}: {str(exc) or type(exc).__name__}") \
                from exc
        self._connected = True
        try:
            js = nc.jetstream(timeout=config.request_timeout)
            await self._ensure_stream(js)
            while True:
                pull = await self._subscribe(nc, js)
                try:
                    await self._catch_up(pull, sink)
                    await self._follow(pull, sink)
                except ConsumerGone as exc:
                    log.warning("site %s: %s; reading the site again", self.site, exc)
                finally:
                    self._pull = None
                    await pull.stop()
                await asyncio.sleep(_REBUILD_PAUSE)  # a gap: read the site again
        except NotFoundError as exc:
            raise SourceUnavailable(f"stream {config.stream}: {exc}") from exc
        except nats.errors.Error as exc:
            if is_refusal(exc):
                raise PermanentSourceError(f"NATS refused the hub: {exc}") from exc
            raise SourceUnavailable(f"NATS: {str(exc) or type(exc).__name__}") from exc
        finally:
            self._connected = False
            try:
                async with asyncio.timeout(5):
                    await nc.close()
            except Exception:  # a broken connection: nothing to save
                log.debug("closing NATS failed", exc_info=True)

    async def _disconnected(self) -> None:
        self._connected = False

    async def _reconnected(self) -> None:
        self._connected = True
        if self._pull is not None:
            self._pull.renew()  # the server may have lost our requests with the connection

    async def _ensure_stream(self, js: Any) -> None:
        config = self.config
        try:
            info = await js.stream_info(config.stream)
        except NotFoundError:
            if not config.create_stream:
                raise SourceUnavailable(
                    f"stream {config.stream} does not exist (create it, docs/federation.md, "
                    "or set collectors.agents.create_stream)") from None
            info = await js.add_stream(StreamConfig(
                name=config.stream, subjects=[f"{SUBJECT_PREFIX}.>"],
                storage=StorageType.FILE, max_age=config.stream_max_age,
                max_bytes=config.stream_max_bytes, discard=DiscardPolicy.OLD,
                duplicate_window=120.0))
            log.info("created stream %s", config.stream)
        if self._event_floor is None:
            self._event_floor = info.state.last_seq

    async def _subscribe(self, nc: Any, js: Any) -> Pull:
        """This hub's durable consumer of the site, from the site's last keyframe."""
        config = self.config
        info = await js.stream_info(config.stream)
        start = info.state.last_seq + 1
        try:
            last = await js.get_last_msg(config.stream, subject(self.site, "keyframe"))
            first = (last.headers or {}).get(KEYFRAME_START_HEADER)
            start = int(first) if first and first.isdigit() else last.seq
        except NotFoundError:
            log.info("site %s: no keyframe in stream %s yet", self.site, config.stream)
        try:
            await js.delete_consumer(config.stream, self.durable)
        except NotFoundError:
            pass
        consumer = ConsumerConfig(
            durable_name=self.durable, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start, ack_policy=AckPolicy.NONE,
            filter_subject=site_subjects(self.site),
            inactive_threshold=3600.0)  # a hub gone for an hour leaves no consumer behind
        self.mirror = _fresh(self.mirror)
        await js.add_consumer(config.stream, consumer)
        pull = Pull(nc, config.stream, self.durable, batch=_BATCH)
        await pull.start()
        self._pull = pull
        return pull

    async def _catch_up(self, pull: Pull, sink: Sink) -> None:
        """Read to the end of the stream into the mirror, then show the site at once. A
        keyframe half read is not the end: its agent is still sending the rest (parts go
        one by one, a 10,000-entity site's in dozens), and ending there said the site had
        no keyframe (down: a site the hub had before turned stale, every entity of it
        committed again, and again when the rest came). Its agent has `silence_timeout`
        to send the next part."""
        quiet = 0.0
        while True:
            msg = await pull.next(_QUIET)
            if msg is None:
                quiet += _QUIET
                if self.mirror.assembling and quiet < self.config.silence_timeout:
                    continue
                break
            quiet = 0.0
            self._apply(msg, None)
            if msg.metadata.num_pending == 0 and not self.mirror.assembling:
                break
        mirror = self.mirror
        self._silent = await self._listen(pull)
        self._report(sink)  # first: see `_apply`
        if mirror.based:
            sink.snapshot(mirror.entities.values(), mirror.connections.values(),
                          observed_at=mirror.last_applied)

    async def _follow(self, pull: Pull, sink: Sink) -> None:
        """Apply each message as it comes; the site's status once what has come is applied
        (or after a quiet second: silence is news too)."""
        while True:
            msg = await pull.next(_QUIET)
            if msg is not None:
                self._apply(msg, sink)
                if self.mirror.gap:
                    log.warning("site %s: versions skip after %d; reading the site again",
                                self.site, self.mirror.version)
                    return
                if pull.waiting:
                    continue
            self._silent = await self._listen(pull)
            self._report(sink)

    async def _listen(self, pull: Pull) -> bool:
        """Whether the site's agent is silent: nothing stored from it for `silence_timeout`.
        Judged from what this hub has read, so not while there is more to read: a hub
        behind the stream (its loop busy with other sites' keyframes, or stalled past its
        pull requests' expiry, when the server stops delivering) read messages stored
        long ago, and took a live agent for a silent one; each such flip turned the site
        stale and back, committing every entity of it twice. Before the verdict changes to
        silent, the server is asked whether it holds more of the site (one question per
        change); while it does, or does not answer, the verdict stays as it was."""
        verdict = self._verdict(behind=self._behind(pull))
        if not verdict or self._silent:
            return verdict
        unread = await pull.unread()
        if unread is None and self._connected:
            return self._silent  # no answer: ask again at the next report
        return not unread

    def _behind(self, pull: Pull | None) -> bool:
        """More of the site is here or was on the server when the last message came."""
        return self._pending > 0 or (pull is not None and pull.waiting > 0)

    def _verdict(self, *, behind: bool) -> bool:
        heard = self.mirror.last_heard
        if heard is None:
            return False  # nothing heard to judge ("no keyframe yet" says the site is down)
        if time.time() - heard <= self.config.silence_timeout:
            return False
        return self._silent if behind else True

    def _apply(self, msg: Any, sink: Sink | None) -> None:
        meta = msg.metadata
        self._pending = meta.num_pending
        kind = msg.subject.rsplit(".", 1)[-1]
        incoming = Incoming(kind, msg.data, dict(msg.headers or {}), meta.sequence.stream,
                            meta.timestamp.timestamp())
        outcome = self.mirror.apply(incoming, trusted_silent=self._silent)
        self._lag_seconds = max(time.time() - incoming.timestamp, 0.0)
        if sink is None or outcome is None:
            return
        if isinstance(outcome, Picture):
            # The site's state first: a picture given to a site still down ("no keyframe
            # yet") is committed stale, and the site turning ok then commits every entity
            # of it again (10,000 merges per site at the scale).
            self._silent = self._verdict(behind=self._behind(self._pull))
            self._report(sink)
            sink.snapshot(outcome.entities, outcome.connections, observed_at=incoming.timestamp)
        elif isinstance(outcome, Delta):
            if outcome.upserts or outcome.edge_upserts:
                sink.upsert(outcome.upserts, outcome.edge_upserts,
                            observed_at=outcome.observed_at)
            if outcome.removals or outcome.edge_removals:
                sink.remove(outcome.removals, outcome.edge_removals,
                            observed_at=outcome.observed_at)
        elif isinstance(outcome, Numbers):
            sink.upsert(outcome.entities, observed_at=outcome.observed_at)
        elif isinstance(outcome, Event):
            if self._event_floor is None or incoming.seq > self._event_floor:
                self._event_floor = incoming.seq
                sink.event(outcome)

    def _report(self, sink: Sink) -> None:
        """The site's status, with the silence verdict last made (`_listen`)."""
        mirror = self.mirror
        heard = mirror.last_heard
        silent = self._silent
        refusal = self._refusal()
        if refusal is not None:
            who = f"agent {refusal.agent}" if refusal.agent else "an agent"
            sink.status(SourceState.DOWN, f"{who} refused by NATS: {refusal.reason}")
        elif not mirror.based:
            sink.status(SourceState.DOWN, f"no keyframe from an agent of site {self.site} yet"
                        + (f"; refusing its messages ({mirror.last_rejected})"
                           if mirror.rejected else ""))
        elif silent:
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(heard or 0))
            sink.status(SourceState.DOWN, f"agent {mirror.agent} silent since {since} "
                        f"(at version {mirror.version})")
        elif mirror.last_rejected_at is not None \
                and time.time() - mirror.last_rejected_at <= _REFUSALS_SHOWN:
            when = time.strftime("%H:%M:%S UTC", time.gmtime(mirror.last_rejected_at))
            sink.status(SourceState.DEGRADED, f"refused {sum(mirror.rejected.values())} "
                        f"messages (last: {mirror.last_rejected}, at {when})")
        else:
            sink.status(SourceState.OK)


    def _refusal(self) -> Refusal | None:
        if self.refusals is None:
            return None
        return self.refusals.current(self.site, self.mirror.last_heard)


def _fresh(old: SiteMirror) -> SiteMirror:
    """A mirror to rebuild into, keeping the counts an operator follows."""
    new = SiteMirror(old.site, max_bytes=old.max_bytes)
    new.rejected, new.ignored = old.rejected, old.ignored
    new.last_rejected, new.last_rejected_at = old.last_rejected, old.last_rejected_at
    return new


def _default_durable() -> str:
    return "gestalt-hub-" + "".join(c if c.isalnum() or c in "-_" else "-"
                                    for c in socket.gethostname())
