"""The embedded rule engine: the catalog evaluated with Prometheus' alerting semantics.

Per evaluation at time ``t`` (as a Prometheus rule group does it):

1. Recording rules run first; their outputs are written to the store as series (and a series
   a rule stops producing gets a staleness marker), so alert rules read them at the same ``t``.
2. Each alerting rule's expression yields the alerts that are active now. A new alert is
   ``pending``; it becomes ``firing`` once it has been active for ``for``. An alert no longer
   returned is resolved (``inactive``) at once, unless it was firing and ``keep_firing_for``
   has not elapsed since it first went missing. A pending alert that goes missing is dropped.
   Resolved alerts are kept for 15 minutes so the resolve notice can be delivered.

Labels and annotations support the ``{{ $labels.name }}`` and ``{{ $value }}`` templates.
The engine is clock-free: the caller passes ``t``; state can be saved and restored.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from glowops.promql import (
    NAME,
    TSDB,
    EvaluationError,
    Evaluator,
    Labels,
    PromQLError,
    Vector,
    labels_of,
    parse,
)
from glowops.promql.ast import Node
from glowops.slicing import Steps, run_steps

log = logging.getLogger("glowops.alerting.engine")

AlertState = Literal["pending", "firing", "inactive"]
RESOLVED_RETENTION_MS = 15 * 60 * 1000
RULES_TIMELINE = "rules"


class AlertingRuleLike(Protocol):
    """What the engine reads from an alerting rule (:class:`glowops.alerting.rules.AlertRule`)."""

    @property
    def name(self) -> str: ...
    @property
    def expr(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def annotations(self) -> dict[str, str]: ...
    @property
    def for_seconds(self) -> float: ...
    @property
    def keep_firing_for_seconds(self) -> float: ...


class RecordingRuleLike(Protocol):
    @property
    def record(self) -> str: ...
    @property
    def expr(self) -> str: ...


class CatalogLike(Protocol):
    @property
    def alerts(self) -> Sequence[AlertingRuleLike]: ...
    @property
    def recording(self) -> Sequence[RecordingRuleLike]: ...


@dataclass
class Alert:
    """One alert instance (a rule and a label set)."""

    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_at: int  # ms
    value: float
    fired_at: int | None = None
    resolved_at: int | None = None
    keep_firing_since: int | None = None

    @property
    def key(self) -> Labels:
        return labels_of(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "labels": self.labels,
            "annotations": self.annotations,
            "state": self.state,
            "active_at": self.active_at,
            "value": None if math.isnan(self.value) else self.value,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "keep_firing_since": self.keep_firing_since,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        value = data.get("value")
        return cls(
            rule=data["rule"],
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
            state=data["state"],
            active_at=int(data["active_at"]),
            value=math.nan if value is None else float(value),
            fired_at=data.get("fired_at"),
            resolved_at=data.get("resolved_at"),
            keep_firing_since=data.get("keep_firing_since"),
        )


_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.([A-Za-z_][A-Za-z0-9_]*)|\$value|humanize\s+\$value)\s*\}\}")


def expand_template(text: str, labels: Mapping[str, str], value: float) -> str:
    """Replace ``{{ $labels.x }}``, ``{{ $value }}`` and ``{{ humanize $value }}``."""
    if "{{" not in text:
        return text

    def sub(match: re.Match[str]) -> str:
        if match.group(2):
            return labels.get(match.group(2), "")
        if match.group(1).startswith("humanize"):
            return f"{value:.4g}"
        return f"{value:g}" if not math.isnan(value) else "NaN"

    return _TEMPLATE.sub(sub, text)


@dataclass
class _CompiledAlert:
    rule: AlertingRuleLike
    node: Node
    for_ms: int
    keep_ms: int
    active: dict[Labels, Alert] = field(default_factory=dict)


@dataclass
class _CompiledRecording:
    rule: RecordingRuleLike
    node: Node
    previous: set[Labels] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What one evaluation produced."""

    t: int
    alerts: tuple[Alert, ...]  # every alert the engine holds (pending, firing, recently resolved)
    errors: tuple[str, ...] = ()

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.state == "firing"]


class RuleEngine:
    """Evaluates a catalog against a :class:`TSDB`."""

    def __init__(self, catalog: CatalogLike, store: TSDB, *, lookback_ms: int = 5 * 60 * 1000) -> None:
        self.store = store
        self.evaluator = Evaluator(store, lookback_ms)
        self.recording: list[_CompiledRecording] = []
        self.alerting: list[_CompiledAlert] = []
        problems = []
        for rec in catalog.recording:
            try:
                self.recording.append(_CompiledRecording(rec, parse(rec.expr)))
            except PromQLError as err:
                problems.append(f"recording rule {rec.record}: {err}")
        for rule in catalog.alerts:
            try:
                node = parse(rule.expr)
            except PromQLError as err:
                problems.append(f"alert {rule.name}: {err}")
                continue
            self.alerting.append(
                _CompiledAlert(
                    rule, node, round(rule.for_seconds * 1000), round(rule.keep_firing_for_seconds * 1000)
                )
            )
        if problems:
            raise PromQLError("; ".join(problems))

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, t: int) -> EvaluationResult:
        """Evaluate every rule at ``t`` (ms since the epoch)."""
        return run_steps(self.evaluate_steps(t))

    def evaluate_steps(self, t: int) -> Steps[EvaluationResult]:
        """:meth:`evaluate` as a generator that yields after each rule (see
        :mod:`glowops.slicing`); it returns the same result."""
        errors: list[str] = []
        self.evaluator.reset_cache()
        yield from self._record(t, errors)
        self.evaluator.reset_cache()  # recording outputs now exist at t
        for compiled in self.alerting:
            yield
            try:
                vector = self._vector(compiled.node, t)
            except (EvaluationError, PromQLError) as err:
                errors.append(f"{compiled.rule.name}: {err}")
                log.warning("alert rule %s failed: %s", compiled.rule.name, err)
                continue
            self._update(compiled, vector, t)
        return EvaluationResult(t, tuple(self.alerts()), tuple(errors))

    def _vector(self, node: Node, t: int) -> Vector:
        value = self.evaluator.evaluate(node, t)
        return [((), value)] if isinstance(value, float) else value

    def _record(self, t: int, errors: list[str]) -> Steps[None]:
        outputs: list[tuple[Labels, float]] = []
        vanished: list[Labels] = []
        for compiled in self.recording:
            yield
            try:
                vector = self._vector(compiled.node, t)
            except (EvaluationError, PromQLError) as err:
                errors.append(f"{compiled.rule.record}: {err}")
                continue
            current: set[Labels] = set()
            for labels, value in vector:
                out = labels_of({**dict(labels), NAME: compiled.rule.record})
                if out in current:
                    errors.append(f"{compiled.rule.record}: vector contains duplicate series {dict(out)}")
                    continue
                current.add(out)
                outputs.append((out, value))
            vanished.extend(compiled.previous - current)
            compiled.previous = current
        if outputs or vanished:
            self.store.append(RULES_TIMELINE, t, outputs)
            if vanished:
                self.store.mark_stale(RULES_TIMELINE, t, vanished)

    def _update(self, compiled: _CompiledAlert, vector: Vector, t: int) -> None:
        rule = compiled.rule
        seen: set[Labels] = set()
        for sample_labels, value in vector:
            base = {k: v for k, v in sample_labels if k != NAME}
            labels = dict(base)
            for key, raw in rule.labels.items():
                labels[key] = expand_template(raw, base, value)
            labels["alertname"] = rule.name
            annotations = {k: expand_template(v, base, value) for k, v in rule.annotations.items()}
            alert_key = labels_of(labels)
            if alert_key in seen:
                log.warning("alert rule %s: vector contains metrics with the same labelset", rule.name)
                continue
            seen.add(alert_key)
            alert = compiled.active.get(alert_key)
            if alert is not None and alert.state != "inactive":
                alert.value, alert.annotations, alert.labels = value, annotations, labels
                alert.keep_firing_since = None
            else:
                alert = compiled.active[alert_key] = Alert(
                    rule.name, labels, annotations, "pending", t, value
                )
        for alert_key, alert in list(compiled.active.items()):
            if alert_key not in seen:
                keep = False
                if alert.state == "firing" and compiled.keep_ms > 0:
                    if alert.keep_firing_since is None:
                        alert.keep_firing_since = t
                    keep = t - alert.keep_firing_since < compiled.keep_ms
                if alert.state == "pending" or (
                    alert.resolved_at is not None and t - alert.resolved_at > RESOLVED_RETENTION_MS
                ):
                    del compiled.active[alert_key]
                if alert.state != "inactive" and not keep:
                    alert.state = "inactive"
                    alert.resolved_at = t
                if not keep:
                    continue
            if alert.state == "pending" and t - alert.active_at >= compiled.for_ms:
                alert.state = "firing"
                alert.fired_at = t

    # --- state --------------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        return [a for c in self.alerting for a in c.active.values()]

    def snapshot(self) -> list[dict[str, Any]]:
        """Alert state as JSON-able dicts (persisted so a restart keeps pending/firing alerts)."""
        return [a.to_dict() for a in self.alerts()]

    def restore(self, saved: Iterable[Mapping[str, Any]]) -> int:
        """Reload alert state saved by :meth:`snapshot`; alerts of unknown rules are ignored."""
        by_rule = {c.rule.name: c for c in self.alerting}
        restored = 0
        for data in saved:
            compiled = by_rule.get(str(data.get("rule")))
            if compiled is None:
                continue
            alert = Alert.from_dict(data)
            compiled.active[alert.key] = alert
            restored += 1
        return restored
