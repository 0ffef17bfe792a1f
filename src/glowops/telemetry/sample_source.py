"""Sample sources: collectors whose values glowops owns, read without building metric families.

The embedded alerting sampler (:mod:`glowops.alerting.sampler`) reads every series of the
registry each scrape interval. Through ``registry.collect()`` that costs a metric family, a
``Sample`` tuple and a label dict per series - for the ~10,000 series of a busy gateway about
30 ms, most of it for the HTTP RED histograms of :mod:`glowops.telemetry.red`. A collector
that keeps its own values (no prometheus-client internals involved) can instead implement
:class:`SampleSource`: it hands out its series in groups whose names and labels are built once
and reused, with the current values.

Contract (tested in ``tests/telemetry/test_sample_source.py``): the groups of a source give
exactly the samples its ``collect()`` gives - same names, labels and values, same order - so a
sampler may read the source instead of collecting it. :func:`collect_without_sources` is
``registry.collect()`` with the registered sources left out (they yield nothing while it runs,
in the calling thread only: a concurrent ``/metrics`` scrape elsewhere is unaffected).
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

SeriesLabels = tuple[tuple[str, str], ...]
"""A series' own labels as (name, value) pairs in the metric's label order (no target labels)."""


class SeriesGroup:
    """The series one labelled child contributes: ``(sample name, labels)`` per value.

    Built once per child and handed out again every read, so a consumer can cache what it
    derives from a group under the group itself (identity hash: no hashing of the labels).
    """

    __slots__ = ("__weakref__", "series")

    def __init__(self, series: Sequence[tuple[str, SeriesLabels]]) -> None:
        self.series: tuple[tuple[str, SeriesLabels], ...] = tuple(series)

    def __repr__(self) -> str:
        return f"SeriesGroup({self.series!r})"


class SampleSource(Protocol):
    """A collector that can hand out its current values per :class:`SeriesGroup`."""

    def sample_groups(self) -> Iterator[tuple[SeriesGroup, Sequence[float]]]:
        """Every group with its current values, aligned with ``group.series``.

        Must give the same samples, in the same order, as the collector's ``collect()``
        (``*_created`` samples excepted: a source has none).
        """
        ...


_SOURCES: weakref.WeakKeyDictionary[CollectorRegistry, list[SampleSource]] = weakref.WeakKeyDictionary()
_SKIP_SOURCES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "glowops_skip_sample_sources", default=False
)


def register_source(registry: CollectorRegistry, source: SampleSource) -> None:
    """Declare that ``source`` (already registered as a collector of ``registry``) can be read directly."""
    _SOURCES.setdefault(registry, []).append(source)


def sources_of(registry: CollectorRegistry) -> list[SampleSource]:
    """The sample sources registered for ``registry`` (empty in multiprocess mode)."""
    return list(_SOURCES.get(registry, ()))


def skipping_sources() -> bool:
    """True while :func:`collect_without_sources` runs in this thread: a source's ``collect()``
    yields nothing then (its series are read through :meth:`SampleSource.sample_groups`)."""
    return _SKIP_SOURCES.get()


def collect_without_sources(registry: CollectorRegistry) -> list[Metric]:
    """``registry.collect()`` without the series of its sample sources."""
    token = _SKIP_SOURCES.set(True)
    try:
        return list(registry.collect())
    finally:
        _SKIP_SOURCES.reset(token)
