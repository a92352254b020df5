"""Python imports, by grimp (import-linter's own graph builder, its parser in Rust).

grimp scans the modules of every top-level package of a repository (a folder with
`__init__.py` whose parent has none: `src/gestalt`, `tests`) and loose scripts
(`bench/x.py`, `setup.py`), and resolves each import to the module it names, relative
imports included. It reports a broken file by failing its whole batch: the file is taken
out (by the name in the error, else by halving the batch), so one syntax error is one
warning and every other file is still scanned.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grimp.application.ports.modulefinder import FoundPackage, ModuleFile
from grimp.application.scanning import scan_imports
from grimp.domain.valueobjects import Module

# Imports per imported module, counted in statements (lines).
Imports = dict[str, int]
# Files per grimp call (each call also converts every package's module list: fewer,
# larger calls are cheaper); after a broken file, the rest of its batch goes in smaller
# ones, so that the next broken file costs little.
BATCH = 256
AFTER_A_FAILURE = 32


@dataclass(frozen=True, slots=True)
class PyName:
    name: str  # dotted: gestalt.engine.hub
    top: str | None  # the top-level package's folder (relative), None for a loose script


def python_names(relpaths: Iterable[str]) -> dict[str, PyName]:
    """The importable name of each Python file, by where the `__init__.py` files are."""
    paths = [p for p in relpaths if p.endswith(".py")]
    packages = {os.path.dirname(p) for p in paths if os.path.basename(p) == "__init__.py"}
    names: dict[str, PyName] = {}
    for path in paths:
        folder, stem = os.path.dirname(path), os.path.basename(path)[:-3]
        parts = [] if stem == "__init__" else [stem]
        top = None
        while folder in packages and folder:
            parts.insert(0, os.path.basename(folder))
            top, folder = folder, os.path.dirname(folder)
        if top is None or not all(part.isidentifier() for part in parts):
            names[path] = PyName(stem, None)
        else:
            names[path] = PyName(".".join(parts), top)
    return names


def scan_python(root: str, names: Mapping[str, PyName], wanted: Iterable[str],
                warnings: dict[str, str]) -> dict[str, Imports]:
    """Imports of the Python files `wanted` (relative paths), by grimp; a file grimp
    cannot read gets a warning in `warnings` (relative path -> reason) and no imports.

    Each file is scanned with the packages its imports can name: the repository's
    top-level packages (the first of a name: two `tests` packages cannot both be on one
    path), or, for a second package of a taken name, that one in its place; a loose
    script also with the scripts beside it (grimp reads a one-module package at
    `<directory>.py`)."""
    primary: dict[str, str] = {}  # package name -> its folder
    for name in names.values():
        if name.top is not None:
            primary.setdefault(name.name.split(".", 1)[0], name.top)
    members: dict[str, dict[str, str]] = {}  # package folder -> module name -> path
    loose: dict[str, dict[str, str]] = {}  # folder -> module name (or alias) -> path
    for path, name in names.items():
        if name.top is not None:
            members.setdefault(name.top, {})[name.name] = path
        else:
            beside = loose.setdefault(os.path.dirname(path), {})
            usable = name.name.isidentifier() and name.name not in primary \
                and name.name not in beside
            beside[name.name if usable else f"_loose_{len(beside)}_"] = path
    built = {folder: _package(root, _top(modules), folder, modules)
             for folder, modules in members.items()}
    first = {top: built[folder] for top, folder in primary.items()}
    wanted_set = set(wanted)
    result: dict[str, Imports] = {}
    # The primary packages together, then each second package of a taken name in its place.
    primary_paths = {m: p for folder in primary.values() for m, p in members[folder].items()}
    _Group(first, primary_paths, primary_paths, result, warnings).scan(wanted_set)
    for folder, modules in members.items():
        top = _top(modules)
        if primary[top] != folder and not wanted_set.isdisjoint(modules.values()):
            paths = {m: p for m, p in primary_paths.items() if _top_of(m) != top}
            _Group({**first, top: built[folder]}, modules, {**paths, **modules}, result,
                   warnings).scan(wanted_set)
    # Loose scripts: folders whose names do not clash share a scan; an import of a script
    # in another folder is not one (that folder is not on the script's path).
    merged: list[dict[str, str]] = []
    for modules in loose.values():
        group = next((g for g in merged if g.keys().isdisjoint(modules)), None)
        if group is None:
            merged.append(dict(modules))
        else:
            group.update(modules)
    for own in merged:
        if wanted_set.isdisjoint(own.values()):
            continue
        found = dict(first)
        for alias, path in own.items():
            found[alias] = FoundPackage(name=alias, directory=os.path.join(root, path[:-3]),
                                        module_files=frozenset([_file(alias)]))
        _Group(found, own, {**primary_paths, **own}, result, warnings).scan(wanted_set)
    for path, imports in result.items():
        if names[path].top is None:
            folder = os.path.dirname(path)
            for target in [t for t in imports if names[t].top is None
                           and os.path.dirname(t) != folder]:
                del imports[target]
    return result


def _top(modules: Mapping[str, str]) -> str:
    return _top_of(next(iter(modules)))


def _top_of(module: str) -> str:
    return module.split(".", 1)[0]


def _package(root: str, top: str, folder: str, modules: Mapping[str, str]) -> FoundPackage:
    return FoundPackage(name=top, directory=os.path.join(root, folder),
                        module_files=frozenset(_file(m) for m in modules))


class _Group:
    """Files scanned together against one set of packages; a broken file is taken out by
    the name grimp's error gives (else by halving the batch) and warned about."""

    def __init__(self, found: Mapping[str, FoundPackage], own: Mapping[str, str],
                 paths: Mapping[str, str], result: dict[str, Imports],
                 warnings: dict[str, str]) -> None:
        self.found = set(found.values())
        self.own = own  # the modules scanned here -> their paths
        self.paths = paths  # every module an import may name here -> its path
        self.result, self.warnings = result, warnings

    def scan(self, wanted: set[str]) -> None:
        files = [_file(m) for m, path in self.own.items() if path in wanted]
        for start in range(0, len(files), BATCH):
            self._batch(files[start:start + BATCH])

    def _batch(self, files: list[ModuleFile]) -> None:
        paths = self.paths
        while files:
            try:
                scanned = scan_imports(files, found_packages=self.found,
                                       include_external_packages=False,
                                       exclude_type_checking_imports=False)
            except BaseException as exc:  # grimp's errors; a Rust panic is a BaseException
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                culprit = self._named(exc, files)
                if culprit is None and len(files) > 1:
                    half = len(files) // 2
                    self._batch(files[:half])
                    files = files[half:]
                    continue
                bad = culprit or files[0]
                self.warnings[self.own[bad.module.name]] = _grimp_reason(exc)
                files = [f for f in files if f != bad]
                if len(files) > AFTER_A_FAILURE:
                    for start in range(0, len(files), AFTER_A_FAILURE):
                        self._batch(files[start:start + AFTER_A_FAILURE])
                    return
                continue
            for module_file, direct in scanned.items():
                lines: dict[str, set[int]] = {}
                for imp in direct:
                    target = paths.get(imp.imported.name)
                    if target is not None:
                        lines.setdefault(target, set()).add(imp.line_number)
                self.result[self.own[module_file.module.name]] = {
                    target: len(at) for target, at in lines.items()}
            return

    def _named(self, exc: BaseException, files: list[ModuleFile]) -> ModuleFile | None:
        text = f"{getattr(exc, 'filename', '') or ''} {exc}"
        for module_file in files:
            if f"/{self.own[module_file.module.name]}" in text:
                return module_file
        return None


def _file(module: str) -> ModuleFile:
    return ModuleFile(module=Module(module), mtime=0.0)


def _grimp_reason(exc: BaseException) -> str:
    lineno = getattr(exc, "lineno", None)
    if type(exc).__name__ == "SourceSyntaxError":
        return f"syntax error at line {lineno}: imports not read" if lineno else \
            "syntax error: imports not read"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "decode" in first and "UTF-8" in first:
        return "not UTF-8 text: imports not read"
    if type(exc).__name__ == "PanicException":  # grimp's own failure, on an odd import
        return f"grimp could not resolve its imports ({first}): imports not read"
    return f"{first}: imports not read"
