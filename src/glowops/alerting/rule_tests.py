"""Unit-test cases for every alerting rule, as data, rendered to ``promtool test rules`` files.

Each :class:`RuleTestCase` gives input series in promtool's expanding notation and, at chosen
evaluation times, the alerts that must be firing (an empty tuple means "none"). Every alert of
the catalog has at least one check where it fires and one where it is quiet or has resolved.
The same cases run through ``promtool test rules`` and through the embedded engine, which must
give the same alerts at the same steps (evaluation starts at t=0, the Unix epoch, so ``time()``
equals the evaluation offset).

The numbers are derived from the catalog's thresholds and objectives, and the checks sit a
few steps away from every edge so that they test the rule, not the rounding.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.alerting.rules import BURN_RATE_ALERTS, Catalog, le_label, num
from glowops.promql import parse_duration
from glowops.telemetry.catalog import HTTP_BUCKETS

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class InputSeries:
    """One input series: metric name, labels and values in promtool's expanding notation."""

    metric: str
    labels: Labels
    values: str

    @property
    def series(self) -> str:
        """The series in PromQL notation: ``name{a="b"}``."""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


@dataclass(frozen=True, slots=True)
class AlertCheck:
    """At ``eval_time``, exactly these alerts of ``alertname`` fire.

    Each entry of ``firing`` holds the labels that come from the series (``job``, ``check``,
    ``org_id``...); the rule's own labels and annotations are added when rendering.
    """

    eval_time: str
    alertname: str
    firing: tuple[Labels, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleTestCase:
    """A story told with input series, and what the rules say about it along the way."""

    name: str
    series: tuple[InputSeries, ...]
    checks: tuple[AlertCheck, ...]
    interval: str = "1m"  # between input samples
    evaluation_interval: str = "1m"


_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"(-?{_NUMBER})(?:([-+]{_NUMBER})?x(\d+))?")


def expand_values(text: str) -> list[float | None]:
    """promtool's expanding notation as a list (``None`` for ``_``, a missing sample).

    ``"1+2x3 _ 5x1"`` → ``[1, 3, 5, 7, None, 5, 5]``.
    """
    out: list[float | None] = []
    for token in text.split():
        if token == "_":
            out.append(None)
            continue
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError(f"cannot read series value {token!r}")
        start = float(match.group(1))
        if match.group(3) is None:
            out.append(start)
            continue
        step = float(match.group(2) or 0)
        out.extend(start + step * i for i in range(int(match.group(3)) + 1))
    return out


# --------------------------------------------------------------------------------------------
# Notation helpers
# --------------------------------------------------------------------------------------------
def ramp(*segments: tuple[int, float], start: float = 0) -> str:
    """A counter: ``start`` at t=0, then for each ``(steps, increment)`` that many increments."""
    parts = [num(start)]
    value = start
    for steps, increment in segments:
        parts.append(f"{num(value + increment)}+{num(increment)}x{steps - 1}")
        value += increment * steps
    return " ".join(parts)


def hold(*segments: tuple[int, float]) -> str:
    """A gauge: for each ``(steps, value)`` that value for that many samples."""
    return " ".join(f"{num(value)}x{steps - 1}" for steps, value in segments)


def minutes(m: float) -> str:
    """A whole number of minutes in promtool's notation (``25m``)."""
    return f"{int(m)}m"


@dataclass
class CaseBuilder:
    """Collects the test cases of a catalog; a pack's ``rule_tests`` adds its own with it.

    ``s()`` makes an input series carrying the scrape labels (``job``, ``instance``, ``service``),
    ``fire()``/``quiet()`` the checks, ``add()`` one case, ``spike()`` the common counter story.
    """

    catalog: Catalog
    cases: list[RuleTestCase] = field(default_factory=list)

    @property
    def scrape(self) -> dict[str, str]:
        service = self.catalog.alerts[0].service
        return {"job": self.catalog.job, "instance": "gateway:8000", "service": service}

    def s(self, metric: str, values: str, **labels: str) -> InputSeries:
        return InputSeries(metric, MappingProxyType({**self.scrape, **labels}), values)

    def add(
        self,
        name: str,
        series: list[InputSeries],
        checks: list[AlertCheck],
        *,
        interval: str = "1m",
        evaluation_interval: str = "1m",
    ) -> None:
        self.cases.append(RuleTestCase(name, tuple(series), tuple(checks), interval, evaluation_interval))

    def fire(self, at: str, alert: str, *labels: Labels) -> AlertCheck:
        return AlertCheck(at, alert, tuple(labels) if labels else (MappingProxyType({}),))

    def quiet(self, at: str, alert: str) -> AlertCheck:
        return AlertCheck(at, alert, ())

    def health_check_story(self, failing: str, alert: str, *, critical: bool) -> None:
        """The check ``failing`` fails from 5m to 12m while the others (and a disk check) pass:
        ``alert`` fires for it, glowops' generic health rules stay quiet unless ``alert`` is one."""
        scrape = self.scrape
        flag = "true" if critical else "false"
        series = [
            self.s("glowops_health_check_up", hold((5, 1), (8, 0), (8, 1)), check=failing, critical=flag),
            self.s("glowops_health_check_up", hold((21, 1)), check="disk", critical="false"),
        ]
        others = [self.quiet("11m", name) for name in GENERIC_HEALTH_ALERTS if name != alert]
        self.add(
            f"the {failing} health check fails from 5m to 12m",
            series,
            [
                self.quiet("3m", alert),
                self.fire("11m", alert, {**scrape, "check": failing, "critical": flag}),
                *others,
                self.quiet("16m", alert),
            ],
        )

    def spike(
        self,
        name: str,
        alert: str,
        metric: str,
        labels: dict[str, str],
        per_window: float,
        *,
        window: float = 5,
        steps: int = 10,
    ) -> None:
        """A counter growing at 3x the alert's threshold rate (``per_window`` per ``window``
        minutes) for ``steps`` minutes from 10m: quiet before, firing near the end, quiet after."""
        per_step = math.ceil(3 * per_window / window)
        fire_at = 10 + steps - 2
        quiet_at = 10 + steps + window + 3
        self.add(
            name,
            [self.s(metric, ramp((10, 0), (steps, per_step), (int(window) + 10, 0)), **labels)],
            [
                self.quiet("8m", alert),
                self.fire(minutes(fire_at), alert),
                self.quiet(minutes(quiet_at), alert),
            ],
        )


def build_cases(catalog: Catalog) -> tuple[RuleTestCase, ...]:
    """Every test case for ``catalog`` (an unscaled catalog: the times are production times)."""
    if catalog.time_scale != 1:
        raise ValueError("rule test cases describe the production catalog; build it with time_scale=1")
    c = CaseBuilder(catalog)
    _health_cases(c)
    _error_rate_cases(c)
    _burn_rate_cases(c)
    _latency_cases(c)
    _gauge_cases(c)
    if any(rule.family == "backup" for rule in catalog.alerts):
        _backup_cases(c)
    for pack in catalog.packs:
        if pack.rule_tests is not None:
            pack.rule_tests(c)
    c.add(
        "a dead letter from 5m until it is requeued at 10m",
        [c.s("glowops_outbox_dead_letters", hold((5, 0), (5, 2), (5, 0)))],
        [
            c.quiet("3m", "NotificationsDeadLettered"),
            c.fire("7m", "NotificationsDeadLettered", c.scrape),
            c.quiet("12m", "NotificationsDeadLettered"),
        ],
    )
    c.add(
        "the Watchdog always fires",
        [c.s("up", "1x5")],
        [c.fire("0m", HEARTBEAT_ALERT), c.fire("5m", HEARTBEAT_ALERT)],
    )
    return tuple(c.cases)


GENERIC_HEALTH_ALERTS = ("CriticalHealthCheckFailing", "HealthCheckFailing")


def _health_cases(c: CaseBuilder) -> None:
    scrape = c.scrape
    c.add(
        "service scrape fails for 6 minutes, then recovers",
        [
            c.s("up", hold((5, 1), (6, 0), (6, 1))),
        ],
        [
            c.quiet("3m", "ServiceDown"),
            c.quiet("5m", "ServiceDown"),
            c.fire("8m", "ServiceDown", scrape),
            c.quiet("14m", "ServiceDown"),
        ],
    )
    c.health_check_story("database", "DatabaseConnectionFailures", critical=True)
    c.health_check_story("payments_api", "CriticalHealthCheckFailing", critical=True)
    c.health_check_story("search_index", "HealthCheckFailing", critical=False)


def _http_series(c: CaseBuilder, ok: str, errors: str) -> list[InputSeries]:
    route = {"method": "GET", "route": "/v1/documents"}
    return [
        c.s("http_requests_total", ok, status="200", **route),
        c.s("http_requests_total", errors, status="500", **route),
    ]


def _error_rate_cases(c: CaseBuilder) -> None:
    th = c.catalog.thresholds
    burst = min(100, math.ceil(2 * th.error_ratio_critical * 100))
    c.add(
        f"{burst}% of requests fail from 10m to 20m",
        _http_series(
            c,
            ramp((10, 100), (10, 100 - burst), (25, 100)),
            ramp((10, 0), (10, burst), (25, 0)),
        ),
        [
            c.quiet("9m", "HighErrorRate"),
            c.fire("16m", "HighErrorRate"),
            # the 5 min window is clean from 24m; keep_firing_for holds the alert until 29m
            c.fire("26m", "HighErrorRate"),
            c.quiet("32m", "HighErrorRate"),
            c.fire("25m", "ElevatedErrorRate"),
            c.quiet("38m", "ElevatedErrorRate"),
        ],
    )
    moderate = math.floor((th.error_ratio_warning + th.error_ratio_critical) / 2 * 100)
    c.add(
        f"{moderate}% of requests fail: a warning, not a page",
        _http_series(
            c,
            ramp((40, 100 - moderate)),
            ramp((40, moderate)),
        ),
        [c.fire("30m", "ElevatedErrorRate"), c.quiet("30m", "HighErrorRate")],
    )
    low = max(1, math.floor(th.error_ratio_warning * 100 / 2))
    c.add(
        f"{low}% of requests fail: below every threshold",
        _http_series(
            c,
            ramp((40, 100 - low)),
            ramp((40, low)),
        ),
        [
            c.quiet("30m", "ElevatedErrorRate"),
            c.quiet("30m", "HighErrorRate"),
            c.quiet("30m", "AvailabilityBudgetBurnFast"),
        ],
    )


def _bad_share(burn: float, budget: float, factor: float) -> int:
    """Bad events per 1000 so that the ratio is ``factor`` times the burn-rate threshold."""
    bad = round(factor * burn * budget * 1000)
    if not 0 < bad < 1000:
        raise ValueError(f"objective too loose for the burn-rate test cases (budget {budget:g})")
    return bad


def _burn_rate_cases(c: CaseBuilder) -> None:
    obj = c.catalog.objectives
    burns = {suffix: burn for suffix, _sev, _prio, burn, *_ in BURN_RATE_ALERTS}
    le = le_label(obj.latency_threshold_seconds)
    for kind, budget in (("Availability", 1 - obj.availability), ("Latency", 1 - obj.latency)):

        def series(bad_steps: tuple[tuple[int, int], ...], kind: str = kind) -> list[InputSeries]:
            # bad_steps: (steps, bad per 1000) segments; 1000 requests per step in total
            good = ramp(*((n, 1000 - bad) for n, bad in bad_steps))
            bad = ramp(*bad_steps)
            if kind == "Availability":
                return _http_series(c, good, bad)
            labels = {"method": "GET", "route": "/v1/documents"}
            return [
                c.s("http_request_duration_seconds_bucket", good, le=le, **labels),
                c.s(
                    "http_request_duration_seconds_count", ramp(*((n, 1000) for n, _ in bad_steps)), **labels
                ),
            ]

        # Fast: 3x the 14.4x threshold from 60m to 100m. The 1h window crosses at ~80m; the
        # 5 min window resets the page within minutes once the errors stop.
        bad = _bad_share(burns["Fast"], budget, 3)
        c.add(
            f"{kind} SLO: fast burn from 60m to 100m",
            series(((60, 0), (40, bad), (20, 0))),
            [
                c.quiet("70m", f"{kind}BudgetBurnFast"),
                c.fire("95m", f"{kind}BudgetBurnFast"),
                c.quiet("112m", f"{kind}BudgetBurnFast"),
            ],
        )
        # Medium: 1.5x the 6x threshold (below 14.4x) from 30m: the 6h window crosses at ~90m.
        bad = _bad_share(burns["Medium"], budget, 1.5)
        c.add(
            f"{kind} SLO: medium burn from 30m",
            series(((30, 0), (170, bad))),
            [
                c.quiet("80m", f"{kind}BudgetBurnMedium"),
                c.fire("130m", f"{kind}BudgetBurnMedium"),
                c.quiet("130m", f"{kind}BudgetBurnFast"),
            ],
        )
        # Slow: 3x the 1x threshold (below 6x) from 6h; the 3d window crosses at ~9h.
        bad = _bad_share(burns["Slow"], budget, 3)
        c.add(
            f"{kind} SLO: slow burn from 6h",
            series(((36, 0), (114, bad))),
            [
                c.quiet("5h", f"{kind}BudgetBurnSlow"),
                c.fire("12h", f"{kind}BudgetBurnSlow"),
                c.quiet("12h", f"{kind}BudgetBurnMedium"),
                c.quiet("12h", f"{kind}BudgetBurnFast"),
            ],
            interval="10m",
            evaluation_interval="10m",
        )


def _histogram(c: CaseBuilder, segments: list[tuple[int, int]], slow_bucket: float) -> list[InputSeries]:
    """Buckets for 100 requests per step: ``(steps, slow)`` segments put ``slow`` requests in the
    bucket ending at ``slow_bucket`` and the rest in the 0.1 s bucket."""
    labels = {"method": "GET", "route": "/v1/assistant/chat"}
    out = []
    for bound in (*HTTP_BUCKETS, math.inf):
        per_step = [
            (n, (100 - slow if bound >= 0.1 else 0) + (slow if bound >= slow_bucket else 0))
            for n, slow in segments
        ]
        le = "+Inf" if bound == math.inf else le_label(bound)
        out.append(c.s("http_request_duration_seconds_bucket", ramp(*per_step), le=le, **labels))
    out.append(c.s("http_request_duration_seconds_count", ramp(*((n, 100) for n, _ in segments)), **labels))
    return out


def _slow_bucket(threshold: float) -> float:
    """The bucket whose lower bound is at or above ``threshold``: requests there are surely slower."""
    for lower, upper in itertools.pairwise(HTTP_BUCKETS):
        if lower >= threshold:
            return upper
    raise ValueError(f"latency threshold {threshold:g}s is too high for the histogram buckets")


def _latency_cases(c: CaseBuilder) -> None:
    th = c.catalog.thresholds
    # 3 % of requests above the p99 threshold: p99 lands in the slow bucket, p95 stays fast.
    c.add(
        "3% of requests slower than the p99 threshold from 10m to 30m",
        _histogram(c, [(10, 0), (20, 3), (20, 0)], _slow_bucket(th.p99_critical_seconds)),
        [
            c.quiet("8m", "HighLatencyP99"),
            c.fire("20m", "HighLatencyP99"),
            # the 5 min window is fast again from 34m; keep_firing_for holds it until 39m
            c.fire("37m", "HighLatencyP99"),
            c.quiet("45m", "HighLatencyP99"),
            c.quiet("20m", "SlowResponsesP95"),
        ],
    )
    slow = _slow_bucket(th.p95_warning_seconds)
    if slow > th.p99_critical_seconds:
        raise ValueError("p95 warning threshold must leave a bucket below the p99 critical threshold")
    c.add(
        "10% of requests slower than the p95 threshold from 10m to 40m",
        _histogram(c, [(10, 0), (30, 10), (25, 0)], slow),
        [
            c.quiet("8m", "SlowResponsesP95"),
            c.fire("35m", "SlowResponsesP95"),
            c.quiet("35m", "HighLatencyP99"),
            c.quiet("62m", "SlowResponsesP95"),
        ],
    )


def _gauge_cases(c: CaseBuilder) -> None:
    th = c.catalog.thresholds
    scrape = c.scrape
    crit, warn = th.disk_used_critical, th.disk_used_warning
    c.add(
        "disk above the critical level from 5m to 15m",
        [
            c.s("glowops_disk_used_ratio", hold((5, warn / 2), (11, (1 + crit) / 2), (5, warn / 2))),
        ],
        [
            c.quiet("3m", "StorageAlmostFull"),
            c.fire("12m", "StorageAlmostFull", scrape),
            c.quiet("18m", "StorageAlmostFull"),
        ],
    )
    c.add(
        "disk between the warning and critical levels from 5m to 30m",
        [
            c.s("glowops_disk_used_ratio", hold((5, warn / 2), (26, (warn + crit) / 2), (5, warn / 2))),
        ],
        [
            c.quiet("12m", "StorageFillingUp"),
            c.fire("25m", "StorageFillingUp", scrape),
            c.quiet("25m", "StorageAlmostFull"),
            c.quiet("34m", "StorageFillingUp"),
        ],
    )


def _backup_cases(c: CaseBuilder) -> None:
    th = c.catalog.thresholds
    scrape = c.scrape
    c.add(
        "a backup fails at 5m; a good one follows at 15m",
        [
            c.s("glowops_backup_last_success_timestamp_seconds", hold((15, 100), (6, 900))),
            c.s("glowops_backup_last_failure_timestamp_seconds", hold((5, 0), (16, 300))),
        ],
        [c.quiet("3m", "BackupFailed"), c.fire("8m", "BackupFailed", scrape), c.quiet("18m", "BackupFailed")],
    )

    max_age = parse_duration(th.backup_max_age)
    stop = 60  # steps of 10 min: backups succeed every 10 min until 10h, then stop
    stale_step = math.ceil((stop * 600 + max_age) / 600)
    resume = stale_step + 48
    c.add(
        f"backups stop at 10h; stale after {th.backup_max_age}; a good one at {resume * 10 // 60}h",
        [
            c.s(
                "glowops_backup_last_success_timestamp_seconds",
                ramp((stop, 600)) + " " + hold((resume - stop, stop * 600), (20, resume * 600)),
            ),
        ],
        [
            c.quiet(minutes((stale_step - 6) * 10), "BackupStale"),
            c.fire(minutes((stale_step + 12) * 10), "BackupStale", scrape),
            c.quiet(minutes((resume + 10) * 10), "BackupStale"),
        ],
        interval="10m",
        evaluation_interval="10m",
    )

    size = 1_000_000.0
    c.add(
        "a backup at 11m is far smaller than the median",
        [
            c.s(
                "glowops_backup_size_bytes",
                hold((11, size), (5, size * th.backup_size_drop_ratio * 0.8), (5, size)),
            ),
            c.s("glowops_backup_size_median_7_bytes", hold((21, size))),
        ],
        [
            c.quiet("5m", "BackupSizeDropped"),
            c.fire("13m", "BackupSizeDropped", scrape),
            c.quiet("18m", "BackupSizeDropped"),
        ],
    )

    drill_hours = math.ceil(parse_duration(th.drill_max_age) / 3600)
    again = drill_hours + 36
    c.add(
        "nothing ever ran: unset gauges read 0 and raise no drill or retention alert",
        [
            c.s("glowops_backup_last_verify_success", hold((10, 0))),
            c.s("glowops_backup_last_verify_timestamp_seconds", hold((10, 0))),
            c.s("glowops_backup_retention_compliant", hold((10, 0))),
            c.s("glowops_backup_last_success_timestamp_seconds", hold((10, 0))),
        ],
        [c.quiet("5m", "BackupDrillFailed"), c.quiet("5m", "BackupRetentionViolated")],
    )
    c.add(
        f"no drill since t=0; overdue after {th.drill_max_age}; a drill at {again}h",
        [
            c.s("glowops_backup_last_verify_timestamp_seconds", hold((again, 0), (30, again * 3600))),
            c.s("glowops_backup_last_verify_success", hold((again + 30, 1))),
        ],
        [
            c.quiet(f"{drill_hours - 24}h", "BackupDrillOverdue"),
            c.fire(f"{drill_hours + 24}h", "BackupDrillOverdue", scrape),
            c.quiet(f"{again + 12}h", "BackupDrillOverdue"),
            c.quiet(f"{drill_hours + 24}h", "BackupDrillFailed"),
        ],
        interval="1h",
        evaluation_interval="1h",
    )

    c.add(
        "a restore drill fails at 5m; the next passes at 10m",
        [
            c.s("glowops_backup_last_verify_success", hold((5, 1), (5, 0), (5, 1))),
            c.s("glowops_backup_last_verify_timestamp_seconds", hold((5, 60), (5, 300), (5, 600))),
        ],
        [
            c.quiet("3m", "BackupDrillFailed"),
            c.fire("7m", "BackupDrillFailed", scrape),
            c.quiet("12m", "BackupDrillFailed"),
        ],
    )
    c.add(
        "retention out of policy from 5m to 85m",
        [
            c.s("glowops_backup_retention_compliant", hold((5, 1), (80, 0), (10, 1))),
            c.s("glowops_backup_last_success_timestamp_seconds", hold((95, 60))),
        ],
        [
            c.quiet("30m", "BackupRetentionViolated"),
            c.fire("70m", "BackupRetentionViolated", scrape),
            c.quiet("90m", "BackupRetentionViolated"),
        ],
    )


# --------------------------------------------------------------------------------------------
# Coverage and rendering
# --------------------------------------------------------------------------------------------
def coverage_gaps(catalog: Catalog, cases: tuple[RuleTestCase, ...]) -> list[str]:
    """Alerts without a firing check or without a quiet check (empty when all are covered)."""
    fired = {ch.alertname for case in cases for ch in case.checks if ch.firing}
    quiet = {ch.alertname for case in cases for ch in case.checks if not ch.firing}
    known = {rule.name for rule in catalog.alerts}
    gaps = [f"{name}: no case where it fires" for name in sorted(known - fired)]
    # the Watchdog fires always (its vector(1) cannot be quiet): that is what it is for
    gaps += [
        f"{name}: no case where it stays quiet or resolves"
        for name in sorted(known - quiet - {HEARTBEAT_ALERT})
    ]
    gaps += [f"{name}: checked but not in the catalog" for name in sorted((fired | quiet) - known)]
    return gaps


def expected_alerts(catalog: Catalog, check: AlertCheck) -> list[dict[str, dict[str, str]]]:
    """The full labels and annotations of each alert a check expects."""
    rule = catalog.alert(check.alertname)
    return [
        {"exp_labels": {**series_labels, **rule.labels}, "exp_annotations": rule.annotations}
        for series_labels in check.firing
    ]


def _promtool_case(catalog: Catalog, case: RuleTestCase) -> dict[str, Any]:
    return {
        "name": case.name,
        "interval": case.interval,
        "input_series": [{"series": s.series, "values": s.values} for s in case.series],
        "alert_rule_test": [
            {"eval_time": ch.eval_time, "alertname": ch.alertname, "exp_alerts": expected_alerts(catalog, ch)}
            for ch in case.checks
        ],
    }


def rule_test_documents(catalog: Catalog, rule_files: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """promtool test files as dicts, one per evaluation interval: ``{filename: document}``."""
    cases = build_cases(catalog)
    gaps = coverage_gaps(catalog, cases)
    if gaps:
        raise ValueError("rule tests do not cover the catalog: " + "; ".join(gaps))
    by_interval: dict[str, list[RuleTestCase]] = {}
    for case in cases:
        by_interval.setdefault(case.evaluation_interval, []).append(case)
    return {
        f"rule_tests_{interval}.yml": {
            "rule_files": list(rule_files),
            "evaluation_interval": interval,
            # promtool orders groups randomly unless told: recording rules must come first.
            "group_eval_order": list(catalog.group_order),
            "tests": [_promtool_case(catalog, case) for case in group],
        }
        for interval, group in sorted(by_interval.items(), key=lambda kv: parse_duration(kv[0]))
    }
