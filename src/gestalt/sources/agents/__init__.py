"""The hub's side of federation: each configured site, read from JetStream, as a source
(`site:<name>`), and the NATS server's advisories (`agents:advisories`, with
`collectors.agents.system`) that show the agents it refuses. See docs/federation.md; the
wire format is model/federation.py."""

from gestalt.model.config import AgentsCollector
from gestalt.sources.agents.advisories import AdvisorySource, Refusals
from gestalt.sources.agents.site import SiteSource


def AgentsSource(config: AgentsCollector) -> list[SiteSource | AdvisorySource]:  # noqa: N802 (the registry's factory)
    """One source per site: each turns stale by itself when its agent falls silent."""
    refusals = Refusals(config) if config.system is not None else None
    sources: list[SiteSource | AdvisorySource] = [
        SiteSource(config, site, refusals) for site in dict.fromkeys(config.sites)]
    if refusals is not None:
        sources.append(AdvisorySource(config, refusals))
    return sources


__all__ = ["AdvisorySource", "AgentsSource", "Refusals", "SiteSource"]
