"""Which files of a repository are code: walking the tree, what is skipped, reading a file.

Skipped: virtual environments (a folder with `pyvenv.cfg`), `node_modules`, caches, build
output and whatever the repository's `.gitignore` files (and the configuration's `ignore`)
name, so the map shows the code people write, not what tools generate. Symbolic links are
followed once: a link back into a folder already walked is a loop, reported and not
followed. Every file that cannot be used (unreadable, binary, too large, not UTF-8) is a
warning naming it; the walk goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

import pathspec

LANGUAGES = {
    ".py": "python",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
}

# Folders no one writes by hand: dependencies, caches, build output.
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "build", "dist", "out",
    ".next", ".nuxt", ".turbo", ".cache", "coverage", "htmlcov", ".eggs", "target",
    ".parcel-cache", ".svelte-kit",
})


def language_of(name: str) -> str | None:
    if name.endswith(".d.ts"):
        return "typescript"
    return LANGUAGES.get(os.path.splitext(name)[1])


@dataclass(slots=True)
class Walk:
    """What one walk of a repository found: source files (path relative to the root, with
    `/`), and warnings (one line each, naming the file)."""

    root: str
    files: dict[str, os.stat_result] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Ignores:
    """The repository's `.gitignore` files (each relative to its folder) and extra patterns."""

    def __init__(self, root: str, extra: list[str]) -> None:
        self.root = root
        self._specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        if extra:
            self._specs.append(("", pathspec.GitIgnoreSpec.from_lines(extra)))

    def read(self, folder: str, warnings: list[str]) -> None:
        """Add the `.gitignore` of `folder` (relative path, "" for the root), if any."""
        path = os.path.join(self.root, folder, ".gitignore")
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            warnings.append(f"{path}: cannot read: {exc.strerror or exc}")
            return
        self._specs.append((folder, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        for base, spec in self._specs:
            if base:
                if not relpath.startswith(base + "/"):
                    continue
                inner = relpath[len(base) + 1:]
            else:
                inner = relpath
            if spec.match_file(inner + "/" if is_dir else inner):
                return True
        return False


def walk(root: str, *, extra_ignores: list[str] | None = None) -> Walk:
    """The source files under `root`. A missing or unreadable root is one warning."""
    found = Walk(root)
    try:
        top = os.stat(root)
    except OSError as exc:
        found.warnings.append(f"{root}: {_reason(exc)}")
        return found
    if not stat.S_ISDIR(top.st_mode):
        found.warnings.append(f"{root}: not a directory")
        return found
    if not os.access(root, os.R_OK | os.X_OK):
        found.warnings.append(f"{root}: permission denied")
        return found
    ignores = Ignores(root, extra_ignores or [])
    seen = {(top.st_dev, top.st_ino)}
    for relpath, st in _entries(root, "", ignores, seen, found.warnings):
        found.files[relpath] = st
    return found


def _entries(root: str, folder: str, ignores: Ignores, seen: set[tuple[int, int]],
             warnings: list[str]) -> Iterator[tuple[str, os.stat_result]]:
    ignores.read(folder, warnings)
    path = os.path.join(root, folder) if folder else root
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        warnings.append(f"{path}: {_reason(exc)}")
        return
    subfolders: list[str] = []
    for entry in entries:
        relpath = f"{folder}/{entry.name}" if folder else entry.name
        try:
            st = entry.stat()  # follows a symbolic link
        except OSError as exc:
            if entry.is_symlink():
                warnings.append(f"{entry.path}: broken symbolic link ({_reason(exc)})")
            elif language_of(entry.name):
                warnings.append(f"{entry.path}: {_reason(exc)}")
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name in SKIPPED_DIRS or entry.name.endswith(".egg-info") \
                    or ignores.ignored(relpath, True) \
                    or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                if entry.is_symlink():
                    warnings.append(f"{entry.path}: symbolic link loop (points to "
                                    f"{os.path.realpath(entry.path)}), not followed")
                continue
            seen.add(key)
            subfolders.append(relpath)
        elif stat.S_ISREG(st.st_mode) and language_of(entry.name) \
                and not ignores.ignored(relpath, False):
            yield relpath, st
    for sub in subfolders:
        yield from _entries(root, sub, ignores, seen, warnings)


@dataclass(slots=True, frozen=True)
class Text:
    text: str
    lines: int  # all lines
    loc: int  # lines with something on them


def read_source(path: str, *, max_bytes: int) -> Text | str:
    """The file's text, or why it cannot be used (one line, without the path)."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            return f"{size} bytes, more than max_file_bytes ({max_bytes}): not parsed"
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return _reason(exc)
    if b"\0" in data[:8192]:
        return "binary file with a source extension: not parsed"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start}): not parsed"
    lines = text.splitlines()
    return Text(text, len(lines), sum(map(bool, map(str.strip, lines))))


def _reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
