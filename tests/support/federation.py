"""Agents and hubs for the federation tests: a real engine each, in this process, talking
to a real nats-server with JetStream (tests/support/nats_server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import Any

from gestalt.engine.publisher import Publisher
from gestalt.engine.runtime import Engine
from gestalt.model.config import Config

OFF = ("host", "docker", "kubernetes", "nats", "otel")


def quiet_config(**collectors: Any) -> Config:
    """A config with every local collector off, history in a fresh temp dir, no alerts
    unless asked; `collectors` sets sections (name -> the section value)."""
    config = Config()
    for name in OFF:
        getattr(config.collectors, name).enabled = False
    for name, section in collectors.items():
        setattr(config.collectors, name, section)
    config.server.data_dir = tempfile.mkdtemp(prefix="gestalt-fed-")
    config.server.metrics_interval = 0.2
    return config


class Agent:
    """`gestalt agent` in this process: an engine and its publisher."""

    def __init__(self, site: str, url: str, config: Config, **agent: Any) -> None:
        config.agent.site = site
        config.agent.url = url
        config.agent.heartbeat_interval = 0.3
        for key, value in agent.items():
            setattr(config.agent, key, value)
        config.alerts.enabled = False
        self.config = config
        self.engine = Engine(config)
        self.publisher = Publisher(self.engine.store, self.engine.changes, config.agent,
                                   name=f"test-{site}")
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Agent:
        await self.engine.start()
        self.task = asyncio.create_task(self.publisher.run(), name=f"agent:{self.site}")
        return self

    @property
    def site(self) -> str:
        return self.publisher.site

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.publisher.close()
        await self.engine.stop()

    def view(self) -> tuple[dict[str, str], set[str]]:
        store = self.engine.store
        return ({eid: str(e.status) for eid, e in store.entities.items()},
                set(store.connections))


def hub_config(url: str, sites: list[str], *, durable: str = "test-hub", **options: Any
               ) -> Config:
    from gestalt.model.config import AgentsCollector

    agents = AgentsCollector(enabled=True, url=url, sites=sites, durable=durable,
                             silence_timeout=options.pop("silence_timeout", 3.0), **options)
    config = quiet_config(agents=agents)
    config.alerts.enabled = False
    return config


def hub_view(engine: Engine, prefix: str = "site:") -> tuple[dict[str, str], set[str]]:
    """The hub's entities that came from sites (and their edges)."""
    store = engine.store
    ents = {eid: str(e.status) for eid, e in store.entities.items()
            if any(s.startswith(prefix) for s in e.sources)}
    conns = {cid for cid, c in store.connections.items() if c.source_id in ents}
    return ents, conns


def union(*agents: Agent) -> tuple[dict[str, str], set[str]]:
    ents: dict[str, str] = {}
    conns: set[str] = set()
    for agent in agents:
        e, c = agent.view()
        ents.update(e)
        conns |= c
    return ents, conns


def details(engine: Engine, site: str) -> dict[str, Any]:
    for status in engine.source_statuses():
        if status.name == f"site:{site}":
            return {"state": str(status.state), "reason": status.reason, **status.details}
    raise KeyError(site)
