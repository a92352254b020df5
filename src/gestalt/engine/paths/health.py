"""`world.infra.health.*`: scores, alerts and health over time."""

from __future__ import annotations

import time

from gestalt.engine.alerts import select_alerts
from gestalt.engine.paths.base import Params, PathError, Result, moment_of, path, to_builtins
from gestalt.engine.runtime import TOPOLOGY_SERIES, Engine
from gestalt.engine.scoring import overall_status


@path("world.infra.health.score", "Calculate health score for entity (or everything)",
      params=("entity",))
async def _health_score(engine: Engine, params: Params) -> Result:
    entity_id = params.get("entity")
    if entity_id:
        entity = engine.store.entities.get(entity_id)
        if entity is None:
            raise PathError(404, f"no entity {entity_id!r}")
        return {"entity": entity.id, "score": entity.health,
                "status": entity.health_status.value, "reasons": entity.health_reasons}
    summary = engine.summary()
    return {"overall": summary.overall, "status": overall_status(summary).value,
            "summary": to_builtins(summary)}


@path("world.infra.health.alerts",
      "Get alerts: the active ones (pending, firing, unknown) unless state= says "
      "pending, firing, unknown, resolved or all",
      columns=("severity", "state", "rule", "entity_name", "message"), params=("state",))
async def _health_alerts(engine: Engine, params: Params) -> Result:
    try:
        alerts = select_alerts(engine.alerts(), params.get("state", "active"))
    except ValueError as exc:
        raise PathError(400, str(exc)) from exc
    return [to_builtins(a) for a in alerts]


@path("world.infra.health.history", "Get health history (an entity's, or the topology's)",
      columns=("time", "score"), params=("entity", "since"))
async def _health_history(engine: Engine, params: Params) -> Result:
    entity_id = params.get("entity", TOPOLOGY_SERIES)
    since = moment_of(params, "since", time.time() - 3600)
    series = await engine.history.metric_series(entity_id, ["health"], since)
    return [{"time": ts, "score": value} for ts, value in series.get("health", [])]
