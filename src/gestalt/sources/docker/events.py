"""Docker events as feed events, and which events change what the map shows."""

from __future__ import annotations

from gestalt.model import EntityKind, Event, Severity, ids
from gestalt.sources.docker.api import DockerEvent

# Container actions after which the container is inspected again. Left out on purpose:
# exec_* (every health check runs one), attach, resize, top, archive-path, export...
CONTAINER_CHANGES = frozenset({
    "create", "start", "restart", "die", "stop", "kill", "oom", "pause", "unpause",
    "destroy", "rename", "update", "health_status",
})


def action(event: DockerEvent) -> tuple[str, str]:
    """("health_status", "unhealthy") from "health_status: unhealthy"; ("die", "")."""
    name, _, detail = event.Action.partition(":")
    return name, detail.strip()


def feed_event(event: DockerEvent, *, engine: str, source: str = "docker") -> Event | None:
    """The feed's view of a container event, or None for events the feed does not show."""
    if event.Type != "container":
        return None
    verb, detail = action(event)
    attrs = event.Actor.Attributes or {}
    name = attrs.get("name") or event.Actor.ID[:12]
    described = _describe(verb, detail, name, attrs)
    if described is None:
        return None
    severity, message = described
    return Event(
        # Stable for the same engine event, so a replay after a reconnect is recognisable.
        id=f"docker:{engine}/{event.Actor.ID[:12]}/{event.timeNano}/{verb}",
        type="Normal" if severity is Severity.INFO else "Warning",
        reason=verb,
        message=message,
        entity_id=ids.container(event.Actor.ID),
        entity_kind=EntityKind.CONTAINER,
        entity_name=name,
        timestamp=event.timeNano / 1e9,
        severity=severity,
        source=source,
    )


def _describe(
    verb: str, detail: str, name: str, attrs: dict[str, str]
) -> tuple[Severity, str] | None:
    if verb == "start":
        return Severity.INFO, f"container {name} started"
    if verb == "die":
        code = attrs.get("exitCode", "0")
        severity = Severity.INFO if code == "0" else Severity.WARNING
        return severity, f"container {name} exited with code {code}"
    if verb == "kill":
        return Severity.WARNING, f"container {name} was sent signal {attrs.get('signal', '?')}"
    if verb == "oom":
        return Severity.CRITICAL, f"container {name} ran out of memory"
    if verb == "health_status" and detail in ("healthy", "unhealthy"):
        severity = Severity.INFO if detail == "healthy" else Severity.WARNING
        return severity, f"container {name} is {detail}"
    return None
