"""Alerts that reach people: the real engine notifies loopback receivers playing Slack
(429 with Retry-After), PagerDuty (429, then 5xx) and a webhook that is down for a while.
Exactly one incident per rule + entity, a resolve after each trigger, and no duplicate
page (nor a lost resolve) across a restart of Gestalt.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from gestalt.engine.alerts import alert_id
from gestalt.engine.runtime import Engine
from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus, SourceState
from gestalt.model.config import AlertRule, AlertsConfig, Config, Receiver, ServerConfig
from gestalt.sources.base import Sink
from tests.support.receivers import Loopback
from tests.support.server import running_server
from tests.support.wait import eventually

RULE = "PodCrashLooping"


def pod(name: str, *, crashing: bool) -> Entity:
    attrs: dict[str, Any] = {"restart_count": 4 if crashing else 0}
    if crashing:
        attrs["reason"] = "CrashLoopBackOff"
    return Entity(id=f"pod:c1/shop/{name}", kind=EntityKind.POD, name=name, namespace="shop",
                  status=EntityStatus.FAILED if crashing else EntityStatus.RUNNING,
                  attrs=attrs)


def config(tmp_path: Path, receivers: list[Receiver]) -> Config:
    return Config(
        server=ServerConfig(data_dir=str(tmp_path / "data"), metrics_interval=0.1),
        alerts=AlertsConfig(
            rules=[AlertRule(name=RULE, check="crash_loop", severity="critical")],
            receivers=receivers, evaluation_interval=0.1, group_wait=0.1,
            repeat_interval="1h", retry_initial=0.2, retry_max=1.0, failing_after=3),
    )


@contextlib.asynccontextmanager
async def running(cfg: Config) -> AsyncIterator[tuple[Engine, Sink]]:
    engine = Engine(cfg, sources=[])
    await engine.start()
    sink = engine.hub.sink("kubernetes")
    sink.status(SourceState.OK)
    try:
        yield engine, sink
    finally:
        await engine.stop()


def pd_events(receiver: Loopback, key: str) -> list[str]:
    return [b["event_action"] for b in receiver.accepted() if b["dedup_key"] == key]


def slack_lines(receiver: Loopback, name: str) -> list[str]:
    return [line for body in receiver.accepted() for line in body["text"].splitlines()
            if name in line]


def webhook_states(receiver: Loopback, fingerprint: str) -> list[str]:
    return [a["status"] for body in receiver.accepted() for a in body["alerts"]
            if a["fingerprint"] == fingerprint]


async def test_one_incident_through_throttling_errors_and_an_outage(tmp_path: Path) -> None:
    slack = Loopback([(429, {"Retry-After": "1"})])
    pagerduty = Loopback([(429, {"Retry-After": "1"}), (503, {}), (502, {})], ok=202)
    webhook = Loopback(start=False)  # down until we say so
    cfg = config(tmp_path, [
        Receiver(name="slack", type="slack", url=slack.url),
        Receiver(name="pagerduty", type="pagerduty", url=pagerduty.url, routing_key="R1"),
        Receiver(name="webhook", type="webhook", url=webhook.url),
    ])
    crashing = pod("api-1", crashing=True)
    aid = alert_id(RULE, crashing.id)
    key = f"gestalt-{aid}"
    try:
        async with running(cfg) as (engine, sink):
            sink.snapshot([crashing])
            await eventually(lambda: pd_events(pagerduty, key) == ["trigger"], timeout=15,
                             what="PagerDuty trigger after 429, 503 and 502")
            assert [r.status for r in pagerduty.requests[:4]] == [429, 503, 502, 202]
            assert pagerduty.requests[1].at - pagerduty.requests[0].at >= 1.0
            await eventually(lambda: slack_lines(slack, "api-1"), timeout=10,
                             what="Slack message after a 429")
            # Slack waited for its Retry-After before trying again.
            first, second = slack.requests[0], slack.requests[1]
            assert first.status == 429 and second.status == 200
            assert second.at - first.at >= 1.0
            # The webhook is down: after three failures the UI shows it.
            failing = await eventually(
                lambda: [a for a in engine.alerts() if a.rule == "notifications_failing"
                         and a.state == "firing"], timeout=10, what="notifications failing")
            assert failing[0].entity_name == "webhook"
            # ... and the other receivers hear about it.
            failing_key = f"gestalt-{failing[0].id}"
            await eventually(lambda: pd_events(pagerduty, failing_key) == ["trigger"],
                             timeout=10, what="notifications failing paged")
            webhook.up()
            await eventually(lambda: webhook_states(webhook, aid) == ["firing"], timeout=15,
                             what="webhook delivery once it is back")
            await eventually(lambda: pd_events(pagerduty, failing_key) == ["trigger", "resolve"],
                             timeout=10, what="notifications failing resolved")

            sink.snapshot([pod("api-1", crashing=False)])
            await eventually(lambda: pd_events(pagerduty, key) == ["trigger", "resolve"],
                             timeout=10, what="PagerDuty resolve")
            await eventually(lambda: webhook_states(webhook, aid) == ["firing", "resolved"],
                             timeout=10, what="webhook resolve")
            await eventually(lambda: len(slack_lines(slack, "api-1")) == 2, timeout=10,
                             what="Slack resolve")
            firing_line, resolved_line = slack_lines(slack, "api-1")
            assert "CRITICAL" in firing_line and "crash-looping" in firing_line
            assert resolved_line.startswith("• PodCrashLooping on api-1")
            trigger = next(b for b in pagerduty.accepted() if b["dedup_key"] == key)
            assert trigger["routing_key"] == "R1" and trigger["payload"]["severity"] == "critical"
            assert trigger["payload"]["source"] == "api-1"
            # The log holds every attempt, the refused ones too.
            await engine.history.flushed()
            lines = await engine.history.notifications(limit=100)
            outcomes = {(r, o) for _, r, _, _, _, o, _ in lines}
            assert {("pagerduty", "throttled"), ("pagerduty", "failed"),
                    ("slack", "throttled"), ("webhook", "failed"),
                    ("webhook", "sent")} <= outcomes
    finally:
        for receiver in (slack, pagerduty, webhook):
            receiver.down()


async def test_restart_neither_repages_nor_loses_a_resolve(tmp_path: Path) -> None:
    pagerduty = Loopback(ok=202)
    cfg = config(tmp_path, [Receiver(name="pagerduty", type="pagerduty", url=pagerduty.url,
                                     routing_key="R1")])
    first, second = pod("api-1", crashing=True), pod("api-2", crashing=True)
    key1 = f"gestalt-{alert_id(RULE, first.id)}"
    key2 = f"gestalt-{alert_id(RULE, second.id)}"
    try:
        async with running(cfg) as (engine, sink):
            sink.snapshot([first])
            await eventually(lambda: pd_events(pagerduty, key1) == ["trigger"], timeout=10,
                             what="first page")
            # Stopped once the page is known sent (its 202 read), not while the request is
            # in flight: that one may be sent again after a restart (PagerDuty dedups it).
            notifier = engine.alert_manager.notifier
            await eventually(lambda: notifier.log.last("pagerduty", alert_id(RULE, first.id)),
                             timeout=10, what="the page noted as sent")

        # Gestalt restarts while api-1 still crashes: no second page within repeat_interval.
        async with running(cfg) as (engine, sink):
            sink.snapshot([first, second])
            await eventually(lambda: pd_events(pagerduty, key2) == ["trigger"], timeout=10,
                             what="a new alert's page (so the notifier has run)")
            assert pd_events(pagerduty, key1) == ["trigger"]
            states = {a.entity_id: a.state for a in engine.alerts()}
            assert states == {first.id: "firing", second.id: "firing"}
            # PagerDuty goes down; api-1 recovers; Gestalt stops before it could tell.
            pagerduty.reply_with(ok=503)
            sink.snapshot([pod("api-1", crashing=False), second])
            await eventually(lambda: any(r.status == 503 and r.body["dedup_key"] == key1
                                         for r in pagerduty.requests), timeout=10,
                             what="a failed resolve")

        pagerduty.reply_with(ok=202)
        async with running(cfg) as (engine, sink):
            # The resolve is delivered by the next run, before any source reports.
            await eventually(lambda: pd_events(pagerduty, key1) == ["trigger", "resolve"],
                             timeout=10, what="the pending resolve after a restart")
            sink.snapshot([pod("api-1", crashing=False), second])
            assert pd_events(pagerduty, key2) == ["trigger"]
    finally:
        pagerduty.down()


async def test_alerts_in_the_api_and_the_event_feed(tmp_path: Path) -> None:
    cfg = config(tmp_path, [])
    engine = Engine(cfg, sources=[])
    async with running_server(engine) as url:
        sink = engine.hub.sink("kubernetes")
        sink.status(SourceState.OK)
        service = Entity(id="service:c1/shop/api", kind=EntityKind.SERVICE, name="api",
                         namespace="shop", status=EntityStatus.ACTIVE)
        sink.snapshot([pod("api-1", crashing=True), service],
                      [Connection(source_id=service.id, target_id="pod:c1/shop/api-1",
                                  kind=ConnectionKind.NETWORK)])
        async with httpx.AsyncClient(base_url=url) as client:
            async def firing() -> list[dict[str, Any]]:
                doc = (await client.get("/api/infra/alerts")).json()
                return [a for a in doc["alerts"] if a["state"] == "firing"]

            alerts = await eventually(firing, timeout=10, what="alert in the API")
            assert alerts[0]["rule"] == RULE and alerts[0]["severity"] == "critical"
            assert alerts[0]["blast_radius"] == [service.id]
            path = (await client.get("/api/paths/world.infra.health.alerts")).json()
            assert path["result"][0]["id"] == alerts[0]["id"]

            async def feed() -> list[dict[str, Any]]:
                events = (await client.get("/api/infra/events")).json()["events"]
                return [e for e in events if e["reason"].startswith("Alert")]

            events = await eventually(feed, timeout=10, what="AlertFiring in the feed")
            assert events[0]["reason"] == "AlertFiring"
            assert events[0]["entity_id"] == "pod:c1/shop/api-1"
            assert "(affects 1)" in events[0]["message"]
            sink.snapshot([pod("api-1", crashing=False), service])

            async def resolved() -> bool:
                events = await feed()
                return bool(events) and events[0]["reason"] == "AlertResolved"

            await eventually(resolved, timeout=10, what="AlertResolved in the feed")
            # The list holds what is active unless asked for another state.
            active = (await client.get("/api/infra/alerts")).json()["alerts"]
            assert active == []
            over = (await client.get("/api/infra/alerts", params={"state": "resolved"})).json()
            assert [a["id"] for a in over["alerts"]] == [alerts[0]["id"]]
            path = (await client.get("/api/paths/world.infra.health.alerts")).json()
            assert path["result"] == []
            path = (await client.get("/api/paths/world.infra.health.alerts",
                                     params={"state": "all"})).json()
            assert [a["state"] for a in path["result"]] == ["resolved"]
            for url in ("/api/infra/alerts", "/api/paths/world.infra.health.alerts"):
                bad = await client.get(url, params={"state": "over"})
                assert bad.status_code == 400
                assert "state must be one of active, pending, firing" in bad.text
            log = (await client.get("/api/infra/alerts/notifications")).json()
            assert log == {"notifications": []}  # no receivers configured

            async def history(entity: str | None) -> list[dict[str, Any]]:
                await engine.history.flushed()
                params = {"entity": entity} if entity else {}
                doc = (await client.get("/api/paths/world.infra.health.history",
                                        params=params)).json()
                return doc["result"]  # type: ignore[no-any-return]

            pod_scores = await eventually(lambda: history("pod:c1/shop/api-1"), timeout=10,
                                          what="the pod's health history")
            assert pod_scores[0]["score"] == 0.0  # failed, crash-looping
            assert await eventually(lambda: history(None), timeout=10,
                                    what="the topology's health history")
