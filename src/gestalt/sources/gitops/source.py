"""GitopsSource: desired state from Git (or a folder of manifests) against the cluster.

Each poll, per repository: read the followed ref's commit (repository.py), turn its files
into objects (manifests.py, kustomizations rendered by `kubectl kustomize`), read the live
objects of the kinds and namespaces concerned from the cluster it targets, compare
(drift.py, compare.py), and report.

The cluster is read through whichever running source reads it (the Kubernetes source,
`sources.base.ReadsClusterObjects`, handed over by the engine: sources never import each
other), with that source's read-only credentials. What this source reports joins the
Kubernetes source's view of the same object by id, the way every source's views join:
the map's deployment `web` carries `gitops_state`, the differing fields, the file and the
commit. Objects of kinds the map does not show (a Role, a ServiceAccount) are compared
too and listed by `world.infra.gitops.*`. A `missing` object appears on the map from this
source alone, so what Git wants and the cluster lacks is visible where it would be.

Problems are per file (or per kustomization, or per repository for a missing ref or path)
and named in the status and in `world.infra.gitops.repositories`; the rest is compared.
While the cluster cannot be read, the last comparison stands (not "everything missing").
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from gestalt.model import Entity, EntityStatus, Event, Severity, SourceState, ids
from gestalt.model.config import GitopsCollector, GitopsRepository
from gestalt.model.kinds import K8S_KINDS
from gestalt.sources.base import ClusterLookup, ReadsClusterObjects, Sink, SourceError
from gestalt.sources.gitops import controllers, drift, manifests, remote, repository
from gestalt.sources.gitops.drift import IN_SYNC, ObjectState
from gestalt.sources.polling import poll_every

MAX_DIFF_CHARS = 8192  # the diff carried on an entity; the paths give the whole of it
SUMMARY_FIELDS = 3


class GitopsSource:
    name = "gitops"

    def __init__(self, config: GitopsCollector) -> None:
        self.config = config
        self._lookup: ClusterLookup | None = None
        self._entities: dict[str, list[Entity]] = {}  # per repository, the last report
        self._reports: dict[str, dict[str, Any]] = {}
        self._objects: dict[str, list[dict[str, Any]]] = {}
        self._states: dict[str, str] = {}  # object id -> state, for the feed's events

    def use_clusters(self, lookup: ClusterLookup) -> None:
        self._lookup = lookup

    def desired_state(self) -> dict[str, Any]:
        """Every repository's last comparison: `repositories` and `objects` (with diffs)."""
        return {"repositories": [self._reports[r.name] for r in self.config.repositories
                                 if r.name in self._reports],
                "objects": [o for r in self.config.repositories
                            for o in self._objects.get(r.name, [])]}

    async def run(self, sink: Sink) -> None:
        await poll_every(self.config.poll_interval, lambda: self.poll(sink))

    def _read(self, repo: GitopsRepository) -> repository.Checkout:
        path = repo.path
        if repo.url:
            cache = self.config.cache_dir or str(Path(tempfile.gettempdir()) / "gestalt-gitops")
            path = str(remote.fetch(repo.url, remote.mirror_path(cache, repo.url)))
        return repository.read(path, repo.ref, repo.subpath)

    async def poll(self, sink: Sink) -> None:
        for repo in self.config.repositories:
            await self._compare(repo, sink)
        sink.snapshot([e for r in self.config.repositories for e in self._entities.get(r.name, [])])
        problems = [f"{name}: {file}: {message}" for name, report in self._reports.items()
                    for file, message in report["errors"].items()]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            sink.status(SourceState.DEGRADED, problems[0] + more)
        else:
            sink.status(SourceState.OK, f"{len(self._reports)} repositories compared")

    async def _compare(self, repo: GitopsRepository, sink: Sink) -> None:
        last = self._reports.get(repo.name) or {}
        report: dict[str, Any] = {
            "name": repo.name, "path": repo.path or remote.safe(repo.url), "ref": repo.ref,
            "subpath": repo.subpath,
            "cluster": repo.cluster, "revision": "", "errors": {},
            # Until this comparison is done, the last one's figures stand.
            "counts": last.get("counts", {}), "controllers": last.get("controllers", []),
            "checked_at": time.time()}
        try:
            await self._compare_into(repo, report, sink)
        finally:
            self._reports[repo.name] = report  # whole, once done: readers never see half

    async def _compare_into(self, repo: GitopsRepository, report: dict[str, Any],
                            sink: Sink) -> None:
        try:
            checkout = await asyncio.to_thread(self._read, repo)
        except repository.RepositoryError as exc:
            report["errors"]["(repository)"] = str(exc)
            report["counts"], report["controllers"] = {}, []
            self._entities[repo.name], self._objects[repo.name] = [], []
            return
        report["revision"] = checkout.revision
        loaded = await manifests.load(checkout, kubectl=self.config.kubectl,
                                      timeout=self.config.render_timeout)
        report["errors"].update(loaded.errors)
        reader = self._lookup(repo.cluster) if self._lookup is not None else None
        if reader is None or reader.cluster is None:
            where = f"cluster {repo.cluster!r}" if repo.cluster else "a cluster"
            report["errors"]["(cluster)"] = (f"no running Kubernetes source reads {where}; "
                                             "the last comparison stands")
            return
        try:
            live = await _read_live(reader, repo, loaded.objects, report["errors"])
            view = await controllers.read(reader)
        except SourceError as exc:
            report["errors"]["(cluster)"] = f"{exc}; the last comparison stands"
            return
        states = drift.compare(repo, loaded.objects, live)
        counts: dict[str, int] = {}
        for state in states:
            counts[state.state] = counts.get(state.state, 0) + 1
        report["counts"], report["controllers"] = counts, view.applications
        self._publish(repo, reader.cluster, checkout.revision, states, view, sink)

    def _publish(self, repo: GitopsRepository, cluster: str, revision: str,
                 states: list[ObjectState], view: controllers.ControllerView,
                 sink: Sink) -> None:
        entities, rows = [], []
        for state in states:
            key = state.key
            note = view.per_object.get((key.kind, key.namespace, key.name), "")
            diffs = [d.as_dict() for d in state.differences]
            rows.append({"repository": repo.name, "cluster": cluster, "kind": key.kind,
                         "namespace": key.namespace, "name": key.name, "state": state.state,
                         "file": state.file, "revision": revision, "controller": note,
                         "differences": diffs})
            entity = _entity(cluster, repo, revision, state, note)
            if entity is None:
                continue
            entities.append(entity)
            previous = self._states.get(entity.id)
            self._states[entity.id] = state.state
            if previous != state.state and not (previous is None and state.state == IN_SYNC):
                sink.event(_event(entity, state, previous))
        self._entities[repo.name], self._objects[repo.name] = entities, rows


async def _read_live(reader: ReadsClusterObjects, repo: GitopsRepository,
                     desired: list[manifests.Desired],
                     errors: dict[str, str]) -> dict[tuple[str, str | None], list[Any]]:
    live: dict[tuple[str, str | None], list[Any]] = {}
    for api_version, kind, namespace in sorted(drift.reads(repo, desired),
                                               key=lambda r: (r[0], r[1], r[2] or "")):
        try:
            live[(kind, namespace)] = await reader.read_objects(api_version, kind, namespace)
        except LookupError as exc:
            if any(d.obj.get("kind") == kind for d in desired):
                errors[f"({kind})"] = str(exc)
    return live


def _entity(cluster: str, repo: GitopsRepository, revision: str, state: ObjectState,
            note: str) -> Entity | None:
    mapped = K8S_KINDS.get(state.key.kind)
    if mapped is None:
        return None
    prefix, kind = mapped
    key = state.key
    attrs: dict[str, Any] = {
        "gitops_state": state.state, "gitops_repository": repo.name,
        "gitops_revision": revision[:12], "gitops_differences": len(state.differences)}
    if state.file:
        attrs["gitops_file"] = state.file
    if state.differences:
        attrs["gitops_summary"] = summary(state)
        attrs["gitops_diff"] = json.dumps([d.as_dict() for d in state.differences],
                                          default=str)[:MAX_DIFF_CHARS]
    if note:
        attrs["gitops_controller"] = note
    return Entity(id=ids.k8s(prefix, cluster, key.namespace, key.name), kind=kind,
                  name=key.name, namespace=key.namespace, status=EntityStatus.UNKNOWN,
                  attrs=attrs)


def summary(state: ObjectState) -> str:
    """The first differing fields, for a message: `spec.replicas: 2 -> 5`."""
    parts = [f"{d.path}: {_short(d.desired)} -> {_short(d.live)}"
             for d in state.differences[:SUMMARY_FIELDS]]
    more = len(state.differences) - SUMMARY_FIELDS
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _event(entity: Entity, state: ObjectState, previous: str | None) -> Event:
    words = {"drifted": f"drifted from Git: {summary(state)}",
             "missing": f"in Git ({state.file}) but not in the cluster",
             "extra": "in the cluster but not in Git",
             "in_sync": f"back in sync with Git (was {previous})"}
    now = time.time()
    return Event(id=f"gitops:{entity.id}:{now:.6f}", type="Normal" if state.state == IN_SYNC
                 else "Warning", reason=f"GitOps{state.state.title().replace('_', '')}",
                 message=f"{state.key.kind} {entity.name} {words[state.state]}",
                 entity_id=entity.id, entity_kind=entity.kind, entity_name=entity.name,
                 timestamp=now, severity=Severity.INFO if state.state == IN_SYNC
                 else Severity.WARNING, namespace=entity.namespace)
