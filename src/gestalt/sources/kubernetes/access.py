"""Where the cluster is and how to authenticate, from kubeconfig or in-cluster config.

kubernetes_asyncio's loaders do the work (contexts, exec credential plugins, client
certificates, in-cluster service account); the requests themselves go through httpx.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gestalt.model.config import KubernetesCollector
from gestalt.sources.base import PermanentSourceError

if TYPE_CHECKING:
    from kubernetes_asyncio.client import Configuration

RELOAD_DEBOUNCE = 5.0  # seconds: one reload answers a burst of 401s


@dataclass
class ClusterAccess:
    server: str
    cluster: str
    verify: ssl.SSLContext | bool
    configuration: Configuration
    # Loads the credentials again (an exec plugin's token expires); None: cannot.
    reload: Callable[[], Awaitable[Configuration]] | None = None
    # Monotonic time of the last reload; None: never (0.0 would be "at boot", and the first
    # 401 within RELOAD_DEBOUNCE of boot would not reload).
    _reloaded_at: float | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def headers(self) -> dict[str, str]:
        """Auth headers, fresh: service-account tokens rotate (the loader's hook)."""
        settings = await self.configuration.auth_settings()
        token = settings.get("BearerToken", {}).get("value")
        return {"Authorization": token} if token else {}

    async def refresh(self) -> bool:
        """Reload the credentials after a 401; False when they cannot be reloaded.

        Every informer sees the same 401 at once: one reload serves all of them."""
        if self.reload is None:
            return False
        async with self._lock:
            if self._reloaded_at is None or \
                    time.monotonic() - self._reloaded_at > RELOAD_DEBOUNCE:
                self.configuration = await self.reload()
                self._reloaded_at = time.monotonic()
        return True


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
    configuration, cluster, path = await _load(config)
    verify: ssl.SSLContext | bool = False
    if configuration.verify_ssl:
        context_ssl = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context_ssl.load_cert_chain(configuration.cert_file, configuration.key_file)
        verify = context_ssl

    async def reload() -> Configuration:
        return (await _load(config))[0]

    return ClusterAccess(server=str(configuration.host).rstrip("/"), cluster=cluster,
                         verify=verify, configuration=configuration, reload=reload)


async def _load(config: KubernetesCollector) -> tuple[Configuration, str, str | None]:
    path = _kubeconfig_path(config)
    if path is None and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        # Said before importing kubernetes_asyncio, whose package imports every generated
        # model (~40 MB of memory) even for its loaders: a machine without a cluster
        # should not pay for one.
        raise PermanentSourceError(
            "kubernetes: no kubeconfig (collectors.kubernetes.kubeconfig, $KUBECONFIG, "
            "~/.kube/config) and not running inside a cluster")
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import (
        ConfigException,
        load_incluster_config,
        load_kube_config,
    )

    configuration = Configuration()
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
    return configuration, cluster, path
