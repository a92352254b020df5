"""The HTTP side of kubesim: a plain ASGI app speaking the Kubernetes REST protocol.

Routing follows the API server's URL scheme:
`/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]` and the same under
`/apis/{group}/{version}`. Content negotiation follows the `Accept` header: `as=Table`,
`as=PartialObjectMetadata[List]` or the full object. Every request is authenticated by
its bearer token and authorized (see rbac.py) before it is served.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from typing import Any
from urllib.parse import parse_qs

import orjson

from gestalt.sim.kubesim import discovery, metrics, protobuf, tables
from gestalt.sim.kubesim.defaults import apply_defaults
from gestalt.sim.kubesim.faults import DISCONNECT, DROP, GONE, WAKE, Faults
from gestalt.sim.kubesim.protocol import (
    Request,
    Route,
    apply_write,
    decode,
    fingerprint,
    matcher,
    negotiate,
    route_of,
    scale_of,
    verb_of,
)
from gestalt.sim.kubesim.rbac import ADMIN, Attributes, Authorizer, Rbac, User
from gestalt.sim.kubesim.resources import Resource
from gestalt.sim.kubesim.store import CLOSE, ApiError, Change, Obj, Store, Watcher

log = logging.getLogger("gestalt.sim.kubesim")

MAX_BODY = 8 * 1024 * 1024
ADMIN_PREFIX = "/_kubesim/"
FAULT_CONTROLS = frozenset({"blackhole", "restore", "pause_watches", "resume_watches",
                            "drop_watches", "expire_watches", "throttle", "slow", "clear"})

__all__ = ["KubeSimApp", "Rbac", "Request", "fingerprint", "negotiate"]


class _Aborted(Exception):
    """The connection is cut on purpose (a dropped or blackholed watch)."""


def _json(body: Any) -> bytes:
    return orjson.dumps(body)


class KubeSimApp:
    def __init__(self, store: Store, faults: Faults, *, token: str | None, rbac: Rbac,
                 bookmark_interval: float = 5.0, server_address: str = "") -> None:
        self.store, self.faults, self.token, self.rbac = store, faults, token, rbac
        self.authorizer = Authorizer(store, rbac)
        # Bearer tokens of other users (service accounts) -> who they are.
        self.tokens: dict[str, User] = {}
        self.bookmark_interval = bookmark_interval
        self.server_address = server_address
        self.requests: list[Request] = []

    # -- ASGI -------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"].rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        method = scope["method"]
        route = route_of(path)
        verb = verb_of(method, route, query)
        record = Request(method, path, verb, route[0].qualified if route and route[0] else None,
                         route[1] if route else None, route[2] if route else None,
                         headers.get("accept", ""), headers.get("user-agent", ""),
                         scope["query_string"].decode(), at=time.time(),
                         group=route[0].group if route and route[0] else "",
                         subresource=route[3] if route else None)
        if not path.startswith(ADMIN_PREFIX):
            self.requests.append(record)
        status = 500
        if path.startswith(ADMIN_PREFIX):
            await self._admin(method, path, headers, receive, send)
            return
        try:
            await self.faults.reachable()
            if self.faults.delay:
                await asyncio.sleep(self.faults.delay)
            record.credential = fingerprint(headers.get("authorization", ""))
            user = self._authenticate(headers)
            record.user = user.name
            retry_after = self.faults.take_throttle(record.resource)
            if retry_after is not None:
                raise ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                               details={"retryAfterSeconds": retry_after},
                               headers={"retry-after": str(retry_after)})
            if route and route[0] and not self.authorizer.allows(user, record.attributes()):
                where = f' in the namespace "{route[1]}"' if route[1] else ""
                raise ApiError(403, "Forbidden",
                               f'{route[0].plural} is forbidden: User "{user.name}" cannot '
                               f'{verb} resource "{route[0].plural}" in API group '
                               f'"{route[0].group}"{where}', details={"kind": route[0].plural})
            if route and route[0] and route[0].group == "authorization.k8s.io":
                body = await _read_body(receive)
                status = 201
                review = self._review(user, verb, body, headers.get("content-type", ""))
                await _send(send, 201, _json(review))
                return
            if verb == "watch" and route:
                status = 200
                await self._watch(route, query, headers, receive, send)
                return
            body = await _read_body(receive) if method in ("POST", "PUT", "PATCH") else b""
            status, payload = self._handle(method, path, route, verb, query, headers, body)
            await _send(send, status, payload)
        except ApiError as err:
            status = err.code
            await _send(send, err.code, _json(err.status()), err.headers)
        except _Aborted:
            status = 0
        finally:
            record.status = status

    async def _admin(self, method: str, path: str, headers: dict[str, str], receive: Any,
                     send: Any) -> None:
        """Fault controls over HTTP, for a kubesim in another process. Never faulted itself.

        POST /_kubesim/faults/<control> with a JSON object of keyword arguments (see
        `Faults`: blackhole, restore, pause_watches, resume_watches, drop_watches,
        expire_watches, throttle, slow, clear); GET /_kubesim/requests for the request log.
        """
        try:
            self._authenticate(headers)
            action = path.removeprefix(ADMIN_PREFIX)
            if method == "GET" and action == "requests":
                await _send(send, 200, _json([r.__dict__ for r in self.requests]))
                return
            control = action.removeprefix("faults/")
            if method != "POST" or control not in FAULT_CONTROLS or control == action:
                raise ApiError(404, "NotFound", f"no admin action {method} {path}")
            body = await _read_body(receive)
            kwargs = orjson.loads(body) if body else {}
            try:
                getattr(self.faults, control)(**kwargs)
            except TypeError as exc:
                raise ApiError(400, "BadRequest", str(exc)) from exc
            await _send(send, 200, _json({"ok": control}))
        except ApiError as err:
            await _send(send, err.code, _json(err.status()), err.headers)
        except _Aborted:
            pass

    def _authenticate(self, headers: dict[str, str]) -> User:
        presented = headers.get("authorization", "")
        if presented.startswith("Bearer ") and presented[7:] in self.tokens:
            return self.tokens[presented[7:]]
        if self.token is None:
            return ADMIN  # plain HTTP: no authentication
        if presented != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return ADMIN

    def _review(self, user: User, verb: str, body: bytes, content_type: str) -> Obj:
        """A SelfSubjectAccessReview: may the caller do what it describes? (kubectl sends
        it as protobuf, other clients as JSON; the answer is JSON.)"""
        if verb != "create":
            raise ApiError(405, "MethodNotAllowed", "only create is supported")
        if "protobuf" in content_type:
            try:
                review = protobuf.self_subject_access_review(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(400, "BadRequest", f"invalid protobuf body: {exc}") from exc
        else:
            review = decode(body)
        spec = review.get("spec") or {}
        attrs = spec.get("resourceAttributes")
        if not isinstance(attrs, dict):
            raise ApiError(422, "Invalid", "spec.resourceAttributes is required (kubesim "
                           "answers resource requests only)")
        allowed = self.authorizer.allows(user, Attributes.of(
            attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""),
            attrs.get("namespace") or None, attrs.get("name") or None,
            attrs.get("subresource") or None))
        return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec,
                "status": {"allowed": allowed, **({} if allowed else {"reason": ""})}}

    # -- plain requests -----------------------------------------------------------------
    def _handle(self, method: str, path: str, route: Route | None, verb: str,
                query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if route is None:
            found = discovery.document(path, self.server_address)
            if found is None or method != "GET":
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return 200, _json(found)
        resource, namespace, name, sub = route
        if resource is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if resource.group == "metrics.k8s.io":
            return 200, _json(metrics.answer(self.store, resource, namespace, name))
        view = negotiate(headers.get("accept", ""))
        manager = query.get("fieldManager") or headers.get("user-agent", "unknown").split("/")[0]
        if verb == "list":
            return 200, _json(self._list(resource, namespace, query, view))
        if verb == "get":
            obj = self.store.get(resource, namespace, name or "")
            if sub == "scale":
                return 200, _json(scale_of(obj))
            return 200, _json(self._render_one(resource, obj, view, query))
        if verb == "create":
            obj = decode(body, headers.get("content-type", ""))
            if obj.get("kind") != resource.kind:
                raise ApiError(400, "BadRequest", f"expected kind {resource.kind}")
            if resource.namespaced:
                obj.setdefault("metadata", {})["namespace"] = namespace or obj.get(
                    "metadata", {}).get("namespace") or "default"
            apply_defaults(obj)
            if query.get("dryRun"):
                return 201, _json(obj)
            return 201, _json(self.store.create(obj, manager=manager))
        current = self.store.get(resource, namespace, name or "")
        if verb == "delete":
            return 200, _json(self.store.delete(resource, namespace, name or ""))
        if sub == "scale":
            scale = scale_of(current)
            new_scale = apply_write(method, headers, body, scale)
            replicas = new_scale.get("spec", {}).get("replicas", 0)
            obj = copy.deepcopy(current)
            obj.setdefault("spec", {})["replicas"] = replicas
            return 200, _json(scale_of(self.store.replace(obj, manager=manager)))
        obj = apply_defaults(apply_write(method, headers, body, current))
        obj["kind"], obj.setdefault("metadata", {})["name"] = resource.kind, name
        if resource.namespaced:
            obj["metadata"]["namespace"] = namespace
        if sub != "status" and "status" in current:
            obj["status"] = current["status"]  # the main resource ignores status writes
        stored = self.store.replace(obj, manager=manager, check_rv=method == "PUT")
        return 200, _json(stored)

    def _list(self, resource: Resource, namespace: str | None, query: dict[str, str],
              view: str) -> Obj:
        match = matcher(query)
        items = [o for o in self.store.items(resource, namespace) if match is None or match(o)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        list_meta: Obj = {"resourceVersion": str(self.store.rv)}
        start = 0
        if query.get("continue"):
            try:
                rv_text, start_text = query["continue"].split(":", 1)
                start = int(start_text)
                list_meta["resourceVersion"] = rv_text
            except ValueError as exc:
                raise ApiError(400, "BadRequest", "invalid continue token") from exc
            if int(rv_text) < self.store.compacted_rv:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to "
                               "display a consistent list result. You can start a new list "
                               "without the continue parameter.")
        limit = int(query.get("limit") or 0)
        if limit > 0 and start + limit < len(items):
            list_meta["continue"] = f"{list_meta['resourceVersion']}:{start + limit}"
            list_meta["remainingItemCount"] = len(items) - start - limit
            items = items[start:start + limit]
        else:
            items = items[start:]
        if view == "table":
            return tables.table(resource, items, list_meta, query.get("includeObject", "Metadata"))
        if view == "meta":
            return tables.partial_list(items, list_meta)
        return {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                "metadata": list_meta, "items": items}

    def _render_one(self, resource: Resource, obj: Obj, view: str, query: dict[str, str]) -> Obj:
        if view == "table":
            return tables.table(resource, [obj], {"resourceVersion": obj["metadata"][
                "resourceVersion"]}, query.get("includeObject", "Metadata"))
        if view == "meta":
            return tables.partial(obj)
        return obj

    # -- watch --------------------------------------------------------------------------
    async def _watch(self, route: Route, query: dict[str, str], headers: dict[str, str],
                     receive: Any, send: Any) -> None:
        resource, namespace, name, _ = route
        assert resource is not None
        view = negotiate(headers.get("accept", ""))
        include = query.get("includeObject", "Metadata")
        match = matcher(query, name) or (lambda _o: True)
        rv_param = query.get("resourceVersion", "")
        since = int(rv_param) if rv_param not in ("", "0") else None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        lifetime = float(query.get("timeoutSeconds") or random.uniform(1800, 3600))
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"cache-control", b"no-cache")]})
        try:
            watcher, backlog = self.store.watch(resource, namespace, match, since)
        except ApiError as err:
            error = b'{"type":"ERROR","object":' + _json(err.status()) + b"}\n"
            await self._send_event(send, error)
            await send({"type": "http.response.body", "body": b""})
            return
        listener = asyncio.create_task(_await_disconnect(receive, watcher))
        try:
            if since is None:
                initial = [o for o in self.store.items(resource, namespace) if match(o)]
                for obj in initial:
                    if watcher.ended:
                        raise _Aborted
                    await self._send_event(send, self._encode("ADDED", resource, obj, view,
                                                              include))
            for change in backlog:
                if watcher.ended:
                    raise _Aborted
                await self._deliver(send, watcher, change, view, include)
            await self._stream(send, watcher, view, include, bookmarks, lifetime)
            await send({"type": "http.response.body", "body": b""})
        finally:
            listener.cancel()
            self.store.unwatch(watcher)

    async def _stream(self, send: Any, watcher: Watcher, view: str, include: str,
                      bookmarks: bool, lifetime: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        next_bookmark = loop.time() + self.bookmark_interval
        held: list[Change] = []  # changes kept back while the watch is silent
        while True:
            wait_until = min(deadline, next_bookmark if bookmarks else deadline)
            silent = self.faults.watches_silent
            try:
                async with asyncio.timeout(None if silent else max(0, wait_until - loop.time())):
                    item = await watcher.queue.get()
            except TimeoutError:
                item = None
            if item == DISCONNECT or watcher.ended == DISCONNECT:
                raise _Aborted
            if item == CLOSE or watcher.ended == CLOSE:
                return
            if item == DROP:
                raise _Aborted  # returning without completing the response cuts it
            if item == GONE:
                err = ApiError(410, "Expired", "too old resource version")
                await self._send_event(send, b'{"type":"ERROR","object":' + _json(err.status())
                                       + b"}\n")
                return
            if isinstance(item, Change):
                if self.faults.watches_silent:
                    held.append(item)
                else:
                    await self._deliver(send, watcher, item, view, include)
                continue
            if self.faults.watches_silent:
                continue
            for change in held:
                await self._deliver(send, watcher, change, view, include)
            held.clear()
            if item == WAKE:
                continue
            now = loop.time()
            if now >= deadline:
                return
            if bookmarks and now >= next_bookmark and watcher.queue.empty():
                kind = "PartialObjectMetadata" if view == "meta" else watcher.resource.kind
                api_version = tables.META_V1 if view == "meta" else watcher.resource.api_version
                bookmark = {"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(self.store.rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}
                await self._send_event(send, _json(bookmark) + b"\n")
                next_bookmark = now + self.bookmark_interval

    async def _deliver(self, send: Any, watcher: Watcher, change: Change, view: str,
                       include: str) -> None:
        now_matches = watcher.match(change.obj)
        was_matching = change.prev is not None and watcher.match(change.prev)
        type_ = change.type
        if change.type == "MODIFIED" and now_matches != was_matching:
            type_ = "ADDED" if now_matches else "DELETED"
        elif not now_matches:
            return
        if type_ != change.type:
            await self._send_event(send, self._encode(type_, change.resource, change.obj, view,
                                                      include))
            return
        key = f"{view}:{include}"
        data = change.encoded.get(key)
        if data is None:
            data = change.encoded[key] = self._encode(type_, change.resource, change.obj, view,
                                                      include)
        await self._send_event(send, data)

    @staticmethod
    def _encode(type_: str, resource: Resource, obj: Obj, view: str, include: str) -> bytes:
        if view == "table":
            body: Obj = tables.table(resource, [obj], {"resourceVersion": obj["metadata"][
                "resourceVersion"]}, include)
        elif view == "meta":
            body = tables.partial(obj)
        else:
            body = obj
        return b'{"type":"' + type_.encode() + b'","object":' + _json(body) + b"}\n"

    @staticmethod
    async def _send_event(send: Any, data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})


async def _read_body(receive: Any) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Aborted
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "request body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _await_disconnect(receive: Any, watcher: Watcher) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    watcher.ended = DISCONNECT
    watcher.queue.put_nowait(DISCONNECT)


async def _send(send: Any, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
