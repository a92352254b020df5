"""OTLP metrics in the service graph, from what the real OpenTelemetry SDK exports (its
in-memory reader, encoded by the OTLP exporter's own encoder): custom metrics on the
entity the resource names, HTTP duration histograms as edges and served requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality as Temporality
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from gestalt.model import ConnectionKind, ids
from gestalt.sources.otlp.servicegraph import ServiceGraph
from gestalt.sources.otlp.spans import attributes, records, service_of
from tests.fixtures.otlp.payloads import CLIENT, new_ids, resource_spans, span

RESOURCE = {"service.name": "checkout", "host.name": "h1", "process.pid": 10}
CALLER = ids.process("h1", 10)
DELTA = Temporality.AGGREGATION_TEMPORALITY_DELTA
T0 = 1_800_000_000.0
SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]


class Sdk:
    """One SDK MeterProvider whose collected metrics go into a graph as OTLP requests.

    Each collection is stamped as if it happened `step` seconds after the previous one
    (the SDK's own clock would make rates depend on how fast the test runs)."""

    def __init__(self, graph: ServiceGraph, *, delta: bool = False, start: float = T0) -> None:
        temporality = {Counter: AggregationTemporality.DELTA} if delta else {}
        self.reader = InMemoryMetricReader(preferred_temporality=temporality)
        self.provider = MeterProvider(resource=Resource.create(RESOURCE),
                                      metric_readers=[self.reader])
        self.meter: Meter = self.provider.get_meter("test")
        self.graph = graph
        self.start = self.at = start

    def request(self, step: float = 1.0) -> ExportMetricsServiceRequest:
        previous, self.at = self.at, self.at + step
        request = encode_metrics(self.reader.get_metrics_data())
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    data = getattr(metric, metric.WhichOneof("data"))
                    delta = getattr(data, "aggregation_temporality", 0) == DELTA
                    for point in data.data_points:
                        point.start_time_unix_nano = int((previous if delta else self.start) * 1e9)
                        point.time_unix_nano = int(self.at * 1e9)
        return request

    def export(self, step: float = 1.0) -> float:
        for resource_metrics in self.request(step).resource_metrics:
            service = service_of(attributes(resource_metrics.resource.attributes))
            self.graph.ingest_metrics(service, resource_metrics, self.at)
        return self.at


def custom(graph: ServiceGraph, now: float) -> dict[str, float]:
    entities, _ = graph.snapshot(now)
    (entity,) = [e for e in entities if e.id == CALLER]
    return entity.custom_metrics


def test_counters_gauges_and_histograms_become_custom_metrics() -> None:
    sdk = Sdk(ServiceGraph(window=60))
    done = sdk.meter.create_counter("orders.done")
    depth = sdk.meter.create_up_down_counter("queue.depth")
    size = sdk.meter.create_histogram("order.size", unit="By")

    def temperature(_: CallbackOptions) -> list[Observation]:
        return [Observation(21.5, {"room": "a"})]

    sdk.meter.create_observable_gauge("room.temperature", [temperature])
    done.add(10, {"shop": "x"})
    depth.add(5)
    depth.add(-2)
    size.record(10)
    size.record(30)
    sdk.export(step=2)
    done.add(20, {"shop": "x"})  # cumulative: the second point says 30
    now = sdk.export(step=3)
    metrics = custom(sdk.graph, now)
    # 30 over the 5 seconds since the series started (the window holds both increases).
    assert metrics['orders.done.rate{shop="x"}'] == 6
    assert metrics["queue.depth"] == 3
    assert metrics['room.temperature{room="a"}'] == 21.5
    assert metrics["order.size.avg"] == 20
    assert metrics["order.size.rate"] == 2 / 5


def test_delta_counters_and_a_restarted_process() -> None:
    graph = ServiceGraph(window=60)
    sdk = Sdk(graph, delta=True)
    done = sdk.meter.create_counter("orders.done")
    done.add(7)
    sdk.export(step=1)
    done.add(5)
    assert custom(graph, sdk.export(step=1))["orders.done.rate"] == 12 / 2
    # The process restarts (a new start time, a count that starts again at 3): the new
    # series adds its 3, nothing goes negative.
    restarted = Sdk(graph, start=sdk.at)
    restarted.meter.create_counter("orders.done").add(3)
    assert custom(graph, restarted.export(step=1))["orders.done.rate"] == 15 / 3


def test_a_long_running_counter_waits_for_its_second_point() -> None:
    graph = ServiceGraph(window=60)
    sdk = Sdk(graph)
    counter = sdk.meter.create_counter("orders.done")
    counter.add(1000)
    # Seen for the first time an hour after it started: its total is no recent rate.
    assert "orders.done.rate" not in custom(graph, sdk.export(step=3600))
    counter.add(10)
    assert custom(graph, sdk.export(step=2))["orders.done.rate"] == 5


def http_histograms(sdk: Sdk) -> tuple[Callable[..., None], Callable[..., None]]:
    client = sdk.meter.create_histogram("http.client.request.duration", unit="s",
                                        explicit_bucket_boundaries_advisory=SECONDS)
    server = sdk.meter.create_histogram("http.server.request.duration", unit="s",
                                        explicit_bucket_boundaries_advisory=SECONDS)
    return client.record, server.record


def test_http_duration_histograms_are_edges_and_served_requests() -> None:
    sdk = Sdk(ServiceGraph(window=60))
    client, server = http_histograms(sdk)
    peer = {"http.request.method": "GET", "server.address": "10.0.0.5", "server.port": 8080}
    for seconds in (0.02,) * 5 + (0.2,) * 3:
        client(seconds, {**peer, "http.response.status_code": 200})
    client(0.2, {**peer, "http.response.status_code": 503})
    client(0.2, {**peer, "error.type": "timeout"})
    for status in (200, 200, 200, 404):  # a 4xx is the client's error, not the server's
        server(0.004, {"http.route": "/x", "http.response.status_code": status})
    now = sdk.export(step=2)
    entities, connections = sdk.graph.snapshot(now)
    (edge,) = connections
    target = ids.service("external", "10.0.0.5:8080")
    assert (edge.source_id, edge.target_id, edge.kind) == (CALLER, target, ConnectionKind.HTTP)
    assert edge.attrs["requests"] == 10 and edge.error_rate == pytest.approx(0.2)
    assert edge.requests_per_sec == 10 / 2
    # Half the calls in (10, 25] ms, half in (100, 250] ms, interpolated as Prometheus does.
    assert edge.attrs["latency_p50_ms"] == pytest.approx(25)
    assert edge.attrs["latency_p99_ms"] == pytest.approx(100 + 150 * 4.9 / 5)
    assert edge.attrs["signal"] == "metrics"
    by_id = {e.id: e for e in entities}
    assert by_id[target].locator is not None  # the peer, for the hub to resolve
    served = by_id[CALLER].custom_metrics
    assert served["requests_per_sec"] == 4 / 2 and served["error_rate"] == 0
    assert served["latency_p50_ms"] == pytest.approx(2.5)  # all in (0, 5] ms: rank 2 of 4


def test_client_spans_to_the_same_peer_win_over_the_histogram() -> None:
    graph = ServiceGraph(window=60, pairing_wait=0)
    sdk = Sdk(graph)
    client, _ = http_histograms(sdk)
    client(0.02, {"server.address": "10.0.0.5", "server.port": 8080})
    client(0.02, {"server.address": "10.0.0.6", "server.port": 8080})
    now = sdk.export()
    trace, span_id, _ = new_ids()
    group = resource_spans(RESOURCE, [span(CLIENT, trace_id=trace, span_id=span_id,
                                           end_s=now, attrs={"server.address": "10.0.0.5",
                                                             "server.port": 8080})])
    graph.ingest(service_of(RESOURCE), records(group), now)
    _, connections = graph.snapshot(now + 0.5)
    signals = {c.target_id: c.attrs.get("signal") for c in connections}
    assert signals == {ids.service("external", "10.0.0.5:8080"): None,  # the span's
                       ids.service("external", "10.0.0.6:8080"): "metrics"}


def test_series_per_entity_are_bounded() -> None:
    graph = ServiceGraph(window=60, max_metric_series=3)
    sdk = Sdk(graph)
    gauge = sdk.meter.create_gauge("g")
    for i in range(5):
        gauge.set(i, {"i": i})
    now = sdk.export()
    assert len(custom(graph, now)) == 3
    assert graph.metrics.dropped_series == 2


def test_host_metrics_land_on_the_host() -> None:
    """A resource with a host and no service (the Collector's hostmetrics receiver)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource({"host.name": "h1", "os.type": "linux"}),
                             metric_readers=[reader])
    provider.get_meter("hostmetrics").create_gauge("system.cpu.utilization").set(
        0.25, {"state": "user"})
    graph = ServiceGraph(window=60)
    (resource_metrics,) = encode_metrics(reader.get_metrics_data()).resource_metrics
    now = resource_metrics.scope_metrics[0].metrics[0].gauge.data_points[0].time_unix_nano / 1e9
    graph.ingest_metrics(service_of(attributes(resource_metrics.resource.attributes)),
                         resource_metrics, now)
    (node,) = graph.snapshot(now)[0]
    assert node.id == ids.host_node("h1")
    assert node.custom_metrics == {'system.cpu.utilization{state="user"}': 0.25}
