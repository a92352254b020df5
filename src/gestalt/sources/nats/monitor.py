"""The NATS monitoring endpoints (`-m` port): typed views and one fetch per poll.

Only the fields the map uses are declared; msgspec skips the rest while decoding, which
keeps a 1,000-connection `/connz` cheap. Errors are classified for the poller:
`MonitorUnreachable` (nothing listens: the supervisor retries with backoff) versus
`MonitorError` (a timeout, a 5xx, a truncated body: the source is degraded and goes on).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import msgspec

# /connz answers at most 1,024 connections per request; larger servers are paged.
CONNZ_PAGE = 1024


class _View(msgspec.Struct):
    """Base of the endpoint views (each repeats kw_only: msgspec does not inherit it)."""


class Varz(_View, kw_only=True):
    server_id: str
    server_name: str = ""
    version: str = ""
    host: str = ""
    port: int = 0
    now: datetime
    start: datetime | None = None
    connections: int = 0
    total_connections: int = 0
    routes: int = 0
    in_msgs: int = 0
    out_msgs: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    slow_consumers: int = 0
    subscriptions: int = 0
    mem: int = 0
    cpu: float = 0.0  # % of one core
    cores: int = 0
    cluster: dict[str, object] = {}
    jetstream: dict[str, object] = {}

    @property
    def name(self) -> str:
        """How ids name this server: its configured name, else its (per-start) id."""
        return self.server_name or self.server_id


class SubDetail(_View, kw_only=True):
    subject: str
    sid: str = ""
    qgroup: str = ""
    msgs: int = 0


class Conn(_View, kw_only=True):
    cid: int
    start: datetime | None = None
    ip: str = ""
    port: int = 0
    name: str = ""
    lang: str = ""
    version: str = ""
    pending_bytes: int = 0
    in_msgs: int = 0
    out_msgs: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    subscriptions: int = 0
    rtt: str = ""
    subscriptions_list_detail: list[SubDetail] = []


class Connz(_View, kw_only=True):
    server_id: str
    now: datetime
    total: int = 0
    offset: int = 0
    limit: int = 0
    connections: list[Conn] = []


class Subsz(_View, kw_only=True):
    num_subscriptions: int = 0
    num_cache: int = 0
    num_matches: int = 0
    max_fanout: int = 0


class Seq(_View, kw_only=True):
    consumer_seq: int = 0
    stream_seq: int = 0


class ConsumerConfig(_View, kw_only=True):
    durable_name: str = ""
    ack_policy: str = ""
    max_ack_pending: int = 0
    deliver_subject: str = ""
    filter_subject: str = ""
    filter_subjects: list[str] = []


class ConsumerInfo(_View, kw_only=True):
    stream_name: str
    name: str
    config: ConsumerConfig = msgspec.field(default_factory=ConsumerConfig)
    delivered: Seq = msgspec.field(default_factory=Seq)
    ack_floor: Seq = msgspec.field(default_factory=Seq)
    num_ack_pending: int = 0
    num_redelivered: int = 0
    num_waiting: int = 0
    num_pending: int = 0


class StreamConfig(_View, kw_only=True):
    subjects: list[str] = []
    storage: str = ""
    retention: str = ""
    num_replicas: int = 1


class StreamState(_View, kw_only=True):
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    consumer_count: int = 0
    num_subjects: int = 0


class StreamDetail(_View, kw_only=True):
    name: str
    config: StreamConfig = msgspec.field(default_factory=StreamConfig)
    state: StreamState = msgspec.field(default_factory=StreamState)
    consumer_detail: list[ConsumerInfo] = []


class AccountDetail(_View, kw_only=True):
    name: str = ""
    stream_detail: list[StreamDetail] = []


class Jsz(_View, kw_only=True):
    streams: int = 0
    consumers: int = 0
    messages: int = 0
    bytes: int = 0
    account_details: list[AccountDetail] = []


class Route(_View, kw_only=True):
    rid: int = 0
    remote_id: str = ""
    remote_name: str = ""
    ip: str = ""
    port: int = 0
    in_msgs: int = 0
    out_msgs: int = 0
    in_bytes: int = 0
    out_bytes: int = 0


class Routez(_View, kw_only=True):
    routes: list[Route] = []


class Poll(_View, kw_only=True):
    """One poll of every endpoint. `at` is the local monotonic clock when it finished."""

    varz: Varz
    connz: Connz
    subsz: Subsz
    jsz: Jsz | None
    routez: Routez
    at: float


class MonitorError(Exception):
    """The endpoint answered badly (timeout, 5xx, truncated or invalid JSON): retry next poll."""


class MonitorUnreachable(MonitorError):
    """Nothing answers at the monitoring address (connection refused, DNS failure)."""


async def fetch(client: httpx.AsyncClient, path: str, view: type[msgspec.Struct]) -> object:
    try:
        response = await client.get(path)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        why = str(exc) or type(exc).__name__
        raise MonitorUnreachable(f"{client.base_url} unreachable: {why}") from exc
    except httpx.TimeoutException as exc:
        raise MonitorError(f"{path}: timed out") from exc
    except httpx.TransportError as exc:
        raise MonitorError(f"{path}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise MonitorError(f"{path}: HTTP {response.status_code}")
    try:
        return msgspec.json.decode(response.content, type=view)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise MonitorError(f"{path}: unreadable JSON: {exc}") from exc


async def fetch_connz(client: httpx.AsyncClient) -> Connz:
    """All client connections with subscription details, paged past 1,024."""
    first: Connz | None = None
    seen: dict[int, Conn] = {}
    offset = 0
    while True:
        page = await fetch(
            client, f"/connz?subs=detail&offset={offset}&limit={CONNZ_PAGE}", Connz
        )
        assert isinstance(page, Connz)
        first = first or page
        for conn in page.connections:  # a connection may move pages while we read: dedupe
            seen.setdefault(conn.cid, conn)
        offset += CONNZ_PAGE
        if not page.connections or offset >= page.total:
            break
    first.connections = list(seen.values())
    first.total = len(seen)
    return first


async def poll(client: httpx.AsyncClient, *, jetstream: bool = True) -> Poll:
    """Fetch every endpoint concurrently; one failure fails the whole poll.

    `/subsz` is read for its totals only: `/connz?subs=detail` already lists every client
    subscription with its delivered count, so asking `/subsz?subs=1` as well would
    decode each of them twice."""
    results = await asyncio.gather(
        fetch(client, "/varz", Varz),
        fetch_connz(client),
        fetch(client, "/subsz", Subsz),
        fetch(client, "/routez", Routez),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:  # "unreachable" decides between retry-with-backoff and degraded
        raise next((f for f in failures if isinstance(f, MonitorUnreachable)), failures[0])
    varz, connz, subsz, routez = results
    assert isinstance(varz, Varz) and isinstance(connz, Connz)
    assert isinstance(subsz, Subsz) and isinstance(routez, Routez)
    jsz = None
    if jetstream and varz.jetstream.get("config"):
        result = await fetch(client, "/jsz?streams=true&consumers=true&config=true", Jsz)
        assert isinstance(result, Jsz)
        jsz = result
    loop = asyncio.get_running_loop()
    return Poll(varz=varz, connz=connz, subsz=subsz, jsz=jsz, routez=routez, at=loop.time())
