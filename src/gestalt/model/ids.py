"""Entity and connection ids, built from real-world identifiers.

One real thing is one entity whichever source sees it, so every source builds its ids
here. Ids are qualified by cluster or host so that observations from several clusters or
hosts can be merged by one hub later.
"""

from __future__ import annotations


def node(host_or_cluster: str, name: str) -> str:
    return f"node:{host_or_cluster}/{name}"


def host_node(hostname: str) -> str:
    """This machine (or another host running an agent) as a node."""
    return node("host", hostname)


def process(host: str, pid: int) -> str:
    return f"process:{host}/{pid}"


def process_host(entity_id: str) -> str | None:
    """The host of a `process:<host>/<pid>` id (None for any other id)."""
    if not entity_id.startswith("process:"):
        return None
    host, sep, pid = entity_id[len("process:") :].rpartition("/")
    return host if sep and pid.isdigit() else None


def host_volume(host: str, mountpoint: str) -> str:
    return f"volume:host/{host}{mountpoint}"


def container(container_id: str) -> str:
    """Docker/CRI container; the short (12-hex) id is what `docker ps` shows."""
    cid = container_id.split("://", 1)[-1]  # CRI form: docker://<id>, containerd://<id>
    return f"container:{cid[:12]}"


def docker_network(engine: str, name: str) -> str:
    return f"network:docker/{engine}/{name}"


def docker_volume(engine: str, name: str) -> str:
    return f"volume:docker/{engine}/{name}"


def k8s(kind: str, cluster: str, namespace: str | None, name: str) -> str:
    """Namespaced (pod:<cluster>/<ns>/<name>) or cluster-scoped (node:<cluster>/<name>)."""
    if namespace:
        return f"{kind}:{cluster}/{namespace}/{name}"
    return f"{kind}:{cluster}/{name}"


def nats_server(server_id: str) -> str:
    return f"nats-server:{server_id}"


def nats_subject(server: str, subject: str) -> str:
    return f"nats-subject:{server}/{subject}"


def nats_stream(server: str, stream: str) -> str:
    return f"nats-stream:{server}/{stream}"


def nats_consumer(server: str, stream: str, consumer: str) -> str:
    return f"nats-consumer:{server}/{stream}/{consumer}"


def database(system: str, address: str, name: str) -> str:
    return f"database:{system}/{address}/{name}"


def service(namespace_or_host: str, name: str) -> str:
    """A traced service that no other source identified (OTLP service.name)."""
    return f"service:otel/{namespace_or_host}/{name}"


def repository(name: str) -> str:
    """A scanned code repository, by the name the configuration gives it."""
    return f"repository:{name}"


def code_package(repository_name: str, path: str) -> str:
    """A folder of modules, by its path inside the repository (`src/gestalt/engine`)."""
    return f"package:{repository_name}/{path}"


def code_module(repository_name: str, path: str) -> str:
    """A source file, by its path inside the repository (`src/gestalt/engine/hub.py`)."""
    return f"module:{repository_name}/{path}"


def source_url(url: str) -> str:
    """One spelling of a repository's URL, as code and images name it: `git@github.com:
    acme/api.git`, `https://github.com/acme/api` and `git+https://github.com/acme/api.git/`
    are all `github.com/acme/api`."""
    text = url.strip().removeprefix("git+")
    if not text:
        return ""
    _scheme, sep, rest = text.partition("://")
    if not sep:  # scp-like: git@host:path
        user_host, colon, path = text.partition(":")
        if not colon or "/" in user_host:
            return text.rstrip("/").removesuffix(".git").lower()
        rest = f"{user_host}/{path}"
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2].lower()
    path = path.rstrip("/").removesuffix(".git").rstrip("/").split("/tree/", 1)[0]
    return f"{host}/{path}".lower() if path else host


def connection(kind: str, source_id: str, target_id: str) -> str:
    return f"{kind}:{source_id}->{target_id}"


ENDPOINT_PREFIX = "endpoint:"


def endpoint(ip: str, port: int | None = None) -> str:
    """A reference to whoever owns an address, for a connection end a source cannot name.

    A NATS client, a database client or a traced peer is known only by `ip:port`; the
    source puts `endpoint:<ip>:<port>` in the connection and the hub replaces it with the
    entity whose `endpoints` hold that socket (or, failing that, that IP).
    """
    return f"{ENDPOINT_PREFIX}{endpoint_key(ip, port)}"


def endpoint_key(ip: str, port: int | None = None) -> str:
    ip = ip.removeprefix("::ffff:")  # IPv4-mapped IPv6, as Linux reports dual-stack sockets
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
