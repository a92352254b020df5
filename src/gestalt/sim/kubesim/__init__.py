"""kubesim: a Kubernetes API server emulator with real list/watch semantics.

It serves the REST API (discovery, core/v1, apps/v1, batch/v1, networking.k8s.io/v1,
discovery.k8s.io/v1, rbac.authorization.k8s.io/v1, metrics.k8s.io/v1beta1 and
SelfSubjectAccessReviews) well enough for the real `kubectl` and the official clients,
authorizes service accounts by the RBAC objects it stores (see `rbac`), and lets tests
break it on purpose (see `Faults`). Start one with
`KubeSim` (an async context manager) or `python -m gestalt.sim.kubesim`.
"""

from gestalt.sim.kubesim.faults import Faults
from gestalt.sim.kubesim.rbac import Rbac
from gestalt.sim.kubesim.resources import BY_KIND, RESOURCES, STORED, Resource
from gestalt.sim.kubesim.runner import KubeSim
from gestalt.sim.kubesim.server import Request
from gestalt.sim.kubesim.store import ApiError, Store

__all__ = ["BY_KIND", "RESOURCES", "STORED", "ApiError", "Faults", "KubeSim", "Rbac",
           "Request", "Resource", "Store"]
