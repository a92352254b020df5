"""From one poll of the monitoring endpoints (and the sampler's counts) to entities,
flow edges and feed events.

Edges, all in the direction messages travel:

    client --nats--> subject --nats--> client          (publish, deliver)
    subject --nats--> wildcard subject                  (orders.created feeds orders.>)
    subject --nats--> stream --nats--> consumer          (JetStream capture, delivery)
    consumer --nats--> deliver subject                  (push consumers)
    server --owns--> subject / stream;  server --network--> server   (cluster routes)

A client end is `endpoint:<ip>:<port>`, the connection's address as the server sees it,
so the hub resolves it to the process, container or pod that owns the socket.

Who publishes what is inferred. The server counts messages per connection (`in_msgs`) and
the sampler counts them per subject, but nothing says which connection sent which
subject. `attribute` matches the two: publishers and subjects are paired by how close
their average message sizes are, and each pair carries as much of the rate as both sides
have left. It is exact when one subject is busy or each publisher sends one subject of a
distinct size, and approximate otherwise; such edges say `attribution: inferred`.
Subscriber edges are measured: `/connz?subs=detail` counts deliveries per subscription.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import NamedTuple

from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Event,
    Health,
    Severity,
    ids,
)
from gestalt.sources.nats.continuity import ConsumerWatch, JetStreamRecovery
from gestalt.sources.nats.monitor import Conn, ConsumerInfo, Poll
from gestalt.sources.nats.subjects import is_internal, is_wildcard, matches

SOURCE = "nats"
# Subjects seen by the sampler stay on the map this long after their last message.
SUBJECT_TTL = 60.0
# Attributed flows smaller than this share of both ends are noise between two windows.
CRUMB = 0.05


class Observation(NamedTuple):
    entities: list[Entity]
    connections: list[Connection]
    events: list[Event]


class Flow(NamedTuple):
    publisher: int  # connection id (cid)
    subject: str
    rate: float


def attribute(
    publishers: dict[int, tuple[float, float]], subjects: dict[str, tuple[float, float]]
) -> list[Flow]:
    """Split subjects' message rates between publishing connections.

    Both maps give (messages/s, average message size). Greedy on size closeness, then on
    the larger flow; crumbs below CRUMB of both ends are dropped."""
    left_p = {c: rate for c, (rate, _) in publishers.items() if rate > 0}
    left_s = {s: rate for s, (rate, _) in subjects.items() if rate > 0}

    def closeness(pair: tuple[int, str]) -> tuple[float, float]:
        (rp, sp), (rs, ss) = publishers[pair[0]], subjects[pair[1]]
        return abs(sp - ss) / max(sp, ss, 1.0), -min(rp, rs)

    flows: list[Flow] = []
    for c, s in sorted(((c, s) for c in left_p for s in left_s), key=closeness):
        rate = min(left_p[c], left_s[s])
        if rate < CRUMB * publishers[c][0] and rate < CRUMB * subjects[s][0]:
            continue
        if rate <= 0:
            continue
        left_p[c] -= rate
        left_s[s] -= rate
        flows.append(Flow(c, s, rate))
    return flows


def _rate(new: int, old: int | None, seconds: float | None) -> float | None:
    """Counter delta per second; None without a previous sample or after a reset."""
    if old is None or not seconds or seconds <= 0 or new < old:
        return None
    return (new - old) / seconds


def _metrics(**values: float | int | None) -> dict[str, float]:
    """The known values; counts stay whole numbers (shown as 623, not 623.0)."""
    return {k: v for k, v in values.items() if v is not None}


class TopologyBuilder:
    """Remembers the previous poll (for rates) and each consumer's recent backlog."""

    def __init__(self, *, own_client: str = "", sampled: Iterable[str] = ()) -> None:
        self.own_client = own_client
        self.sampled = list(sampled)
        self._prev: Poll | None = None
        self._watch: dict[str, ConsumerWatch] = {}
        self._jetstream = JetStreamRecovery()

    def lost(self) -> None:
        """The server could not be polled, or restarted: backlogs seen before say nothing
        about their growth since, so each is judged afresh from the next polls (no data
        until then, which keeps an alert as it was rather than resolving it)."""
        self._prev = None
        for watch in self._watch.values():
            watch.pending.clear()

    def build(
        self,
        poll: Poll,
        *,
        counts: dict[str, list[int]] | None = None,
        window: float = 0.0,
        last_seen: dict[str, float] | None = None,
        wall: float | None = None,
    ) -> Observation:
        """`counts` are the sampler's per-subject [messages, bytes] over `window` seconds;
        None when the sampler is not connected (then subject rates come from deliveries)."""
        wall = time.time() if wall is None else wall
        prev = self._prev
        if prev is not None and prev.varz.server_id != poll.varz.server_id:
            prev = None  # the server restarted: its counters started again from zero
        if prev is None:
            self.lost()
        self._prev = poll
        observation = _Build(self, poll, prev, counts, window, last_seen or {}, wall).run()
        self._jetstream.carry(poll, observation.entities, observation.connections)
        return observation


class _Build:
    def __init__(
        self,
        owner: TopologyBuilder,
        poll: Poll,
        prev: Poll | None,
        counts: dict[str, list[int]] | None,
        window: float,
        last_seen: dict[str, float],
        wall: float,
    ) -> None:
        self.owner, self.poll, self.prev, self.wall = owner, poll, prev, wall
        self.counts, self.window, self.last_seen = counts, window, last_seen
        self.server = poll.varz.name
        self.server_id = ids.nats_server(self.server)
        self.entities: dict[str, Entity] = {}
        self.edges: dict[str, Connection] = {}
        self.events: list[Event] = []
        self.subjects: dict[str, dict[str, float]] = {}  # subject -> metrics being summed
        # subject -> deliveries/s per subscriber (a queue group counts once)
        self.deliveries: dict[str, dict[str, float]] = {}
        self.subject_rates: dict[str, tuple[float, float]] = {}  # (msgs/s, avg size)

    def run(self) -> Observation:
        self.server_entity()
        clients = [c for c in self.poll.connz.connections if c.name != self.owner.own_client]
        deliver_subjects = self.deliver_subjects()
        self.sampled_subjects()
        self.subscriptions(clients, deliver_subjects)
        self.publishers(clients)
        self.jetstream()
        self.wildcards()
        self.subject_entities()
        self.routes()
        return Observation(list(self.entities.values()), list(self.edges.values()), self.events)

    # -- helpers ------------------------------------------------------------------------------
    def seconds(self) -> float | None:
        if self.prev is None:
            return None
        return (self.poll.connz.now - self.prev.connz.now).total_seconds()

    def edge(self, src: str, dst: str, kind: ConnectionKind, rate: float | None = None,
             size: float | None = None, **attrs: str | int | float | bool) -> None:
        conn = Connection(source_id=src, target_id=dst, kind=kind, attrs=dict(attrs))
        existing = self.edges.get(conn.id)
        if existing is not None:  # two subscriptions of one client to one subject
            if rate is not None:
                existing.requests_per_sec = (existing.requests_per_sec or 0.0) + rate
                if size is not None:
                    existing.bytes_per_sec = existing.requests_per_sec * size
            return
        if rate is not None:
            conn.requests_per_sec = rate
            conn.bytes_per_sec = rate * size if size is not None else None
        self.edges[conn.id] = conn

    def lifetime(self, conn: Conn) -> float | None:
        if conn.start is None:
            return None
        return (self.poll.connz.now - conn.start).total_seconds()

    def subject(self, subject: str) -> str:
        self.subjects.setdefault(subject, {})
        return ids.nats_subject(self.server, subject)

    def avg_size(self, subject: str) -> float | None:
        rate = self.subject_rates.get(subject)
        return rate[1] if rate else None

    # -- parts ----------------------------------------------------------------------------------
    def server_entity(self) -> None:
        v, pv = self.poll.varz, self.prev.varz if self.prev else None
        dt = (v.now - pv.now).total_seconds() if pv else None
        self.entities[self.server_id] = Entity(
            id=self.server_id,
            kind=EntityKind.NATS_SERVER,
            name=self.server,
            status=EntityStatus.RUNNING,
            # varz counts one busy core as 100 % (as ps does): a share of the machine.
            cpu_percent=v.cpu / v.cores if v.cores else None,
            memory_bytes=v.mem,
            attrs={
                "version": v.version,
                "server_id": v.server_id,
                "address": f"{v.host}:{v.port}",
                "cluster": str(v.cluster.get("name") or ""),
                "jetstream": self.poll.jsz is not None,
            },
            custom_metrics=_metrics(
                connections=v.connections,
                subscriptions=v.subscriptions,
                slow_consumers=v.slow_consumers,
                routes=v.routes,
                in_msgs_per_sec=_rate(v.in_msgs, pv.in_msgs if pv else None, dt),
                out_msgs_per_sec=_rate(v.out_msgs, pv.out_msgs if pv else None, dt),
                in_bytes_per_sec=_rate(v.in_bytes, pv.in_bytes if pv else None, dt),
                out_bytes_per_sec=_rate(v.out_bytes, pv.out_bytes if pv else None, dt),
            ),
            created_at=v.start.timestamp() if v.start else None,
            updated_at=self.wall,
        )

    def deliver_subjects(self) -> set[str]:
        """Push consumers deliver on (often `_INBOX.`) subjects that are traffic, not plumbing."""
        return {
            c.config.deliver_subject
            for _, _, c in self.consumers()
            if c.config.deliver_subject
        }

    def consumers(self) -> Iterable[tuple[str, str, ConsumerInfo]]:
        for account in self.poll.jsz.account_details if self.poll.jsz else []:
            for stream in account.stream_detail:
                for consumer in stream.consumer_detail:
                    yield account.name, stream.name, consumer

    def sampled_subjects(self) -> None:
        """Subjects the sampler saw: measured rates, and on the map for SUBJECT_TTL."""
        if self.counts is None:
            return
        for subject, (msgs, size) in self.counts.items():
            if self.window > 0 and not is_internal(subject):
                self.subject_rates[subject] = (msgs / self.window, size / msgs if msgs else 0.0)
        for subject, seen in self.last_seen.items():
            if self.wall - seen <= SUBJECT_TTL and not is_internal(subject):
                self.subject(subject)
                if self.window > 0:
                    self.subject_rates.setdefault(subject, (0.0, 0.0))

    def subscriptions(self, clients: list[Conn], deliver_subjects: set[str]) -> None:
        prev_subs: dict[tuple[int, str], int] = {}
        for conn in self.prev.connz.connections if self.prev else []:
            for sub in conn.subscriptions_list_detail:
                prev_subs[(conn.cid, sub.sid)] = sub.msgs
        dt = self.seconds()
        before = {c.cid for c in self.prev.connz.connections} if self.prev else set()
        for conn in clients:
            new = self.prev is not None and conn.cid not in before
            for sub in conn.subscriptions_list_detail:
                if is_internal(sub.subject) and sub.subject not in deliver_subjects:
                    continue
                if new:  # connected since the last poll: everything it has is new
                    rate = _rate(sub.msgs, 0, self.lifetime(conn))
                else:
                    rate = _rate(sub.msgs, prev_subs.get((conn.cid, sub.sid)), dt)
                metrics = self.subjects.setdefault(sub.subject, {})
                metrics["subscribers"] = metrics.get("subscribers", 0) + 1
                metrics["pending_bytes"] = metrics.get("pending_bytes", 0) + conn.pending_bytes
                if rate is not None:  # for subjects the sampler does not see
                    group = f"queue:{sub.qgroup}" if sub.qgroup else f"sub:{conn.cid}:{sub.sid}"
                    received = self.deliveries.setdefault(sub.subject, {})
                    received[group] = received.get(group, 0.0) + rate
                attrs: dict[str, str | int | float | bool] = {
                    "client": conn.name, "cid": conn.cid, "attribution": "measured"}
                if sub.qgroup:
                    attrs["queue_group"] = sub.qgroup
                self.edge(self.subject(sub.subject), ids.endpoint(conn.ip, conn.port),
                          ConnectionKind.NATS, rate, None, **attrs)

    def publishers(self, clients: list[Conn]) -> None:
        if self.prev is None or not self.subject_rates:
            return
        before = {c.cid: c for c in self.prev.connz.connections}
        dt = self.seconds()
        publishing: dict[int, tuple[float, float]] = {}
        for conn in clients:
            old = before.get(conn.cid)
            if old is None:  # connected since the last poll: a rate over its lifetime
                old = Conn(cid=conn.cid)
                rate = _rate(conn.in_msgs, 0, self.lifetime(conn))
            else:
                rate = _rate(conn.in_msgs, old.in_msgs, dt)
            if rate:
                sent = conn.in_msgs - old.in_msgs
                publishing[conn.cid] = (rate, (conn.in_bytes - old.in_bytes) / sent)
        by_cid = {c.cid: c for c in clients}
        for flow in attribute(publishing, self.subject_rates):
            conn = by_cid[flow.publisher]
            self.edge(ids.endpoint(conn.ip, conn.port), self.subject(flow.subject),
                      ConnectionKind.NATS, flow.rate, self.avg_size(flow.subject),
                      client=conn.name, cid=conn.cid, attribution="inferred")

    def jetstream(self) -> None:
        if self.poll.jsz is None:
            return
        prev_streams = {}
        if self.prev and self.prev.jsz:
            for account in self.prev.jsz.account_details:
                for stream in account.stream_detail:
                    prev_streams[(account.name, stream.name)] = stream
        dt = self.poll.at - self.prev.at if self.prev else None
        for account in self.poll.jsz.account_details:
            default = account.name in ("", "$G")
            for stream in account.stream_detail:
                key = stream.name if default else f"{account.name}/{stream.name}"
                sid = ids.nats_stream(self.server, key)
                old = prev_streams.get((account.name, stream.name))
                rate = _rate(stream.state.last_seq, old.state.last_seq if old else None, dt)
                state = stream.state
                self.entities[sid] = Entity(
                    id=sid, kind=EntityKind.NATS_STREAM, name=key, status=EntityStatus.ACTIVE,
                    attrs={
                        "subjects": ", ".join(stream.config.subjects),
                        "storage": stream.config.storage,
                        "retention": stream.config.retention,
                        "replicas": stream.config.num_replicas,
                        "account": account.name,
                    },
                    custom_metrics=_metrics(
                        messages=state.messages, bytes=state.bytes,
                        consumers=state.consumer_count, subjects=state.num_subjects,
                        first_seq=state.first_seq, last_seq=state.last_seq, msgs_per_sec=rate,
                    ),
                    updated_at=self.wall,
                )
                self.edge(self.server_id, sid, ConnectionKind.OWNS)
                backlog = 0
                size = state.bytes / state.messages if state.messages else None
                for subject in stream.config.subjects:
                    self.edge(self.subject(subject), sid, ConnectionKind.NATS, rate, size)
                olds = {c.name: c for c in old.consumer_detail} if old else {}
                for consumer in stream.consumer_detail:
                    backlog = max(backlog, consumer.num_pending + consumer.num_ack_pending)
                    self.consumer(sid, key, consumer, olds.get(consumer.name), dt)
                for subject in stream.config.subjects:
                    metrics = self.subjects[subject]
                    metrics["queue_depth"] = max(metrics.get("queue_depth", 0), backlog)

    def consumer(self, stream_id: str, stream: str, c: ConsumerInfo,
                 old: ConsumerInfo | None, dt: float | None) -> None:
        cid = ids.nats_consumer(self.server, stream, c.name)
        delivered = _rate(c.delivered.consumer_seq, old.delivered.consumer_seq if old else None, dt)
        acked = _rate(c.ack_floor.stream_seq, old.ack_floor.stream_seq if old else None, dt)
        watch = self.owner._watch.setdefault(cid, ConsumerWatch())
        growing, history, span = watch.growth(self.poll.at, c.num_pending)
        limit = c.config.max_ack_pending
        stalled = limit > 0 and c.num_ack_pending >= limit
        reasons = []
        if stalled:
            reasons.append(
                f"ack pending {c.num_ack_pending}/{limit}: MaxAckPending reached, so the server "
                f"delivers nothing more to {c.name} until it acks; {c.num_pending} waiting")
        if growing:
            reasons.append(
                f"pending grew from {history[0]} to {history[-1]} over {span:.0f} s; "
                f"delivered {delivered or 0:.1f} msgs/s, acked {acked or 0:.1f} msgs/s")
        self.transition(cid, c.name, "ConsumerStalled", watch.stalled, stalled,
                        reasons[0] if stalled else "", Severity.ERROR)
        if growing is not None:
            self.transition(cid, c.name, "ConsumerBacklogGrowing", watch.growing, growing,
                            reasons[-1] if growing else "", Severity.WARNING)
            watch.growing = growing
        watch.stalled = stalled
        health = Health.CRITICAL if stalled else Health.WARNING if growing else Health.OK
        self.entities[cid] = Entity(
            id=cid, kind=EntityKind.NATS_CONSUMER, name=f"{stream}/{c.name}",
            status=EntityStatus.ACTIVE, health_status=health, health_reasons=reasons,
            attrs={
                "stream": stream,
                "durable": bool(c.config.durable_name),
                "pull": not c.config.deliver_subject,
                "ack_policy": c.config.ack_policy,
                "max_ack_pending": limit,
                "filter_subject": c.config.filter_subject or ", ".join(c.config.filter_subjects),
                "stalled": stalled,
                "backlog_growing": growing,
            },
            custom_metrics=_metrics(
                num_pending=c.num_pending, num_ack_pending=c.num_ack_pending,
                num_redelivered=c.num_redelivered, num_waiting=c.num_waiting,
                delivered_per_sec=delivered, acked_per_sec=acked,
            ),
            updated_at=self.wall,
        )
        self.edge(stream_id, cid, ConnectionKind.NATS, delivered)
        if c.config.deliver_subject:
            self.edge(cid, self.subject(c.config.deliver_subject), ConnectionKind.NATS, delivered)

    def transition(self, entity_id: str, name: str, reason: str, was: bool, now: bool,
                   message: str, severity: Severity) -> None:
        if was == now:
            return
        if not now:
            reason, message, severity = "ConsumerRecovered", f"{name} is keeping up again", \
                Severity.INFO
        self.events.append(Event(
            id=f"{SOURCE}:{entity_id}:{reason}:{int(self.wall * 1000)}",
            type="Warning" if now else "Normal", reason=reason, message=message,
            entity_id=entity_id, entity_kind=EntityKind.NATS_CONSUMER, entity_name=name,
            timestamp=self.wall, severity=severity, source=SOURCE,
        ))

    def wildcards(self) -> None:
        """Concrete subjects feed the wildcard subjects (subscriptions, streams) they match."""
        concrete = [s for s in self.subjects if not is_wildcard(s)]
        for pattern in [s for s in self.subjects if is_wildcard(s)]:
            total = [0.0, 0.0]
            for subject in concrete:
                if not matches(pattern, subject):
                    continue
                measured = self.subject_rates.get(subject)
                if measured is None:
                    self.edge(self.subject(subject), self.subject(pattern), ConnectionKind.NATS)
                    continue
                rate, size = measured
                total[0] += rate
                total[1] += rate * size
                self.edge(self.subject(subject), self.subject(pattern),
                          ConnectionKind.NATS, rate, size)
            if any(matches(p, pattern) for p in self.sampled_patterns()):
                avg = total[1] / total[0] if total[0] else 0.0
                self.subject_rates[pattern] = (total[0], avg)

    def sampled_patterns(self) -> list[str]:
        return self.owner.sampled if self.counts is not None else []

    def subject_entities(self) -> None:
        for subject, metrics in self.subjects.items():
            measured = self.subject_rates.get(subject)
            rate: float | None = None
            byte_rate: float | None = None
            if measured is not None:
                rate, byte_rate = measured[0], measured[0] * measured[1]
            elif self.deliveries.get(subject):
                # Unsampled: what its busiest subscriber (or queue group) received.
                rate = max(self.deliveries[subject].values())
            sid = ids.nats_subject(self.server, subject)
            self.entities[sid] = Entity(
                id=sid, kind=EntityKind.NATS_SUBJECT, name=subject, status=EntityStatus.ACTIVE,
                attrs={"server": self.server, "wildcard": is_wildcard(subject),
                       "sampled": measured is not None},
                custom_metrics=_metrics(
                    msgs_per_sec=rate, bytes_per_sec=byte_rate,
                    subscribers=metrics.get("subscribers", 0),
                    pending_bytes=metrics.get("pending_bytes"),
                    queue_depth=metrics.get("queue_depth"),
                ),
                updated_at=self.wall,
            )
            self.edge(self.server_id, sid, ConnectionKind.OWNS)

    def routes(self) -> None:
        for route in self.poll.routez.routes:
            remote = route.remote_name or route.remote_id
            if remote:
                self.edge(self.server_id, ids.nats_server(remote), ConnectionKind.NETWORK,
                          address=f"{route.ip}:{route.port}")
