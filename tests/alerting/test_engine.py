"""The embedded engine: Prometheus' alert lifecycle, and every promtool case of the catalog."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from glowops.alerting.engine import RuleEngine, expand_template
from glowops.alerting.promtest import run_case
from glowops.alerting.rule_tests import build_cases
from glowops.alerting.rules import Thresholds, build_catalog
from glowops.promql import NAME, TSDB, PromQLError, labels_of
from glowops_prismaglow import PrismaGlowThresholds, make_pack
from glowops_prismaglow import pack as prismaglow_pack

MIN = 60_000


@dataclass(frozen=True)
class Rule:
    name: str
    expr: str
    for_seconds: float = 0
    keep_firing_for_seconds: float = 0
    labels: dict[str, str] = field(default_factory=lambda: {"severity": "warning"})
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rec:
    record: str
    expr: str


@dataclass(frozen=True)
class Cat:
    alerts: tuple[Rule, ...]
    recording: tuple[Rec, ...] = ()


def gauge_store(values: list[float | None], name: str = "g", **labels: str) -> TSDB:
    store = TSDB()
    lb = labels_of({NAME: name, **labels})
    for i, v in enumerate(values):
        store.append("s", i * MIN, [(lb, v)] if v is not None else [])
    return store


def states(engine: RuleEngine, minutes: int) -> list[str]:
    out = []
    for m in range(minutes):
        result = engine.evaluate(m * MIN)
        out.append(",".join(sorted(a.state for a in result.alerts)) or "-")
    return out


def test_every_promtool_case_of_the_catalog_gives_the_same_alerts() -> None:
    catalog = build_catalog(packs=[prismaglow_pack])
    cases = build_cases(catalog)
    assert len(cases) >= 30
    failures = [str(m) for case in cases for m in run_case(catalog, case)]
    assert failures == []


def test_custom_thresholds_keep_the_cases_green() -> None:
    catalog = build_catalog(
        thresholds=Thresholds(error_ratio_critical=0.1, backup_max_age="50h", disk_used_critical=0.95),
        packs=[make_pack(PrismaGlowThresholds(queue_depth_warning=200))],
    )
    failures = [str(m) for case in build_cases(catalog) for m in run_case(catalog, case)]
    assert failures == []


def test_a_broken_rule_fails_its_cases() -> None:
    """The comparison can fail: raise a threshold in the rules only and the cases catch it."""
    good = build_catalog()
    broken = dataclasses.replace(
        good,
        alerts=tuple(
            dataclasses.replace(r, expr=r.expr.replace("> 0.05", "> 0.5")) if r.name == "HighErrorRate" else r
            for r in good.alerts
        ),
    )
    failures = [m for case in build_cases(good) for m in run_case(good, case, broken)]
    assert failures and {m.alertname for m in failures} == {"HighErrorRate"}


def test_pending_then_firing_after_for_then_resolved() -> None:
    store = gauge_store([0, 5, 5, 5, 5, 0, 0])
    engine = RuleEngine(Cat((Rule("High", "g > 1", for_seconds=120),)), store)
    assert states(engine, 7) == ["-", "pending", "pending", "firing", "firing", "inactive", "inactive"]
    alert = engine.alerts()[0]
    assert (alert.active_at, alert.fired_at, alert.resolved_at) == (1 * MIN, 3 * MIN, 5 * MIN)


def test_a_pending_alert_that_clears_is_dropped() -> None:
    engine = RuleEngine(Cat((Rule("High", "g > 1", for_seconds=300),)), gauge_store([5, 5, 0, 5]))
    assert states(engine, 4) == ["pending", "pending", "-", "pending"]
    assert engine.alerts()[0].active_at == 3 * MIN  # a new pending alert, the old one forgotten


def test_keep_firing_for_holds_a_firing_alert() -> None:
    engine = RuleEngine(
        Cat((Rule("High", "g > 1", keep_firing_for_seconds=120),)), gauge_store([5, 0, 0, 0, 0, 5])
    )
    # fires at once (for 0), stays firing 2 minutes after the condition cleared, then resolves
    assert states(engine, 6) == ["firing", "firing", "firing", "inactive", "inactive", "firing"]


def test_resolved_alerts_are_kept_fifteen_minutes() -> None:
    engine = RuleEngine(Cat((Rule("High", "g > 1"),)), gauge_store([5] + [0] * 4))
    engine.evaluate(0)
    engine.evaluate(MIN)
    assert [a.state for a in engine.alerts()] == ["inactive"]
    engine.evaluate(MIN + 15 * MIN + 1)
    assert engine.alerts() == []


def test_labels_and_annotations_are_templated() -> None:
    store = gauge_store([7], name="q", queue="docs")
    rule = Rule(
        "Deep",
        "q > 1",
        labels={"severity": "warning", "q": "{{ $labels.queue }}"},
        annotations={"summary": "queue {{ $labels.queue }} at {{ $value }}"},
    )
    engine = RuleEngine(Cat((rule,)), store)
    alert = engine.evaluate(0).alerts[0]
    assert alert.labels == {"queue": "docs", "q": "docs", "severity": "warning", "alertname": "Deep"}
    assert alert.annotations == {"summary": "queue docs at 7"}
    assert expand_template("{{humanize $value}}", {}, 1234567.0) == "1.235e+06"


def test_recording_rules_run_first_and_go_stale_when_they_stop() -> None:
    store = gauge_store([5, 5, None, None, None, None, None, None])
    cat = Cat((Rule("Rec", "r > 1"),), (Rec("r", "g * 2"),))
    engine = RuleEngine(cat, store)
    assert engine.evaluate(0).firing()[0].value == 10  # the record written at t is read at t
    # g disappears after 1m but the lookback keeps it for 5 minutes; then the record stops and
    # its staleness marker ends the alert at once (no 5-minute lookback on the record)
    for m in range(1, 7):
        engine.evaluate(m * MIN)
    assert engine.evaluate(7 * MIN).firing() == []


def test_state_survives_a_restart() -> None:
    store = gauge_store([5] * 10)
    cat = Cat((Rule("High", "g > 1", for_seconds=300),))
    first = RuleEngine(cat, store)
    for m in range(3):
        first.evaluate(m * MIN)
    saved = first.snapshot()
    second = RuleEngine(cat, store)
    assert second.restore(saved) == 1
    second.evaluate(5 * MIN)
    assert second.alerts()[0].state == "firing"  # the `for` clock kept running across the restart


def test_bad_expressions_are_reported_with_the_rule_name() -> None:
    with pytest.raises(PromQLError, match="alert Bad"):
        RuleEngine(Cat((Rule("Bad", "rate(x)"),)), TSDB())
