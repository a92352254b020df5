"""The `host` source: this machine as a node, its TCP-speaking processes, the local TCP
connections between them, and its mounted disks.

psutil is blocking, so each poll runs in a worker thread and the event loop only sends
the result. psutil.Process objects are kept between polls because `cpu_percent` is a
delta against the previous call on the same object; a process seen for the first time
has no CPU figure yet (None, not 0).

Units: CPU as a percentage of the whole machine (all its cores: a process keeping two
cores busy on an 8-core host is at 25 %), as Gestalt states CPU for every entity; network
rates in bytes per second over the machine's own interfaces only (physical ones where
the kernel tells them apart, never loopback): traffic between local processes over
127.0.0.1 or through a container bridge never leaves the machine and would double what
the NIC carries.

Direction of network edges: connector -> listener. A socket whose local address is a
listening address is the server's accepted end of a connection and adds no edge; the
client's end does. A connection to an address no local process listens on goes to
`endpoint:<ip>:<port>`, which the hub resolves to a container or pod by its IP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import platform
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psutil

from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    SourceState,
    ids,
)
from gestalt.model.config import HostCollector
from gestalt.sources.base import Sink
from gestalt.sources.polling import poll_every

log = logging.getLogger(__name__)
T = TypeVar("T")

CMDLINE_LIMIT = 200
REDACTED = "***"
_SECRET_NAME = re.compile(r"passw(or)?d|secret|token|key|credential", re.I)
# user:password@ in URLs (postgres://app:hunter2@db/app).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I)
_WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Socket:
    """One TCP socket of a process, as psutil reports it (addresses without ::ffff:)."""

    pid: int
    local: tuple[str, int]
    remote: tuple[str, int] | None = None
    listening: bool = False
    established: bool = False


def redact_cmdline(args: Iterable[str], *, limit: int = CMDLINE_LIMIT) -> str:
    """Join a command line with the values of secret-looking arguments replaced.

    Covers `--password=x`, `--password x`, `-token x`, `API_KEY=x` and passwords in URLs;
    redaction happens before truncation so a cut never exposes half a secret.
    """
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, sep, _value = arg.partition("=")
        if sep and _SECRET_NAME.search(name):
            out.append(f"{name}={REDACTED}")
            continue
        if arg.startswith("-") and _SECRET_NAME.search(arg):
            hide_next = True  # the value is the next argument
        out.append(_URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", arg))
    text = " ".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unmap(ip: str) -> str:
    return ip.removeprefix("::ffff:")


class Listeners:
    """Which process listens on a local address, wildcard binds included."""

    def __init__(self, sockets: Iterable[Socket], local_ips: Iterable[str]) -> None:
        self._by_address: dict[tuple[str, int], int] = {}
        for s in sorted((s for s in sockets if s.listening), key=lambda s: s.pid):
            # Pre-forked servers share one listening socket: the lowest pid (the parent) owns it.
            self._by_address.setdefault(s.local, s.pid)
        self._local_ips = {_unmap(ip) for ip in local_ips}

    def owner(self, ip: str, port: int) -> int | None:
        pid = self._by_address.get((ip, port))
        if pid is not None or not self._is_local(ip):
            return pid
        # A wildcard listener takes connections to every local address; `::` takes IPv4 too.
        for wildcard in _WILDCARDS:
            pid = self._by_address.get((wildcard, port))
            if pid is not None:
                return pid
        return None

    def ports(self, pid: int) -> list[int]:
        return sorted({port for (_ip, port), owner in self._by_address.items() if owner == pid})

    def _is_local(self, ip: str) -> bool:
        if ip in self._local_ips:
            return True
        try:
            return ipaddress.ip_address(ip).is_loopback
        except ValueError:
            return False


def link_processes(host: str, sockets: Iterable[Socket], listeners: Listeners) -> list[Connection]:
    """Network edges connector -> listener, one per (connector, target), with the port."""
    edges: dict[str, Connection] = {}
    for s in sorted((s for s in sockets if s.established and s.remote), key=_socket_order):
        assert s.remote is not None
        if listeners.owner(*s.local) is not None:
            continue  # the server's accepted end: the client's socket gives the edge
        rip, rport = s.remote
        listener = listeners.owner(rip, rport)
        if listener == s.pid:
            continue  # a process talking to itself
        target = ids.process(host, listener) if listener is not None else ids.endpoint(rip, rport)
        edge = Connection(
            source_id=ids.process(host, s.pid),
            target_id=target,
            kind=ConnectionKind.NETWORK,
            attrs={"port": rport},
        )
        edges.setdefault(edge.id, edge)  # sorted by port, so the lowest port is kept
    return list(edges.values())


def _socket_order(s: Socket) -> tuple[int, int, str]:
    assert s.remote is not None
    return (s.remote[1], s.pid, s.remote[0])


@dataclass(slots=True)
class _Counters:
    """Cumulative counters from the previous poll, for rates and utilisation."""

    at: float
    net: dict[str, tuple[int, int]]  # measured interface -> (bytes received, bytes sent)
    disk_busy_ms: dict[str, int] = field(default_factory=dict)

    @property
    def net_rx(self) -> int:
        return sum(rx for rx, _ in self.net.values())

    @property
    def net_tx(self) -> int:
        return sum(tx for _, tx in self.net.values())


def measured_interfaces(nics: dict[str, Any], *, sysfs: str = "/sys/class/net") -> list[str]:
    """The interfaces whose traffic is the machine's: the physical ones (those with a
    device behind them in sysfs: NICs, virtio, Wi-Fi; not bridges, veths, VLANs, tunnels
    or bonds, whose bytes the physical ones also carry), or, where there is none (inside
    a container, off Linux), every interface but loopback."""
    outside = [name for name, nic in nics.items()
               if "loopback" not in str(getattr(nic, "flags", "")).split(",") and name != "lo"]
    physical = [name for name in outside if os.path.exists(os.path.join(sysfs, name, "device"))]
    return sorted(physical or outside)


def _rates(current: _Counters, previous: _Counters | None) -> tuple[float | None, float | None]:
    """Bytes/s received and sent since the previous poll, over the interfaces measured
    both times (one that appears or goes adds no jump)."""
    elapsed = current.at - previous.at if previous else 0.0
    if previous is None or elapsed <= 0:
        return None, None
    rx = tx = 0
    for name, (now_rx, now_tx) in current.net.items():
        before = previous.net.get(name)
        if before is not None:
            rx += max(0, now_rx - before[0])
            tx += max(0, now_tx - before[1])
    return rx / elapsed, tx / elapsed


class HostSource:
    """Polls this machine with psutil every `poll_interval` seconds."""

    name = "host"

    def __init__(self, config: HostCollector) -> None:
        self._config = config
        self._hostname = socket.gethostname()
        self._processes: dict[int, psutil.Process] = {}
        self._previous: _Counters | None = None
        self._node_attrs = _node_attrs()
        self._cpus = psutil.cpu_count() or 1

    async def run(self, sink: Sink) -> None:
        async def look() -> None:
            entities, connections, observed_at = await asyncio.to_thread(self.poll)
            sink.snapshot(entities, connections, observed_at=observed_at)
            sink.status(SourceState.OK)

        await poll_every(self._config.poll_interval, look)

    def poll(self) -> tuple[list[Entity], list[Connection], float]:
        """One blocking look at the machine: entities, connections and when it was taken."""
        now = time.time()
        host = self._hostname
        node_id = ids.host_node(host)
        current = _counters(now)
        previous, self._previous = self._previous, current

        sockets = _tcp_sockets()
        listeners = Listeners(sockets, _local_ips())
        processes = self._process_entities(host, sockets, listeners)
        volumes = self._volume_entities(host, current, previous)

        entities = [self._node_entity(node_id, current, previous), *processes, *volumes]
        connections = [
            *(Connection(source_id=node_id, target_id=p.id, kind=ConnectionKind.OWNS)
              for p in processes),
            *(Connection(source_id=node_id, target_id=v.id, kind=ConnectionKind.VOLUME)
              for v in volumes),
        ]
        present = {p.id for p in processes}
        for edge in link_processes(host, sockets, listeners):
            # Drop edges to processes that exited mid-poll; endpoint: ends are the hub's.
            if edge.source_id in present and (
                edge.target_id in present or edge.target_id.startswith(ids.ENDPOINT_PREFIX)
            ):
                connections.append(edge)
        return entities, connections, now

    # -- node ------------------------------------------------------------------------------
    def _node_entity(
        self, node_id: str, current: _Counters, previous: _Counters | None
    ) -> Entity:
        memory = psutil.virtual_memory()
        cpu = psutil.cpu_percent(interval=None)  # since the previous call: the last poll
        rx_rate, tx_rate = _rates(current, previous)
        return Entity(
            id=node_id,
            kind=EntityKind.NODE,
            name=self._hostname,
            status=EntityStatus.RUNNING,
            cpu_percent=cpu if previous else None,
            memory_bytes=memory.total - memory.available,
            memory_limit=memory.total,
            network_rx_bytes=current.net_rx,
            network_tx_bytes=current.net_tx,
            network_rx_rate=rx_rate,
            network_tx_rate=tx_rate,
            attrs={**self._node_attrs, "network_interfaces": ",".join(sorted(current.net))},
        )

    # -- processes -------------------------------------------------------------------------
    def _process_entities(
        self, host: str, sockets: list[Socket], listeners: Listeners
    ) -> list[Entity]:
        endpoints: dict[int, set[str]] = {}
        for s in sockets:
            endpoints.setdefault(s.pid, set()).add(ids.endpoint_key(*s.local))
        entities = []
        for pid in sorted(endpoints):
            entity = self._process_entity(host, pid, endpoints[pid], listeners.ports(pid))
            if entity is not None:
                entities.append(entity)
        for gone in self._processes.keys() - endpoints.keys():
            del self._processes[gone]
        return entities

    def _process_entity(
        self, host: str, pid: int, endpoints: set[str], ports: list[int]
    ) -> Entity | None:
        proc = self._processes.get(pid)
        fresh = proc is None or not proc.is_running()  # is_running also catches pid reuse
        try:
            if fresh:
                proc = self._processes[pid] = psutil.Process(pid)
            assert proc is not None
            with proc.oneshot():
                # psutil counts one busy core as 100 %: share of the whole machine instead.
                cpu = proc.cpu_percent(interval=None) / self._cpus
                name = proc.name()
                rss = proc.memory_info().rss
                cmdline: list[str] = _hidden_as(proc.cmdline, [])
                exe = _hidden_as(proc.exe, "")
                user = _hidden_as(proc.username, "")
                cwd = _hidden_as(proc.cwd, "")  # Code Mode: which repository it runs in
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self._processes.pop(pid, None)
            return None
        except psutil.AccessDenied:
            return None
        return Entity(
            id=ids.process(host, pid),
            kind=EntityKind.PROCESS,
            name=name,
            status=EntityStatus.RUNNING,
            cpu_percent=None if fresh else cpu,
            memory_bytes=rss,
            endpoints=sorted(endpoints),
            attrs={
                "pid": pid,
                "exe": os.path.basename(exe),
                "username": user,
                "listening_ports": ",".join(map(str, ports)),
                "cmdline": redact_cmdline(cmdline),
                **({"cwd": cwd} if cwd else {}),
            },
        )

    # -- disks -----------------------------------------------------------------------------
    def _volume_entities(
        self, host: str, current: _Counters, previous: _Counters | None
    ) -> list[Entity]:
        elapsed = current.at - previous.at if previous else 0.0
        ignored = set(self._config.ignore_fstypes)
        volumes: dict[str, Entity] = {}
        for part in psutil.disk_partitions(all=False):
            if part.fstype in ignored or part.mountpoint in volumes:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError as exc:
                log.debug("host: no usage for %s: %s", part.mountpoint, exc)
                continue
            metrics = {"used_percent": usage.percent}
            disk = os.path.basename(os.path.realpath(part.device))
            if previous and elapsed > 0 and disk in current.disk_busy_ms:
                busy = current.disk_busy_ms[disk] - previous.disk_busy_ms.get(disk, 0)
                metrics["io_util_percent"] = min(100.0, max(0.0, busy / (elapsed * 10.0)))
            volumes[part.mountpoint] = Entity(
                id=ids.host_volume(host, part.mountpoint),
                kind=EntityKind.VOLUME,
                name=part.mountpoint,
                status=EntityStatus.ACTIVE,
                custom_metrics=metrics,
                attrs={
                    "capacity_bytes": usage.total,
                    "used_bytes": usage.used,
                    "fstype": part.fstype,
                    "device": part.device,
                },
            )
        return list(volumes.values())


def _tcp_sockets() -> list[Socket]:
    sockets = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.pid is None or not conn.laddr:
            continue  # TIME_WAIT, or another user's socket when not root
        remote = (_unmap(conn.raddr.ip), conn.raddr.port) if conn.raddr else None
        sockets.append(Socket(
            pid=conn.pid,
            local=(_unmap(conn.laddr.ip), conn.laddr.port),
            remote=remote,
            listening=conn.status == psutil.CONN_LISTEN,
            established=conn.status == psutil.CONN_ESTABLISHED,
        ))
    return sockets


def _local_ips() -> set[str]:
    return {
        addr.address.split("%", 1)[0]  # fe80::1%eth0
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.family in (socket.AF_INET, socket.AF_INET6)
    }


def _counters(now: float) -> _Counters:
    nics = psutil.net_io_counters(pernic=True)
    disks = psutil.disk_io_counters(perdisk=True) or {}
    return _Counters(
        at=now,
        net={name: (nics[name].bytes_recv, nics[name].bytes_sent)
             for name in measured_interfaces(psutil.net_if_stats()) if name in nics},
        disk_busy_ms={name: getattr(c, "busy_time", 0) for name, c in disks.items()},
    )


def _hidden_as(getter: Callable[[], T], default: T) -> T:
    """A psutil getter's value, or `default` when the process hides it (another user's)."""
    try:
        return getter()
    except psutil.AccessDenied:
        return default


def _node_attrs() -> dict[str, str | int | float | None]:
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        os_name = platform.system()
    return {
        "os": os_name,
        "kernel": platform.release(),
        "cpu_count": psutil.cpu_count(),
        "boot_time": psutil.boot_time(),
    }
