"""The dashboard data model shared by the Grafana export and the embedded ``/ops`` console.

A :class:`Panel` holds PromQL queries written once, with two Grafana placeholders that both
renderers understand: ``$__rate_interval`` (Grafana substitutes it; the console uses
:data:`CONSOLE_RATE_INTERVAL`) and ``$org_id`` (a regex matcher value, ``org_id=~"$org_id"``;
the console substitutes the selected org or ``.*``). Every query stays inside the PromQL subset
of :mod:`glowops.alerting.rules` so the embedded engine can evaluate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PanelKind = Literal["timeseries", "stat", "gauge", "bargauge", "table"]
ThresholdMode = Literal["above", "below"]  # "below": a value under the number is bad (cache hit ratio)

RATE_INTERVAL = "$__rate_interval"
ORG_VAR = "$org_id"
CONSOLE_RATE_INTERVAL = "5m"


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target of a panel."""

    expr: str
    legend: str = ""  # Grafana legendFormat, e.g. "{{route}}"
    ref_id: str = "A"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A line or colour step on a panel, taken from an alert rule (never typed twice)."""

    value: float
    severity: Literal["warning", "critical"]
    alert: str  # the rule it comes from, so the console can link to it
    mode: ThresholdMode = "above"


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: what it shows, in which unit, with which thresholds."""

    key: str  # stable slug, unique within its dashboard; Grafana panel ids derive from order
    title: str
    description: str
    unit: str  # Grafana unit id: "s", "percentunit", "reqps", "short", "bytes", "dtdurations"
    queries: tuple[Query, ...]
    kind: PanelKind = "timeseries"
    thresholds: tuple[Threshold, ...] = ()
    width: int = 12  # Grafana grid columns (of 24)
    height: int = 8
    org_filtered: bool = False  # True when the queries carry org_id=~"$org_id"


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One dashboard with a fixed uid (links and provisioning rely on it)."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default=("glowops",))

    def panel(self, key: str) -> Panel:
        for panel in self.panels:
            if panel.key == key:
                return panel
        raise KeyError(f"dashboard {self.uid!r} has no panel {key!r}")
