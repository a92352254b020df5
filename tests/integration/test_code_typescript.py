"""TypeScript imports as the TypeScript compiler itself resolves them: `tsc
--traceResolution` over this project's web UI, against the code source's scan of it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gestalt.model.config.collectors import CodeRepository
from gestalt.sources.code.repository import Repository
from tests.support.services import require_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "web" / "node_modules" / "typescript" / "bin" / "tsc"
RESOLVING = re.compile(r"======== Resolving module '(.+)' from '(.+)'\. ========")
RESOLVED = re.compile(r"======== Module name '(.+)' was "
                      r"(?:successfully resolved to '([^']+)'|not resolved)")


def compiler_edges() -> set[tuple[str, str]]:
    """(importer, imported) files of web/src, as tsc resolves every import."""
    node = shutil.which("node")
    require_service("Node.js with web/node_modules", bool(node) and TSC.exists(),
                    "run `npm ci` in web/")
    proc = subprocess.run([str(node), str(TSC), "-p", str(ROOT / "web"), "--noEmit",
                           "--traceResolution"], capture_output=True, text=True, timeout=300)
    edges: set[tuple[str, str]] = set()
    importer = None
    for line in proc.stdout.splitlines():
        if m := RESOLVING.match(line):
            importer = m.group(2)
        elif (m := RESOLVED.match(line)) and importer is not None:
            if m.group(2):
                edges.add((importer, m.group(2)))
            importer = None
    web_src = f"{ROOT}/web/src/"
    return {(a, b) for a, b in edges if a.startswith(web_src) and b.startswith(web_src)}


def test_typescript_imports_are_what_the_compiler_resolves() -> None:
    expected = compiler_edges()
    repo = Repository(CodeRepository(name="gestalt", path=str(ROOT)),
                      max_file_bytes=2 * 1024 * 1024, ignore=[])
    repo.scan()
    ours = {(f"{ROOT}/{path}", f"{ROOT}/{target}") for path, source in repo.files.items()
            if path.startswith("web/src/") for target in source.imports
            if target.startswith("web/src/")}
    assert len(expected) > 100
    assert ours == expected
