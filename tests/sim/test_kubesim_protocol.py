"""kubesim's list/watch protocol, checked with a plain HTTP client."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gestalt.sim.kubesim import STORED, KubeSim
from tests.sim.conftest import deployment, wait_until

CONFIGMAPS = STORED[("", "configmaps")]
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def configmap(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop",
                                              "labels": labels or {}}, "data": {"k": name}}


async def watch_lines(api: httpx.AsyncClient, path: str, **params: Any) -> AsyncIterator[dict]:
    async with api.stream("GET", path, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line:
                yield json.loads(line)


async def collect(api: httpx.AsyncClient, path: str, count: int, **params: Any) -> list[dict]:
    events: list[dict] = []

    async def run() -> None:
        async for event in watch_lines(api, path, **params):
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(run(), 10)
    return events


async def test_list_paging_and_resource_version(sim: KubeSim, api: httpx.AsyncClient) -> None:
    for i in range(5):
        sim.store.create(configmap(f"cm-{i}"))
    first = (await api.get("/api/v1/namespaces/shop/configmaps", params={"limit": 2})).json()
    assert [o["metadata"]["name"] for o in first["items"]] == ["cm-0", "cm-1"]
    assert first["metadata"]["remainingItemCount"] == 3
    rv = first["metadata"]["resourceVersion"]
    names = [o["metadata"]["name"] for o in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = (await api.get("/api/v1/namespaces/shop/configmaps",
                              params={"limit": 2, "continue": token})).json()
        assert page["metadata"]["resourceVersion"] == rv
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"cm-{i}" for i in range(5)]
    assert int(rv) == sim.store.rv


async def test_watch_replays_from_resource_version(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.store.create(configmap("before"))
    rv = (await api.get("/api/v1/configmaps")).json()["metadata"]["resourceVersion"]
    sim.store.create(configmap("after"))
    sim.store.update(CONFIGMAPS, "shop", "before", lambda o: o["data"].update(k="v2"))
    sim.store.delete(CONFIGMAPS, "shop", "after")
    events = await collect(api, "/api/v1/namespaces/shop/configmaps", 3, resourceVersion=rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


async def test_watch_without_version_starts_with_current_objects(
        sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.store.create(configmap("a"))
    sim.store.create(configmap("b"))
    events = await collect(api, "/api/v1/namespaces/shop/configmaps", 2)
    assert {(e["type"], e["object"]["metadata"]["name"]) for e in events} == {
        ("ADDED", "a"), ("ADDED", "b")}


async def test_too_old_version_is_gone(sim: KubeSim, api: httpx.AsyncClient) -> None:
    rv = sim.store.rv
    sim.store.create(configmap("a"))
    sim.store.compact()
    events = await collect(api, "/api/v1/configmaps", 1, resourceVersion=rv)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


async def test_expire_watches_ends_open_watches_with_410(sim: KubeSim,
                                                         api: httpx.AsyncClient) -> None:
    rv = sim.store.rv
    task = asyncio.create_task(collect(api, "/api/v1/configmaps", 1, resourceVersion=rv))
    await wait_until(lambda: sim.store.watchers[CONFIGMAPS], what="the watch")
    sim.faults.expire_watches("configmaps")
    events = await task
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


async def test_a_stopping_server_ends_its_watches_and_refuses_new_ones(
        sim: KubeSim, api: httpx.AsyncClient) -> None:
    """Every client watches again as its watch ends: a new watch during the shutdown held it
    until uvicorn cancelled the stream mid-write (a traceback in `gestalt demo`'s output)."""
    task = asyncio.create_task(collect(api, "/api/v1/configmaps", 1, resourceVersion=sim.store.rv))
    await wait_until(lambda: sim.store.watchers[CONFIGMAPS], what="the watch")
    sim.store.close_watches()  # what KubeSim.stop does first
    assert await task == []  # the stream ended cleanly, without an event
    again = await collect(api, "/api/v1/configmaps", 1, resourceVersion=sim.store.rv)
    assert again[0]["type"] == "ERROR" and again[0]["object"]["code"] == 503
    assert not sim.store.watchers[CONFIGMAPS]


async def test_bookmarks_carry_the_current_version(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.store.create(configmap("a"))
    rv = sim.store.rv
    events = await collect(api, "/api/v1/configmaps", 1, resourceVersion=rv,
                           allowWatchBookmarks="true")
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= rv


async def test_watch_timeout_seconds_ends_the_stream(sim: KubeSim, api: httpx.AsyncClient) -> None:
    started = time.monotonic()
    events = [e async for e in watch_lines(api, "/api/v1/configmaps",
                                           resourceVersion=sim.store.rv, timeoutSeconds=1)]
    assert events == [] and time.monotonic() - started < 5


async def test_selectors(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.store.create(configmap("a", {"tier": "web", "env": "prod"}))
    sim.store.create(configmap("b", {"tier": "db"}))
    sim.store.create(configmap("c", {"tier": "web"}))

    async def names(**params: str) -> list[str]:
        body = (await api.get("/api/v1/namespaces/shop/configmaps", params=params)).json()
        return [o["metadata"]["name"] for o in body["items"]]

    assert await names(labelSelector="tier=web") == ["a", "c"]
    assert await names(labelSelector="tier in (db),!env") == ["b"]
    assert await names(labelSelector="tier!=web") == ["b"]
    assert await names(fieldSelector="metadata.name=c") == ["c"]
    assert await names(labelSelector="env") == ["a"]


async def test_metadata_only_and_table_views(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.store.create({"kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                      "type": "Opaque", "data": {"password": "Y2FuYXJ5"}})
    meta = (await api.get("/api/v1/namespaces/shop/secrets",
                          headers={"Accept": META_LIST})).json()
    assert meta["kind"] == "PartialObjectMetadataList"
    assert "Y2FuYXJ5" not in json.dumps(meta)
    table = (await api.get("/api/v1/namespaces/shop/secrets", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})).json()
    assert table["kind"] == "Table"
    assert table["rows"][0]["cells"][:3] == ["db", "Opaque", 1]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "Y2FuYXJ5" not in json.dumps(table)
    refused = await api.get("/api/v1/namespaces/shop/secrets",
                            headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert refused.status_code == 406


async def test_throttle_answers_429_with_retry_after(sim: KubeSim,
                                                     api: httpx.AsyncClient) -> None:
    sim.faults.throttle(1, retry_after=3, resource="pods")
    response = await api.get("/api/v1/pods")
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["details"]["retryAfterSeconds"] == 3
    assert (await api.get("/api/v1/pods")).status_code == 200


async def test_unauthenticated_requests_are_refused(sim: KubeSim) -> None:
    verify = ssl.create_default_context(cafile=sim.ca_file)
    async with httpx.AsyncClient(base_url=sim.url, verify=verify) as anonymous:
        assert (await anonymous.get("/api/v1/pods")).status_code == 401


async def test_blackhole_holds_requests_and_cuts_watches(sim: KubeSim,
                                                         api: httpx.AsyncClient) -> None:
    watch = asyncio.create_task(collect(api, "/api/v1/configmaps", 1,
                                        resourceVersion=sim.store.rv))
    await wait_until(lambda: sim.store.watchers[CONFIGMAPS], what="the watch")
    sim.faults.blackhole()
    sim.store.create(configmap("unseen"))
    with pytest.raises(httpx.ReadTimeout):
        await api.get("/api/v1/pods", timeout=0.3)
    assert not watch.done()
    sim.faults.restore()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await watch  # the connection held through the blackhole is dead
    assert (await api.get("/api/v1/pods")).status_code == 200


async def test_paused_watch_is_silent_then_delivers(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.faults.pause_watches()
    watch = asyncio.create_task(collect(api, "/api/v1/configmaps", 1,
                                        resourceVersion=sim.store.rv, allowWatchBookmarks="1"))
    await wait_until(lambda: sim.store.watchers[CONFIGMAPS], what="the watch")
    sim.store.create(configmap("held"))
    done, _ = await asyncio.wait({watch}, timeout=0.8)  # several bookmark intervals
    assert not done, "a paused watch must send nothing"
    sim.faults.resume_watches()
    events = await watch
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "held"


async def test_request_log_records_accept_and_agent(sim: KubeSim, api: httpx.AsyncClient) -> None:
    await api.get("/api/v1/namespaces/shop/secrets", headers={"Accept": META_LIST,
                                                              "User-Agent": "probe/1"})
    record = [r for r in sim.requests if r.resource == "secrets"][-1]
    assert (record.verb, record.namespace, record.accept, record.user_agent, record.status) == (
        "list", "shop", META_LIST, "probe/1", 200)


async def test_deployment_controller_rolls_and_scales(sim: KubeSim) -> None:
    pods = STORED[("", "pods")]
    sim.store.create(deployment("web", replicas=3))
    assert len(list(sim.store.items(pods, "shop"))) == 3
    deployments = STORED[("apps", "deployments")]
    sim.store.update(deployments, "shop", "web", lambda o: o["spec"]["template"]["spec"][
        "containers"][0].update(image="registry.local/web:2"))
    images = {p["spec"]["containers"][0]["image"] for p in sim.store.items(pods, "shop")}
    assert images == {"registry.local/web:2"}
    status = sim.store.get(deployments, "shop", "web")["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (3, 3, 3)


async def test_admin_endpoints_drive_faults(sim: KubeSim, api: httpx.AsyncClient) -> None:
    response = await api.post("/_kubesim/faults/throttle",
                              json={"count": 1, "retry_after": 2, "resource": "pods"})
    assert response.status_code == 200
    assert (await api.get("/api/v1/pods")).status_code == 429
    assert (await api.post("/_kubesim/faults/blackhole")).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        await api.get("/api/v1/pods", timeout=0.3)
    assert (await api.post("/_kubesim/faults/restore")).status_code == 200  # never blackholed
    assert (await api.get("/api/v1/pods")).status_code == 200
    log = (await api.get("/_kubesim/requests")).json()
    assert [r["status"] for r in log if r["resource"] == "pods"][:1] == [429]
    assert (await api.post("/_kubesim/faults/nonsense")).status_code == 404
    assert (await api.post("/_kubesim/faults/slow", json={"bogus": 1})).status_code == 400


async def test_slow_delays_every_answer(sim: KubeSim, api: httpx.AsyncClient) -> None:
    sim.faults.slow(0.3)
    started = time.monotonic()
    assert (await api.get("/api/v1/namespaces")).status_code == 200
    assert time.monotonic() - started >= 0.3
