"""Runs-as links: which code (a repository or one of its modules, from the code source)
runs as which process, container, pod or workload (from the host, Docker, Kubernetes and
OpenTelemetry sources), each edge naming the evidence that made it.

The code source never sees what runs, and the other sources never see the code, so the
link is made here, where both views meet, from what each side states:

- a process: its working directory inside a repository; `python -m pkg.mod`; a script
  path on its command line (`python tools/x.py`, `node dist/server.js`); a console script
  the repository declares (`[project.scripts]`, package.json `bin`) run from inside it;
- a container: its image's `org.opencontainers.image.source` label (the repository's
  URL from pyproject, package.json or .git/config) or `org.opencontainers.image.title`
  (its project name), or its image named in the repository's `runtime.images`;
- a pod or workload: its images (`runtime.images`), labels matching the repository's
  `runtime.pod_selector`, Backstage's `backstage.io/kubernetes-id` or
  `kubernetes-label-selector` from `catalog-info.yaml`, the recommended labels
  `app.kubernetes.io/name` (the project's name) and `part-of` (its Backstage system);
- anything with an OpenTelemetry `service.name` listed in `runtime.services`, and a
  traced service whose spans name code (`code.namespace`, `code.filepath`).

A code change (a scan) re-evaluates every runtime entity once; a runtime change only that
entity. Evidence is read from entity fields only: no file or process is looked at here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from gestalt.model import Connection, ConnectionKind, Entity, EntityKind, ids

# The raw-edge source name the hub files these edges under (links/edges.py).
RUNS_AS = "runs_as"
_SOURCES = ["code"]
_CODE = frozenset({EntityKind.REPOSITORY, EntityKind.MODULE})
_RUNTIME = frozenset({EntityKind.PROCESS, EntityKind.CONTAINER, EntityKind.POD,
                      EntityKind.DEPLOYMENT, EntityKind.STATEFULSET, EntityKind.DAEMONSET,
                      EntityKind.JOB, EntityKind.SERVICE})
_WORKLOADS = frozenset({EntityKind.POD, EntityKind.DEPLOYMENT, EntityKind.STATEFULSET,
                        EntityKind.DAEMONSET, EntityKind.JOB})
# Folders whose files are tools, not the repository's code (an interpreter in its venv).
_TOOL_DIRS = frozenset({".venv", "venv", "node_modules", "site-packages", ".tox"})


class RunsAs:
    def __init__(self) -> None:
        self._repos: dict[str, Entity] = {}
        self._modules: dict[str, tuple[str, str, str | None]] = {}  # id -> repo, path, py
        self._by_path: dict[tuple[str, str], str] = {}  # (repo id, path) -> module id
        self._by_python: dict[str, list[str]] = {}  # dotted name -> module ids
        self._links: dict[str, dict[str, Connection]] = {}  # runtime id -> its edges

    def update(self, upserts: Mapping[str, Entity], removals: Iterable[str],
               current: Mapping[str, Entity]) -> dict[str, Connection | None]:
        """Take a commit's entity changes (`current`: the graph before them); the runs-as
        edges that changed (None: gone). Without code on the map this is one pass over
        the changes, nothing more."""
        code_changed = False
        runtime: list[str] = []
        for eid, entity in upserts.items():
            kind = entity.kind
            if kind in _CODE:
                self._forget(eid)
                self._index(entity)
                code_changed = True
            elif kind in _RUNTIME:
                runtime.append(eid)
        removed = set(removals)
        for eid in removed:
            if eid in self._repos or eid in self._modules:
                self._forget(eid)
                code_changed = True
            elif eid in self._links:
                runtime.append(eid)
        if not self._repos and not self._links:
            return {}  # no code on the map (the usual case): nothing to link, nothing to undo
        targets: Iterable[str] = runtime
        if code_changed:  # a scan: every runtime entity once
            targets = {eid for eid, e in current.items() if e.kind in _RUNTIME}.union(runtime)
        changed: dict[str, Connection | None] = {}
        for rid in targets:
            now = None if rid in removed else upserts.get(rid) or current.get(rid)
            new = {c.id: c for c in self._edges(now)} if now is not None else {}
            old = self._links.get(rid, {})
            for cid in old.keys() - new.keys():
                changed[cid] = None
            for cid, conn in new.items():
                if old.get(cid) != conn:
                    changed[cid] = conn
            if new:
                self._links[rid] = new
            else:
                self._links.pop(rid, None)
        return changed

    # -- the code side -----------------------------------------------------------------
    def _index(self, entity: Entity) -> None:
        if entity.kind is EntityKind.REPOSITORY:
            self._repos[entity.id] = entity
            return
        repo = ids.repository(entity.namespace or "")
        path = str(entity.attrs.get("path") or "")
        py = entity.attrs.get("python.module")
        python = str(py) if py else None
        self._modules[entity.id] = (repo, path, python)
        self._by_path[(repo, path)] = entity.id
        if python:
            self._by_python.setdefault(python, []).append(entity.id)

    def _forget(self, eid: str) -> None:
        if self._repos.pop(eid, None) is not None:
            return
        known = self._modules.pop(eid, None)
        if known is None:
            return
        repo, path, python = known
        if self._by_path.get((repo, path)) == eid:
            del self._by_path[(repo, path)]
        if python:
            named = self._by_python.get(python, [])
            if eid in named:
                named.remove(eid)
            if not named:
                self._by_python.pop(python, None)

    def _root(self, repo_id: str) -> str | None:
        repo = self._repos.get(repo_id)
        root = repo.attrs.get("path") if repo is not None else None
        return str(root) if root else None

    def _containing(self, path: str) -> tuple[str, str] | None:
        """The repository a path is in, and the path inside it."""
        for repo_id in self._repos:
            root = self._root(repo_id)
            if root and (path == root or path.startswith(root.rstrip("/") + "/")):
                return repo_id, posixpath.relpath(path, root)
        return None

    # -- evidence ----------------------------------------------------------------------
    def _edges(self, entity: Entity) -> list[Connection]:
        evidence: dict[str, list[str]] = {}
        if entity.kind is EntityKind.PROCESS:
            self._process(entity, evidence)
        if entity.kind is EntityKind.CONTAINER:
            self._container(entity, evidence)
        if entity.kind in _WORKLOADS:
            self._workload(entity, evidence)
        self._telemetry(entity, evidence)
        # A module that runs stands for its repository: one edge, the most specific.
        modules_of = {self._modules[c][0] for c in evidence if c in self._modules}
        for repo_id in modules_of & evidence.keys():
            said = evidence.pop(repo_id)
            for code_id in evidence:
                if self._modules.get(code_id, ("",))[0] == repo_id:
                    evidence[code_id] = [*evidence[code_id], *said]
        return [Connection(source_id=code_id, target_id=entity.id, kind=ConnectionKind.RUNS_AS,
                           sources=_SOURCES,
                           attrs={"evidence": "; ".join(dict.fromkeys(reasons))})
                for code_id, reasons in sorted(evidence.items())]

    def _process(self, entity: Entity, evidence: dict[str, list[str]]) -> None:
        cwd = str(entity.attrs.get("cwd") or "")
        args = str(entity.attrs.get("cmdline") or "").split()
        home = self._containing(cwd) if cwd.startswith("/") else None
        if home is not None:
            evidence.setdefault(home[0], []).append(f"working directory {cwd}")
        module_arg = -1
        for index, arg in enumerate(args):
            if arg == "-m" and index + 1 < len(args):
                self._python_main(args[index + 1], home, evidence)
                module_arg = index + 1
                continue
            if index == module_arg:
                continue  # a module's name, not a path
            if index > 1 and arg.startswith("-"):
                continue
            path = arg if arg.startswith("/") else (
                posixpath.normpath(posixpath.join(cwd, arg)) if cwd.startswith("/") and
                ("/" in arg or "." in arg) else "")
            found = self._containing(path) if path else None
            if found is None:
                continue
            repo_id, rel = found
            module = self._by_path.get((repo_id, rel))
            if module is not None:
                evidence.setdefault(module, []).append(f"runs {arg}")
                continue
            if index <= 1:
                self._console_script(repo_id, posixpath.basename(rel), evidence)
            if not _TOOL_DIRS.intersection(rel.split("/")) and index > 0:
                evidence.setdefault(repo_id, []).append(f"runs {rel} inside the repository")
        if home is not None and args:
            for arg in args[:2]:
                self._console_script(home[0], posixpath.basename(arg), evidence)

    def _python_main(self, name: str, home: tuple[str, str] | None,
                     evidence: dict[str, list[str]]) -> None:
        candidates = self._by_python.get(name, []) + self._by_python.get(f"{name}.__main__", [])
        if home is not None:
            inside = [c for c in candidates if self._modules[c][0] == home[0]]
            candidates = inside or candidates
        if len({self._modules[c][0] for c in candidates}) == 1:
            module = candidates[-1]
            evidence.setdefault(module, []).append(f"python -m {name}")

    def _console_script(self, repo_id: str, command: str,
                        evidence: dict[str, list[str]]) -> None:
        repo = self._repos.get(repo_id)
        if repo is None or not command:
            return
        for item in str(repo.attrs.get("scripts") or "").split(","):
            name, _, target = item.partition("=")
            if name == command and target:
                module = self._by_path.get((repo_id, target))
                reason = f"console script {command} (declared by the repository)"
                evidence.setdefault(module or repo_id, []).append(reason)

    def _container(self, entity: Entity, evidence: dict[str, list[str]]) -> None:
        labels = entity.labels
        source = labels.get("org.opencontainers.image.source")
        title = labels.get("org.opencontainers.image.title")
        image = str(entity.attrs.get("image") or "")
        for repo_id, repo in self._repos.items():
            if source and ids.source_url(source) in _list(repo, "source_urls"):
                evidence.setdefault(repo_id, []).append(
                    f"image label org.opencontainers.image.source={source}")
            if title and title in _list(repo, "project_names"):
                evidence.setdefault(repo_id, []).append(
                    f"image label org.opencontainers.image.title={title}")
            if image and _image_name(image) in {_image_name(i)
                                                for i in _list(repo, "runtime.images")}:
                evidence.setdefault(repo_id, []).append(f"image {image} (runtime.images)")

    def _workload(self, entity: Entity, evidence: dict[str, list[str]]) -> None:
        labels = entity.labels
        images = [i for i in str(entity.attrs.get("images") or "").split(",") if i]
        for repo_id, repo in self._repos.items():
            configured = {_image_name(i) for i in _list(repo, "runtime.images")}
            for image in images:
                if _image_name(image) in configured:
                    evidence.setdefault(repo_id, []).append(f"image {image} (runtime.images)")
            for attr, what in (("runtime.pod_selector", "runtime.pod_selector"),
                               ("backstage.label_selector",
                                "backstage.io/kubernetes-label-selector")):
                selector = _selector(str(repo.attrs.get(attr) or ""))
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    evidence.setdefault(repo_id, []).append(
                        f"labels {repo.attrs[attr]} ({what})")
            kube_id = repo.attrs.get("backstage.kubernetes_id")
            if kube_id and labels.get("backstage.io/kubernetes-id") == kube_id:
                evidence.setdefault(repo_id, []).append(
                    f"label backstage.io/kubernetes-id={kube_id} (catalog-info.yaml)")
            name = labels.get("app.kubernetes.io/name")
            if name and name in _list(repo, "project_names"):
                evidence.setdefault(repo_id, []).append(f"label app.kubernetes.io/name={name}")
            part_of = labels.get("app.kubernetes.io/part-of")
            if part_of and part_of == repo.attrs.get("backstage.system"):
                evidence.setdefault(repo_id, []).append(
                    f"label app.kubernetes.io/part-of={part_of} (Backstage system)")

    def _telemetry(self, entity: Entity, evidence: dict[str, list[str]]) -> None:
        service = entity.attrs.get("service.name")
        if service:
            for repo_id, repo in self._repos.items():
                if service in _list(repo, "runtime.services"):
                    evidence.setdefault(repo_id, []).append(
                        f"service.name={service} (runtime.services)")
        for namespace in str(entity.attrs.get("code.namespaces") or "").split(","):
            for name in _module_names(namespace) if namespace else ():
                modules = self._by_python.get(name, [])
                for module in modules:
                    evidence.setdefault(module, []).append(f"spans name the code {namespace}")
                if modules:
                    break
        for path in str(entity.attrs.get("code.filepaths") or "").split(","):
            found = self._containing(path) if path.startswith("/") else None
            by_path = self._by_path.get(found) if found is not None else None
            if by_path is not None:
                evidence.setdefault(by_path, []).append(f"spans name the file {path}")


def _list(repo: Entity, attr: str) -> list[str]:
    return [v for v in str(repo.attrs.get(attr) or "").split(",") if v]


def _selector(text: str) -> dict[str, str]:
    pairs = [p.partition("=") for p in text.split(",") if "=" in p]
    return {k.strip(): v.strip() for k, _, v in pairs}


def _module_names(namespace: str) -> list[str]:
    """`code.namespace` names a module or a class in one (`shop.api.Handler`): the
    module is the name as given, or without its last part."""
    head = namespace.rpartition(".")[0]
    return [namespace, head] if head else [namespace]


def _image_name(image: str) -> str:
    """`docker.io/library/busybox:1.36@sha256:...` -> `busybox`: images compared by name."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    if ":" in name[slash + 1:]:
        name = name[: name.rfind(":")]
    name = name.removeprefix("docker.io/").removeprefix("index.docker.io/")
    return name.removeprefix("library/").lower()
