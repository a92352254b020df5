"""A repository's code as entities and connections: the repository, its packages (folders
with modules), its modules (files) with lines of code, language and importers, `imports`
edges counting the statements, and `owns` edges from each folder to what it holds (the
map folds packages by them, as it folds pods into their deployment).

What the repository says about how it runs (manifests, the configuration's `runtime`)
goes into its attributes; the engine links it to processes, containers and pods by them
(engine/links/runs_as.py).
"""

from __future__ import annotations

import posixpath
from collections import Counter

from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, EntityStatus, ids
from gestalt.sources.code.repository import Repository

SOURCES = ["code"]


def repository_graph(repo: Repository) -> tuple[list[Entity], list[Connection]]:
    name = repo.name
    files = repo.files
    importers: Counter[str] = Counter()
    for source in files.values():
        importers.update(source.imports.keys())
    entities: list[Entity] = []
    connections: list[Connection] = []
    folders: dict[str, list[str]] = {}  # folder -> the files directly in it
    for path in files:
        folder = posixpath.dirname(path)
        up = folder
        while up and up not in folders:  # every folder up to the root holds something
            folders[up] = []
            up = posixpath.dirname(up)
        folders.setdefault(folder, []).append(path)
    repo_id = ids.repository(name)
    languages: Counter[str] = Counter(f.language for f in files.values())
    runtime = repo.config.runtime
    manifest = repo.manifest
    entities.append(Entity(
        id=repo_id, kind=EntityKind.REPOSITORY, name=name, namespace=name,
        status=EntityStatus.ACTIVE, sources=SOURCES,
        attrs=_clean({
            "path": repo.root,
            "modules": len(files),
            "loc": sum(f.loc for f in files.values()),
            "languages": ",".join(f"{lang}:{n}" for lang, n in languages.most_common()),
            "warnings": len(repo.warnings),
            "scanned_at": repo.scanned_at,
            "project_names": ",".join(dict.fromkeys([name, *manifest.names])),
            "source_urls": ",".join(manifest.urls),
            "scripts": ",".join(f"{cmd}={_script_target(repo, target)}"
                                for cmd, target in sorted(manifest.scripts.items())),
            "runtime.images": ",".join(runtime.images),
            "runtime.pod_selector": ",".join(f"{k}={v}"
                                             for k, v in sorted(runtime.pod_selector.items())),
            "runtime.services": ",".join(runtime.services),
            **{f"backstage.{k}": v for k, v in manifest.backstage.items()},
        }),
    ))
    for folder in sorted(folders):
        if not folder:
            continue
        held = folders[folder]
        package_id = ids.code_package(name, folder)
        py_name = _python_package(repo, folder)
        entities.append(Entity(
            id=package_id, kind=EntityKind.PACKAGE, name=py_name or folder, namespace=name,
            status=EntityStatus.ACTIVE, sources=SOURCES,
            attrs=_clean({"path": folder, "modules": len(held),
                          "loc": sum(files[p].loc for p in held), "python.package": py_name}),
        ))
        parent = posixpath.dirname(folder)
        owner = ids.code_package(name, parent) if parent else repo_id
        connections.append(Connection(source_id=owner, target_id=package_id,
                                      kind=ConnectionKind.OWNS, sources=SOURCES))
    for path, source in files.items():
        module_id = ids.code_module(name, path)
        py = repo.names.get(path) if source.language == "python" else None
        entities.append(Entity(
            id=module_id, kind=EntityKind.MODULE, name=py.name if py else _script_name(path),
            namespace=name,
            status=EntityStatus.FAILED if source.warning and "not parsed" in source.warning
            else EntityStatus.ACTIVE,
            sources=SOURCES,
            attrs=_clean({
                "path": path, "language": source.language, "loc": source.loc,
                "lines": source.lines, "importers": importers.get(path, 0),
                "imports": len(source.imports),
                "python.module": py.name if py else None,
                "package": posixpath.dirname(path) or None,
                "warning": source.warning,
            }),
        ))
        folder = posixpath.dirname(path)
        owner = ids.code_package(name, folder) if folder else repo_id
        connections.append(Connection(source_id=owner, target_id=module_id,
                                      kind=ConnectionKind.OWNS, sources=SOURCES))
        for target, count in source.imports.items():
            if target in files:
                connections.append(Connection(
                    source_id=module_id, target_id=ids.code_module(name, target),
                    kind=ConnectionKind.IMPORTS, sources=SOURCES,
                    attrs={"statements": count}))
    return entities, connections


def _clean(attrs: dict[str, str | int | float | None]) -> dict[str, str | int | float | None]:
    return {k: v for k, v in attrs.items() if v not in (None, "")}


def _script_name(path: str) -> str:
    stem = path
    for ext in (".d.ts", ".tsx", ".ts", ".mts", ".cts", ".jsx", ".js", ".mjs", ".cjs", ".py"):
        if stem.endswith(ext):
            return stem[: -len(ext)]
    return stem


def _python_package(repo: Repository, folder: str) -> str | None:
    init = repo.names.get(f"{folder}/__init__.py")
    return init.name if init is not None and init.top is not None else None


def _script_target(repo: Repository, target: str) -> str:
    """A console script's module as the module's path (`gestalt.cli` -> its file)."""
    for path, name in repo.names.items():
        if name.name == target and name.top is not None:
            return path
    return target
