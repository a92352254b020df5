"""Python imports: grimp for modules inside packages, the `ast` module for loose scripts.

grimp (import-linter's own graph builder, with its parser in Rust) scans the modules of
every top-level package of a repository (a folder with `__init__.py` whose parent has
none: `src/gestalt`, `tests`) and resolves each import to the module it names, relative
imports included. It only knows modules inside packages, so a loose script (`bench/x.py`,
`setup.py`) is read with Python's own parser and its absolute imports resolved the same
way: the longest name that is a module of the repository, or of the script's folder.

grimp reports a broken file by failing its whole batch: batches are split until the file
is alone, so one syntax error is one warning and every other file is still scanned.
"""

from __future__ import annotations

import ast
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from grimp.application.ports.modulefinder import FoundPackage, ModuleFile
from grimp.application.scanning import scan_imports
from grimp.domain.valueobjects import Module

# Imports per imported module, counted in statements (lines).
Imports = dict[str, int]
BATCH = 512


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


def scan_packaged(root: str, names: Mapping[str, PyName], wanted: Iterable[str],
                  warnings: dict[str, str]) -> dict[str, Imports]:
    """Imports of the packaged files `wanted` (relative paths), by grimp; a file grimp
    cannot read gets a warning in `warnings` (relative path -> reason) and no imports."""
    tops: dict[str, str] = {}  # package name -> its folder; the first of a name wins
    for name in names.values():
        if name.top is not None:
            tops.setdefault(name.name.split(".", 1)[0], name.top)
    members: dict[str, list[ModuleFile]] = {}
    by_module: dict[str, str] = {}
    for path, name in names.items():
        top = name.name.split(".", 1)[0]
        if name.top is None or tops.get(top) != name.top:
            continue
        members.setdefault(top, []).append(ModuleFile(module=Module(name.name), mtime=0.0))
        by_module[name.name] = path
    found = {FoundPackage(name=top, directory=os.path.join(root, folder),
                          module_files=frozenset(members.get(top, ())))
             for top, folder in tops.items()}
    files = [ModuleFile(module=Module(names[p].name), mtime=0.0)
             for p in wanted if names[p].name in by_module and by_module[names[p].name] == p]
    result: dict[str, Imports] = {}
    for start in range(0, len(files), BATCH):
        _scan_batch(files[start:start + BATCH], found, by_module, result, warnings)
    return result


def _scan_batch(files: list[ModuleFile], found: set[FoundPackage], by_module: dict[str, str],
                result: dict[str, Imports], warnings: dict[str, str]) -> None:
    try:
        scanned = scan_imports(files, found_packages=found, include_external_packages=False,
                               exclude_type_checking_imports=False)
    except Exception as exc:  # grimp's SourceSyntaxError, UnicodeError, OSError
        if len(files) == 1:
            warnings[by_module[files[0].module.name]] = _grimp_reason(exc)
            return
        half = len(files) // 2
        _scan_batch(files[:half], found, by_module, result, warnings)
        _scan_batch(files[half:], found, by_module, result, warnings)
        return
    for module_file, direct in scanned.items():
        lines: dict[str, set[int]] = {}
        for imp in direct:
            lines.setdefault(imp.imported.name, set()).add(imp.line_number)
        result[by_module[module_file.module.name]] = {
            by_module[name]: len(at) for name, at in lines.items() if name in by_module}


def _grimp_reason(exc: Exception) -> str:
    lineno = getattr(exc, "lineno", None)
    if type(exc).__name__ == "SourceSyntaxError":
        return f"syntax error at line {lineno}: imports not read" if lineno else \
            "syntax error: imports not read"
    return f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}: imports not read"


def scan_loose(path: str, text: str, names: Mapping[str, PyName],
               modules: Mapping[str, str]) -> Imports | str:
    """Imports of a loose script (absolute ones: a script has no package to be relative
    to), resolved against the repository's packaged modules (`modules`: dotted name ->
    path) and the scripts beside it; or why it could not be read."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return f"syntax error at line {exc.lineno}: imports not read"
    except ValueError as exc:  # null bytes and the like
        return f"{exc}: imports not read"
    folder = os.path.dirname(path)
    beside = {n.name: p for p, n in names.items()
              if n.top is None and os.path.dirname(p) == folder and p != path}
    counts: Counter[str] = Counter()
    for node in _statements(tree):
        targets: set[str] = set()
        if isinstance(node, ast.Import):
            targets = {_longest(a.name, modules, beside) or "" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                targets.add(_longest(f"{node.module}.{alias.name}", modules, beside) or "")
        targets.discard("")
        targets.discard(path)
        counts.update(targets)
    return dict(counts)


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement, nested ones included (imports are statements: expressions need no
    visit, which makes this several times faster than `ast.walk`)."""
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if children:
                for child in reversed(children):
                    if isinstance(child, ast.stmt):
                        stack.append(child)
                    else:  # an except handler or a match case holds statements
                        stack.extend(reversed(getattr(child, "body", [])))


def _longest(name: str, modules: Mapping[str, str], beside: Mapping[str, str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        found = modules.get(candidate) or (beside.get(candidate) if end == 1 else None)
        if found is not None:
            return found
    return None
