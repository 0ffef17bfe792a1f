"""Run the catalog's promtool unit-test cases through the embedded engine.

:mod:`glowops.alerting.rule_tests` describes, for every rule, input series in promtool's
expanding notation and the alerts expected at chosen evaluation times. ``promtool test
rules`` checks them on the real Prometheus; :func:`run_case` checks them on
:class:`~glowops.alerting.engine.RuleEngine` the way promtool does it: samples at
``0, interval, 2*interval...`` from the Unix epoch, rules evaluated every
``evaluation_interval`` from t=0, and each check read at the last evaluation at or before
its ``eval_time``. Only firing alerts count, as in promtool.
"""

from __future__ import annotations

from dataclasses import dataclass

from glowops.alerting.engine import CatalogLike, RuleEngine
from glowops.alerting.rule_tests import AlertCheck, RuleTestCase, expand_values, expected_alerts
from glowops.alerting.rules import Catalog
from glowops.promql import NAME, TSDB, labels_of, parse_duration

INPUT_TIMELINE = "input"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A check whose alerts differ from what the engine produced."""

    case: str
    eval_time: str
    alertname: str
    expected: list[dict[str, str]]
    got: list[dict[str, str]]

    def __str__(self) -> str:
        return (
            f"{self.case!r} at {self.eval_time}, {self.alertname}: expected {self.expected}, got {self.got}"
        )


def load_case(case: RuleTestCase, retention_ms: int = 400 * 86400 * 1000) -> TSDB:
    """A store holding the case's input series (promtool's ``load`` semantics)."""
    store = TSDB(retention_ms)
    step = round(parse_duration(case.interval) * 1000)
    columns = []
    for series in case.series:
        labels = labels_of({**series.labels, NAME: series.metric})
        columns.append((labels, expand_values(series.values)))
    length = max((len(values) for _, values in columns), default=0)
    for i in range(length):
        batch = [
            (labels, v) for labels, values in columns if i < len(values) and (v := values[i]) is not None
        ]
        store.append(INPUT_TIMELINE, i * step, batch)
    return store


def run_case(
    catalog: Catalog, case: RuleTestCase, engine_catalog: CatalogLike | None = None
) -> list[Mismatch]:
    """Evaluate ``case`` with the engine; the checks that fail (empty when all pass).

    ``engine_catalog`` lets a test run deliberately broken rules against the cases of
    ``catalog`` (to prove the comparison can fail).
    """
    store = load_case(case)
    engine = RuleEngine(engine_catalog or catalog, store)
    step = round(parse_duration(case.evaluation_interval) * 1000)
    checks: dict[int, list[AlertCheck]] = {}
    for check in case.checks:
        at = round(parse_duration(check.eval_time) * 1000)
        checks.setdefault(at - at % step, []).append(check)  # the last evaluation at or before it
    last = max(checks, default=0)
    mismatches = []
    t = 0
    while t <= last:
        result = engine.evaluate(t)
        for check in checks.get(t, ()):
            got = sorted(
                (
                    {k: v for k, v in a.labels.items() if k != "alertname"}
                    | {"@annotations": repr(a.annotations)}
                    for a in result.alerts
                    if a.state == "firing" and a.rule == check.alertname
                ),
                key=repr,
            )
            expected = sorted(
                (
                    dict(e["exp_labels"]) | {"@annotations": repr(dict(e["exp_annotations"]))}
                    for e in expected_alerts(catalog, check)
                ),
                key=repr,
            )
            if got != expected:
                mismatches.append(Mismatch(case.name, check.eval_time, check.alertname, expected, got))
        t += step
    return mismatches
