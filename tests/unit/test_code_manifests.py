"""What a repository says about how it runs, read from the files teams keep (the evidence
the engine links code to what runs it by)."""

from __future__ import annotations

from pathlib import Path

from gestalt.model import ids
from gestalt.sources.code.manifests import read_manifest


def write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_manifests_name_the_project_its_urls_scripts_and_component(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "shop-api"\n'
          '[project.scripts]\nshop = "shop.cli:main"\n'
          '[project.urls]\nSource = "https://github.com/Acme/shop-api.git"\n')
    write(tmp_path, "package.json", '{"name": "@acme/shop-ui", "bin": {"shop-ui": "bin/ui.js"},'
          ' "repository": {"type": "git", "url": "git+https://github.com/acme/shop-ui.git"}}')
    write(tmp_path, ".git/config", '[core]\n\tbare = false\n[remote "origin"]\n'
          '\turl = git@github.com:acme/shop-api.git\n'
          '\tfetch = +refs/heads/*:refs/remotes/origin/*\n')
    write(tmp_path, "catalog-info.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
          "metadata:\n  name: shop\n  annotations:\n    backstage.io/kubernetes-id: shop\n"
          "    backstage.io/kubernetes-label-selector: app=shop,tier=api\n"
          "spec:\n  system: commerce\n  dependsOn: [component:payments]\n")
    found = read_manifest(str(tmp_path))
    assert found.names == ["shop-api", "shop-ui", "shop"]
    assert found.urls == ["github.com/acme/shop-api", "github.com/acme/shop-ui"]
    assert found.scripts == {"shop": "shop.cli", "shop-ui": "bin/ui.js"}
    assert found.backstage == {"component": "shop", "system": "commerce",
                               "kubernetes_id": "shop",
                               "label_selector": "app=shop,tier=api",
                               "depends_on": "component:payments"}
    assert found.warnings == []


def test_a_broken_manifest_is_a_warning_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", "kind: Component\nmetadata: [unclosed\n")
    write(tmp_path, "package.json", "{not json")
    found = read_manifest(str(tmp_path))
    assert [w.split(": ", 1)[0] for w in found.warnings] == [
        str(tmp_path / "package.json"), str(tmp_path / "catalog-info.yaml")]
    assert all(": cannot read: " in w for w in found.warnings)


def test_one_spelling_of_a_repository_url() -> None:
    spellings = ["git@github.com:acme/api.git", "https://github.com/acme/api",
                 "git+https://github.com/acme/api.git/", "ssh://git@github.com/acme/api.git",
                 "https://token@GitHub.com/acme/api/tree/main/src"]
    assert {ids.source_url(url) for url in spellings} == {"github.com/acme/api"}
    assert ids.source_url("") == ""
