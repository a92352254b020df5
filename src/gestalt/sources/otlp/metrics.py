"""OTLP metrics onto the map.

A resource's metrics belong to the entity its attributes name (the same mapping as its
spans: pod, container, host process, else a service). Three kinds of use:

- the HTTP/RPC *client* duration histograms (`http.client.request.duration`,
  `rpc.client.duration`, and the older `http.client.duration`) are requests on the edge
  to the peer each data point names (`server.address`/`server.port`): rate, error rate
  and latency percentiles, as spans give, for services that export metrics but no spans;
- the *server* duration histograms are the requests the entity served;
- every other metric becomes a custom metric of the entity (`world.infra.metrics.custom`):
  a gauge or up-down sum its value, a counter its rate over the window (`<name>.rate`, per
  second), a histogram or summary its rate and mean (`<name>.avg`); one series per
  attribute set, named `<name>{key="value",...}` as Prometheus writes them.

SDKs export cumulative values by default: each series keeps its previous point, and what
happened between two points is the difference (a restart, seen as a new start time or a
smaller count, starts the series again; the first point of a series that started long
ago only sets the baseline). Delta points are used as they come. Rates are over the
sliding window, as the spans' are, not between two exports. Everything is bounded: series
per entity (`max_series`, more are dropped and counted) and the window, after which
silent series are forgotten.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    SummaryDataPoint,
)

from gestalt.model import Scalar
from gestalt.sources.otlp.spans import Service, attributes, peer_address
from gestalt.sources.otlp.window import Summary

_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA

CLIENT_DURATIONS = frozenset({"http.client.request.duration", "http.client.duration",
                              "rpc.client.duration"})
SERVER_DURATIONS = frozenset({"http.server.request.duration", "http.server.duration",
                              "rpc.server.duration"})
_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 1e-6}
# gRPC status codes that are the server's failure (OpenTelemetry's RPC conventions).
_GRPC_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})

# The entity a client duration data point's requests went to (the peer its attributes
# name), or None when it names none.
PeerOf = Callable[[dict[str, Scalar]], str | None]


@dataclass(slots=True)
class _Increase:
    """What a series gained between two points: requests, their total (the histogram's
    sum), the bucket counts and, for duration histograms, the buckets by upper bound (ms)."""

    start: float
    end: float
    count: float
    total: float = 0.0
    counts: tuple[int, ...] = ()
    errors: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)


class Increases:
    """A series' increases over a sliding window of their points' time."""

    __slots__ = ("_items", "_window")

    def __init__(self, window: float) -> None:
        self._window = window
        self._items: list[_Increase] = []

    def add(self, increase: _Increase) -> None:
        self._items.append(increase)

    def prune(self, now: float) -> bool:
        """Drop what left the window; True when nothing is left."""
        oldest = now - self._window
        self._items = [i for i in self._items if i.end > oldest]
        return not self._items

    def rate(self) -> float | None:
        if not self._items:
            return None
        return sum(i.count for i in self._items) / self._interval()

    def mean(self) -> float | None:
        count = sum(i.count for i in self._items)
        return sum(i.total for i in self._items) / count if count else None

    def requests(self) -> Summary | None:
        items = [i for i in self._items if i.count > 0]
        if not items:
            return None
        count = int(sum(i.count for i in items))
        errors = int(sum(i.errors for i in items))
        buckets: dict[float, int] = {}
        for item in items:
            for bound, n in item.buckets.items():
                buckets[bound] = buckets.get(bound, 0) + n
        return Summary(
            count=count,
            errors=errors,
            requests_per_sec=count / self._interval(),
            error_rate=errors / count,
            p50_ms=_quantile(0.5, buckets),
            p99_ms=_quantile(0.99, buckets),
        )

    def _interval(self) -> float:
        return max(max(i.end for i in self._items) - min(i.start for i in self._items), 1.0)


def _quantile(q: float, buckets: dict[float, int]) -> float:
    """Linear interpolation inside the bucket holding the rank, as Prometheus's
    histogram_quantile does; the open last bucket answers its lower bound."""
    total = sum(buckets.values())
    rank = q * total
    seen, lower = 0, 0.0
    for bound in sorted(buckets):
        n = buckets[bound]
        if n and seen + n >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - seen) / n
        seen += n
        lower = bound
    return lower


@dataclass(slots=True)
class _Previous:
    """A cumulative series' last point."""

    start: int
    time: int
    count: float
    total: float
    buckets: tuple[int, ...]


@dataclass(slots=True)
class _Custom:
    """A counter's, histogram's or summary's increases, and the keys it is shown under."""

    increases: Increases
    rate_key: str
    mean_key: str | None


@dataclass(slots=True)
class _Entity:
    """What one entity's metrics say."""

    values: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (v, at)
    customs: dict[str, _Custom] = field(default_factory=dict)
    previous: dict[str, _Previous] = field(default_factory=dict)
    served: Increases | None = None


@dataclass(slots=True)
class _Edge:
    requests: Increases
    attrs: dict[str, Scalar]
    peer: tuple[str | None, int | None]  # the address the points name, to match spans


class MetricTable:
    def __init__(self, *, window: float, max_series: int) -> None:
        self._window = window
        self._max_series = max_series
        self._entities: dict[str, _Entity] = {}
        self._edges: dict[tuple[str, str, str], _Edge] = {}
        self.dropped_series = 0

    def ingest(
        self, service: Service, resource_metrics: ResourceMetrics, now: float, peer_of: PeerOf
    ) -> None:
        state = self._entities.get(service.entity_id)
        if state is None:
            state = self._entities[service.entity_id] = _Entity()
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                if which == "histogram" and (metric.name in CLIENT_DURATIONS
                                             or metric.name in SERVER_DURATIONS):
                    self._durations(service.entity_id, state, metric, peer_of)
                elif which in ("gauge", "sum"):
                    self._numbers(state, metric, which, now)
                elif which in ("histogram", "exponential_histogram", "summary"):
                    self._distributions(state, metric, which)

    # -- the kinds of metric ------------------------------------------------------------------
    def _durations(self, entity_id: str, state: _Entity, metric: Metric,
                   peer_of: PeerOf) -> None:
        name = metric.name
        scale = _TO_MS.get(metric.unit, 1000.0 if name.endswith("request.duration") else 1.0)
        delta = metric.histogram.aggregation_temporality == _DELTA
        for point in metric.histogram.data_points:
            attrs = attributes(point.attributes)
            if name in SERVER_DURATIONS:
                if state.served is None:
                    state.served = Increases(self._window)
                target: Increases | None = state.served
            else:
                target = self._client_edge(entity_id, attrs, peer_of)
            if target is None:
                continue
            bounds = [b * scale for b in point.explicit_bounds] + [math.inf]
            increase = self._increase(state, _series_key(name, attrs), point, delta,
                                      point.count, point.sum, tuple(point.bucket_counts))
            if increase is None or len(increase.counts) != len(bounds):
                continue
            increase.buckets = dict(zip(bounds, increase.counts, strict=True))
            if _is_error(name, attrs):
                increase.errors = increase.count
            target.add(increase)

    def _numbers(self, state: _Entity, metric: Metric, which: str, now: float) -> None:
        data = metric.gauge if which == "gauge" else metric.sum
        monotonic = which == "sum" and metric.sum.is_monotonic
        delta = which == "sum" and metric.sum.aggregation_temporality == _DELTA
        for point in data.data_points:
            attrs = attributes(point.attributes)
            key = _series_key(metric.name, attrs)
            value = _number(point)
            if monotonic:
                self._custom(state, key, metric.name, attrs, point, delta, value, 0.0, False)
            elif self._admit(state, key):
                if delta:  # an up-down counter's changes: keep the running total
                    value += state.values.get(key, (0.0, now))[0]
                state.values[key] = (value, now)

    def _distributions(self, state: _Entity, metric: Metric, which: str) -> None:
        data = getattr(metric, which)
        delta = getattr(data, "aggregation_temporality", 0) == _DELTA
        for point in data.data_points:
            attrs = attributes(point.attributes)
            key = _series_key(metric.name, attrs)
            self._custom(state, key, metric.name, attrs, point, delta, float(point.count),
                         point.sum, True)

    def _custom(self, state: _Entity, key: str, name: str, attrs: dict[str, Scalar],
                point: Point, delta: bool, count: float, total: float, mean: bool) -> None:
        custom = state.customs.get(key)
        if custom is None:
            if not self._admit(state, key):
                return
            custom = state.customs[key] = _Custom(
                Increases(self._window), _series_key(f"{name}.rate", attrs),
                _series_key(f"{name}.avg", attrs) if mean else None)
        increase = self._increase(state, key, point, delta, count, total, ())
        if increase is not None:
            custom.increases.add(increase)

    def _client_edge(self, entity_id: str, attrs: dict[str, Scalar],
                     peer_of: PeerOf) -> Increases | None:
        target = peer_of(attrs)
        if target is None:
            return None
        rpc = attrs.get("rpc.system")
        protocol = "grpc" if rpc == "grpc" else str(rpc or "http")
        key = (entity_id, target, protocol)
        edge = self._edges.get(key)
        if edge is None:
            edge = self._edges[key] = _Edge(Increases(self._window), {"protocol": protocol},
                                            peer_address(attrs))
        return edge.requests

    # -- cumulative to increases ------------------------------------------------------------
    def _admit(self, state: _Entity, key: str) -> bool:
        """Whether a series may be kept: at most `max_series` per entity."""
        if key in state.previous or key in state.values or key in state.customs:
            return True
        if len(state.previous) + len(state.values) >= self._max_series:
            self.dropped_series += 1
            return False
        return True

    def _increase(
        self, state: _Entity, key: str, point: Point, delta: bool, count: float,
        total: float, buckets: tuple[int, ...],
    ) -> _Increase | None:
        """What the series gained up to this point (None for a baseline)."""
        start_ns, time_ns = point.start_time_unix_nano, point.time_unix_nano
        if delta:
            if time_ns <= start_ns:
                return None
            return _Increase(start_ns / 1e9, time_ns / 1e9, count, total, buckets)
        if not self._admit(state, key):
            return None
        previous = state.previous.get(key)
        state.previous[key] = _Previous(start_ns, time_ns, count, total, buckets)
        if (previous is not None and previous.start == start_ns and time_ns > previous.time
                and count >= previous.count and len(buckets) == len(previous.buckets)):
            return _Increase(previous.time / 1e9, time_ns / 1e9, count - previous.count,
                             total - previous.total, tuple(
                                 c - p for c, p in zip(buckets, previous.buckets, strict=True)))
        if start_ns and time_ns > start_ns and (time_ns - start_ns) / 1e9 <= self._window:
            # A series that started within the window: all of it is recent.
            return _Increase(start_ns / 1e9, time_ns / 1e9, count, total, buckets)
        return None

    # -- reporting ------------------------------------------------------------------------------
    def prune(self, now: float) -> None:
        oldest = now - self._window
        for entity_id, state in list(self._entities.items()):
            state.values = {k: v for k, v in state.values.items() if v[1] > oldest}
            state.customs = {k: c for k, c in state.customs.items()
                             if not c.increases.prune(now)}
            if state.served is not None and state.served.prune(now):
                state.served = None
            state.previous = {k: p for k, p in state.previous.items() if p.time / 1e9 > oldest}
            if not (state.values or state.customs or state.served or state.previous):
                del self._entities[entity_id]
        for key, edge in list(self._edges.items()):
            if edge.requests.prune(now):
                del self._edges[key]

    def custom(self, entity_id: str) -> dict[str, float]:
        """The entity's custom metrics: values, rates per second and means."""
        state = self._entities.get(entity_id)
        if state is None:
            return {}
        out = {k: v for k, (v, _) in state.values.items()}
        for custom in state.customs.values():
            rate = custom.increases.rate()
            if rate is not None:
                out[custom.rate_key] = rate
            mean = custom.increases.mean() if custom.mean_key else None
            if custom.mean_key is not None and mean is not None:
                out[custom.mean_key] = mean
        return out

    def served(self, entity_id: str) -> Summary | None:
        state = self._entities.get(entity_id)
        return state.served.requests() if state is not None and state.served else None

    def edges(self) -> Iterator[tuple[str, str, tuple[str | None, int | None],
                                      dict[str, Scalar], Summary]]:
        """(caller, target, address named, attrs, figures) of each edge with requests."""
        for (source, target, _), edge in self._edges.items():
            summary = edge.requests.requests()
            if summary is not None:
                yield source, target, edge.peer, edge.attrs, summary


Point = NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint


def _number(point: NumberDataPoint) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _series_key(name: str, attrs: dict[str, Scalar]) -> str:
    if not attrs:
        return name
    labels = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(attrs.items()))
    return f"{name}{{{labels}}}"


def _label(value: Scalar) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def _is_error(name: str, attrs: dict[str, Scalar]) -> bool:
    """OpenTelemetry's rules: a client request failed on an error type or a 4xx/5xx, a
    server one on an error type or a 5xx; gRPC by status code."""
    if attrs.get("error.type"):
        return True
    status = attrs.get("http.response.status_code") or attrs.get("http.status_code")
    if isinstance(status, int) and not isinstance(status, bool):
        return status >= (400 if name in CLIENT_DURATIONS else 500)
    grpc = attrs.get("rpc.grpc.status_code")
    if isinstance(grpc, int) and not isinstance(grpc, bool):
        return grpc != 0 if name in CLIENT_DURATIONS else grpc in _GRPC_SERVER_ERRORS
    return False
