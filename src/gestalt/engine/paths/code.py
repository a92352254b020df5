"""`world.code.*`: Code Mode's modules, imports, what runs them, and a scan on demand.

The answers read the graph (code entities are in it like any other source's), so they
show what the map shows; `world.code.scan` asks the code source to read its
repositories again (it offers `ScansOnDemand`) and answers when the scan is done.
"""

from __future__ import annotations

from typing import Any

from gestalt.engine.paths.base import Params, PathError, Result, limit_of, path
from gestalt.engine.runtime import Engine
from gestalt.model import ConnectionKind, Entity, EntityKind
from gestalt.sources.base import ScansOnDemand

_CODE_KINDS = frozenset({EntityKind.REPOSITORY, EntityKind.PACKAGE, EntityKind.MODULE})


def _modules(engine: Engine, params: Params) -> list[Entity]:
    repository = params.get("repository")
    language = params.get("language")
    package = params.get("package")
    found = []
    for e in engine.store.entities.values():
        if e.kind is not EntityKind.MODULE:
            continue
        if repository and e.namespace != repository:
            continue
        if language and e.attrs.get("language") != language:
            continue
        if package and not (_under(str(e.attrs.get("path") or ""), package)
                            or str(e.name).startswith(package)):
            continue
        found.append(e)
    return sorted(found, key=lambda e: (e.namespace or "", str(e.attrs.get("path"))))


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def _module_row(e: Entity) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "repository": e.namespace,
            **{k: e.attrs.get(k) for k in ("path", "language", "loc", "importers", "imports",
                                           "warning")}}


@path("world.code.modules", "List the modules of the scanned repositories", source="code",
      columns=("repository", "name", "language", "loc", "importers", "imports", "warning"),
      params=("repository", "language", "package", "limit"))
async def _code_modules(engine: Engine, params: Params) -> Result:
    return [_module_row(e) for e in _modules(engine, params)[: limit_of(params, 10000)]]


@path("world.code.imports", "List static imports between modules", source="code",
      columns=("repository", "importer", "imported", "statements"),
      params=("repository", "importer", "imported", "limit"))
async def _code_imports(engine: Engine, params: Params) -> Result:
    """`importer`/`imported`: a module name or path, or a prefix of one (a package)."""
    entities = engine.store.entities
    rows = []
    for conn in engine.store.connections.values():
        if conn.kind is not ConnectionKind.IMPORTS:
            continue
        src, dst = entities.get(conn.source_id), entities.get(conn.target_id)
        if src is None or dst is None:
            continue
        if params.get("repository") and src.namespace != params["repository"]:
            continue
        if not _names(src, params.get("importer")) or not _names(dst, params.get("imported")):
            continue
        rows.append({"repository": src.namespace, "importer": src.name, "imported": dst.name,
                     "statements": conn.attrs.get("statements"),
                     "importer_id": src.id, "imported_id": dst.id})
    rows.sort(key=lambda r: (r["repository"] or "", r["importer"], r["imported"]))
    return rows[: limit_of(params, 10000)]


def _names(entity: Entity, wanted: str | None) -> bool:
    if not wanted:
        return True
    path = str(entity.attrs.get("path") or "")
    return entity.name == wanted or entity.name.startswith(wanted + ".") or \
        entity.name.startswith(wanted + "/") or _under(path, wanted) or entity.id == wanted


@path("world.code.runs_as", "What runs the code (and what code a process, container or "
      "pod runs), with the evidence", source="code",
      columns=("code", "runs_as", "kind", "health", "evidence"),
      params=("entity", "repository"))
async def _code_runs_as(engine: Engine, params: Params) -> Result:
    """`entity`: a code entity (its descendants' links included: a package's modules) or a
    runtime entity, by id or name."""
    store = engine.store
    wanted = params.get("entity")
    ids_wanted: set[str] | None = None
    if wanted:
        matched = [e for e in store.entities.values()
                   if wanted in (e.id, e.name, e.attrs.get("path"))]
        if not matched:
            raise PathError(404, f"no entity {wanted!r}")
        ids_wanted = set()
        for e in matched:
            ids_wanted |= _with_descendants(engine, e.id) if e.kind in _CODE_KINDS else {e.id}
    rows = []
    for conn in store.connections.values():
        if conn.kind is not ConnectionKind.RUNS_AS:
            continue
        if ids_wanted is not None and conn.source_id not in ids_wanted \
                and conn.target_id not in ids_wanted:
            continue
        code, runtime = store.entities.get(conn.source_id), store.entities.get(conn.target_id)
        if code is None or runtime is None:
            continue
        if params.get("repository") and code.namespace != params["repository"]:
            continue
        rows.append({"code": code.name, "code_kind": code.kind.value, "code_id": code.id,
                     "runs_as": runtime.name, "kind": runtime.kind.value,
                     "runtime_id": runtime.id,
                     "health": runtime.health_status.value + (" (stale)" if runtime.stale
                                                              else ""),
                     "evidence": conn.attrs.get("evidence")})
    rows.sort(key=lambda r: (r["code"], r["kind"], r["runs_as"]))
    return rows


def _with_descendants(engine: Engine, root: str) -> set[str]:
    """A code entity and everything it owns (a repository's packages and modules)."""
    store = engine.store
    found, queue = {root}, [root]
    while queue:
        current = queue.pop()
        for cid in store.edges_of(current):
            conn = store.connections.get(cid)
            if conn is not None and conn.kind is ConnectionKind.OWNS \
                    and conn.source_id == current and conn.target_id not in found:
                found.add(conn.target_id)
                queue.append(conn.target_id)
    return found


@path("world.code.scan", "Scan the configured repositories again (reads only them)",
      source="code",
      columns=("repository", "modules", "imports", "seconds", "warnings", "first_warning"))
async def _code_scan(engine: Engine, params: Params) -> Result:
    return [{**report, "warnings": len(report["warnings"]),
             "first_warning": (report["warnings"] or [None])[0],
             "all_warnings": report["warnings"]}
            for report in await scan_code(engine)]


async def scan_code(engine: Engine) -> list[dict[str, Any]]:
    """Ask the code source for a scan; its summary per repository."""
    source = engine.sources.get("code")
    if source is None:
        raise PathError(409, "source code is not enabled (collectors.code.enabled)")
    if not isinstance(source, ScansOnDemand):
        raise PathError(409, "source code does not scan on demand in this build")
    return await source.scan()
