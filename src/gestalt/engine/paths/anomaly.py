"""`world.infra.anomaly.*`: what is unusual now, each series' expected band, and what
users said to expect."""

from __future__ import annotations

from gestalt.engine.paths.base import Params, PathError, Result, limit_of, path
from gestalt.engine.runtime import Engine


@path("world.infra.anomaly.current",
      "Unusual now: each anomalous series with its observed value, expected band and since "
      "when (learning series are not judged yet)",
      columns=("name", "series", "observed", "expected_low", "expected_high", "since",
               "muted"), params=("limit",))
async def _current(engine: Engine, params: Params) -> Result:
    rows = []
    for anomaly in engine.anomalies.current():
        entity = engine.store.entities.get(anomaly.subject_id)
        row = anomaly.document()
        row["name"] = entity.name if entity is not None else anomaly.subject_id
        row["kind"] = entity.kind.value if entity is not None else "connection"
        rows.append(row)
    return rows[: limit_of(params)]


@path("world.infra.anomaly.series",
      "An entity's (or connection's) series: state (learning, normal, unusual), last value "
      "and expected band", columns=("series", "state", "observed", "expected_low",
                                    "expected_high", "samples"), params=("entity",))
async def _series(engine: Engine, params: Params) -> Result:
    subject = params.get("entity")
    if not subject:
        raise PathError(400, "pass entity=<id>")
    if subject not in engine.store.entities and subject not in engine.store.connections:
        raise PathError(404, f"no entity {subject!r}")
    return engine.anomalies.series_of(subject)


@path("world.infra.anomaly.status",
      "How many series are learning, normal and unusual; the anomalies users said to expect")
async def _status(engine: Engine, params: Params) -> Result:
    detector = engine.anomalies
    return {"enabled": engine.config.anomaly.enabled, "interval": engine.config.anomaly.interval,
            "series": detector.counts(), "last_pass": detector.last_pass,
            "expected": [{"entity_id": m.subject_id, "series": m.series or "(all)",
                          "until": m.until, "reason": m.reason, "at": m.at}
                         for m in detector.mutes]}
