"""`world.infra.cost.*`: what the running system costs (engine/cost.py: OpenCost's model),
now and over a range (from history)."""

from __future__ import annotations

import asyncio
import time

from gestalt.engine.cost import Report, cost_over, node_row, unit_row
from gestalt.engine.cost_book import CostBook
from gestalt.engine.paths.base import Params, PathError, Result, limit_of, moment_of, path
from gestalt.engine.runtime import Engine

UNIT_COLUMNS = ("kind", "name", "namespace", "cpu", "memory", "cost_per_hour",
                "waste_per_hour", "id")


async def _report(engine: Engine) -> Report:
    """The cost now, from the live book (what changed since it was last asked); at a past
    moment (`at`: engine is a PastView), that moment's map priced once, beside the loop."""
    book = engine.cost.book
    if engine.store is book.store:
        return await book.report()
    return await asyncio.to_thread(CostBook(engine.store, engine.config.cost).report_now)


def _per_hour(engine: Engine) -> str:
    return f"{engine.config.cost.currency}/hour"


@path("world.infra.cost.summary",
      "Cost per hour now: allocated to workloads, idle on nodes, storage, total; waste "
      "(requested but unused); the prices")
async def _summary(engine: Engine, params: Params) -> Result:
    report = await _report(engine)
    config = engine.config.cost
    return {"currency": config.currency, "unit": _per_hour(engine),
            **{k: round(v, 6) for k, v in report.totals.items()},
            "units": len(report.units), "nodes": len(report.nodes),
            "prices": {"cpu_hour": config.cpu_hour, "memory_gib_hour": config.memory_gib_hour,
                       "storage_gib_month": config.storage_gib_month,
                       "nodes": [{"match": n.match, "cpu_hour": n.cpu_hour,
                                  "memory_gib_hour": n.memory_gib_hour}
                                 for n in config.nodes]}}


@path("world.infra.cost.top",
      "Top spenders: pods and containers by cost per hour (or by waste: sort=waste)",
      columns=UNIT_COLUMNS, params=("sort", "limit"))
async def _top(engine: Engine, params: Params) -> Result:
    sort = params.get("sort", "cost")
    if sort not in ("cost", "waste"):
        raise PathError(400, "sort must be cost or waste")
    by = "waste_per_hour" if sort == "waste" else "cost_per_hour"
    report = await _report(engine)
    return [unit_row(u) for u in report.dearest(limit_of(params, 20), by)]


def _group_path(by: str, title: str) -> None:
    async def handler(engine: Engine, params: Params) -> Result:
        return (await _report(engine)).groups(by)[: limit_of(params)]

    path(f"world.infra.cost.{title}", f"Cost per hour by {by}",
         columns=(by, "units", "cost_per_hour", "waste_per_hour"), params=("limit",))(handler)


_group_path("namespace", "namespaces")
_group_path("owner", "workloads")
_group_path("site", "sites")


@path("world.infra.cost.nodes",
      "Nodes: capacity, price, cost per hour, allocated to workloads and idle",
      columns=("name", "cpu", "memory", "cost_per_hour", "allocated_per_hour",
               "idle_per_hour", "id"))
async def _nodes(engine: Engine, params: Params) -> Result:
    return [node_row(n) for n in (await _report(engine)).nodes]


@path("world.infra.cost.range",
      "Cost over a range, from history: of an entity (entity=<id>), a namespace "
      "(entity=namespace:<ns>), a workload (entity=owner:<id>), a site (site:<name>) or "
      "everything (the default); since/until: RFC 3339 or epoch seconds (default: the last "
      "hour)",
      params=("entity", "since", "until"))
async def _range(engine: Engine, params: Params) -> Result:
    now = time.time()
    start, end = moment_of(params, "since", now - 3600), moment_of(params, "until", now)
    if end <= start:
        raise PathError(400, "until must be after since")
    answer = await cost_over(engine.history, params.get("entity", "total"), start, end,
                             engine.cost.spacing)
    answer["currency"] = engine.config.cost.currency
    answer["cost"] = round(answer["cost"], 6)
    return answer
