"""How Prometheus series labels name entities."""

from __future__ import annotations

import socket

import pytest

from gestalt.model import ids
from gestalt.model.config import OtelCollector
from gestalt.sources.prometheus import PrometheusSource

CID = "4f" * 32
SOURCE = PrometheusSource(OtelCollector(cluster_name="prod"))


@pytest.mark.parametrize("labels", [
    {"id": f"/docker/{CID}", "name": "web"},
    {"id": f"/kubepods.slice/kubepods-burstable.slice/cri-containerd-{CID}.scope",
     "namespace": "shop", "pod": "web-1"},
    {"container_id": f"containerd://{CID}"},
])
def test_a_container_id_anywhere_names_the_container(labels: dict[str, str]) -> None:
    assert SOURCE.entity_for(labels) == ids.container(CID)


def test_pods_nodes_and_instances() -> None:
    assert SOURCE.entity_for({"namespace": "shop", "pod": "web-1", "id": "/kubepods/pod1"}) \
        == ids.k8s("pod", "prod", "shop", "web-1")
    assert SOURCE.entity_for({"node": "worker-2", "instance": "10.0.0.2:9100"}) \
        == ids.k8s("node", "prod", None, "worker-2")
    here = ids.host_node(socket.gethostname())
    assert SOURCE.entity_for({"instance": "127.0.0.1:9100"}) == here
    assert SOURCE.entity_for({"instance": "[::1]:9100"}) == here
    assert SOURCE.entity_for({"instance": "db-host:9100"}) == ids.host_node("db-host")
    assert SOURCE.entity_for({"job": "x"}) is None
