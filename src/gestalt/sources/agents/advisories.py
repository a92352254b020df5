"""Agents the NATS server refuses, from its system account's advisories.

A refused agent never reaches the stream, so a hub reading the stream alone cannot tell
it from one that is switched off. The server tells its system account (one connection,
`collectors.agents.system`):

- `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`: a client whose credentials it refused, with the
  user it tried and the name the client gave itself;
- `$SYS.ACCOUNT.<account>.CONNECT`: a client signed in, with its user and name.

The server publishes no advisory when it refuses a publish (a permissions violation is
only an `-ERR` to that client), so an agent publishing outside its site is recognised
by how it signs in: `gestalt agent` names its connection `gestalt-agent <site> <id>`,
and an agent of one site signed in as another configured site's user is one whose
publishes the server refuses (deploy/nats/gestalt.conf lets each site's user publish
only its own site's subjects).

`Refusals` is pure state shared by the sites' sources; `AdvisorySource` keeps it filled
(a source of its own, `agents:advisories`, so an operator sees whether refusals can be
seen at all). Advisories are live: refusals from before the hub started are not known.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from gestalt.model import SourceState
from gestalt.model.config import AgentsCollector
from gestalt.model.federation import is_refusal
from gestalt.sources.agents.connect import Refused, connect
from gestalt.sources.base import PermanentSourceError, Sink, SourceUnavailable

log = logging.getLogger(__name__)

AUTH_ERROR_SUBJECT = "$SYS.SERVER.*.CLIENT.AUTH.ERR"
CONNECT_SUBJECT = "$SYS.ACCOUNT.*.CONNECT"
AGENT_CLIENT_PREFIX = "gestalt-agent"


def agent_client_name(site: str, agent: str) -> str:
    """The name an agent gives its NATS connection, which advisories carry."""
    return f"{AGENT_CLIENT_PREFIX} {site} {agent}"


class _Client(msgspec.Struct):
    user: str = ""
    name: str = ""
    host: str = ""


class _Advisory(msgspec.Struct):
    type: str = ""
    timestamp: str = ""
    client: _Client = msgspec.field(default_factory=_Client)
    reason: str = ""


@dataclass(slots=True)
class Refusal:
    reason: str
    user: str
    host: str
    agent: str | None
    at: float  # epoch seconds, the server's time
    attempts: int = 1


class Refusals:
    """The last refusal per configured site, and the sign-ins that clear it."""

    def __init__(self, config: AgentsCollector) -> None:
        self.sites = set(config.sites)
        self._user_of = {site: config.site_user(site) for site in self.sites}
        self._site_of_user = {user: site for site, user in self._user_of.items()}
        self._last: dict[str, Refusal] = {}
        self._signed_in: dict[str, float] = {}  # an agent of the site signed in as itself

    def current(self, site: str, heard: float | None) -> Refusal | None:
        """The site's refusal, unless an agent of the site was heard from, or signed in
        as the site's user, since."""
        refusal = self._last.get(site)
        since = max(heard or 0.0, self._signed_in.get(site, 0.0))
        if refusal is None or since > refusal.at:
            return None
        return refusal

    def last(self, site: str) -> Refusal | None:
        return self._last.get(site)

    def take(self, subject: str, body: bytes) -> str | None:
        """One advisory; the site it is news of, if any."""
        try:
            advisory = msgspec.json.decode(body, type=_Advisory)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.debug("not an advisory on %s: %r", subject, body[:200])
            return None
        client = advisory.client
        claimed, agent = _claim(client.name)
        at = _epoch(advisory.timestamp)
        if subject.endswith(".CLIENT.AUTH.ERR"):
            site = claimed or self._site_of_user.get(client.user)
            if site not in self.sites:
                return None
            why = advisory.reason or "authentication"
            self._refuse(site, Refusal(f"credentials of user '{client.user}' refused ({why})",
                                       client.user, client.host, agent, at))
            return site
        if subject.endswith(".CONNECT") and claimed in self.sites:
            expected = self._user_of[claimed]
            if client.user == expected:
                self._signed_in[claimed] = at
                return claimed
            other = self._site_of_user.get(client.user)
            if other is not None:
                self._refuse(claimed, Refusal(
                    f"signed in as user '{client.user}' (site {other}), which may not publish "
                    f"site {claimed}'s subjects (permissions violation)",
                    client.user, client.host, agent, at))
                return claimed
        return None

    def _refuse(self, site: str, refusal: Refusal) -> None:
        before = self._last.get(site)
        if before is not None and before.reason == refusal.reason:
            refusal.attempts = before.attempts + 1
        self._last[site] = refusal
        log.warning("site %s: NATS refuses an agent (%s) from %s: %s", site,
                    refusal.agent or "unnamed", refusal.host or "?", refusal.reason)


def refusal_details(refusal: Refusal | None, shown: bool) -> dict[str, Any]:
    """A site's status details about refusals (`refused` only while it is the news)."""
    if refusal is None:
        return {"refused": False}
    return {"refused": shown, "refused_reason": refusal.reason, "refused_user": refusal.user,
            "refused_host": refusal.host, "refused_agent": refusal.agent,
            "refused_at": refusal.at, "refused_attempts": refusal.attempts}


def _claim(name: str) -> tuple[str | None, str | None]:
    """(site, agent id) from `gestalt-agent <site> <id>`."""
    words = name.split()
    if len(words) == 3 and words[0] == AGENT_CLIENT_PREFIX:
        return words[1], words[2]
    return None, None


def _epoch(stamp: str) -> float:
    try:
        # The server writes nanoseconds; Python reads up to microseconds.
        head, _, tail = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(tail + '000000')[:6]}+00:00").timestamp()
    except ValueError:
        return 0.0


class AdvisorySource:
    """Reads the server's advisories into `refusals` (no entities of its own)."""

    name = "agents:advisories"

    def __init__(self, config: AgentsCollector, refusals: Refusals) -> None:
        assert config.system is not None
        self.config = config
        self.credentials = config.system
        self.refusals = refusals

    async def run(self, sink: Sink) -> None:
        config = self.config
        try:
            nc = await connect(config.url, timeout=config.request_timeout,
                               **self.credentials.connect_options("gestalt-hub advisories"))
        except Refused as exc:
            raise PermanentSourceError(f"collectors.agents.system: {exc}") from exc
        except Exception as exc:  # nats-py raises several kinds for "cannot connect"
            if is_refusal(exc):
                raise PermanentSourceError(f"collectors.agents.system: {exc}") from exc
            raise SourceUnavailable(f"NATS at {config.url}: {str(exc) or type(exc).__name__}") \
                from exc
        try:
            subs = [await nc.subscribe(AUTH_ERROR_SUBJECT), await nc.subscribe(CONNECT_SUBJECT)]
            await nc.flush(timeout=max(int(config.request_timeout), 1))
            if nc.last_error is not None and is_refusal(nc.last_error):
                raise PermanentSourceError(
                    f"collectors.agents.system: not allowed to read advisories: {nc.last_error}")
            sink.status(SourceState.OK)

            async def read(sub: Any) -> None:
                async for msg in sub.messages:
                    self.refusals.take(msg.subject, msg.data)

            await asyncio.gather(*(read(sub) for sub in subs))
        finally:
            await nc.close()
