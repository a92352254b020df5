"""The Kubernetes source: informers (list + watch) over every kind Gestalt shows,
metrics from metrics.k8s.io and the cluster's events. See `source.KubernetesSource`.

`kubernetes_sources` is the registry's factory: one source for the configured context, or
one per context of `contexts` (a list, or `all` in the kubeconfig), named
`kubernetes:<context>`, so that each cluster is watched, retried and shown stale apart.
"""

from __future__ import annotations

import msgspec

from gestalt.model.config import KubernetesCollector
from gestalt.sources.base import PermanentSourceError
from gestalt.sources.kubernetes.access import kubeconfig_contexts
from gestalt.sources.kubernetes.source import KubernetesSource


def kubernetes_sources(config: KubernetesCollector) -> KubernetesSource | list[KubernetesSource]:
    if not config.contexts:
        return KubernetesSource(config)
    try:
        names = kubeconfig_contexts(config) if config.contexts == "all" else config.contexts
    except PermanentSourceError:
        names = []
    if not names:  # no kubeconfig, or none readable: the one source says why when it runs
        return KubernetesSource(config)
    return [KubernetesSource(msgspec.structs.replace(config, context=name, contexts=[]),
                             name=f"kubernetes:{name}") for name in dict.fromkeys(names)]


__all__ = ["KubernetesSource", "kubernetes_sources"]
