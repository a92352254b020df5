"""The Kubernetes source: informers (list + watch) over every kind Gestalt shows,
metrics from metrics.k8s.io and the cluster's events. See `source.KubernetesSource`."""

from gestalt.sources.kubernetes.source import KubernetesSource

__all__ = ["KubernetesSource"]
