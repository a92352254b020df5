"""Where the cluster is and how to authenticate, from kubeconfig or in-cluster config.

kubernetes_asyncio's kubeconfig loader does the work for kubeconfigs (contexts, exec
credential plugins, client certificates); the requests themselves go through httpx.

In a pod, the service account is read directly (`in_cluster`): the API server from
`KUBERNETES_SERVICE_HOST`/`_PORT`, the CA and the token from the files the kubelet mounts.
The token is a projected one that the kubelet replaces (about hourly, by swapping a
symlink), so it is read again whenever the file changes, before the old one expires, and
once more after a 401. Not importing kubernetes_asyncio in a pod saves ~40 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gestalt.model.config import KubernetesCollector
from gestalt.sources.base import PermanentSourceError

if TYPE_CHECKING:
    from kubernetes_asyncio.client import Configuration

RELOAD_DEBOUNCE = 5.0  # seconds: one reload answers a burst of 401s
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class TokenFile:
    """A bearer token in a file, read again whenever the file is replaced or changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime ns, size)
        self._token = ""
        self.reads = 0

    def token(self) -> str:
        """The current token. Raises OSError when the file is gone or empty."""
        info = os.stat(self.path)  # follows the kubelet's ..data symlink
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
            if not token:
                raise OSError(f"{self.path} is empty")
            self._token, self._seen = token, seen
            self.reads += 1
        return self._token

    def forget(self) -> None:
        """Read the file again next time, changed or not (after a 401)."""
        self._seen = None


@dataclass
class ClusterAccess:
    server: str
    cluster: str
    verify: ssl.SSLContext | bool
    # kubeconfig credentials (kubernetes_asyncio); None in a pod, where `token_file` is.
    configuration: Configuration | None = None
    # Loads the credentials again (an exec plugin's token expires); None: cannot.
    reload: Callable[[], Awaitable[Configuration]] | None = None
    token_file: TokenFile | None = None
    # In a pod: the service account's namespace (for messages).
    namespace: str | None = None
    # Monotonic time of the last reload; None: never (0.0 would be "at boot", and the first
    # 401 within RELOAD_DEBOUNCE of boot would not reload).
    _reloaded_at: float | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def headers(self) -> dict[str, str]:
        """Auth headers, fresh: service-account tokens rotate."""
        if self.token_file is not None:
            try:
                return {"Authorization": f"Bearer {self.token_file.token()}"}
            except OSError:
                return {}  # mid-rotation: the 401 that follows reads it again
        if self.configuration is None:
            return {}
        settings = await self.configuration.auth_settings()
        token = settings.get("BearerToken", {}).get("value")
        return {"Authorization": token} if token else {}

    async def refresh(self) -> bool:
        """Reload the credentials after a 401; False when they cannot be reloaded.

        Every informer sees the same 401 at once: one reload serves all of them."""
        if self.token_file is not None:
            self.token_file.forget()
            return True
        if self.reload is None:
            return False
        async with self._lock:
            if self._reloaded_at is None or \
                    time.monotonic() - self._reloaded_at > RELOAD_DEBOUNCE:
                self.configuration = await self.reload()
                self._reloaded_at = time.monotonic()
        return True


def kubeconfig_contexts(config: KubernetesCollector) -> list[str]:
    """Every context of the kubeconfig (`contexts: all`); none when there is no
    kubeconfig (the source then says so when it runs)."""
    path = _kubeconfig_path(config)
    if path is None:
        return []
    from kubernetes_asyncio.config import ConfigException, list_kube_config_contexts

    try:
        contexts, _active = list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError) as exc:
        raise PermanentSourceError(f"kubernetes: cannot read contexts from {path}: {exc}") \
            from exc
    return [str(c["name"]) for c in contexts]


def _kubeconfig_path(config: KubernetesCollector) -> str | None:
    if config.kubeconfig:
        return os.path.expanduser(config.kubeconfig)
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    default = os.path.expanduser("~/.kube/config")
    return default if os.path.exists(default) else None


def in_cluster(config: KubernetesCollector, *, root: str = SERVICE_ACCOUNT_DIR,
               environ: Mapping[str, str] | None = None) -> ClusterAccess:
    """The pod's service account: API server from the environment, CA and token from
    `root`. Raises PermanentSourceError naming what is missing."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise PermanentSourceError("kubernetes: in-cluster: KUBERNETES_SERVICE_HOST and "
                                   "KUBERNETES_SERVICE_PORT must both be set")
    token_file = TokenFile(os.path.join(root, "token"))
    ca_file = os.path.join(root, "ca.crt")
    try:
        token_file.token()
        verify = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentSourceError(
            f"kubernetes: in-cluster: cannot read the service account in {root} "
            f"(token, ca.crt): {getattr(exc, 'strerror', None) or exc}") from exc
    namespace: str | None = None
    with contextlib.suppress(OSError):
        namespace = Path(root, "namespace").read_text(encoding="utf-8").strip() or None
    address = f"[{host}]" if ":" in host else host
    return ClusterAccess(server=f"https://{address}:{port}",
                         cluster=config.cluster_name or "in-cluster", verify=verify,
                         token_file=token_file, namespace=namespace)


async def load_access(config: KubernetesCollector) -> ClusterAccess:
    """Raises PermanentSourceError naming what is wrong with the configuration."""
    if _kubeconfig_path(config) is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(config)
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
    if path is None:
        # Said before importing kubernetes_asyncio, whose package imports every generated
        # model (~40 MB of memory) even for its loaders: a machine without a cluster
        # should not pay for one. (In a pod, `load_access` reads the service account.)
        raise PermanentSourceError(
            "kubernetes: no kubeconfig (collectors.kubernetes.kubeconfig, $KUBECONFIG, "
            "~/.kube/config) and not running inside a cluster")
    if not os.path.exists(path):  # noqa: ASYNC240 (a stat, once per (re)load)
        # kubernetes_asyncio would say "Invalid kube-config file. No configuration found."
        origin = ("collectors.kubernetes.kubeconfig" if config.kubeconfig else "$KUBECONFIG")
        raise PermanentSourceError(f"kubernetes: kubeconfig {path} (from {origin}) does not exist")
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import ConfigException, load_kube_config

    configuration = Configuration()
    try:
        loader = await load_kube_config(config_file=path, context=config.context,
                                        client_configuration=configuration,
                                        persist_config=False)
        context: Any = loader.current_context
        cluster = config.cluster_name or str(context["context"]["cluster"])
    except (ConfigException, OSError, KeyError) as exc:
        raise PermanentSourceError(f"kubernetes: cannot load credentials from {path}: {exc}") \
            from exc
    return configuration, cluster, path
