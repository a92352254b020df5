"""The source registry in step with everything a source touches: its module, its config
section, the packages it imports, the import contracts and the paths; and a missing
package told apart from a broken module."""

from __future__ import annotations

import configparser
import dataclasses
import pkgutil
import sys
from pathlib import Path

import grimp
import msgspec
import pytest

import gestalt.sources
from gestalt.engine.paths import REGISTRY
from gestalt.engine.registry import SOURCES, SPECS, SourceBuildError, SourceSpec, build_sources
from gestalt.model.config import Collectors, Config

ROOT = Path(__file__).resolve().parent.parent.parent
# What every layer may import: the model's own packages.
CORE = {"msgspec", "yaml"}


def shared_modules() -> set[str]:
    """What every source may import (the import contract's ignored imports): not sources."""
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    ignored = contracts["importlinter:contract:sources-independent"]["ignore_imports"]
    return {line.split("->")[1].strip().removeprefix("gestalt.sources.")
            for line in ignored.strip().splitlines()}


def enabled(spec: SourceSpec) -> SourceSpec:
    return dataclasses.replace(spec, enabled=lambda _: True)


def test_every_source_module_has_a_row_and_every_row_a_module() -> None:
    modules = {m.name for m in pkgutil.iter_modules(gestalt.sources.__path__)} - shared_modules()
    assert shared_modules() == {"base", "polling"}
    assert modules == {spec.module.removeprefix("gestalt.sources.") for spec in SOURCES}
    assert len(SPECS) == len(SOURCES), "two rows with one name"


def test_every_row_has_its_config_section_and_every_section_a_row() -> None:
    sections = {f.name for f in msgspec.structs.fields(Collectors)}
    assert {spec.section for spec in SOURCES} == sections
    for spec in SOURCES:
        assert hasattr(spec.config(Config()), "enabled"), spec.section


def test_every_row_builds_its_source_by_that_name() -> None:
    # The agents row is a factory of one source per site (`site:<name>`).
    config = Config()
    config.collectors.agents.sites = ["east"]
    built, not_running = build_sources(config, tuple(enabled(s) for s in SOURCES))
    assert not_running == {}
    assert [source.name for source in built] == [
        "site:east" if spec.name == "agents" else spec.name for spec in SOURCES]
    assert all(isinstance(source, gestalt.sources.Source) for source in built)


def test_each_source_imports_only_the_packages_its_row_names() -> None:
    graph = grimp.build_graph("gestalt", include_external_packages=True)
    for spec in SOURCES:
        modules = {spec.module} | set(graph.find_descendants(spec.module)
                                      if graph.find_children(spec.module) else ())
        imported = {name.split(".")[0] for module in modules
                    for name in graph.find_modules_directly_imported_by(module)
                    if not name.startswith("gestalt")}
        third_party = imported - set(sys.stdlib_module_names) - {"__future__"} - CORE
        assert third_party == set(spec.requires), spec.name


def test_the_import_contracts_cover_every_source() -> None:
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    independent = contracts["importlinter:contract:sources-independent"]["modules"].split()
    assert independent == ["gestalt.sources.*"]  # so a new source is covered unnamed
    layers = contracts["importlinter:contract:layers"]["layers"].split()
    assert "gestalt.sources" in layers


def test_every_path_of_a_source_names_a_registered_source() -> None:
    owned = {spec.source for spec in REGISTRY.values() if spec.source is not None}
    assert owned <= set(SPECS)


@pytest.fixture
def probe_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Source modules written for the test, importable by name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_missing_required_package_reads_not_available(probe_modules: Path) -> None:
    (probe_modules / "redis_probe.py").write_text("import gestalt_absent_client\n")
    spec = SourceSpec("redis", "redis_probe", "RedisSource", "host", ("gestalt_absent_client",),
                      enabled=lambda _: True)
    built, not_running = build_sources(Config(), (spec,))
    assert built == []
    assert not_running == {"redis": "not available in this build: the package "
                                    "gestalt_absent_client is not installed"}


@pytest.mark.parametrize(("module", "source", "cls", "said"), [
    ("gestalt.sources.hots", "", "HostSource", "No module named 'gestalt.sources.hots'"),
    ("gestalt.sources.host", "", "HostSorce", "gestalt.sources.host has no HostSorce"),
    ("redis_typo", "import redsi\n", "RedisSource", "No module named 'redsi'"),
    ("redis_bug", "from gestalt.model import Entiti\n", "RedisSource", "cannot import name"),
])
def test_a_broken_source_module_fails_loudly(probe_modules: Path, module: str, source: str,
                                             cls: str, said: str) -> None:
    if source:
        (probe_modules / f"{module}.py").write_text(source)
    spec = SourceSpec("redis", module, cls, "host", ("redis",), enabled=lambda _: True)
    with pytest.raises(SourceBuildError, match=said):
        build_sources(Config(), (spec,))
