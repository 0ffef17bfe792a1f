"""Panel data for the console: a panel's PromQL evaluated over a time range on the embedded samples.

The queries are the catalog's, written once for Grafana; two placeholders are substituted:
``$__rate_interval`` becomes :data:`~glowops.dashboards.model.CONSOLE_RATE_INTERVAL` and
``$org_id`` the selected organisation (regex-escaped) or ``.*``. Evaluation uses the embedded
alert engine's :class:`~glowops.promql.Evaluator`, one instant query per step, as
Prometheus' ``query_range`` does. At most :data:`MAX_POINTS` steps per range keep an answer
within a few milliseconds per series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glowops.dashboards.model import CONSOLE_RATE_INTERVAL, ORG_VAR, RATE_INTERVAL, Panel
from glowops.promql import NAME, Evaluator, Labels, PromQLError, Storage, parse

# range name -> (seconds, step seconds): 60 to 120 points each.
RANGES: dict[str, tuple[int, int]] = {
    "5m": (5 * 60, 5),
    "15m": (15 * 60, 15),
    "1h": (3600, 30),
    "6h": (6 * 3600, 180),
    "24h": (24 * 3600, 720),
}
DEFAULT_RANGE = "1h"
MAX_POINTS = 121
MAX_SERIES = 12  # a chart with more lines is unreadable; the rest are counted, not drawn
ORG_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_LEGEND = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class QueryError(ValueError):
    """A bad range, org or expression (the caller answers 400)."""


def org_matcher_value(org: str | None) -> str:
    """The value of ``org_id=~"..."``: the org, escaped for a regex and a PromQL string; all when empty."""
    if not org:
        return ".*"
    if not ORG_PATTERN.fullmatch(org):
        raise QueryError("org must be 1-64 letters, digits, '_', '.', ':' or '-'")
    return re.escape(org).replace("\\", "\\\\")


def substitute(expr: str, org: str | None) -> str:
    """A catalog query made concrete for the embedded evaluator."""
    return expr.replace(RATE_INTERVAL, CONSOLE_RATE_INTERVAL).replace(ORG_VAR, org_matcher_value(org))


def legend_of(template: str, labels: Labels) -> str:
    """Grafana's ``legendFormat``: ``{{route}}`` replaced by label values; the label set when empty."""
    values = dict(labels)
    if template:
        return _LEGEND.sub(lambda m: values.get(m.group(1), ""), template)
    shown = ", ".join(f"{k}={v}" for k, v in labels if k != NAME)
    return shown or values.get(NAME, "value")


@dataclass(frozen=True, slots=True)
class Window:
    """The steps of one range ending at ``end_ms``."""

    start_ms: int
    end_ms: int
    step_ms: int

    @classmethod
    def for_range(cls, name: str, now_ms: int) -> Window:
        if name not in RANGES:
            raise QueryError(f"range must be one of {', '.join(RANGES)}")
        seconds, step = RANGES[name]
        # The last step is now, not a step boundary: the newest scrape shows at once (a
        # newcomer's demo fills within seconds).
        return cls(now_ms - seconds * 1000, now_ms, step * 1000)

    @property
    def times(self) -> list[int]:
        count = min(MAX_POINTS, (self.end_ms - self.start_ms) // self.step_ms + 1)
        return [self.end_ms - (count - 1 - i) * self.step_ms for i in range(count)]


def _number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


def evaluate_range(storage: Storage, exprs: Sequence[tuple[str, str]], window: Window) -> dict[str, Any]:
    """Evaluate ``(expr, legend)`` pairs at every step; JSON-ready series (``None`` = no sample)."""
    times = window.times
    index = {t: i for i, t in enumerate(times)}
    series: dict[tuple[int, Labels], list[float | None]] = {}
    legends: dict[tuple[int, Labels], str] = {}
    errors: list[str] = []
    for q, (expr, legend) in enumerate(exprs):
        try:
            node = parse(expr)
        except PromQLError as err:
            raise QueryError(f"query {q + 1}: {err}") from None
        evaluator = Evaluator(storage)
        for t in times:
            try:
                value = evaluator.evaluate(node, t)
            except Exception as err:  # one bad step (many-to-many) must not blank the panel
                errors.append(f"query {q + 1}: {err}")
                break
            vector = [((), value)] if isinstance(value, float) else value
            for labels, v in vector:
                key = (q, labels)
                if key not in series:
                    series[key] = [None] * len(times)
                    legends[key] = legend_of(legend, labels)
                series[key][index[t]] = _number(v)
    ordered = sorted(series, key=lambda k: (k[0], legends[k]))
    return {
        "timestamps": [t // 1000 for t in times],
        "step": window.step_ms // 1000,
        "series": [{"name": legends[k], "values": series[k]} for k in ordered[:MAX_SERIES]],
        "hidden_series": max(0, len(ordered) - MAX_SERIES),
        "errors": sorted(set(errors)),
    }


def panel_data(
    storage: Storage, panel: Panel, range_name: str, org: str | None, now_ms: int
) -> dict[str, Any]:
    """Everything the browser draws for one panel."""
    window = Window.for_range(range_name, now_ms)
    exprs = [(substitute(q.expr, org), q.legend) for q in panel.queries]
    data = evaluate_range(storage, exprs, window)
    data.update(
        panel=panel.key,
        title=panel.title,
        unit=panel.unit,
        kind=panel.kind,
        range=range_name,
        org=org or "",
        thresholds=[
            {"value": t.value, "severity": t.severity, "alert": t.alert, "mode": t.mode}
            for t in panel.thresholds
        ],
    )
    return data


def org_ids(series_labels: Iterable[Labels], limit: int = 200) -> list[str]:
    """The distinct ``org_id`` values among the stored series (the org filter's choices)."""
    found: set[str] = set()
    for labels in series_labels:
        for name, value in labels:
            if name == "org_id" and value and ORG_PATTERN.fullmatch(value):
                found.add(value)
                if len(found) >= limit:
                    return sorted(found)
    return sorted(found)


def stored_labels(by_name: Mapping[str, Mapping[Labels, Any]]) -> Iterable[Labels]:
    """Every label set of a :class:`~glowops.promql.tsdb.TSDB` (its ``by_name`` index)."""
    for family in by_name.values():
        yield from family
