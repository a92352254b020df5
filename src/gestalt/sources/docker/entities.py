"""Docker objects as entities and edges.

A container links to each network it is a member of (`network`: while it runs or is
paused, as `docker network inspect` lists it; a stopped container keeps the network in
its settings but has no endpoint on it), each named volume it mounts (`volume`) and,
when the engine runs on this machine, to its main process as the host source sees it
(`owns`: the engine's name is this machine's hostname, so the ids meet).

Why a container is not running is an attribute the health checks read: `reason` is
`Completed` (exit 0), `Stopped` (someone asked: `docker stop`, `docker kill`), `OOMKilled`,
`Error` or `StartError` (it never started), in Kubernetes' words where they exist, or
`Signalled` (ended by SIGTERM or SIGKILL before we watched, so whether someone asked is not
known); and `restart_policy` says whether it should be running at all.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from gestalt.model import (
    METRIC_FIELDS,
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    ids,
)
from gestalt.sources.docker.api import ContainerInspect, Network, Volume, epoch

_STATUS = {
    "running": EntityStatus.RUNNING,
    "created": EntityStatus.PENDING,
    "restarting": EntityStatus.PENDING,
    "paused": EntityStatus.PAUSED,
    "exited": EntityStatus.EXITED,
    "dead": EntityStatus.EXITED,
    "removing": EntityStatus.TERMINATING,
}


def container(
    c: ContainerInspect,
    *,
    engine: str,
    local: bool,
    metrics: Mapping[str, float | int | None] | None = None,
    stop_requested: bool = False,
    exit_witnessed: bool = True,
) -> tuple[Entity, list[Connection]]:
    """The container and its edges; `metrics` are the latest stats, kept across re-inspects;
    `stop_requested`: someone asked the engine to stop it since it last started;
    `exit_witnessed`: the events say how its last run ended (see StopRequests)."""
    cid = ids.container(c.Id)
    state = c.State
    networks = {name: n for name, n in (c.NetworkSettings.Networks or {}).items()
                if n.EndpointID}
    status = _STATUS.get(state.Status, EntityStatus.UNKNOWN)
    attrs: dict[str, str | int | float | bool | None] = {
        "image": c.Config.Image,
        "state": state.Status,
        "restart_count": c.RestartCount,
        "restart_policy": c.HostConfig.RestartPolicy.Name or "no",
    }
    # The engine keeps a running container's exit code at 0 (or its last run's): it says
    # something only of a container that is not running now.
    if state.Status not in ("running", "paused"):
        attrs["exit_code"] = state.ExitCode
    if ports := _ports(c):
        attrs["ports"] = ports
    # What the container asked for, in Kubernetes' units (cost allocation reads both alike).
    if c.HostConfig.NanoCpus:
        attrs["cpu_request"] = c.HostConfig.NanoCpus / 1e6  # millicores
    if c.HostConfig.MemoryReservation:
        attrs["memory_request"] = c.HostConfig.MemoryReservation
    if state.Status == "created" and state.ExitCode:
        # `docker run` of a command that cannot start leaves it "created" with 126/127.
        status, attrs["reason"] = EntityStatus.FAILED, "StartError"
    elif status is EntityStatus.EXITED:
        attrs["reason"] = _exit_reason(state.ExitCode, oom=state.OOMKilled,
                                       stop_requested=stop_requested, witnessed=exit_witnessed)
    if state.Pid:
        attrs["pid"] = state.Pid
    if state.Health is not None and state.Health.Status:
        attrs["health_check"] = state.Health.Status
    if state.OOMKilled:
        attrs["oom_killed"] = True
    if epoch(state.StartedAt) is not None:
        attrs["started_at"] = state.StartedAt
    entity = Entity(
        id=cid,
        kind=EntityKind.CONTAINER,
        name=c.Name.removeprefix("/"),
        status=status,
        labels=dict(c.Config.Labels or {}),
        attrs=attrs,
        endpoints=sorted({ip for n in networks.values()
                          for ip in (n.IPAddress, n.GlobalIPv6Address) if ip}),
        created_at=epoch(c.Created),
    )
    if metrics:  # the fields; custom ones (cpu_usage) reach the engine as sink.metrics
        entity = msgspec.structs.replace(
            entity, **{k: v for k, v in metrics.items() if k in METRIC_FIELDS})
    edges = [
        Connection(source_id=cid, target_id=ids.docker_network(engine, name),
                   kind=ConnectionKind.NETWORK)
        for name in sorted(networks)
    ]
    edges += [
        Connection(source_id=cid, target_id=ids.docker_volume(engine, m.Name),
                   kind=ConnectionKind.VOLUME, attrs={"path": m.Destination})
        for m in c.Mounts or ()
        if m.Type == "volume" and m.Name
    ]
    if local and state.Pid:
        edges.append(Connection(source_id=cid, target_id=ids.process(engine, state.Pid),
                                kind=ConnectionKind.OWNS))
    return entity, edges


# 128 + SIGINT, SIGKILL, SIGTERM: what `docker stop` and `docker kill` leave behind.
_SIGNAL_EXITS = frozenset({130, 137, 143})


def _exit_reason(code: int, *, oom: bool, stop_requested: bool, witnessed: bool) -> str:
    if oom:
        return "OOMKilled"
    if stop_requested:
        return "Stopped"
    if code == 0:
        return "Completed"
    if not witnessed and code in _SIGNAL_EXITS:
        return "Signalled"  # a stop before we watched looks exactly like this: not a crash
    return "Error"


def network(n: Network, *, engine: str) -> Entity:
    return Entity(
        id=ids.docker_network(engine, n.Name),
        kind=EntityKind.NETWORK,
        name=n.Name,
        status=EntityStatus.ACTIVE,
        labels=dict(n.Labels or {}),
        attrs={"driver": n.Driver, "scope": n.Scope, "internal": n.Internal,
               "network_id": n.Id[:12]},
        created_at=epoch(n.Created),
    )


def volume(v: Volume, *, engine: str) -> Entity:
    return Entity(
        id=ids.docker_volume(engine, v.Name),
        kind=EntityKind.VOLUME,
        name=v.Name,
        status=EntityStatus.ACTIVE,
        labels=dict(v.Labels or {}),
        attrs={"driver": v.Driver, "scope": v.Scope},
        created_at=epoch(v.CreatedAt),
    )


def _ports(c: ContainerInspect) -> str:
    """`80/tcp->0.0.0.0:8080,[::]:8080, 443/tcp`, as `docker ps` shows them."""
    shown = []
    for port, bindings in sorted((c.NetworkSettings.Ports or {}).items()):
        targets = sorted({f"[{b.HostIp}]:{b.HostPort}" if ":" in b.HostIp
                          else f"{b.HostIp}:{b.HostPort}" for b in bindings or ()})
        shown.append(f"{port}->{','.join(targets)}" if targets else port)
    return ", ".join(shown)
