"""An `alertmanager` receiver takes Alertmanager's URL as amtool and Prometheus take it:
the base URL (the sample config's `http://127.0.0.1:9093`), with or without a trailing
slash, or the full /api/v2/alerts URL. Each is checked against a real Alertmanager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gestalt.engine.runtime import Engine
from gestalt.model import Entity, EntityKind, EntityStatus, SourceState
from gestalt.model.config import AlertRule, AlertsConfig, Config, Receiver, ServerConfig
from tests.support.alertmanager import alertmanager_binary, alertmanager_for  # noqa: F401
from tests.support.receivers import Loopback
from tests.support.wait import eventually

FORMS = {"base": "", "slash": "/", "full": "/api/v2/alerts"}


async def test_every_form_of_the_alertmanager_url_delivers(
    tmp_path: Path, alertmanager_binary: str, alertmanager_for: Any  # noqa: F811
) -> None:
    webhook = Loopback()
    manager = alertmanager_for(alertmanager_binary, webhook.url)
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        alerts=AlertsConfig(
            rules=[AlertRule(name="Crash", check="crash_loop", severity="critical")],
            receivers=[Receiver(name=name, type="alertmanager", url=manager.url + suffix)
                       for name, suffix in FORMS.items()],
            evaluation_interval=0.1, group_wait=0.1, retry_initial=0.2),
    )
    engine = Engine(config, sources=[])
    await engine.start()
    try:
        sink = engine.hub.sink("kubernetes")
        sink.status(SourceState.OK)
        sink.snapshot([Entity(id="pod:c1/shop/api-1", kind=EntityKind.POD, name="api-1",
                              namespace="shop", status=EntityStatus.FAILED,
                              attrs={"reason": "CrashLoopBackOff", "restart_count": 3})], [])

        async def outcomes() -> dict[str, str]:
            await engine.history.flushed()
            seen = {line[1]: line[5] for line in await engine.history.notifications()}
            return seen if set(FORMS) <= set(seen) else {}

        found = await eventually(outcomes, timeout=20, what="a delivery to each receiver")
        assert found == dict.fromkeys(FORMS, "sent"), await engine.history.notifications()
        async with httpx.AsyncClient(base_url=manager.url) as client:
            alerts = (await client.get("/api/v2/alerts")).json()
        assert [a["labels"]["alertname"] for a in alerts] == ["Crash"]
    finally:
        await engine.stop()
        webhook.down()
