"""Gestalt's alerts in a real Alertmanager: received through /api/v2/alerts with their
labels and blast radius, grouped by Alertmanager's own routing (one notification for two
alerts of one rule), and resolved when Gestalt resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gestalt.engine.alerts import alert_id
from gestalt.engine.runtime import Engine
from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    SourceState,
)
from gestalt.model.config import AlertRule, AlertsConfig, Config, Receiver, ServerConfig
from tests.support.alertmanager import alertmanager_binary, alertmanager_for  # noqa: F401
from tests.support.receivers import Loopback
from tests.support.wait import eventually

RULE = "PodCrashLooping"


def pod(name: str, *, crashing: bool) -> Entity:
    return Entity(id=f"pod:c1/shop/{name}", kind=EntityKind.POD, name=name, namespace="shop",
                  status=EntityStatus.FAILED if crashing else EntityStatus.RUNNING,
                  attrs={"reason": "CrashLoopBackOff", "restart_count": 3} if crashing else {})


async def test_alertmanager_receives_groups_and_resolves(
    tmp_path: Path, alertmanager_binary: str, alertmanager_for: Any  # noqa: F811
) -> None:
    webhook = Loopback()
    manager = alertmanager_for(alertmanager_binary, webhook.url)
    cfg = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        alerts=AlertsConfig(
            rules=[AlertRule(name=RULE, check="crash_loop", severity="critical",
                             labels={"team": "shop"})],
            receivers=[Receiver(name="am", type="alertmanager",
                                url=f"{manager.url}/api/v2/alerts")],
            evaluation_interval=0.1, group_wait=0.1),
    )
    engine = Engine(cfg, sources=[])
    await engine.start()
    try:
        sink = engine.hub.sink("kubernetes")
        sink.status(SourceState.OK)
        service = Entity(id="service:c1/shop/api", kind=EntityKind.SERVICE, name="api",
                         namespace="shop", status=EntityStatus.ACTIVE)
        pods = [pod("api-1", crashing=True), pod("api-2", crashing=True)]
        edges = [Connection(source_id=service.id, target_id=p.id, kind=ConnectionKind.NETWORK)
                 for p in pods]
        sink.snapshot([service, *pods], edges)

        async with httpx.AsyncClient(base_url=manager.url) as client:
            async def in_alertmanager() -> list[dict[str, Any]]:
                alerts = (await client.get("/api/v2/alerts")).json()
                return alerts if len(alerts) == 2 else []

            alerts = await eventually(in_alertmanager, timeout=15, what="alerts in Alertmanager")
            by_entity = {a["labels"]["entity"]: a for a in alerts}
            assert set(by_entity) == {"api-1", "api-2"}
            first = by_entity["api-1"]
            assert first["labels"]["alertname"] == RULE and first["labels"]["team"] == "shop"
            assert first["labels"]["severity"] == "critical"
            assert first["status"]["state"] == "active"
            # Its service, then the service's other pod (which now takes all the traffic).
            assert first["annotations"]["blast_radius"] == f"{service.id}, {pods[1].id}"
            assert "crash-looping" in first["annotations"]["description"]

        # Alertmanager's route groups by alertname: one notification holds both alerts.
        groups = await eventually(lambda: webhook.accepted(), timeout=15,
                                  what="a grouped notification from Alertmanager")
        assert groups[0]["status"] == "firing"
        assert groups[0]["groupLabels"] == {"alertname": RULE}
        assert {a["labels"]["entity"] for a in groups[0]["alerts"]} == {"api-1", "api-2"}

        sink.snapshot([service, pod("api-1", crashing=False), pod("api-2", crashing=False)],
                      edges)

        def resolved() -> list[dict[str, Any]]:
            return [g for g in webhook.accepted() if g["status"] == "resolved"]

        done = await eventually(resolved, timeout=20, what="the group resolved")
        assert {a["labels"]["entity"] for a in done[0]["alerts"]} == {"api-1", "api-2"}
        # One incident for the group: fired once, resolved once.
        assert [g["status"] for g in webhook.accepted()] == ["firing", "resolved"]
        ids = {a.entity_id: a.id for a in engine.alerts()}
        assert ids[pods[0].id] == alert_id(RULE, pods[0].id)
    finally:
        await engine.stop()
        webhook.down()

