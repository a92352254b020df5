"""Located entities: what a source found only by the address it was dialled at, shown as
the entity another source reports at that place.

A traced service names its peers by what it dialled: database `shop` at `localhost:5432`,
subject `orders` at `nats:4222`, a peer at `10.1.2.3:8080`. The PostgreSQL source calls
that database `database:postgresql/127.0.0.1:5432/shop`, the NATS source that subject
`nats-subject:<server name>/orders`, the Docker source that peer `container:<id>`. Such an
entity carries a `Locator` (model/entities.py); resolving it takes two steps:

1. the *place* an address is in, as its dialler sees it: a host node (its loopback, an
   address one of its processes listens on, its name), a container (its IP, its name, its
   own loopback), a pod (its IP, its loopback) or a Kubernetes service (its cluster IP, its
   DNS name `svc`, `svc.ns`, `svc.ns.svc.cluster.local`);
2. the entity at that place: the database with that system and name whose own address, as
   the PostgreSQL source dials it from this host, is the same place and port; the subject
   on the NATS server listening at that place and port; for a plain peer, whoever owns the
   socket (a process, container, pod or service).

The hub hides a located entity while it resolves and points its edges at the target; it
re-resolves it when anything it consulted changes (its dependency keys: entity ids,
endpoint keys and the name keys `index` keeps).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from gestalt.engine.links.addresses import (
    clean_host,
    endpoint_candidates,
    ip_of,
    is_loopback,
    split_address,
)
from gestalt.model import Entity, EntityKind, Locator, ids


class View(Protocol):
    """The graph as it will be once the commit being resolved is applied."""

    def lookup(self, entity_id: str) -> Entity | None: ...

    def owner(self, endpoint_key: str) -> str | None:
        """The entity owning an endpoint key ("ip:port" or "ip"), best candidate first."""

    def members(self, entity_id: str) -> list[str]:
        """The pods behind a Kubernetes service (its EndpointSlices' edges)."""

NATS_SERVERS = "nats-servers"


class Located:
    """Name indexes of the entities that can be reached by name, and what each located
    entity resolves to."""

    def __init__(self, *, local_host: str) -> None:
        # Addresses the PostgreSQL and NATS sources dial are seen from this machine.
        self.local_node = ids.host_node(local_host)
        self.local_name = local_host.lower()
        self._named: dict[str, list[str]] = {}
        self._names_of: dict[str, tuple[str, ...]] = {}
        self._targets: dict[str, str] = {}
        self._dependents: dict[str, set[str]] = {}
        self._depends_on: dict[str, frozenset[str]] = {}
        # Names are only indexed once a located entity has come: until then nobody asks
        # (most maps have none; at 10,000 entities the index is 2.4 MB).
        self.indexing = False

    def target(self, entity_id: str) -> str | None:
        """The entity a located entity stands for, while it resolves."""
        return self._targets.get(entity_id)

    def named(self, key: str) -> list[str]:
        return self._named.get(key, [])

    def knows(self, entity_id: str) -> bool:
        """Whether the entity was resolved as a located one (and must be forgotten)."""
        return entity_id in self._depends_on

    def footprint(self) -> dict[str, int]:
        return {"names": len(self._named), "located": len(self._depends_on)}

    # -- the name index -----------------------------------------------------------------------
    def start_indexing(self, entities: Iterable[Entity]) -> None:
        """A located entity is coming: index `entities` (the graph as it is) by name, and
        every entity that comes or goes from now on."""
        if self.indexing:
            return
        self.indexing = True
        for entity in entities:
            self.index(entity.id, entity)

    def index(self, entity_id: str, entity: Entity | None) -> set[str]:
        """Index (or forget) an entity under the names it is reached by; the keys touched."""
        if not self.indexing:
            return set()
        new = _name_keys(entity) if entity is not None and entity.locator is None else ()
        old = self._names_of.pop(entity_id, ())
        for key in old:
            owners = self._named.get(key)
            if owners and entity_id in owners:
                owners.remove(entity_id)
                if not owners:
                    del self._named[key]
        for key in new:
            self._named.setdefault(key, []).append(entity_id)
        if new:
            self._names_of[entity_id] = new
        return {*old, *new}

    # -- resolution ---------------------------------------------------------------------------
    def affected(self, keys: Iterable[str]) -> set[str]:
        """Located entities that consulted any of these keys."""
        found: set[str] = set()
        for key in keys:
            found.update(self._dependents.get(key, ()))
        return found

    def resolve(self, entity_id: str, entity: Entity | None, view: View) -> bool:
        """Resolve one located entity again; True when its target changed."""
        previous = self._targets.pop(entity_id, None)
        for key in self._depends_on.pop(entity_id, ()):
            dependents = self._dependents.get(key)
            if dependents is not None:
                dependents.discard(entity_id)
                if not dependents:
                    del self._dependents[key]
        if entity is None or entity.locator is None:
            return previous is not None
        consulted: set[str] = set()
        target = _Resolution(self, view, consulted).entity_for(entity)
        if target is not None and target != entity_id:
            self._targets[entity_id] = target
        else:
            target = None
        self._depends_on[entity_id] = frozenset(consulted)
        for key in consulted:
            self._dependents.setdefault(key, set()).add(entity_id)
        return target != previous


class _Resolution:
    """One resolution: every key it consults is recorded, so the hub knows when to redo it."""

    def __init__(self, links: Located, view: View, consulted: set[str]) -> None:
        self.links, self.view, self.consulted = links, view, consulted

    def entity_for(self, entity: Entity) -> str | None:
        locator = entity.locator
        assert locator is not None
        if entity.kind is EntityKind.DATABASE:
            return self.database(locator)
        if entity.kind is EntityKind.NATS_SUBJECT:
            return self.subject(locator)
        return self.peer(locator)

    # -- kinds ------------------------------------------------------------------------------
    def database(self, locator: Locator) -> str | None:
        if not locator.system or not locator.name:
            return None
        want = self.place(locator.host, locator.port, locator.scope)
        for candidate in self.named(f"db:{locator.system}/{locator.name}"):
            host, port = split_address(str(candidate.attrs.get("address") or ""))
            if self.same_place(locator, want, host, port):
                return candidate.id
        return None

    def subject(self, locator: Locator) -> str | None:
        if not locator.name:
            return None
        want = self.place(locator.host, locator.port, locator.scope)
        for server in self.named(NATS_SERVERS):
            host, port = split_address(str(server.attrs.get("address") or ""))
            if self.same_place(locator, want, host, port):
                subject = ids.nats_subject(server.name, locator.name)
                self.consulted.add(subject)
                if self.view.lookup(subject) is not None:
                    return subject
        return None

    def peer(self, locator: Locator) -> str | None:
        """Whoever owns the dialled socket: a process, container, pod or service."""
        host, port, scope = clean_host(locator.host), locator.port, locator.scope
        ip = ip_of(host)
        if is_loopback(host, ip):
            if scope == self.links.local_node:
                return self.socket_owner("127.0.0.1", port) or self.socket_owner("::1", port)
            return scope if scope is not None and self.exists(scope) else None
        if ip is not None:
            return self.socket_owner(str(ip), port)
        place = self.by_name(host, scope)
        if place == self.links.local_node:
            return self.socket_owner("127.0.0.1", port) or place
        return place

    # -- places -----------------------------------------------------------------------------
    def place(self, host: str, port: int | None, scope: str | None) -> str | None:
        """The network `host` is in, as seen from `scope`: a host node, container, pod or
        Kubernetes service id; None when nothing known is there."""
        host = clean_host(host)
        ip = ip_of(host)
        if is_loopback(host, ip):
            return scope
        if ip is not None:
            owner = self.socket_owner(str(ip), port)
            process_host = ids.process_host(owner) if owner is not None else None
            return ids.host_node(process_host) if process_host is not None else owner
        return self.by_name(host, scope)

    def same_place(
        self, locator: Locator, want: str | None, host: str | None, port: int | None
    ) -> bool:
        """Whether a server that this machine reaches at host:port is where `locator` is."""
        if host is None or (locator.port is not None and port != locator.port):
            return False
        here = self.place(host, port, self.links.local_node)
        if want is None and here is None:
            return clean_host(host) == clean_host(locator.host)  # two spellings of one unknown name
        if want is None or here is None:
            return False
        # A Kubernetes service is also where its pods are (a headless service's DNS name
        # and a pod's IP reach one database).
        return want == here or not self.around(want).isdisjoint(self.around(here))

    def around(self, place: str) -> set[str]:
        return {place, *self.view.members(place)}

    def socket_owner(self, ip: str, port: int | None) -> str | None:
        key = ids.endpoint_key(ip, port)
        self.consulted.update(endpoint_candidates(key))
        owner = self.view.owner(key)
        if owner is not None:
            self.consulted.add(owner)
        return owner

    def by_name(self, host: str, scope: str | None) -> str | None:
        """A container by name or short id, a Kubernetes service by its DNS name, a host by
        its name: as Docker's, the cluster's and the machine's resolvers would answer."""
        keys = [f"container:{host}"]
        labels = host.split(".")
        namespace = _pod_namespace(scope)
        if len(labels) == 1 and namespace is not None:
            keys.append(f"k8s:{namespace}/{host}")  # svc, in the dialler's namespace
        elif len(labels) == 2 or (len(labels) >= 3 and labels[2] == "svc"):
            keys.append(f"k8s:{labels[1]}/{labels[0]}")  # svc.ns[.svc.cluster.local]
        elif len(labels) >= 4 and labels[3] == "svc":
            keys.append(f"k8s:{labels[2]}/{labels[0]}")  # pod.headless-svc.ns.svc...
        keys += [f"host:{host}", f"host:{labels[0]}"]
        for key in keys:
            for entity in self.named(key):
                if key.startswith("k8s:") and scope and not _same_cluster(entity.id, scope):
                    continue
                return entity.id
        if host in (self.links.local_name, self.links.local_name.split(".")[0]):
            return self.links.local_node
        return None

    # -- lookups ----------------------------------------------------------------------------
    def named(self, key: str) -> list[Entity]:
        self.consulted.add(key)
        found = []
        for entity_id in self.links.named(key):
            entity = self.view.lookup(entity_id)
            if entity is not None:
                found.append(entity)
        return found

    def exists(self, entity_id: str) -> bool:
        self.consulted.add(entity_id)
        return self.view.lookup(entity_id) is not None


def _name_keys(entity: Entity) -> tuple[str, ...]:
    """The names others reach an entity by (see `_Resolution.by_name`)."""
    kind = entity.kind
    if kind is EntityKind.CONTAINER:
        short_id = entity.id.removeprefix("container:")
        return (f"container:{entity.name.lower()}", f"container:{short_id}")
    if kind in (EntityKind.SERVICE, EntityKind.POD) and entity.namespace:
        return (f"k8s:{entity.namespace}/{entity.name}",)
    if kind is EntityKind.NODE and entity.id.startswith("node:host/"):
        return (f"host:{entity.name.lower()}",)
    if kind is EntityKind.DATABASE and entity.attrs.get("db.system"):
        return (f"db:{entity.attrs['db.system']}/{entity.name}",)
    if kind is EntityKind.NATS_SERVER:
        return (NATS_SERVERS,)
    return ()


def _pod_namespace(scope: str | None) -> str | None:
    if scope is None or not scope.startswith("pod:"):
        return None
    parts = scope[len("pod:") :].split("/")
    return parts[1] if len(parts) == 3 else None


def _same_cluster(entity_id: str, scope: str) -> bool:
    """A pod resolves service names in its own cluster; other diallers in any."""
    if not scope.startswith("pod:"):
        return True
    cluster = scope[len("pod:") :].split("/", 1)[0]
    return entity_id.split(":", 1)[1].startswith(f"{cluster}/")
