"""Samples a prometheus-client registry into the embedded store, as a Prometheus scrape would.

Each sample gets the target labels a scrape adds (``job``, ``instance``); ``*_created``
series are skipped (nothing queries them); a series that vanished since the previous scrape
gets a staleness marker.

Two paths, same samples (``tests/telemetry/test_sample_source.py`` checks it):

- collectors whose values glowops owns (the HTTP RED metrics of :mod:`glowops.telemetry.red`,
  a :class:`~glowops.telemetry.sample_source.SampleSource`) are read directly, group by group;
  the store labels of a group are built once and cached under the group object, so a scrape
  of unchanged series allocates little more than the floats;
- every other collector goes through ``registry.collect()``; label tuples are cached per
  (name, label values), so that path is mostly dictionary look-ups too.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter

from prometheus_client import CollectorRegistry

from glowops.alerting.promql import NAME, Labels, labels_of
from glowops.alerting.tsdb import TSDB
from glowops.telemetry.sample_source import (
    SeriesGroup,
    SeriesLabels,
    collect_without_sources,
    sources_of,
)

SCRAPE_TIMELINE = "scrape"

_first = itemgetter(0)


class Sampler:
    """``sample(t_ms)`` reads the registry once and appends every value to the store."""

    def __init__(
        self, registry: CollectorRegistry, store: TSDB, target_labels: Mapping[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.store = store
        self.target = dict(target_labels or {})
        self._labels: dict[tuple[str, ...], Labels] = {}
        self._group_labels: dict[SeriesGroup, tuple[Labels, ...]] = {}
        self._previous: set[Labels] = set()

    def _store_labels(self, name: str, pairs: SeriesLabels) -> Labels:
        # a series label named like a target label wins (honor_labels), as on the collect() path
        return labels_of({**self.target, **dict(pairs), NAME: name})

    def collect(self) -> list[tuple[Labels, float]]:
        """Every current sample with its store labels: sample sources first, then the rest."""
        out: list[tuple[Labels, float]] = []
        sources = sources_of(self.registry)
        if sources:
            group_cache = self._group_labels
            extend = out.extend
            for source in sources:
                for group, values in source.sample_groups():
                    labels = group_cache.get(group)
                    if labels is None:
                        labels = group_cache[group] = tuple(
                            self._store_labels(name, pairs) for name, pairs in group.series
                        )
                    extend(zip(labels, values, strict=True))
            families = collect_without_sources(self.registry)
        else:
            families = list(self.registry.collect())
        cache = self._labels
        target = self.target
        for metric in families:
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
        current = set(map(_first, samples))
        vanished = self._previous - current
        if vanished:
            self.store.mark_stale(SCRAPE_TIMELINE, t_ms, vanished)
        self._previous = current
        return len(samples)
