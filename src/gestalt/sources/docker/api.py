"""The few Docker Engine API calls the source makes, decoded into typed values.

Responses are read as bytes and decoded with msgspec into Structs that name only the
fields we use. The decoder skips every other field without building a Python object for
it, so a container's `Config.Env` (where people put passwords), `Cmd`, `Args` and health
check output never exist in this process as values. Bodies are never logged.

aiodocker gives us the transport (unix socket, TCP, TLS, `DOCKER_HOST`) and its
`_query` for raw responses; its dict-returning helpers would materialise everything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import TypeVar

import aiodocker
import aiohttp
import msgspec

from gestalt.sources.base import SourceError, SourceUnavailable

T = TypeVar("T")

# Ordinary calls are small; a stuck engine must not hang a relist forever.
_CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
# A stats call racing `docker pause` of a health-checked container can hang in the engine,
# and the engine's stats of every other container with it (one collector serves them all):
# give up soon (the round's samples are skipped, the next round asks again) rather than
# have no figures for 30 s.
_STATS_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=5)
# The event stream is silent for as long as nothing happens.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=5)
# Docker emits these types; images, plugins, daemons and the like change no entity we show.
EVENT_TYPES = ("container", "network", "volume")


class _Struct(msgspec.Struct):
    pass


# -- /info --------------------------------------------------------------------------------
class Info(_Struct):
    Name: str
    SystemTime: str = ""
    ServerVersion: str = ""


# -- /containers ----------------------------------------------------------------------------
class ContainerSummary(_Struct):
    Id: str


class Health(_Struct):
    Status: str = ""  # "starting" | "healthy" | "unhealthy"; the Log (outputs) is not read


class State(_Struct):
    Status: str = ""
    Pid: int = 0
    ExitCode: int = 0
    OOMKilled: bool = False
    StartedAt: str = ""
    FinishedAt: str = ""
    Health: Health | None = None


class Config(_Struct):
    """Deliberately without Env, Cmd, Entrypoint: they may hold secrets."""

    Image: str = ""
    Labels: dict[str, str] | None = None


class RestartPolicy(_Struct):
    Name: str = ""  # "" or "no" | "always" | "unless-stopped" | "on-failure"


class HostConfig(_Struct):
    RestartPolicy: RestartPolicy = msgspec.field(default_factory=RestartPolicy)
    NanoCpus: int = 0  # --cpus, in billionths of a CPU
    MemoryReservation: int = 0  # --memory-reservation, bytes


class PortBinding(_Struct):
    HostIp: str = ""
    HostPort: str = ""


class EndpointSettings(_Struct):
    # Empty while the container is stopped: it is then no member of the network (what
    # `docker network inspect` lists), though inspect still names the network.
    EndpointID: str = ""
    IPAddress: str = ""
    GlobalIPv6Address: str = ""


class NetworkSettings(_Struct):
    Networks: dict[str, EndpointSettings] | None = None
    Ports: dict[str, list[PortBinding] | None] | None = None


class Mount(_Struct):
    Type: str = ""
    Name: str = ""
    Destination: str = ""


class ContainerInspect(_Struct):
    Id: str
    Name: str = ""
    Created: str = ""
    RestartCount: int = 0
    State: State = msgspec.field(default_factory=State)
    Config: Config = msgspec.field(default_factory=Config)
    HostConfig: HostConfig = msgspec.field(default_factory=HostConfig)
    NetworkSettings: NetworkSettings = msgspec.field(default_factory=NetworkSettings)
    Mounts: list[Mount] | None = None


# -- /networks, /volumes ----------------------------------------------------------------------
class Network(_Struct):
    Name: str
    Id: str = ""
    Driver: str = ""
    Scope: str = ""
    Internal: bool = False
    Created: str = ""
    Labels: dict[str, str] | None = None


class Volume(_Struct):
    Name: str
    Driver: str = ""
    Scope: str = ""
    CreatedAt: str = ""
    Labels: dict[str, str] | None = None


class VolumeList(_Struct):
    Volumes: list[Volume] | None = None


# -- /containers/{id}/stats -------------------------------------------------------------------
class CpuUsage(_Struct):
    total_usage: int = 0
    percpu_usage: list[int] | None = None


class CpuStats(_Struct):
    cpu_usage: CpuUsage = msgspec.field(default_factory=CpuUsage)
    system_cpu_usage: int | None = None
    online_cpus: int | None = None


class MemoryStats(_Struct):
    usage: int | None = None
    limit: int | None = None
    stats: dict[str, int] | None = None


class NetworkStats(_Struct):
    rx_bytes: int = 0
    tx_bytes: int = 0


class Stats(_Struct):
    read: str = ""
    cpu_stats: CpuStats = msgspec.field(default_factory=CpuStats)
    memory_stats: MemoryStats = msgspec.field(default_factory=MemoryStats)
    networks: dict[str, NetworkStats] | None = None


# -- /events ----------------------------------------------------------------------------------
class Actor(_Struct):
    ID: str = ""
    Attributes: dict[str, str] | None = None


class DockerEvent(_Struct):
    Type: str = ""
    Action: str = ""
    Actor: Actor = msgspec.field(default_factory=Actor)
    timeNano: int = 0


def epoch(timestamp: str) -> float | None:
    """Docker's RFC 3339 times (nanoseconds, `Z`) as epoch seconds; None for its zero time."""
    if not timestamp or timestamp.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


class Engine:
    """A connection to one Docker engine. Errors come out as SourceError/SourceUnavailable."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._docker = aiodocker.Docker(url=url, timeout=_CALL_TIMEOUT)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._docker.close()

    async def info(self) -> Info:
        return await self._get("info", Info)

    async def containers(self) -> list[ContainerSummary]:
        return await self._get("containers/json", list[ContainerSummary], {"all": "1"})

    async def inspect(self, container_id: str) -> ContainerInspect | None:
        """None when the container no longer exists."""
        return await self._get_or_none(f"containers/{container_id}/json", ContainerInspect)

    async def networks(self) -> list[Network]:
        return await self._get("networks", list[Network])

    async def network(self, network_id: str) -> Network | None:
        return await self._get_or_none(f"networks/{network_id}", Network)

    async def volumes(self) -> list[Volume]:
        return (await self._get("volumes", VolumeList)).Volumes or []

    async def volume(self, name: str) -> Volume | None:
        return await self._get_or_none(f"volumes/{name}", Volume)

    async def stats(self, container_id: str) -> Stats | None:
        """One sample, without the engine's 1 s wait for a second one (`one-shot`).

        None when the container is gone or no longer running (the engine then answers
        with an empty body)."""
        params = {"stream": "false", "one-shot": "true"}
        try:
            body = await self._read(f"containers/{container_id}/stats", params,
                                    timeout=_STATS_TIMEOUT)
        except _NotFound:
            return None
        if not body.strip():
            return None
        with self._errors(f"decode stats of {container_id[:12]}"):
            return msgspec.json.decode(body, type=Stats)

    @contextlib.asynccontextmanager
    async def events(self, *, since: str) -> AsyncIterator[AsyncIterator[DockerEvent]]:
        """Subscribe to /events; on entry the engine has answered, so it is listening.

        `since` (epoch seconds, as "sec.nsec") makes the engine replay what happened between
        that moment and the subscription: the engine answers the request before it
        registers the subscriber, so without it an event in that gap could be lost.
        """
        params = {"since": since, "filters": msgspec.json.encode({"type": EVENT_TYPES}).decode()}
        with self._errors("subscribe to events"):
            response = await self._docker._do_query(
                "events", "GET", params=params, timeout=_STREAM_TIMEOUT
            )
        try:
            yield self._decode_events(response)
        finally:
            response.close()

    async def past_events(self, *, since: str, until: str, actions: tuple[str, ...]
                          ) -> list[DockerEvent]:
        """Container events between two moments (epoch seconds), as far back as the engine
        still remembers them (it keeps its last 256 events in memory)."""
        filters = {"type": ["container"], "event": list(actions)}
        params = {"since": since, "until": until, "filters": msgspec.json.encode(filters).decode()}
        body = await self._read("events", params)
        decoder = msgspec.json.Decoder(DockerEvent)
        with self._errors("decode past events"):
            return [decoder.decode(line) for line in body.splitlines() if line.strip()]

    async def _decode_events(self, response: aiohttp.ClientResponse) -> AsyncIterator[DockerEvent]:
        decoder = msgspec.json.Decoder(DockerEvent)
        with self._errors("read events"):
            async for line in response.content:
                if line.strip():
                    yield decoder.decode(line)

    async def _get(self, path: str, kind: type[T], params: dict[str, str] | None = None) -> T:
        body = await self._read(path, params)
        with self._errors(f"decode /{path}"):
            return msgspec.json.decode(body, type=kind)

    async def _read(self, path: str, params: dict[str, str] | None = None, *,
                    timeout: aiohttp.ClientTimeout = _CALL_TIMEOUT) -> bytes:
        with self._errors(f"GET /{path}"):
            async with self._docker._query(path, params=params, timeout=timeout) as response:
                try:
                    return await response.read()
                finally:
                    response.release()

    async def _get_or_none(
        self, path: str, kind: type[T], params: dict[str, str] | None = None
    ) -> T | None:
        try:
            return await self._get(path, kind, params)
        except _NotFound:
            return None

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except aiodocker.DockerError as exc:
            if exc.status == 900:  # aiodocker's code for "could not connect"
                raise SourceUnavailable(f"no Docker engine at {self.url}: {_why(exc)}") from exc
            if exc.status == 404:
                raise _NotFound() from exc
            raise SourceError(f"Docker engine at {self.url}: {what}: {exc.message}") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # ValueError: aiohttp's "line is too long"; msgspec.DecodeError is one too.
            reason = str(exc) or type(exc).__name__
            raise SourceError(f"Docker engine at {self.url}: {what}: {reason}") from exc


class _NotFound(Exception):
    """A 404: the object went away between hearing about it and asking for it."""


def _why(exc: BaseException) -> str:
    """The operating system's reason for a failed connect ("connection refused")."""
    cause: BaseException | None = exc
    while cause is not None:
        error = cause if isinstance(cause, OSError) else getattr(cause, "os_error", None)
        if isinstance(error, OSError) and error.errno:
            return os.strerror(error.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return "cannot connect"
