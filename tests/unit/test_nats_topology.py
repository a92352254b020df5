"""Entities, flow edges and consumer events built from recorded monitoring answers
(tests/fixtures/nats: a real nats-server 2.15 with a stream, a pull consumer and subscribers)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from gestalt.model import ConnectionKind, EntityKind, Health, ids
from gestalt.sources.nats import monitor
from gestalt.sources.nats.continuity import JETSTREAM_RECOVERY
from gestalt.sources.nats.subjects import is_internal, matches
from gestalt.sources.nats.topology import TopologyBuilder, attribute

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nats"


def recorded(at: float = 0.0, **changes: object) -> monitor.Poll:
    views = {"varz": monitor.Varz, "connz": monitor.Connz, "subsz": monitor.Subsz,
             "jsz": monitor.Jsz, "routez": monitor.Routez}
    parts = {name: msgspec.json.decode((FIXTURES / f"{name}.json").read_bytes(), type=view)
             for name, view in views.items()}
    poll = monitor.Poll(**parts, at=at)
    shift = timedelta(seconds=at)
    poll.varz.now += shift
    poll.connz.now += shift
    return poll


def consumer_of(poll: monitor.Poll) -> monitor.ConsumerInfo:
    assert poll.jsz is not None
    return poll.jsz.account_details[0].stream_detail[0].consumer_detail[0]


@pytest.mark.parametrize(("pattern", "subject", "expected"), [
    ("orders.*", "orders.created", True),
    ("orders.*", "orders.created.eu", False),
    ("orders.>", "orders.created.eu", True),
    ("orders.>", "orders", False),
    ("orders.created", "orders.created", True),
    ("orders.created", "orders.shipped", False),
    ("*.created", "orders.created", True),
    ("orders.>", "orders.*", True),   # a pattern inside a wider one
    ("orders.*", "orders.>", False),  # but not the other way round
])
def test_subject_matching(pattern: str, subject: str, expected: bool) -> None:
    assert matches(pattern, subject) is expected


def test_internal_subjects() -> None:
    assert is_internal("_INBOX.abc") and is_internal("$JS.API.INFO")
    assert not is_internal("orders.created")


def test_entities_from_one_poll() -> None:
    obs = TopologyBuilder().build(recorded())
    by_id = {e.id: e for e in obs.entities}
    server = by_id[ids.nats_server("probe")]
    assert server.kind is EntityKind.NATS_SERVER
    assert server.attrs["version"] == "2.15.1"
    assert server.custom_metrics["connections"] == 1
    assert "in_msgs_per_sec" not in server.custom_metrics  # one poll: no rate yet, not 0
    # varz says cpu 1 (% of one core, as ps does) on 2 cores: 0.5 % of the machine.
    assert server.cpu_percent == 0.5

    stream = by_id[ids.nats_stream("probe", "ORDERS")]
    assert stream.custom_metrics["messages"] == 20 and stream.attrs["subjects"] == "orders.>"
    # Counts are whole numbers (623, not 623.0) wherever they are shown.
    assert type(stream.custom_metrics["messages"]) is int
    assert type(server.custom_metrics["connections"]) is int
    consumer = by_id[ids.nats_consumer("probe", "ORDERS", "worker")]
    assert consumer.custom_metrics["num_pending"] == 17
    assert consumer.custom_metrics["num_ack_pending"] == 3
    assert consumer.attrs["pull"] is True and consumer.attrs["stalled"] is False

    subjects = {e.name for e in obs.entities if e.kind is EntityKind.NATS_SUBJECT}
    assert subjects == {"orders.created", "orders.*", "orders.>"}  # no _INBOX plumbing
    edges = {c.id: c for c in obs.connections}
    client = ids.endpoint("127.0.0.1", 36204)
    sub_edge = edges[f"nats:{ids.nats_subject('probe', 'orders.created')}->{client}"]
    assert sub_edge.attrs["queue_group"] == "q"
    assert f"nats:{ids.nats_subject('probe', 'orders.>')}->{stream.id}" in edges
    assert f"nats:{stream.id}->{consumer.id}" in edges
    # The concrete subject feeds the wildcard subscriptions and the stream's subject.
    assert f"nats:{ids.nats_subject('probe', 'orders.created')}->" \
           f"{ids.nats_subject('probe', 'orders.>')}" in edges


def test_rates_come_from_counter_deltas() -> None:
    builder = TopologyBuilder()
    builder.build(recorded(at=0.0))
    later = recorded(at=2.0)
    later.varz.in_msgs += 100
    conn = later.connz.connections[0]
    queue_sub = next(s for s in conn.subscriptions_list_detail if s.qgroup == "q")
    queue_sub.msgs += 50  # the queue subscription to orders.created
    obs = builder.build(later)
    server = next(e for e in obs.entities if e.kind is EntityKind.NATS_SERVER)
    assert server.custom_metrics["in_msgs_per_sec"] == pytest.approx(50.0)
    edge = next(c for c in obs.connections
                if c.source_id == ids.nats_subject("probe", "orders.created")
                and c.target_id.startswith("endpoint:"))
    assert edge.requests_per_sec == pytest.approx(25.0)
    subject = next(e for e in obs.entities if e.name == "orders.created")
    assert subject.custom_metrics["msgs_per_sec"] == pytest.approx(25.0)  # unsampled: deliveries


def test_a_restarted_server_gives_no_bogus_rates() -> None:
    builder = TopologyBuilder()
    builder.build(recorded(at=0.0))
    restarted = recorded(at=2.0)
    restarted.varz.server_id = "NEWID"
    restarted.varz.in_msgs = 3  # counters start again from zero
    obs = builder.build(restarted)
    server = next(e for e in obs.entities if e.kind is EntityKind.NATS_SERVER)
    assert "in_msgs_per_sec" not in server.custom_metrics


def test_publishers_are_attributed_from_sampled_subject_rates() -> None:
    builder = TopologyBuilder(sampled=["orders.>"])
    builder.build(recorded(at=0.0), counts={}, window=2.0)
    later = recorded(at=2.0)
    later.connz.connections[0].in_msgs += 60  # 30 msgs/s
    later.connz.connections[0].in_bytes += 60 * 100
    obs = builder.build(later, counts={"orders.created": [60, 6000]}, window=2.0,
                        last_seen={"orders.created": 1e12}, wall=1e12)
    edge = next(c for c in obs.connections if c.source_id.startswith("endpoint:"))
    assert edge.target_id == ids.nats_subject("probe", "orders.created")
    assert edge.kind is ConnectionKind.NATS
    assert edge.requests_per_sec == pytest.approx(30.0)
    assert edge.bytes_per_sec == pytest.approx(3000.0)
    assert edge.attrs["attribution"] == "inferred"


def test_attribution_pairs_publishers_with_subjects_of_their_message_size() -> None:
    flows = attribute(
        publishers={1: (50.0, 100.0), 2: (10.0, 2000.0), 3: (30.0, 0.0)},  # 3 only acks
        subjects={"orders.created": (50.0, 100.0), "images.put": (10.0, 2000.0)},
    )
    assert sorted(flows) == [(1, "orders.created", 50.0), (2, "images.put", 10.0)]


def test_a_full_ack_window_stalls_the_consumer_and_says_why() -> None:
    builder = TopologyBuilder()
    first = builder.build(recorded(at=0.0))
    assert first.events == []
    stalled = recorded(at=2.0)
    consumer_of(stalled).num_ack_pending = 5  # == max_ack_pending
    obs = builder.build(stalled)
    entity = next(e for e in obs.entities if e.kind is EntityKind.NATS_CONSUMER)
    assert entity.attrs["stalled"] is True
    assert entity.health_status is Health.CRITICAL
    assert entity.custom_metrics["num_ack_pending"] == 5
    (event,) = obs.events
    assert event.reason == "ConsumerStalled" and event.entity_id == entity.id
    assert "MaxAckPending" in event.message and "5/5" in event.message
    assert builder.build(stalled).events == []  # reported once, not every poll


def backlog_flags(builder: TopologyBuilder, pendings: list[int], *, start: int = 0,
                  server_id: str | None = None, every: float = 5.0) -> list[bool | None]:
    flags = []
    for step, pending in enumerate(pendings, start=start):
        poll = recorded(at=every * step)
        if server_id is not None:
            poll.varz.server_id = server_id
        consumer_of(poll).num_pending = pending
        (consumer,) = [e for e in builder.build(poll).entities
                       if e.kind is EntityKind.NATS_CONSUMER]
        flags.append(consumer.attrs["backlog_growing"])
    return flags


def test_a_growing_backlog_is_reported_once_and_its_recovery_too() -> None:
    builder = TopologyBuilder()
    reasons = []
    for step, pending in enumerate([10, 20, 30, 40, 50, 45]):
        poll = recorded(at=5.0 * step)
        consumer_of(poll).num_pending = pending
        reasons += [e.reason for e in builder.build(poll).events]
    assert reasons == ["ConsumerBacklogGrowing", "ConsumerRecovered"]


def test_a_quiet_poll_or_two_leaves_a_growing_backlog_growing() -> None:
    # A publisher starved of CPU for a poll: the backlog has not stopped growing. Only a
    # whole window without a rise (or a fall) says it has.
    flags = backlog_flags(TopologyBuilder(), [10, 20, 30, 40, 40, 40, 50, 50, 50, 50])
    assert flags == [None, None, None, True, True, True, True, True, True, False]


@pytest.mark.parametrize("outage", ["unreachable", "restarted"])
def test_a_backlog_is_judged_afresh_after_the_server_was_lost(outage: str) -> None:
    # Polls from before an outage say nothing about the growth since: a backlog that did
    # not move in the first poll after it is no data (the alert stays), not "not growing".
    builder = TopologyBuilder()
    assert backlog_flags(builder, [10, 20, 30, 40]) == [None, None, None, True]
    if outage == "unreachable":
        builder.lost()
        after = backlog_flags(builder, [40, 40, 50, 60, 70], start=10)
    else:
        after = backlog_flags(builder, [40, 40, 50, 60, 70], start=10, server_id="NEWID")
    assert after == [None, None, None, True, True]


def test_a_backlog_is_not_judged_until_enough_polls_are_in() -> None:
    # After a (re)start the first polls cannot say whether a backlog grows: that is no
    # data, not "not growing" (which would resolve a firing alert at every restart).
    assert backlog_flags(TopologyBuilder(), [10, 20, 30, 40]) == [None, None, None, True]


def test_a_backlog_polled_often_is_judged_over_ten_seconds() -> None:
    # Polled every half second, three polls are a second and a half: a publisher starved of
    # CPU for that long would resolve the alert. The judgement covers ten seconds instead.
    rising = [10 * step for step in range(21)]  # 0 .. 10 s
    flags = backlog_flags(TopologyBuilder(), rising, every=0.5)
    assert flags == [None] * 20 + [True]
    builder = TopologyBuilder()
    lull = [*rising, 200, 200, 200, 200, 210, 220]  # 1.5 s without a message, then more
    assert backlog_flags(builder, lull, every=0.5)[20:] == [True] * 7
    still = backlog_flags(builder, [220] * 21, start=len(lull), every=0.5)
    assert still[-1] is False and still[:19] == [True] * 19  # 10 s flat: it stopped growing


def test_a_connection_new_since_the_last_poll_gets_a_rate_over_its_lifetime() -> None:
    builder = TopologyBuilder(sampled=["orders.>"])
    builder.build(recorded(at=0.0), counts={}, window=2.0)
    later = recorded(at=2.0)
    newcomer = msgspec.structs.replace(
        later.connz.connections[0], cid=99, port=40000, in_msgs=40, in_bytes=4000,
        start=later.connz.now - timedelta(seconds=1), subscriptions_list_detail=[])
    later.connz.connections.append(newcomer)
    obs = builder.build(later, counts={"orders.created": [40, 4000]}, window=2.0,
                        last_seen={"orders.created": 1e12}, wall=1e12)
    edge = next(c for c in obs.connections
                if c.source_id == ids.endpoint("127.0.0.1", 40000))
    assert edge.requests_per_sec == pytest.approx(20.0)  # 40 messages since the poll before


def test_streams_a_restarted_server_has_not_recovered_yet_are_kept_stale() -> None:
    # A real nats-server answers its monitoring port before it has read its streams back
    # from disk: gone from one poll, back in the next. Reporting them gone resolved the
    # alerts on them, which paged again a moment later.
    builder = TopologyBuilder()
    before = builder.build(recorded(at=0.0))
    jetstream = {e.id for e in before.entities if e.kind in (EntityKind.NATS_STREAM,
                                                              EntityKind.NATS_CONSUMER)}
    assert len(jetstream) == 2
    restarted = recorded(at=5.0)
    restarted.varz.server_id = "NEWID"
    restarted.varz.start = restarted.varz.now - timedelta(seconds=1)
    assert restarted.jsz is not None
    restarted.jsz.account_details = []  # not recovered yet
    during = builder.build(restarted)
    kept = {e.id: e for e in during.entities if e.id in jetstream}
    assert kept.keys() == jetstream and all(e.stale for e in kept.values())
    (edge,) = [c for c in during.connections
               if c.source_id in jetstream and c.target_id in jetstream]  # stream -> consumer
    recovered = builder.build(recorded(at=6.0))
    assert all(not e.stale for e in recovered.entities if e.id in jetstream)
    # Long after its start, a stream the server does not list is gone.
    later = recorded(at=60.0)
    later.varz.start = later.varz.now - timedelta(seconds=JETSTREAM_RECOVERY + 1)
    assert later.jsz is not None
    later.jsz.account_details = []
    assert not jetstream & {e.id for e in builder.build(later).entities}
    assert edge.kind is ConnectionKind.NATS


def test_streams_of_a_server_up_for_long_are_kept_stale_when_it_restarts() -> None:
    # The usual restart: a server up for hours, polled long after its recovery window, then
    # started again. What its last poll listed is what the restarted server has not read back.
    builder = TopologyBuilder()
    long_up = recorded(at=0.0)
    long_up.varz.start = long_up.varz.now - timedelta(hours=3)
    before = builder.build(long_up)
    jetstream = {e.id for e in before.entities if e.kind in (EntityKind.NATS_STREAM,
                                                              EntityKind.NATS_CONSUMER)}
    before.entities.clear()  # what the caller does with the lists is not what is remembered
    before.connections.clear()
    restarted = recorded(at=5.0)
    restarted.varz.server_id = "NEWID"
    restarted.varz.start = restarted.varz.now - timedelta(seconds=1)
    assert restarted.jsz is not None
    restarted.jsz.account_details = []
    during = builder.build(restarted)
    kept = {e.id: e for e in during.entities if e.id in jetstream}
    assert len(jetstream) == 2 and kept.keys() == jetstream
    assert all(e.stale for e in kept.values())
    assert [c.kind for c in during.connections
            if c.source_id in jetstream and c.target_id in jetstream] == [ConnectionKind.NATS]
