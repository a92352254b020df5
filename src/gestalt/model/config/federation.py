"""Federation's configuration: the `agent` section (what `gestalt agent` publishes, and
where) and `collectors.agents` (a hub reading agents), with the NATS credentials both use.

Credentials are the kinds nats-py supports; at most one kind per section (checked when
the config is read, naming the key). Values may come from the environment instead of the
file (`GESTALT_AGENT__PASSWORD`, `GESTALT_COLLECTORS__AGENTS__TOKEN`).
"""

from __future__ import annotations

from typing import Any

from gestalt.model.config.types import Positive, Seconds, Section
from gestalt.model.federation import SiteName


class NatsCredentials(Section):
    """How to authenticate to the NATS server: user and password, a token, an NKey seed
    file, or a credentials (.creds, JWT) file. None: no authentication."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = None
    # A CA bundle to verify a tls:// server with (None: the system's).
    tls_ca_file: str | None = None

    def connect_options(self, name: str) -> dict[str, Any]:
        """nats-py `connect` keyword options for these credentials."""
        options: dict[str, Any] = {"name": name}
        if self.user is not None:
            options.update(user=self.user, password=self.password)
        if self.token is not None:
            options["token"] = self.token
        if self.nkey_seed_file is not None:
            options["nkeys_seed"] = self.nkey_seed_file
        if self.creds_file is not None:
            options["user_credentials"] = self.creds_file
        if self.tls_ca_file is not None:
            import ssl

            options["tls"] = ssl.create_default_context(cafile=self.tls_ca_file)
        return options


class AgentConfig(NatsCredentials):
    """`gestalt agent`: this site's name and where its change log goes."""

    # The site: one subject token (`gestalt.<site>.delta`); required to run an agent.
    site: SiteName | None = None
    # Names this agent in its id (`<name>-<start ms>`); None: the host name.
    name: str | None = None
    url: str = "nats://localhost:4222"
    stream: str = "GESTALT"
    # A full picture about this often, so a hub (re)builds a site from recent messages:
    # each a random 0.8-1.2 times this after the last, so that agents started together
    # do not keyframe in lockstep (engine/publisher.py `_KEYFRAME_JITTER`).
    keyframe_interval: Seconds = 300.0
    # An idle agent says it is alive this often (a hub's silence timeout is a few of these).
    heartbeat_interval: Seconds = 5.0
    # While the NATS server is out of reach: at most this much is kept; beyond it the
    # changes are dropped (counted, logged) and a keyframe replaces them on reconnect.
    buffer_messages: Positive = 10_000
    buffer_bytes: Positive = 64 * 1024 * 1024
    # Keyframe parts stay under this (the server's max_payload is 1 MiB by default).
    max_message_bytes: Positive = 512 * 1024
    publish_timeout: Seconds = 5.0


class AgentsCollector(NatsCredentials):
    """A hub: reads the sites' agents from a JetStream stream (docs/federation.md)."""

    enabled: bool = False
    url: str = "nats://localhost:4222"
    stream: str = "GESTALT"
    sites: list[SiteName] = []
    # The durable consumer's name (one per site: `<durable>-<site>`). Each hub needs its
    # own: two hubs sharing one would split the messages between them. None: derived from
    # the host name.
    durable: str | None = None
    # A site that sends nothing (not even a heartbeat) for this long turns stale.
    silence_timeout: Seconds = 30.0
    # Create the stream when it is missing (needs the JetStream API permission); false
    # when the operator creates it (docs/federation.md shows the `nats stream add` line).
    create_stream: bool = True
    # The stream keeps this much history (a rebuild reads from the last keyframe on).
    stream_max_age: Seconds = 86_400.0
    stream_max_bytes: Positive = 1024 * 1024 * 1024
    # A message larger than this is refused (counted as `oversized`).
    max_message_bytes: Positive = 1024 * 1024
    request_timeout: Seconds = 5.0
    # A user of the NATS server's system account: the hub reads the server's advisories
    # (refused credentials, who signs in as which site's agent) and shows the agents the
    # server refuses, which it could not see otherwise. None: refusals stay unseen.
    system: NatsCredentials | None = None
    # The NATS user each site's agent signs in as, where it is not the site's own name
    # (deploy/nats/gestalt.conf names them alike). An agent of one site signed in as
    # another site's user is shown refused: the server refuses what it publishes.
    site_users: dict[SiteName, str] = {}

    def site_user(self, site: str) -> str:
        return self.site_users.get(site, site)

