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


# Signals that ask a process to reload, dump or pause rather than end (numbers as the engine
# sends them, names as `docker kill -s` accepts them): an exit after one is not asked for.
_NOT_STOPPING = frozenset({"1", "10", "12", "18", "19", "20", "28", "HUP", "SIGHUP", "USR1",
                           "SIGUSR1", "USR2", "SIGUSR2", "CONT", "SIGCONT", "STOP", "SIGSTOP",
                           "TSTP", "SIGTSTP", "WINCH", "SIGWINCH"})


class StopRequests:
    """Which containers someone asked to stop since they last started.

    `docker stop`, `docker kill`, `docker rm -f` and `docker compose down` all make the
    engine send a `kill` event (then `die`, then `stop` for a stop); a crash, the kernel's
    OOM kill or a process that simply ends has a `die` and no `kill`. So the events say
    whether an exit was someone's intent, which inspect cannot: the engine keeps that to
    itself. Entries go when the container starts again or is removed.

    The engine remembers only its last events (256), so a container that stopped long
    before we looked has no events either way: `witnessed` says whether we know how its
    last run ended at all, so such an exit is not taken for a crash.
    """

    def __init__(self) -> None:
        self._asked: set[str] = set()
        self._died: set[str] = set()

    def observe(self, event: DockerEvent) -> None:
        if event.Type != "container" or not event.Actor.ID:
            return
        verb, _ = action(event)
        signal = (event.Actor.Attributes or {}).get("signal", "")
        if verb == "stop" or (verb == "kill" and signal.upper() not in _NOT_STOPPING):
            self._asked.add(event.Actor.ID)
        elif verb == "die":
            self._died.add(event.Actor.ID)
        elif verb in ("start", "destroy"):
            self._asked.discard(event.Actor.ID)
            self._died.discard(event.Actor.ID)

    def asked(self, container_id: str) -> bool:
        return container_id in self._asked

    def witnessed(self, container_id: str) -> bool:
        """Whether the end of its last run is in the events we have (a die or a stop)."""
        return container_id in self._died or container_id in self._asked

    def keep_only(self, container_ids: set[str]) -> None:
        self._asked &= container_ids
        self._died &= container_ids


def action(event: DockerEvent) -> tuple[str, str]:
    """("health_status", "unhealthy") from "health_status: unhealthy"; ("die", "")."""
    name, _, detail = event.Action.partition(":")
    return name, detail.strip()


def feed_event(
    event: DockerEvent, *, engine: str, source: str = "docker", stop_requested: bool = False
) -> Event | None:
    """The feed's view of a container event, or None for events the feed does not show.
    `stop_requested`: someone asked for this container to stop (see StopRequests)."""
    if event.Type != "container":
        return None
    verb, detail = action(event)
    attrs = event.Actor.Attributes or {}
    name = attrs.get("name") or event.Actor.ID[:12]
    described = _describe(verb, detail, name, attrs, stop_requested)
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
    verb: str, detail: str, name: str, attrs: dict[str, str], stop_requested: bool
) -> tuple[Severity, str] | None:
    if verb == "start":
        return Severity.INFO, f"container {name} started"
    if verb == "die":
        code = attrs.get("exitCode", "0")
        if stop_requested:
            return Severity.INFO, f"container {name} stopped on request (exit code {code})"
        severity = Severity.INFO if code == "0" else Severity.WARNING
        return severity, f"container {name} exited with code {code}"
    if verb == "kill":  # someone's command (docker stop, kill, rm -f): news, not a fault
        return Severity.INFO, f"container {name} was sent signal {attrs.get('signal', '?')}"
    if verb == "oom":
        return Severity.CRITICAL, f"container {name} ran out of memory"
    if verb == "health_status" and detail in ("healthy", "unhealthy"):
        severity = Severity.INFO if detail == "healthy" else Severity.WARNING
        return severity, f"container {name} is {detail}"
    return None
