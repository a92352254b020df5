"""The `collectors.gitops` section: Git repositories and directories of Kubernetes
manifests, each compared with the cluster it targets (sources/gitops)."""

from __future__ import annotations

import msgspec

from gestalt.model.config.types import Seconds, Section


class IgnoredDifference(Section):
    """Fields left out of the comparison, as Argo CD's `ignoreDifferences` names them: JSON
    pointers (RFC 6901) into objects of a kind (empty: every kind), optionally one name or
    namespace."""

    kind: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: list[str] = []


class GitopsRepository(Section):
    name: str
    # A Git repository on disk (a working copy or a bare one) or a plain directory of
    # manifests; or `url`: a remote Git repository (https://, git://, file://), fetched.
    path: str = ""
    url: str = ""
    # For Git: the branch, tag or commit to follow; the working tree is never read.
    ref: str = "HEAD"
    # The folder inside it that holds the manifests (plain YAML or a kustomization).
    subpath: str = ""
    # The Kubernetes source's cluster name it targets (None: the only cluster).
    cluster: str | None = None
    # Namespaces it owns, where objects not in Git are `extra`; empty: those it names.
    namespaces: list[str] = []
    # Where a namespaced object that names no namespace goes (as `kubectl apply` does).
    default_namespace: str = "default"
    ignore_differences: list[IgnoredDifference] = []


class GitopsCollector(Section):
    enabled: bool = False
    poll_interval: Seconds = 10.0
    repositories: list[GitopsRepository] = msgspec.field(default_factory=list)
    # Where remote repositories (`url:`) are mirrored; empty: a folder in the temp dir.
    cache_dir: str = ""
    # The kubectl that renders kustomizations (`kubectl kustomize DIR`).
    kubectl: str = "kubectl"
    # How long one rendering may take.
    render_timeout: Seconds = 30.0
