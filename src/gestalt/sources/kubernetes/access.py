"""Where the cluster is and how to authenticate, from kubeconfig or in-cluster config.

kubernetes_asyncio's loaders do the work (contexts, exec credential plugins, client
certificates, in-cluster service account); the requests themselves go through httpx.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import (
    ConfigException,
    load_incluster_config,
    load_kube_config,
)

from gestalt.model.config import KubernetesCollector
from gestalt.sources.base import PermanentSourceError


@dataclass
class ClusterAccess:
    server: str
    cluster: str
    verify: ssl.SSLContext | bool
    configuration: Configuration

    async def headers(self) -> dict[str, str]:
        """Auth headers, fresh: exec plugins and service-account tokens rotate."""
        settings = await self.configuration.auth_settings()
        token = settings.get("BearerToken", {}).get("value")
        return {"Authorization": token} if token else {}


def _kubeconfig_path(config: KubernetesCollector) -> str | None:
    if config.kubeconfig:
        return os.path.expanduser(config.kubeconfig)
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    default = os.path.expanduser("~/.kube/config")
    return default if os.path.exists(default) else None


async def load_access(config: KubernetesCollector) -> ClusterAccess:
    """Raises PermanentSourceError naming what is wrong with the configuration."""
    configuration = Configuration()
    path = _kubeconfig_path(config)
    try:
        if path is not None:
            loader = await load_kube_config(config_file=path, context=config.context,
                                            client_configuration=configuration,
                                            persist_config=False)
            context: Any = loader.current_context
            cluster = config.cluster_name or str(context["context"]["cluster"])
        else:
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            cluster = config.cluster_name or "in-cluster"
    except (ConfigException, OSError, KeyError) as exc:
        where = path or "in-cluster service account"
        raise PermanentSourceError(f"kubernetes: cannot load credentials from {where}: {exc}") \
            from exc
    verify: ssl.SSLContext | bool = False
    if configuration.verify_ssl:
        context_ssl = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context_ssl.load_cert_chain(configuration.cert_file, configuration.key_file)
        verify = context_ssl
    return ClusterAccess(server=str(configuration.host).rstrip("/"), cluster=cluster, verify=verify,
                         configuration=configuration)
