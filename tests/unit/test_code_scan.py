"""The code source's scan on real code: this project's own Python, checked against grimp's
own graph builder, and fixture repositories made on disk for what a scan must survive."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grimp
import pytest

from gestalt.model import ConnectionKind, EntityKind, EntityStatus
from gestalt.model.config.collectors import CodeCollector, CodeRepository
from gestalt.sources.code import CodeSource
from gestalt.sources.code.graph import repository_graph
from gestalt.sources.code.repository import Repository
from tests.support.sinks import RecordingSink

ROOT = Path(__file__).resolve().parents[2]


def scanned(path: Path | str, name: str = "repo", **options: object) -> Repository:
    repo = Repository(CodeRepository(name=name, path=str(path)), max_file_bytes=int(
        options.get("max_file_bytes", 2 * 1024 * 1024)), ignore=list(options.get("ignore", [])))
    repo.scan()
    return repo


@pytest.fixture(scope="module")
def project() -> Repository:
    return scanned(ROOT, "gestalt")


def dotted_edges(repo: Repository, prefix: str) -> set[tuple[str, str]]:
    names = {path: n.name for path, n in repo.names.items()}
    return {(names[path], names[target])
            for path, source in repo.files.items() if path.startswith(prefix)
            for target in source.imports if target in names}


def test_python_imports_are_what_grimp_reports(project: Repository) -> None:
    graph = grimp.build_graph("gestalt", cache_dir=None)
    expected = {(importer, imported) for importer in graph.modules
                for imported in graph.find_modules_directly_imported_by(importer)}
    ours = dotted_edges(project, "src/gestalt/")
    assert len(expected) > 300
    assert ours == expected


def test_the_layers_are_visible_in_the_data(project: Repository) -> None:
    edges = dotted_edges(project, "src/gestalt/")
    model_to_engine = {(a, b) for a, b in edges
                       if a.startswith("gestalt.model") and b.startswith("gestalt.engine")}
    engine_to_model = {(a, b) for a, b in edges
                       if a.startswith("gestalt.engine") and b.startswith("gestalt.model")}
    assert model_to_engine == set()
    assert len(engine_to_model) > 20  # the check can fail: the other direction is there


def test_the_graph_counts_statements_importers_and_lines(project: Repository) -> None:
    entities, connections = repository_graph(project)
    by_id = {e.id: e for e in entities}
    hub = by_id["module:gestalt/src/gestalt/engine/hub.py"]
    assert hub.kind is EntityKind.MODULE and hub.name == "gestalt.engine.hub"
    assert hub.attrs["language"] == "python"
    assert hub.attrs["loc"] == sum(1 for line in (ROOT / "src/gestalt/engine/hub.py")
                                   .read_text().splitlines() if line.strip())
    imports = [c for c in connections if c.kind is ConnectionKind.IMPORTS]
    importers_of_hub = [c for c in imports if c.target_id == hub.id]
    assert hub.attrs["importers"] == len(importers_of_hub) > 0
    package = by_id["package:gestalt/src/gestalt/engine"]
    assert package.name == "gestalt.engine" and package.kind is EntityKind.PACKAGE
    owns = {(c.source_id, c.target_id) for c in connections if c.kind is ConnectionKind.OWNS}
    assert (package.id, hub.id) in owns
    assert ("repository:gestalt", "package:gestalt/src") in owns
    # Nothing generated or installed is code of the project.
    paths = {str(e.attrs.get("path")) for e in entities if e.kind is EntityKind.MODULE}
    assert not [p for p in paths if "node_modules" in p or ".venv" in p or
                p.startswith("src/gestalt/web/")]


def test_statements_are_counted_per_line(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/a.py", "X = 1\n")
    write(tmp_path, "pkg/b.py", "from pkg.a import X\nimport pkg.a\nfrom . import a\n")
    write(tmp_path, "ui/x.ts", "import { y } from './y';\nexport * from './y';\n"
                               "import type { Z } from './y.js';\n")
    write(tmp_path, "ui/y.ts", "export const y = 1; export type Z = number;\n")
    write(tmp_path, "tools/run.py", "import helper\nfrom pkg.a import X\nimport pkg.a\n")
    write(tmp_path, "tools/helper.py", "import os\n")
    write(tmp_path, "js/main.mjs",
          "import a from './lib.js';\nconst b = await import('./lib.js');\n")
    write(tmp_path, "js/lib.js", "const c = require('./util');\nmodule.exports = c;\n")
    write(tmp_path, "js/util.cjs", "module.exports = 1;\n")
    write(tmp_path, "js/util.js", "module.exports = 2;\n")
    _, connections = repository_graph(scanned(tmp_path))
    statements = {(c.source_id, c.target_id): c.attrs["statements"] for c in connections
                  if c.kind is ConnectionKind.IMPORTS}
    assert statements == {("module:repo/pkg/b.py", "module:repo/pkg/a.py"): 3,
                          ("module:repo/ui/x.ts", "module:repo/ui/y.ts"): 3,
                          ("module:repo/js/main.mjs", "module:repo/js/lib.js"): 2,
                          ("module:repo/js/lib.js", "module:repo/js/util.js"): 1,
                          ("module:repo/tools/run.py", "module:repo/tools/helper.py"): 1,
                          ("module:repo/tools/run.py", "module:repo/pkg/a.py"): 2}


def test_ignored_paths_are_not_code(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "generated/\n*.gen.ts\n")
    write(tmp_path, "app.ts", "import './lib';\n")
    write(tmp_path, "lib.ts", "export {};\n")
    write(tmp_path, "skip.gen.ts", "export {};\n")
    write(tmp_path, "generated/x.ts", "export {};\n")
    write(tmp_path, "node_modules/dep/index.js", "module.exports = 1;\n")
    write(tmp_path, "dist/app.js", "require('../lib');\n")
    write(tmp_path, "env/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "env/lib/site.py", "import os\n")
    write(tmp_path, "src/tool.py", "import os\n")
    repo = scanned(tmp_path, ignore=["src/tool.py"])
    assert sorted(repo.files) == ["app.ts", "lib.ts"]


def test_bad_input_is_one_warning_per_file_and_the_rest_is_scanned(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/good.py", "from pkg import broken, other\n")
    write(tmp_path, "pkg/other.py", "VALUE = 2\n")
    write(tmp_path, "pkg/broken.py", "def oops(:\n    pass\n")
    (tmp_path / "pkg/blob.py").write_bytes(b"\x7fELF\x00\x01\x02" * 64)
    (tmp_path / "pkg/latin.py").write_bytes(b"# caf\xe9\nX = 1\n")
    write(tmp_path, "web/a.ts", "import { b } from './b';\nconst = ;\n")
    write(tmp_path, "web/b.ts", "export const b = 1;\n")
    os.symlink(tmp_path / "web", tmp_path / "web" / "again")  # a loop
    os.symlink("self.ts", tmp_path / "web" / "self.ts")  # a link to itself
    os.symlink(tmp_path / "nowhere.py", tmp_path / "pkg" / "dangling.py")
    repo = scanned(tmp_path, max_file_bytes=4096)
    write(tmp_path, "pkg/huge.py", "X = 1\n" * 1000)
    repo.scan()
    warnings = {w.split(": ", 1)[0].removeprefix(str(tmp_path) + "/"): w.split(": ", 1)[1]
                for w in repo.warnings}
    assert warnings["pkg/broken.py"] == "syntax error at line 1: imports not read"
    assert warnings["pkg/blob.py"] == "binary file with a source extension: not parsed"
    assert warnings["pkg/latin.py"].startswith("not UTF-8 text (byte 5)")
    assert warnings["pkg/huge.py"].endswith("more than max_file_bytes (4096): not parsed")
    assert warnings["web/a.ts"] == \
        "syntax error at line 2: imports read where the parser recovered"
    assert warnings["web/again"].startswith("symbolic link loop")
    assert "too many levels of symbolic links" in warnings["web/self.ts"]
    assert warnings["pkg/dangling.py"].startswith("broken symbolic link")
    # The rest is there, edges included (to a broken module too: it exists).
    imports = {(p, t) for p, f in repo.files.items() for t in f.imports}
    assert ("pkg/good.py", "pkg/other.py") in imports
    assert ("pkg/good.py", "pkg/broken.py") in imports
    assert ("web/a.ts", "web/b.ts") in imports
    entities, _ = repository_graph(repo)
    status = {e.attrs.get("path"): e.status for e in entities if e.kind is EntityKind.MODULE}
    assert status["pkg/blob.py"] is EntityStatus.FAILED
    assert status["pkg/good.py"] is EntityStatus.ACTIVE


def test_a_missing_repository_is_one_warning(tmp_path: Path) -> None:
    repo = scanned(tmp_path / "not-there")
    assert repo.files == {}
    assert repo.warnings == [f"{tmp_path / 'not-there'}: no such file or directory"]


def test_a_changed_file_is_rescanned_alone(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/a.py", "X = 1\n")
    write(tmp_path, "pkg/b.py", "Y = 2\n")
    repo = scanned(tmp_path)
    write(tmp_path, "pkg/b.py", "from pkg.a import X\nY = X\n")
    report = repo.rescan([str(tmp_path / "pkg/b.py")])
    assert report is not None and report.files_parsed == 1
    assert repo.files["pkg/b.py"].imports == {"pkg/a.py": 1}
    # A module that appears changes what an import names: `pkg.c` was `pkg` before.
    write(tmp_path, "pkg/d.py", "import pkg.c\n")
    repo.rescan([str(tmp_path / "pkg/d.py")])
    assert repo.files["pkg/d.py"].imports == {"pkg/__init__.py": 1}
    write(tmp_path, "pkg/c.py", "")
    repo.rescan([str(tmp_path / "pkg/c.py")])
    assert repo.files["pkg/d.py"].imports == {"pkg/c.py": 1}
    os.remove(tmp_path / "pkg/c.py")
    repo.rescan([str(tmp_path / "pkg/c.py")])
    assert "pkg/c.py" not in repo.files
    assert repo.files["pkg/d.py"].imports == {"pkg/__init__.py": 1}
    assert repo.rescan([str(tmp_path / "README.md")]) is None


def write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def test_scans_asked_for_together_are_one_scan(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "import os\n")
    source = CodeSource(CodeCollector(enabled=True, watch=False, repositories=[
        CodeRepository(name="repo", path=str(tmp_path))]))
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        await sink.wait_for(lambda: sink.snapshots == 1, what="the scan on start")
        answers = await asyncio.gather(*(source.scan() for _ in range(5)))
        assert sink.snapshots == 2
        assert all(answer == answers[0] for answer in answers)
        assert answers[0][0]["modules"] == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
