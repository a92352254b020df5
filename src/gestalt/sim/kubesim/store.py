"""The object store: one global resourceVersion, a bounded change history and watchers.

Like etcd behind the API server, every write gets the next resourceVersion; a watch
replays the history after the version it starts from, and a version older than the
history window is answered with 410 Gone, which makes clients relist. Stored objects are
never mutated in place (each write stores a new dict), so history entries stay true.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from gestalt.sim.kubesim.resources import BY_KIND, STORED, Resource
from gestalt.sim.kubesim.selectors import Predicate

Obj = dict[str, Any]


class ApiError(Exception):
    """An API error answered as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, *, details: Obj | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details or {}
        self.headers = headers or {}

    def status(self) -> Obj:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                     "status": "Failure", "message": self.message, "reason": self.reason,
                     "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def clone(obj: Any) -> Any:
    """A deep copy of JSON data, several times faster than copy.deepcopy."""
    return orjson.loads(orjson.dumps(obj))


def now_rfc3339(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


@dataclass(slots=True)
class Change:
    rv: int
    resource: Resource
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    prev: Obj | None
    # Encoded forms, shared by every watcher of this change (one encode per format).
    encoded: dict[str, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class Watcher:
    resource: Resource
    namespace: str | None
    match: Callable[[Obj], bool]
    queue: asyncio.Queue[Change | str] = field(default_factory=asyncio.Queue)
    # Set when the stream must end now, whatever is still queued: "close" or "disconnect".
    ended: str | None = None


class Store:
    def __init__(self, *, history: int = 20_000) -> None:
        self.rv = 1
        # resource -> namespace ("" when cluster-scoped) -> name -> object
        self.objects: dict[Resource, dict[str, dict[str, Obj]]] = {r: {} for r in STORED.values()}
        self.history: deque[Change] = deque(maxlen=history)
        self.compacted_rv = 0  # changes at or below this version are gone from history
        self.watchers: dict[Resource, set[Watcher]] = {r: set() for r in STORED.values()}
        # False while the server shuts down: a client that watches again as its watch ends
        # (they all do) would hold the shutdown until uvicorn cancels it mid-stream.
        self.watching = True
        # owner uid -> (resource, namespace, name) of its dependents (ownerReferences).
        self.dependents: dict[str, set[tuple[Resource, str, str]]] = {}
        # Called after every write (controllers keep derived objects in step).
        self.hooks: list[Callable[[Change], None]] = []

    # -- reads ------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        obj = self.find(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def find(self, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        ns = namespace or "" if resource.namespaced else ""
        return self.objects[resource].get(ns, {}).get(name)

    def items(self, resource: Resource, namespace: str | None = None) -> Iterator[Obj]:
        by_ns = self.objects[resource]
        if namespace:
            return iter(list(by_ns.get(namespace, {}).values()))
        return (o for objs in list(by_ns.values()) for o in list(objs.values()))

    def count(self, resource: Resource) -> int:
        return sum(len(objs) for objs in self.objects[resource].values())

    def owned_by(self, resource: Resource, uid: str) -> list[Obj]:
        """The objects of `resource` that name `uid` in their ownerReferences."""
        out = []
        for res, ns, name in self.dependents.get(uid, ()):
            if res is resource:
                obj = self.objects[res].get(ns, {}).get(name)
                if obj is not None:
                    out.append(obj)
        return out

    def _put(self, resource: Resource, obj: Obj, prev: Obj | None = None) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "" if resource.namespaced else ""
        self.objects[resource].setdefault(ns, {})[meta["name"]] = obj
        refs = meta.get("ownerReferences")
        old_refs = prev["metadata"].get("ownerReferences") if prev is not None else None
        if refs != old_refs:
            self._index_owners(resource, ns, meta["name"], old_refs, refs)

    def _index_owners(self, resource: Resource, ns: str, name: str,
                      old: list[Obj] | None, new: list[Obj] | None) -> None:
        entry = (resource, ns, name)
        for ref in old or ():
            self.dependents.get(ref.get("uid", ""), set()).discard(entry)
        for ref in new or ():
            self.dependents.setdefault(ref.get("uid", ""), set()).add(entry)

    # -- writes -----------------------------------------------------------------------
    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def create(self, obj: Obj, *, manager: str = "kubesim") -> Obj:
        resource = BY_KIND[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not name:
            raise ApiError(422, "Invalid", f"{resource.kind} name is required")
        namespace = meta.get("namespace") if resource.namespaced else None
        if resource.namespaced and not namespace:
            namespace = meta["namespace"] = "default"
        if self.find(resource, namespace, str(name)) is not None:
            raise ApiError(409, "AlreadyExists",
                           f'{resource.plural} "{name}" already exists',
                           details={"name": name, "kind": resource.plural})
        if resource.namespaced and resource.kind != "Namespace":
            if self.find(STORED[("", "namespaces")], None, str(namespace)) is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               details={"name": namespace, "kind": "namespaces"})
        obj["apiVersion"] = resource.api_version
        rv = self._next_rv()
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta["resourceVersion"] = str(rv)
        if resource.group in ("apps", "batch"):
            meta["generation"] = 1
        if manager != "kubesim":
            meta["managedFields"] = [_managed(manager, "Update", resource)]
        self._put(resource, obj)
        self._record(rv, resource, "ADDED", obj, None)
        return obj

    def replace(self, obj: Obj, *, manager: str = "kubesim", check_rv: bool = False) -> Obj:
        """Store a new version of an existing object (update, patch and status writes)."""
        resource = BY_KIND[obj["kind"]]
        meta = obj["metadata"]
        prev = self.find(resource, meta.get("namespace"), meta["name"])
        if prev is None:
            raise not_found(resource, meta["name"])
        pmeta = prev["metadata"]
        if check_rv and meta.get("resourceVersion") not in (None, "", pmeta["resourceVersion"]):
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {resource.plural} "{meta["name"]}":'
                           " the object has been modified; please apply your changes to the"
                           " latest version and try again",
                           details={"name": meta["name"], "kind": resource.plural})
        for fixed in ("uid", "creationTimestamp", "namespace"):
            if fixed in pmeta:
                meta[fixed] = pmeta[fixed]
        if "generation" in pmeta:
            changed = obj.get("spec") != prev.get("spec")
            meta["generation"] = pmeta["generation"] + (1 if changed else 0)
        if manager != "kubesim":
            meta["managedFields"] = [_managed(manager, "Update", resource)]
        elif "managedFields" in pmeta:
            meta["managedFields"] = pmeta["managedFields"]
        obj["apiVersion"] = resource.api_version
        if _comparable(obj) == _comparable(prev):
            return prev  # a no-op write keeps its version, as on a real server
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._put(resource, obj, prev)
        self._record(rv, resource, "MODIFIED", obj, prev)
        return obj

    def update(self, resource: Resource, namespace: str | None, name: str,
               mutate: Callable[[Obj], None]) -> Obj:
        """Copy, mutate and store: the way controllers and scenarios change objects."""
        obj = clone(self.get(resource, namespace, name))
        mutate(obj)
        return self.replace(obj)

    def delete(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        prev = self.objects[resource].get(namespace or "" if resource.namespaced else "",
                                          {}).pop(name, None)
        if prev is None:
            raise not_found(resource, name)
        obj = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(self._next_rv())}}
        self._index_owners(resource, namespace or "" if resource.namespaced else "", name,
                           prev["metadata"].get("ownerReferences"), None)
        self._record(self.rv, resource, "DELETED", obj, prev)
        if resource.kind == "Namespace":
            for res, by_ns in self.objects.items():
                for member in list(by_ns.get(name, {})):
                    self.delete(res, name, member)
        self._collect_garbage(obj)
        return obj

    def _collect_garbage(self, owner: Obj) -> None:
        """Background cascading deletion: dependents of a deleted owner go too."""
        for resource, ns, name in list(self.dependents.pop(owner["metadata"]["uid"], ())):
            if self.find(resource, ns, name) is not None:
                self.delete(resource, ns, name)

    def _record(self, rv: int, resource: Resource, type_: str, obj: Obj, prev: Obj | None) -> None:
        change = Change(rv, resource, type_, obj, prev)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(change)
        for watcher in self.watchers[resource]:
            if watcher.namespace and obj["metadata"].get("namespace") != watcher.namespace:
                continue
            watcher.queue.put_nowait(change)
        for hook in self.hooks:
            hook(change)

    def compact(self) -> None:
        """Forget all history (as etcd compaction does): older versions now answer 410."""
        if self.history:
            self.compacted_rv = self.history[-1].rv
        self.history.clear()

    # -- watch ------------------------------------------------------------------------
    def watch(self, resource: Resource, namespace: str | None, match: Predicate | None,
              since: int | None) -> tuple[Watcher, list[Change]]:
        """Register a watcher; return it with the changes after `since` to replay first."""
        if not self.watching:
            raise ApiError(503, "ServiceUnavailable", "the server is shutting down")
        if since is not None and since < self.compacted_rv:
            raise ApiError(410, "Expired", f"too old resource version: {since} "
                           f"({self.compacted_rv + 1})")
        watcher = Watcher(resource, namespace, match or (lambda _o: True))
        backlog = []
        if since is not None:
            backlog = [c for c in self.history if c.rv > since and c.resource is resource and (
                not namespace or c.obj["metadata"].get("namespace") == namespace)]
        self.watchers[resource].add(watcher)
        return watcher, backlog

    def unwatch(self, watcher: Watcher) -> None:
        self.watchers[watcher.resource].discard(watcher)

    def close_watches(self) -> None:
        """End every open watch cleanly, and refuse new ones (server shutdown)."""
        self.watching = False
        for watchers in self.watchers.values():
            for watcher in watchers:
                watcher.ended = CLOSE
                watcher.queue.put_nowait(CLOSE)


CLOSE = "close"


def not_found(resource: Resource, name: str) -> ApiError:
    group = f".{resource.group}" if resource.group else ""
    return ApiError(404, "NotFound", f'{resource.plural}{group} "{name}" not found',
                    details={"name": name, "group": resource.group, "kind": resource.plural})


_VOLATILE = ("resourceVersion", "managedFields", "generation")


def _comparable(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj["metadata"].items() if k not in _VOLATILE}
    return {**obj, "metadata": meta}


def _managed(manager: str, operation: str, resource: Resource) -> Obj:
    return {"manager": manager, "operation": operation, "apiVersion": resource.api_version,
            "time": now_rfc3339(), "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {}}}}
