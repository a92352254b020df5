"""The GitOps source: desired state from Git repositories or folders of manifests (plain
YAML and Kustomize), compared with the cluster each targets. See `source.GitopsSource`."""

from gestalt.sources.gitops.source import GitopsSource

__all__ = ["GitopsSource"]
