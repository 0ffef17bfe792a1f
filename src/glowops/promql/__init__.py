"""The embedded PromQL engine and its sample store (the PromQL subset the rule catalog uses).

The semantics follow Prometheus 2.x (the version Debian ships and promtool tests against):

- instant selectors look back 5 minutes for the newest sample (closed interval), a staleness
  marker ends a series at once;
- range selectors take the samples in the closed interval ``[t - range, t]``;
- ``rate``/``increase`` extrapolate like Prometheus' ``extrapolatedRate`` (counter resets,
  the 1.1x average-interval rule, no extrapolation below zero for counters);
- ``histogram_quantile`` interpolates linearly inside the bucket, coalesces duplicate ``le``,
  enforces monotonic bucket counts and needs a ``+Inf`` bucket;
- functions and arithmetic drop the metric name; comparisons without ``bool`` filter and keep it.

Usage::

    expr = parse('sum by (route) (rate(http_requests_total{status=~"5.."}[5m])) > 0.1')
    vector = evaluate(expr, storage, t_ms)

``storage`` is anything with a ``select(matchers)`` method returning :class:`SeriesView`
objects (the embedded :class:`TSDB`, or :class:`MemoryStorage` in tests).

One module per idea:

- :mod:`~glowops.promql.model`: labels, samples, errors, the staleness marker
- :mod:`~glowops.promql.storage`: label matchers, the storage protocol, an in-memory storage
- :mod:`~glowops.promql.ast`: the syntax tree; :mod:`~glowops.promql.lexer` and
  :mod:`~glowops.promql.parser` build it
- :mod:`~glowops.promql.evaluator`: instant queries; :mod:`~glowops.promql.functions` and
  :mod:`~glowops.promql.operators` hold the function and operator semantics
- :mod:`~glowops.promql.tsdb`: the embedded sample store (bounded, persisted in SQLite)
- :mod:`~glowops.promql.durations`: Prometheus duration strings
"""

from glowops.promql.durations import format_duration, parse_duration, scale_duration
from glowops.promql.evaluator import Evaluator, evaluate
from glowops.promql.functions import bucket_quantile, extrapolated_rate
from glowops.promql.model import (
    LOOKBACK_MS,
    NAME,
    STALE_NAN,
    EvaluationError,
    Labels,
    PromQLError,
    Sample,
    Value,
    Vector,
    format_labels,
    is_stale,
    label_value,
    labels_of,
)
from glowops.promql.parser import parse
from glowops.promql.storage import Matcher, MemorySeries, MemoryStorage, SeriesView, Storage
from glowops.promql.tsdb import TSDB, Series

__all__ = [
    "LOOKBACK_MS",
    "NAME",
    "STALE_NAN",
    "TSDB",
    "EvaluationError",
    "Evaluator",
    "Labels",
    "Matcher",
    "MemorySeries",
    "MemoryStorage",
    "PromQLError",
    "Sample",
    "Series",
    "SeriesView",
    "Storage",
    "Value",
    "Vector",
    "bucket_quantile",
    "evaluate",
    "extrapolated_rate",
    "format_duration",
    "format_labels",
    "is_stale",
    "label_value",
    "labels_of",
    "parse",
    "parse_duration",
    "scale_duration",
]
