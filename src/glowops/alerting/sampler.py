"""Samples a prometheus-client registry into the embedded store, as a Prometheus scrape would.

Each sample gets the target labels a scrape adds (``job``, ``instance``); ``*_created``
series are skipped (nothing queries them); a series that vanished since the previous scrape
gets a staleness marker.

Two paths, same samples (``tests/telemetry/test_sample_source.py`` checks it):

- collectors whose values glowops owns (the HTTP RED metrics of :mod:`glowops.telemetry.red`,
  a :class:`~glowops.telemetry.sample_source.SampleSource`) are read directly, group by group
  (one group per labelled child: a histogram child is 15 series);
- every other collector goes through ``registry.collect()``.

The store labels of a group and, once written, its :class:`~glowops.promql.tsdb.Series`
objects are cached under the group (a source's group object, or (name, label values) on the
collect() path), so a scrape of unchanged series hashes no label tuple and allocates little
more than the floats. Cached Series stay valid until the store removes series (its ``epoch``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry

from glowops.promql import NAME, TSDB, Labels, Series, labels_of
from glowops.slicing import Steps, run_steps
from glowops.telemetry.sample_source import SeriesGroup, collect_without_sources, sources_of

SCRAPE_TIMELINE = "scrape"
GROUPS_PER_STEP = 32  # a group is one labelled child (a histogram child is 15 series): ~10-50 µs


class _Entry:
    """What the sampler keeps per group of series: store labels and, once written, the Series."""

    __slots__ = ("epoch", "labels", "series")

    def __init__(self, labels: tuple[Labels, ...]) -> None:
        self.labels = labels
        self.series: tuple[Series, ...] = ()
        self.epoch = -1  # the store's epoch when ``series`` was resolved


class Sampler:
    """``sample(t_ms)`` reads the registry once and appends every value to the store."""

    def __init__(
        self, registry: CollectorRegistry, store: TSDB, target_labels: Mapping[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.store = store
        self.target = dict(target_labels or {})
        self._entries: dict[tuple[str, ...], _Entry] = {}  # collect() path: by (name, values, names)
        self._group_entries: dict[SeriesGroup, _Entry] = {}  # sample sources: by group (identity)
        self._previous: set[Series] = set()

    def retarget(self, **labels: str) -> None:
        """Change target labels (the instance, once the server's address is known); the cached
        store labels are rebuilt. Nothing happens when the labels are the same."""
        if all(self.target.get(name) == value for name, value in labels.items()):
            return
        self.target.update(labels)
        self._entries.clear()
        self._group_entries.clear()

    def _read(self) -> Iterator[tuple[_Entry, Sequence[float]]]:
        """Every current value, by group of series: sample sources first, then the rest."""
        sources = sources_of(self.registry)
        if sources:
            group_entries = self._group_entries
            target = self.target
            for source in sources:
                for group, values in source.sample_groups():
                    entry = group_entries.get(group)
                    if entry is None:
                        # a series label named like a target label wins (honor_labels), as below
                        entry = group_entries[group] = _Entry(
                            tuple(
                                labels_of({**target, **dict(pairs), NAME: name})
                                for name, pairs in group.series
                            )
                        )
                    yield entry, values
            families = collect_without_sources(self.registry)
        else:
            families = list(self.registry.collect())
        entries = self._entries
        target = self.target
        for metric in families:
            for sample in metric.samples:
                name = sample.name
                if name.endswith("_created"):
                    continue
                key = (name, *sample.labels.values(), *sample.labels)
                entry = entries.get(key)
                if entry is None:
                    entry = entries[key] = _Entry((labels_of({**target, **sample.labels, NAME: name}),))
                yield entry, (float(sample.value),)

    def collect(self) -> list[tuple[Labels, float]]:
        """Every current sample with its store labels (what :meth:`sample` writes)."""
        out: list[tuple[Labels, float]] = []
        for entry, values in self._read():
            out.extend(zip(entry.labels, values, strict=True))
        return out

    def sample(self, t_ms: int) -> int:
        """Scrape once at ``t_ms``; the number of samples written (0 when ``t_ms`` is older than
        the previous scrape: rejected like an out-of-order sample)."""
        return run_steps(self.sample_steps(t_ms))

    def sample_steps(self, t_ms: int) -> Steps[int]:
        """:meth:`sample` as a generator that yields every :data:`GROUPS_PER_STEP` groups of
        series (see :mod:`glowops.slicing`); it returns the same count."""
        store = self.store
        pos = store.advance(SCRAPE_TIMELINE, t_ms)
        if pos is None:
            return 0
        timeline = store.timeline(SCRAPE_TIMELINE)
        epoch = store.epoch
        written: list[Series] = []
        extend = written.extend
        write = store.write
        countdown = GROUPS_PER_STEP
        for entry, values in self._read():
            countdown -= 1
            if not countdown:
                yield
                countdown = GROUPS_PER_STEP
            series = entry.series
            if entry.epoch != epoch:  # first write, or series were removed from the store since
                series = entry.series = tuple(store.series(lb, timeline, pos) for lb in entry.labels)
                entry.epoch = epoch
            write(pos, zip(series, values, strict=True))
            extend(series)
        # staleness: Series objects hash by identity, so this does not hash 10,000 label tuples
        current = set(written)
        vanished = self._previous - current
        if vanished:
            store.mark_stale(SCRAPE_TIMELINE, t_ms, [s.labels for s in vanished])
        self._previous = current
        return len(written)
