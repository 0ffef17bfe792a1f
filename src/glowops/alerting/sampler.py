"""Samples a prometheus-client registry into the embedded store, as a Prometheus scrape would.

Each sample gets the target labels a scrape adds (``job``, ``instance``); ``*_created``
series are skipped (nothing queries them); a series that vanished since the previous scrape
gets a staleness marker. Label tuples are cached per (name, label values), so a scrape of
10,000 unchanged series is mostly dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from glowops.alerting.promql import NAME, Labels, labels_of
from glowops.alerting.tsdb import TSDB

SCRAPE_TIMELINE = "scrape"


class Sampler:
    """``sample(t_ms)`` reads the registry once and appends every value to the store."""

    def __init__(
        self, registry: CollectorRegistry, store: TSDB, target_labels: Mapping[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.store = store
        self.target = dict(target_labels or {})
        self._labels: dict[tuple[str, ...], Labels] = {}
        self._previous: set[Labels] = set()

    def collect(self) -> list[tuple[Labels, float]]:
        out: list[tuple[Labels, float]] = []
        cache = self._labels
        target = self.target
        for metric in self.registry.collect():
            for sample in metric.samples:
                name = sample.name
                if name.endswith("_created"):
                    continue
                key = (name, *sample.labels.values(), *sample.labels)
                labels = cache.get(key)
                if labels is None:
                    labels = cache[key] = labels_of({**target, **sample.labels, NAME: name})
                out.append((labels, float(sample.value)))
        return out

    def sample(self, t_ms: int) -> int:
        """Scrape once at ``t_ms``; the number of samples written."""
        samples = self.collect()
        self.store.append(SCRAPE_TIMELINE, t_ms, samples)
        current = {labels for labels, _ in samples}
        vanished = self._previous - current
        if vanished:
            self.store.mark_stale(SCRAPE_TIMELINE, t_ms, vanished)
        self._previous = current
        return len(samples)
