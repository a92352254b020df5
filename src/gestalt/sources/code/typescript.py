"""TypeScript and JavaScript imports: tree-sitter finds them, the compiler's rules resolve them.

tree-sitter (with the grammars the tree-sitter project maintains) parses each file; the
import specifiers are what the TypeScript compiler's `preProcessFile` reports: `import`,
`export ... from`, `import x = require()`, dynamic `import()` and `require()`. Each is
resolved as `moduleResolution: bundler` does against the repository's files: relative
paths with the TypeScript extensions first (`./a.js` is `./a.ts` when that exists), then
JavaScript, then a folder's `index`; a bare name through the nearest `tsconfig.json`'s
`paths` and `baseUrl`, else it is a dependency (node_modules), not an edge on the map.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Query, QueryCursor

_QUERY = """
(import_statement source: (string (string_fragment) @spec))
(export_statement source: (string (string_fragment) @spec))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @spec)))
(call_expression function: (identifier) @fn
  arguments: (arguments . (string (string_fragment) @spec)) (#eq? @fn "require"))
"""

_TS = (".ts", ".tsx", ".d.ts")
_JS = (".js", ".jsx")
# A `.js` specifier may name the TypeScript file it is compiled from.
_SWAPS = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts", ".d.mts"),
          ".cjs": (".cts", ".d.cts")}


# `import x = require("y")` is TypeScript's alone.
_TS_QUERY = _QUERY + "(import_require_clause source: (string (string_fragment) @spec))\n"


class _Grammar:
    def __init__(self, language: Language, query: str) -> None:
        self.parser = Parser(language)
        self.query = Query(language, query)


_GRAMMARS: dict[str, _Grammar] = {}


def _grammar(path: str) -> _Grammar:
    if path.endswith((".tsx",)):
        key = "tsx"
    elif path.endswith((".ts", ".mts", ".cts")):
        key = "typescript"
    else:
        key = "javascript"
    grammar = _GRAMMARS.get(key)
    if grammar is None:
        capsule = {"tsx": tree_sitter_typescript.language_tsx,
                   "typescript": tree_sitter_typescript.language_typescript,
                   "javascript": tree_sitter_javascript.language}[key]()
        grammar = _GRAMMARS[key] = _Grammar(Language(capsule),
                                            _QUERY if key == "javascript" else _TS_QUERY)
    return grammar


@dataclass(slots=True)
class Parsed:
    specifiers: Counter[str] = field(default_factory=Counter)  # specifier -> statements
    error_line: int | None = None  # the first syntax error, if any


def parse(path: str, text: str) -> Parsed:
    """The import specifiers of one file (what tree-sitter could read of it)."""
    grammar = _grammar(path)
    tree = grammar.parser.parse(text.encode("utf-8"))
    parsed = Parsed()
    for _, captures in QueryCursor(grammar.query).matches(tree.root_node):
        for node in captures.get("spec", ()):
            parsed.specifiers[(node.text or b"").decode("utf-8", "replace")] += 1
    if tree.root_node.has_error:
        parsed.error_line = _first_error(tree.root_node)
    return parsed


def _first_error(node: Node) -> int:
    cursor = [node]
    while cursor:
        current = cursor.pop(0)
        if current.is_error or current.is_missing:
            return current.start_point.row + 1
        cursor[:0] = [c for c in current.children if c.has_error or c.is_missing]
    return node.start_point.row + 1


@dataclass(frozen=True, slots=True)
class TsConfig:
    folder: str  # relative to the repository root
    base_url: str | None = None  # relative to the repository root
    paths: tuple[tuple[str, tuple[str, ...]], ...] = ()


def read_tsconfig(root: str, folder: str) -> TsConfig | str | None:
    """`folder/tsconfig.json`'s resolution options; None if there is none; a reason if it
    cannot be read (JSON with comments is read too, as tsc does)."""
    path = os.path.join(root, folder, "tsconfig.json")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read: {exc}"
    try:
        options = json.loads(_without_comments(text)).get("compilerOptions") or {}
    except (ValueError, AttributeError) as exc:
        return f"not JSON: {exc}"
    base = options.get("baseUrl")
    base_url = posixpath.normpath(posixpath.join(folder, base)) if isinstance(base, str) else None
    paths = tuple((str(pattern), tuple(str(t) for t in targets))
                  for pattern, targets in (options.get("paths") or {}).items()
                  if isinstance(targets, list))
    return TsConfig(folder, base_url, paths)


def _without_comments(text: str) -> str:
    """JSON with `//` and `/* */` comments and trailing commas (tsconfig's dialect) as JSON."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    joined = "".join(out)
    # Trailing commas before } or ].
    cleaned: list[str] = []
    for index, c in enumerate(joined):
        if c == ",":
            rest = joined[index + 1:].lstrip()
            if rest[:1] in ("}", "]"):
                continue
        cleaned.append(c)
    return "".join(cleaned)


def resolve(spec: str, importer: str, files: Collection[str],
            config: TsConfig | None) -> str | None:
    """The repository file (relative path) an import specifier names, None if none does."""
    if spec.startswith(("./", "../")) or spec in (".", ".."):
        return _as_file_or_folder(posixpath.join(posixpath.dirname(importer), spec), files)
    if spec.startswith("/"):
        return None
    if config is not None:
        for pattern, targets in config.paths:
            star = _match(pattern, spec)
            if star is None:
                continue
            base = config.base_url if config.base_url is not None else config.folder
            for target in targets:
                found = _as_file_or_folder(posixpath.join(base, target.replace("*", star)),
                                           files)
                if found is not None:
                    return found
        if config.base_url is not None:
            return _as_file_or_folder(posixpath.join(config.base_url, spec), files)
    return None


def _match(pattern: str, spec: str) -> str | None:
    if "*" not in pattern:
        return "" if pattern == spec else None
    head, _, tail = pattern.partition("*")
    if spec.startswith(head) and spec.endswith(tail) and len(spec) >= len(head) + len(tail):
        return spec[len(head):len(spec) - len(tail)]
    return None


def _as_file_or_folder(path: str, files: Collection[str]) -> str | None:
    path = posixpath.normpath(path)
    if path.startswith("../") or path == "..":
        return None
    stem, ext = posixpath.splitext(path)
    if ext in _SWAPS:
        for swap in _SWAPS[ext]:
            if stem + swap in files:
                return stem + swap
    if path in files and (path.endswith(_TS) or ext in (*_JS, ".mts", ".cts", ".mjs", ".cjs")):
        return path
    for extension in (*_TS, *_JS):
        if path + extension in files:
            return path + extension
    for extension in (*_TS, *_JS):
        index = posixpath.join(path, "index" + extension)
        if index in files:
            return index
    return None
