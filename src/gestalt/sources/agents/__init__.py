"""The hub's side of federation: each configured site, read from JetStream, as a source
(`site:<name>`). See docs/federation.md; the wire format is model/federation.py."""

from gestalt.model.config import AgentsCollector
from gestalt.sources.agents.site import SiteSource


def AgentsSource(config: AgentsCollector) -> list[SiteSource]:  # noqa: N802 (the registry's factory)
    """One source per site: each turns stale by itself when its agent falls silent."""
    return [SiteSource(config, site) for site in dict.fromkeys(config.sites)]


__all__ = ["AgentsSource", "SiteSource"]
