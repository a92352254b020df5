"""One repository's code as it is on disk: its source files, their imports, and what
changed since the last look.

A full scan walks the tree and parses every file; a rescan of changed paths parses only
those and resolves again what their change can affect: a TypeScript specifier is kept as
written and resolved against the current file set (cheap), Python is rescanned by grimp
for the changed files, or for the whole repository when modules appear or go (an import
of `pkg.new` meant `pkg` until `pkg/new.py` existed).
"""

from __future__ import annotations

import os
import posixpath
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gestalt.model.config.collectors import CodeRepository
from gestalt.sources.code import python, typescript
from gestalt.sources.code.files import SKIPPED_DIRS, Ignores, language_of, read_source, walk
from gestalt.sources.code.manifests import Manifest, read_manifest


@dataclass(slots=True)
class SourceFile:
    path: str  # relative to the root, with `/`
    language: str
    mtime_ns: int = 0
    size: int = 0
    lines: int = 0
    loc: int = 0
    warning: str | None = None
    specifiers: Counter[str] = field(default_factory=Counter)  # TypeScript/JavaScript
    imports: dict[str, int] = field(default_factory=dict)  # path -> statements


@dataclass(slots=True)
class ScanReport:
    repository: str
    modules: int
    imports: int
    seconds: float
    files_parsed: int
    warnings: list[str]


class Repository:
    def __init__(self, config: CodeRepository, *, max_file_bytes: int,
                 ignore: list[str]) -> None:
        self.config = config
        self.name = config.name
        self.root = os.path.realpath(os.path.expanduser(config.path))
        self._max_bytes = max_file_bytes
        self._ignore = ignore
        self.files: dict[str, SourceFile] = {}
        self.walk_warnings: list[str] = []
        self.manifest = Manifest()
        self.names: dict[str, python.PyName] = {}
        self._tsconfigs: dict[str, typescript.TsConfig | None] = {}
        self.scanned_at: float | None = None

    @property
    def warnings(self) -> list[str]:
        files = [f"{os.path.join(self.root, f.path)}: {f.warning}"
                 for f in self.files.values() if f.warning]
        return [*self.walk_warnings, *self.manifest.warnings, *files]

    # -- scans ---------------------------------------------------------------------------
    def scan(self) -> ScanReport:
        """Everything again: walk, read, parse, resolve."""
        started = time.perf_counter()
        found = walk(self.root, extra_ignores=self._ignore)
        self.walk_warnings = found.warnings
        old = self.files
        self.files = {}
        for path, st in found.files.items():
            language = language_of(path)
            assert language is not None
            previous = old.get(path)
            self.files[path] = previous if previous is not None and \
                previous.mtime_ns == st.st_mtime_ns and previous.size == st.st_size \
                else SourceFile(path, language)
        parsed = [p for p, f in self.files.items() if f.mtime_ns == 0]
        for path in parsed:
            st = found.files[path]
            self._read(self.files[path], st.st_mtime_ns, st.st_size)
        self.manifest = read_manifest(self.root)
        self._tsconfigs.clear()
        self._resolve(python_paths=None)
        return self._report(started, len(parsed))

    def rescan(self, paths: Iterable[str]) -> ScanReport | None:
        """Only these changed paths (absolute); None when none of them is code here."""
        started = time.perf_counter()
        changed: list[str] = []
        appeared_or_gone = False
        manifest = False
        for absolute in paths:
            rel = self._relative(absolute)
            if rel is None:
                continue
            name = posixpath.basename(rel)
            if rel in ("pyproject.toml", "package.json", "catalog-info.yaml", ".git/config"):
                manifest = True
                continue
            if rel.startswith(".git/") or self._skipped(rel):
                continue
            if name in (".gitignore", "tsconfig.json"):
                return self.scan()  # what is ignored or how names resolve changed
            try:
                st = os.stat(absolute)
            except OSError:
                st = None
            if st is not None and os.path.isdir(absolute):
                if not any(p.startswith(rel + "/") for p in self.files):
                    return self.scan()  # a folder appeared (moved in): walk it
                continue
            if st is None or not os.path.isfile(absolute):
                gone = [p for p in self.files if p == rel or p.startswith(rel + "/")]
                for path in gone:
                    del self.files[path]
                appeared_or_gone |= bool(gone)
                continue
            language = language_of(name)
            if language is None:
                continue
            current = self.files.get(rel)
            if current is None:
                current = self.files[rel] = SourceFile(rel, language)
                appeared_or_gone = True
            elif current.mtime_ns == st.st_mtime_ns and current.size == st.st_size:
                continue
            self._read(current, st.st_mtime_ns, st.st_size)
            changed.append(rel)
        if manifest:
            self.manifest = read_manifest(self.root)
        if not changed and not appeared_or_gone and not manifest:
            return None
        python_changed = [p for p in changed if p.endswith(".py")]
        if appeared_or_gone or any(p.endswith("__init__.py") for p in python_changed):
            self._resolve(python_paths=None)
        else:
            self._resolve(python_paths=python_changed)
        return self._report(started, len(changed))

    def _relative(self, absolute: str) -> str | None:
        absolute = os.path.abspath(absolute)
        if absolute != self.root and not absolute.startswith(self.root + os.sep):
            return None
        rel = os.path.relpath(absolute, self.root).replace(os.sep, "/")
        return None if rel == "." else rel

    def _skipped(self, rel: str) -> bool:
        parts = rel.split("/")
        for index in range(1, len(parts)):
            folder = "/".join(parts[:index])
            if parts[index - 1] in SKIPPED_DIRS or parts[index - 1].endswith(".egg-info") \
                    or os.path.exists(os.path.join(self.root, folder, "pyvenv.cfg")):
                return True
        return self._ignores_for(rel)

    def _ignores_for(self, rel: str) -> bool:
        ignores = Ignores(self.root, self._ignore)
        parts = rel.split("/")
        for index in range(len(parts)):
            ignores.read("/".join(parts[:index]), [])
        return ignores.ignored(rel, False)

    # -- reading and resolving ---------------------------------------------------------
    def _read(self, source: SourceFile, mtime_ns: int, size: int) -> None:
        source.mtime_ns, source.size = mtime_ns, size
        source.specifiers = Counter()
        source.imports = {}
        text = read_source(os.path.join(self.root, source.path), max_bytes=self._max_bytes)
        if isinstance(text, str):
            source.warning, source.lines, source.loc = text, 0, 0
            return
        source.warning, source.lines, source.loc = None, text.lines, text.loc
        if source.language != "python":
            parsed = typescript.parse(source.path, text.text)
            source.specifiers = parsed.specifiers
            if parsed.error_line is not None:
                source.warning = f"syntax error at line {parsed.error_line}: " \
                                 "imports read where the parser recovered"

    def _resolve(self, *, python_paths: list[str] | None) -> None:
        py = [p for p, f in self.files.items() if f.language == "python"]
        self.names = python.python_names(py)
        readable = {p for p in py if not _unreadable(self.files[p].warning)}
        wanted = readable if python_paths is None else \
            [p for p in python_paths if p in readable]
        warnings: dict[str, str] = {}
        results = python.scan_python(self.root, self.names, wanted, warnings)
        for path in wanted:
            source = self.files[path]
            source.imports = results.get(path, {})
            source.warning = warnings.get(path)
        script_files = set(self.files)
        for source in self.files.values():
            if source.language == "python" or _unreadable(source.warning):
                continue
            config = self._tsconfig(source.path)
            imports: dict[str, int] = {}
            for spec, count in source.specifiers.items():
                target = typescript.resolve(spec, source.path, script_files, config)
                if target is not None and target != source.path:
                    imports[target] = imports.get(target, 0) + count
            source.imports = imports
        self.scanned_at = time.time()

    def _tsconfig(self, path: str) -> typescript.TsConfig | None:
        folder = posixpath.dirname(path)
        while True:
            if folder not in self._tsconfigs:
                found = typescript.read_tsconfig(self.root, folder)
                if isinstance(found, str):
                    self.manifest.warnings.append(
                        f"{os.path.join(self.root, folder, 'tsconfig.json')}: {found}")
                    found = None
                self._tsconfigs[folder] = found
                if found is not None:
                    return found
            elif self._tsconfigs[folder] is not None:
                return self._tsconfigs[folder]
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def _report(self, started: float, parsed: int) -> ScanReport:
        return ScanReport(self.name, len(self.files),
                          sum(len(f.imports) for f in self.files.values()),
                          time.perf_counter() - started, parsed, self.warnings)


def _unreadable(warning: str | None) -> bool:
    return warning is not None and warning.endswith("not parsed")
