"""The metrics facade: the spec's calls on top of prometheus-client metrics from the catalog.

::

    from glowops.telemetry.metrics import metrics
    metrics.counter("assistant.tool_invocations", tags={"tool": name})
    metrics.histogram("assistant.response_time", duration_ms)        # spec name: milliseconds
    metrics.histogram("assistant_response_time_seconds", seconds)   # Prometheus name: seconds
    metrics.gauge("approvals.pending", count, tags={"org_id": org_id})

Names are the dotted names or the Prometheus names of :mod:`glowops.telemetry.catalog` and of
the registered packs (:mod:`glowops.packs`). Values passed under a spec name are in the spec's unit
(``catalog.SPEC_ALIASES``: milliseconds, hours) and converted to seconds. Labels missing from
``tags`` are recorded as the empty string; an unknown tag is an error.

Each (name, label values) pair resolves once to a cached prometheus-client child, so a repeated
call costs a dict look-up and the update itself. Labels under the cardinality guard (org_id)
accept ``label_limit`` distinct values; later values are folded into ``__overflow__``, every
folded observation counts in ``glowops_metric_label_overflow_total{metric,label}`` and one
warning per (metric, label) is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from glowops.telemetry.catalog import ALIAS_BY_SPEC_NAME, MetricSpec, all_specs, lookup
from glowops.telemetry.red import RED_NAMES, create_red_metrics

OVERFLOW_VALUE = "__overflow__"

# Gauges summed over worker processes; every other gauge reports the most recent value
# written by a live process (a count read from the database is the same in every worker).
_SUMMED_GAUGES: frozenset[str] = frozenset()

_log = logging.getLogger("glowops.metrics")


@dataclass(slots=True)
class _Entry:
    """What one name resolves to: the metric, its labels, the unit conversion, cached children."""

    spec: MetricSpec
    parent: Any
    labels: tuple[str, ...]
    scale: float = 1.0
    fixed: dict[str, str] = field(default_factory=dict)
    guarded: tuple[int, ...] = ()  # indexes of labels under the cardinality guard
    children: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class Metrics:
    """Creates every catalogued metric once and hands out cached labelled children."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, label_limit: int = 1000) -> None:
        self.registry = registry
        self.label_limit = label_limit
        # The HTTP RED metrics are written on every request: lock-free in one process (red.py).
        self._metrics: dict[str, Any] = create_red_metrics(registry)
        self.add(all_specs())
        self._entries: dict[str, _Entry] = {}
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def add(self, specs: tuple[MetricSpec, ...]) -> None:
        """Create the metrics of ``specs`` not created yet (a pack's, when it is registered)."""
        for spec in specs:
            if spec.name not in self._metrics and spec.name not in RED_NAMES and spec.collected_by is None:
                self._metrics[spec.name] = _create(spec, self.registry)

    def remove(self, specs: tuple[MetricSpec, ...]) -> None:
        """Unregister the metrics of ``specs`` (a pack taken out again) from the registry."""
        names = {spec.name for spec in specs}
        for name in names & set(self._metrics):
            self.registry.unregister(self._metrics.pop(name))
        for key in [k for k, entry in self._entries.items() if entry.spec.name in names]:
            del self._entries[key]

    def metric(self, name: str) -> Any:
        """The prometheus-client object behind a catalogued name."""
        spec = lookup(name)
        if spec.name not in self._metrics:
            self.add((spec,))  # a pack registered after this facade was made
        return self._metrics[spec.name]

    # --- the spec's calls -------------------------------------------------------------------
    def counter(self, name: str, value: float = 1.0, tags: Mapping[str, Any] | None = None) -> None:
        """Add ``value`` to a counter."""
        entry = self._entries.get(name) or self._entry(name, "counter")
        self._child(entry, tags).inc(value * entry.scale)

    def histogram(self, name: str, value: float, tags: Mapping[str, Any] | None = None) -> None:
        """Observe ``value`` (base unit for Prometheus names, the spec's unit for spec names)."""
        entry = self._entries.get(name) or self._entry(name, "histogram")
        self._child(entry, tags).observe(value * entry.scale)

    def gauge(self, name: str, value: float, tags: Mapping[str, Any] | None = None) -> None:
        """Set a gauge."""
        entry = self._entries.get(name) or self._entry(name, "gauge")
        self._child(entry, tags).set(value * entry.scale)

    # --- resolution --------------------------------------------------------------------------
    def _entry(self, name: str, kind: str) -> _Entry:
        alias = ALIAS_BY_SPEC_NAME.get(name)
        spec = lookup(alias.metric if alias else name)
        if spec.kind != kind:
            raise TypeError(f"metric {name!r} is a {spec.kind}, not a {kind}")
        entry = _Entry(
            spec=spec,
            parent=self.metric(spec.name),
            labels=spec.labels,
            scale=alias.scale if alias else 1.0,
            fixed=dict(alias.fixed_tags) if alias else {},
            guarded=tuple(i for i, label in enumerate(spec.labels) if label in spec.guarded_labels),
        )
        self._entries[name] = entry
        return entry

    def _child(self, entry: _Entry, tags: Mapping[str, Any] | None) -> Any:
        labels = entry.labels
        if not labels:
            if tags:
                _check_tags(entry, tags)
            return entry.parent
        key = tuple([tags.get(label) for label in labels]) if tags else (None,) * len(labels)
        child = entry.children.get(key)
        if child is None:
            child = self._new_child(entry, key, tags or {})
        return child

    def _new_child(self, entry: _Entry, key: tuple[Any, ...], tags: Mapping[str, Any]) -> Any:
        _check_tags(entry, tags)
        values = [
            entry.fixed.get(label, "") if raw is None else str(raw)
            for label, raw in zip(entry.labels, key, strict=True)
        ]
        with self._lock:
            overflowed = False
            for i in entry.guarded:
                if not self._admit(entry.spec.name, entry.labels[i], values[i]):
                    values[i] = OVERFLOW_VALUE
                    overflowed = True
            child = entry.parent.labels(*values)
            if not overflowed:
                # Folded values are not cached under their raw key: the cache stays bounded.
                entry.children[key] = child
        return child

    def _admit(self, metric: str, label: str, value: str) -> bool:
        """True when ``value`` may keep its own series; counts and warns on overflow."""
        seen = self._seen.setdefault((metric, label), set())
        if value in seen:
            return True
        if len(seen) < self.label_limit:
            seen.add(value)
            return True
        self._metrics["glowops_metric_label_overflow"].labels(metric, label).inc()
        if (metric, label) not in self._warned:
            self._warned.add((metric, label))
            _log.warning(
                "metric label overflow: %s{%s} has %d distinct values; new values are recorded as %r",
                metric,
                label,
                self.label_limit,
                OVERFLOW_VALUE,
            )
        return False


def _check_tags(entry: _Entry, tags: Mapping[str, Any]) -> None:
    unknown = set(tags) - set(entry.labels)
    if unknown:
        raise ValueError(
            f"metric {entry.spec.name!r} has labels {list(entry.labels)}; unknown tag(s) {sorted(unknown)}"
        )


def _create(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    if spec.kind == "counter":
        return Counter(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        if spec.name in _SUMMED_GAUGES:
            return Gauge(spec.name, spec.help, spec.labels, registry=registry, multiprocess_mode="livesum")
        return Gauge(spec.name, spec.help, spec.labels, registry=registry, multiprocess_mode="livemostrecent")
    return Histogram(
        spec.name,
        spec.help,
        spec.labels,
        registry=registry,
        buckets=spec.buckets or Histogram.DEFAULT_BUCKETS,
    )


metrics = Metrics()
"""The process-wide facade over the default prometheus-client registry."""
