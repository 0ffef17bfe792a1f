"""The metrics facade: the spec's calls (``metrics.counter("assistant.tool_invocations",
tags={"tool": name})``) on top of prometheus-client metrics declared in the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from glowops.telemetry.catalog import CATALOG, MetricSpec, lookup

OVERFLOW_VALUE = "__overflow__"


class Metrics:
    """Creates every catalogued metric once and hands out cached labelled children."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, label_limit: int = 1000) -> None:
        self.registry = registry
        self.label_limit = label_limit
        self._metrics: dict[str, Any] = {}
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._seen: dict[tuple[str, str], set[str]] = {}
        for spec in CATALOG:
            self._metrics[spec.name] = _create(spec, registry)

    def metric(self, name: str) -> Any:
        """The prometheus-client object behind a catalogued name."""
        return self._metrics[lookup(name).name]

    def _child(self, name: str, tags: Mapping[str, Any] | None) -> Any:
        spec = lookup(name)
        values = tuple(str((tags or {}).get(label, "")) for label in spec.labels)
        key = (spec.name, values)
        child = self._children.get(key)
        if child is None:
            if spec.guarded_labels:
                values = self._guard(spec, values)
            parent = self._metrics[spec.name]
            child = parent.labels(*values) if spec.labels else parent
            self._children[key] = child
        return child

    def _guard(self, spec: MetricSpec, values: tuple[str, ...]) -> tuple[str, ...]:
        out = list(values)
        for i, label in enumerate(spec.labels):
            if label not in spec.guarded_labels:
                continue
            seen = self._seen.setdefault((spec.name, label), set())
            if values[i] in seen:
                continue
            if len(seen) >= self.label_limit:
                out[i] = OVERFLOW_VALUE
                self._metrics["glowops_metric_label_overflow"].labels(spec.name, label).inc()
            else:
                seen.add(values[i])
        return tuple(out)

    def counter(self, name: str, value: float = 1.0, tags: Mapping[str, Any] | None = None) -> None:
        """Add ``value`` to a counter."""
        self._child(name, tags).inc(value)

    def histogram(self, name: str, value: float, tags: Mapping[str, Any] | None = None) -> None:
        """Observe ``value`` (in the metric's base unit, seconds for durations)."""
        self._child(name, tags).observe(value)

    def gauge(self, name: str, value: float, tags: Mapping[str, Any] | None = None) -> None:
        """Set a gauge."""
        self._child(name, tags).set(value)


def _create(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    if spec.kind == "counter":
        return Counter(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry, multiprocess_mode="livesum")
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets or Histogram.DEFAULT_BUCKETS)


metrics = Metrics()
"""The process-wide facade over the default prometheus-client registry."""
