"""`world.infra.metrics.*`: the entities' figures, whichever source measured them."""

from __future__ import annotations

from gestalt.engine.paths.base import Handler, Params, Result, filter_of, limit_of, path
from gestalt.engine.runtime import Engine


def _metric_path(*fields: str) -> Handler:
    async def handler(engine: Engine, params: Params) -> Result:
        rows = []
        for e in engine.store.entities.values():
            values = {f: getattr(e, f) for f in fields}
            if all(v is None for v in values.values()):
                continue
            rows.append({"id": e.id, "kind": e.kind.value, "name": e.name, **values})
        rows.sort(key=lambda r: -(r[fields[0]] or 0))
        return rows[: limit_of(params)]

    return handler


path("world.infra.metrics.cpu", "CPU utilization by entity", params=("limit",),
     columns=("kind", "name", "cpu_percent", "id"))(_metric_path("cpu_percent"))
path("world.infra.metrics.memory", "Memory utilization by entity", params=("limit",),
     columns=("kind", "name", "memory_bytes", "memory_limit", "id"))(
    _metric_path("memory_bytes", "memory_limit"))
path("world.infra.metrics.network", "Network I/O by entity", params=("limit",),
     columns=("kind", "name", "network_rx_rate", "network_tx_rate", "id"))(
    _metric_path("network_rx_rate", "network_tx_rate", "network_rx_bytes",
                 "network_tx_bytes"))


@path("world.infra.metrics.custom", "Custom metrics by label",
      columns=("kind", "name", "metric", "labels", "value", "id"),
      params=("labels", "metric", "limit"))
async def _metrics_custom(engine: Engine, params: Params) -> Result:
    """Every custom metric series: the sources' own (database, NATS...) and what OTLP
    metrics say, one row per series (`labels`: its attributes). `labels=` filters the
    entities by their labels, `metric=` takes a metric's name (all its series) or one
    series as written (`name{key="value"}`)."""
    flt = filter_of(engine, {"labels": params["labels"]} if "labels" in params else {})
    wanted = params.get("metric")
    rows = []
    for e in engine.store.entities.values():
        if not e.custom_metrics or not flt.matches(e):
            continue
        for series, value in sorted(e.custom_metrics.items()):
            metric, labels = _series(series)
            if wanted is None or wanted in (metric, series):
                rows.append({"id": e.id, "kind": e.kind.value, "name": e.name,
                             "metric": metric, "labels": labels, "value": value})
    return rows[: limit_of(params)]


def _series(key: str) -> tuple[str, str]:
    """`name{k="v"}` (a series of an OTLP metric) -> ("name", 'k="v"')."""
    metric, brace, labels = key.partition("{")
    return (metric, labels[:-1]) if brace and labels.endswith("}") else (key, "")
