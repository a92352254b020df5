"""Kubernetes actions with the write credentials (`actions.kubeconfig`), never the read
ones the Kubernetes source uses: delete a pod, scale a deployment, cordon or uncordon a
node. The same requests `kubectl delete pod`, `kubectl scale` and `kubectl cordon` make.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from gestalt.engine.actions.policy import Refused
from gestalt.model.config import ActionsConfig, KubernetesCollector

if TYPE_CHECKING:
    from gestalt.sources.kubernetes.access import ClusterAccess

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


class KubernetesActions:
    def __init__(self, config: ActionsConfig) -> None:
        self.config = config
        self._access: ClusterAccess | None = None

    async def _request(self, method: str, path: str, body: Obj | None = None,
                       content_type: str = "application/json") -> Obj:
        if self.config.kubeconfig is None:
            raise Refused(409, "Kubernetes actions need write credentials: set "
                               "actions.kubeconfig (see deploy/kubernetes/overlays/actions)")
        if self._access is None:
            # Imported here: the Kubernetes source's package (its informers, translation)
            # is 2 MB of modules a server without Kubernetes would hold for nothing.
            from gestalt.sources.kubernetes.access import load_access

            self._access = await load_access(KubernetesCollector(
                kubeconfig=self.config.kubeconfig, context=self.config.context))
        access = self._access
        headers = {**await access.headers(), "Accept": "application/json",
                   "Content-Type": content_type}
        async with httpx.AsyncClient(verify=access.verify, timeout=15) as http:
            response = await http.request(method, access.server + path, headers=headers,
                                          content=json.dumps(body) if body is not None else None)
        if response.status_code >= 300:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            # 403: RBAC (deploy/kubernetes/overlays/actions) said no; 404: no such object.
            status = response.status_code if response.status_code in (403, 404) else 502
            raise Refused(status, f"the API server answered {response.status_code}: "
                                  f"{message[:300]}")
        answer: Obj = response.json()
        return answer

    async def cluster(self) -> str:
        await self._request("GET", "/version")
        assert self._access is not None
        return self._access.cluster

    async def get(self, path: str) -> Obj:
        return await self._request("GET", path)

    async def delete_pod(self, namespace: str, name: str) -> str:
        await self._request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
        return f"pod {namespace}/{name} deleted"

    async def scale(self, namespace: str, name: str, replicas: int) -> tuple[int, str]:
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
        before = int((await self._request("GET", path)).get("spec", {}).get("replicas") or 0)
        await self._request("PATCH", path, {"spec": {"replicas": replicas}}, MERGE)
        return before, f"deployment {namespace}/{name} scaled from {before} to {replicas}"

    async def set_unschedulable(self, node: str, unschedulable: bool) -> str:
        await self._request("PATCH", f"/api/v1/nodes/{node}",
                            {"spec": {"unschedulable": unschedulable or None}}, STRATEGIC)
        return f"node {node} {'cordoned' if unschedulable else 'uncordoned'}"
