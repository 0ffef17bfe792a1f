"""Lock-free metrics for the hot path: HTTP RED and log lines by level (single-process mode).

prometheus-client takes a lock for every increment: five per request for a counter, a
histogram (sum + bucket) and an in-flight gauge, about 4 µs in the middleware. The middleware
runs on the event loop thread, so plain Python numbers updated there need no lock; this
collector keeps them and turns them into the same metric families at scrape time.

Under several worker processes (``PROMETHEUS_MULTIPROC_DIR``) the values must live in
prometheus-client's shared files instead, so :func:`create_red_metrics` returns ordinary
prometheus-client metrics there. Both expose the same ``labels(...)`` / ``inc`` / ``observe``
/ ``dec`` calls.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from glowops.telemetry.catalog import BY_NAME
from glowops.telemetry.sample_source import SeriesGroup, SeriesLabels, register_source, skipping_sources

RED_NAMES = (
    "http_requests",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "glowops_log_events",
)


class _AtomicCounterChild:
    """A counter safe from any thread without a lock: ``next()`` on itertools.count is atomic."""

    __slots__ = ("_count", "_extra")

    def __init__(self) -> None:
        self._count = itertools.count()
        self._extra = 0.0  # non-unit increments (rare), under the GIL's coarse protection

    def inc(self, amount: float = 1.0) -> None:
        if amount == 1.0:
            next(self._count)
        else:
            self._extra += amount

    @property
    def value(self) -> float:
        state: Any = self._count.__reduce__()
        return float(state[1][0]) + self._extra


class _CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class _GaugeChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class _Family:
    """One labelled metric: children by label values, each created once."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...], factory: Any) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.children: dict[tuple[str, ...], Any] = {}
        self._factory = factory
        self._root = factory() if not labelnames else None

    def labels(self, *label_values: str) -> Any:
        if len(label_values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {label_values}")
        key = tuple(str(v) for v in label_values)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self._factory()
        return child

    # unlabelled use (the in-flight gauge)
    def inc(self, amount: float = 1.0) -> None:
        self._root.inc(amount)  # type: ignore[union-attr]

    def dec(self, amount: float = 1.0) -> None:
        self._root.dec(amount)  # type: ignore[union-attr]

    def set(self, value: float) -> None:
        self._root.set(value)  # type: ignore[union-attr]


class RedCollector(Collector):
    """The HTTP RED metric families and log events, kept in plain numbers, exposed at scrape time.

    Also a :class:`~glowops.telemetry.sample_source.SampleSource`: the embedded alerting
    sampler reads the values through :meth:`sample_groups` instead of :meth:`collect`.
    """

    def __init__(self) -> None:
        requests = BY_NAME["http_requests"]
        durations = BY_NAME["http_request_duration_seconds"]
        in_flight = BY_NAME["http_requests_in_flight"]
        bounds = [float(b) for b in durations.buckets or ()]
        self._bound_labels = [str(floatToGoString(b)) for b in bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.requests = _Family(requests.name, requests.help, requests.labels, _CounterChild)
        self.durations = _Family(
            durations.name, durations.help, durations.labels, lambda: _HistogramChild(bounds)
        )
        self.in_flight = _Family(in_flight.name, in_flight.help, in_flight.labels, _GaugeChild)
        log_events = BY_NAME["glowops_log_events"]
        # written by log calls from any thread: the atomic child
        self.log_events = _Family(log_events.name, log_events.help, log_events.labels, _AtomicCounterChild)
        # sample_groups(): the names and labels of each child's series, built on first read
        self._groups: dict[tuple[str, tuple[str, ...]], SeriesGroup] = {}

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            self.requests.name, self.requests.documentation, labels=self.requests.labelnames
        )
        yield HistogramMetricFamily(
            self.durations.name, self.durations.documentation, labels=self.durations.labelnames
        )
        yield GaugeMetricFamily(self.in_flight.name, self.in_flight.documentation)
        yield CounterMetricFamily(
            self.log_events.name, self.log_events.documentation, labels=self.log_events.labelnames
        )

    def collect(self) -> Iterator[Any]:
        if skipping_sources():  # the sampler reads these series through sample_groups()
            return
        counter = CounterMetricFamily(
            self.requests.name, self.requests.documentation, labels=self.requests.labelnames
        )
        for key, child in list(self.requests.children.items()):
            counter.add_metric(list(key), child.value)
        yield counter
        histogram = HistogramMetricFamily(
            self.durations.name, self.durations.documentation, labels=self.durations.labelnames
        )
        for key, hchild in list(self.durations.children.items()):
            cumulative = 0
            buckets = []
            for label, count in zip(self._bound_labels, list(hchild.counts), strict=True):
                cumulative += count
                buckets.append((label, float(cumulative)))
            histogram.add_metric(list(key), buckets, hchild.sum)
        yield histogram
        gauge = GaugeMetricFamily(self.in_flight.name, self.in_flight.documentation)
        gauge.add_metric([], self.in_flight._root.value)  # type: ignore[union-attr]
        yield gauge
        log_events = CounterMetricFamily(
            self.log_events.name, self.log_events.documentation, labels=self.log_events.labelnames
        )
        for key, lchild in list(self.log_events.children.items()):
            log_events.add_metric(list(key), lchild.value)
        yield log_events

    def sample_groups(self) -> Iterator[tuple[SeriesGroup, Sequence[float]]]:
        """The samples of :meth:`collect` (same names, labels, values and order) per child."""
        groups = self._groups
        requests_total = _counter_sample_name(self.requests.name)
        for key, child in list(self.requests.children.items()):
            group = groups.get((requests_total, key))
            if group is None:
                group = groups[(requests_total, key)] = SeriesGroup(
                    [(requests_total, _pairs(self.requests.labelnames, key))]
                )
            yield group, (child.value,)
        durations = self.durations.name
        for key, hchild in list(self.durations.children.items()):
            group = groups.get((durations, key))
            if group is None:
                pairs = _pairs(self.durations.labelnames, key)
                group = groups[(durations, key)] = SeriesGroup(
                    [(durations + "_bucket", (*pairs, ("le", le))) for le in self._bound_labels]
                    + [(durations + "_count", pairs), (durations + "_sum", pairs)]
                )
            values = list(map(float, accumulate(list(hchild.counts))))
            values.append(values[-1])
            values.append(hchild.sum)
            yield group, values
        in_flight = self.in_flight.name
        group = groups.get((in_flight, ()))
        if group is None:
            group = groups[(in_flight, ())] = SeriesGroup([(in_flight, ())])
        yield group, (self.in_flight._root.value,)  # type: ignore[union-attr]
        log_total = _counter_sample_name(self.log_events.name)
        for key, lchild in list(self.log_events.children.items()):
            group = groups.get((log_total, key))
            if group is None:
                group = groups[(log_total, key)] = SeriesGroup(
                    [(log_total, _pairs(self.log_events.labelnames, key))]
                )
            yield group, (lchild.value,)


def _counter_sample_name(name: str) -> str:
    # as CounterMetricFamily names the sample: one "_total" suffix
    return (name[:-6] if name.endswith("_total") else name) + "_total"


def _pairs(labelnames: tuple[str, ...], values: tuple[str, ...]) -> SeriesLabels:
    return tuple(zip(labelnames, values, strict=True))


def multiprocess_values() -> bool:
    """True when prometheus-client keeps values in shared files (PROMETHEUS_MULTIPROC_DIR)."""
    return values.ValueClass is not values.MutexValue


def create_red_metrics(registry: CollectorRegistry) -> dict[str, Any]:
    """The three HTTP metrics by name: lock-free in one process, prometheus-client's otherwise."""
    if not multiprocess_values():
        collector = RedCollector()
        registry.register(collector)
        register_source(registry, collector)
        return {
            "http_requests": collector.requests,
            "http_request_duration_seconds": collector.durations,
            "http_requests_in_flight": collector.in_flight,
            "glowops_log_events": collector.log_events,
        }
    requests = BY_NAME["http_requests"]
    durations = BY_NAME["http_request_duration_seconds"]
    in_flight = BY_NAME["http_requests_in_flight"]
    log_events = BY_NAME["glowops_log_events"]
    return {
        log_events.name: Counter(log_events.name, log_events.help, log_events.labels, registry=registry),
        requests.name: Counter(requests.name, requests.help, requests.labels, registry=registry),
        durations.name: Histogram(
            durations.name,
            durations.help,
            durations.labels,
            registry=registry,
            buckets=durations.buckets or Histogram.DEFAULT_BUCKETS,
        ),
        in_flight.name: Gauge(in_flight.name, in_flight.help, registry=registry, multiprocess_mode="livesum"),
    }
