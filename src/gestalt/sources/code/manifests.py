"""What a repository says about how it runs, read from the files teams already keep:
`pyproject.toml` (name, console scripts, URLs), `package.json` (name, bin, repository),
`.git/config` (remote URLs) and Backstage's `catalog-info.yaml` (component, system,
Kubernetes id and label selector). The engine links code to what runs it by these
(engine/links/runs_as.py); here they are only read, each file on its own, and a file that
cannot be read is a warning, never a failed scan."""

from __future__ import annotations

import configparser
import json
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

import yaml

from gestalt.model import ids


@dataclass(slots=True)
class Manifest:
    names: list[str] = field(default_factory=list)  # project and component names
    urls: list[str] = field(default_factory=list)  # where its source lives
    scripts: dict[str, str] = field(default_factory=dict)  # command -> Python module or file
    backstage: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_manifest(root: str) -> Manifest:
    found = Manifest()
    for name, reader in (("pyproject.toml", _pyproject), ("package.json", _package_json),
                         (".git/config", _git_config), ("catalog-info.yaml", _catalog_info)):
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        try:
            reader(path, found)
        except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError,
                configparser.Error) as exc:
            found.warnings.append(f"{path}: cannot read: {str(exc).splitlines()[0]}")
    found.names = list(dict.fromkeys(found.names))
    found.urls = list(dict.fromkeys(u for u in (ids.source_url(u) for u in found.urls) if u))
    return found


def _pyproject(path: str, found: Manifest) -> None:
    with open(path, "rb") as handle:
        project = tomllib.load(handle).get("project") or {}
    if isinstance(project.get("name"), str):
        found.names.append(project["name"])
    for command, target in (project.get("scripts") or {}).items():
        found.scripts[str(command)] = str(target).split(":", 1)[0].strip()
    found.urls.extend(str(u) for u in (project.get("urls") or {}).values())


def _package_json(path: str, found: Manifest) -> None:
    with open(path, encoding="utf-8") as handle:
        package: dict[str, Any] = json.load(handle)
    name = package.get("name")
    if isinstance(name, str):
        found.names.append(name.rsplit("/", 1)[-1])
    bins = package.get("bin")
    if isinstance(bins, str) and isinstance(name, str):
        bins = {name.rsplit("/", 1)[-1]: bins}
    for command, target in (bins if isinstance(bins, dict) else {}).items():
        found.scripts[str(command)] = os.path.normpath(str(target))
    repository = package.get("repository")
    url = repository.get("url") if isinstance(repository, dict) else repository
    if isinstance(url, str):
        found.urls.append(url)


def _git_config(path: str, found: Manifest) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    with open(path, encoding="utf-8", errors="replace") as handle:
        parser.read_string("\n".join(line.strip() for line in handle))
    for section in parser.sections():
        if section.startswith("remote ") and parser.has_option(section, "url"):
            found.urls.append(parser.get(section, "url"))


def _catalog_info(path: str, found: Manifest) -> None:
    with open(path, encoding="utf-8") as handle:
        documents = list(yaml.safe_load_all(handle))
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "Component":
            continue
        metadata = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        annotations = metadata.get("annotations") or {}
        if metadata.get("name"):
            found.names.append(str(metadata["name"]))
            found.backstage.setdefault("component", str(metadata["name"]))
        for key, value in (("system", spec.get("system")),
                           ("kubernetes_id", annotations.get("backstage.io/kubernetes-id")),
                           ("label_selector",
                            annotations.get("backstage.io/kubernetes-label-selector")),
                           ("source", annotations.get("backstage.io/source-location"))):
            if value:
                found.backstage.setdefault(key, str(value))
        depends = spec.get("dependsOn") or []
        if isinstance(depends, list) and depends:
            found.backstage.setdefault("depends_on", ",".join(str(d) for d in depends))
        if found.backstage.get("source"):
            found.urls.append(found.backstage["source"].removeprefix("url:"))
        break
