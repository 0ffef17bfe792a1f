"""The alert rule catalog: every alerting and recording rule of glowops, declared once.

The Prometheus and Alertmanager export (:mod:`glowops.alerting.export`), the promtool unit
tests (:mod:`glowops.alerting.rule_tests`), ``docs/alerts.md`` and the embedded rule engine all
read :func:`build_catalog`. Nothing else declares an alert.

glowops' own rules are generic: HTTP RED and SLO burn rates, the service's health checks, disk,
and backups when backups are configured. A pack (:mod:`glowops.packs`) adds the rules of its
domain through a :class:`RuleBuilder`, the same builder the core uses.

PromQL subset (the contract with the embedded engine)
------------------------------------------------------
Every expression in this catalog stays inside the PromQL subset the embedded engine parses;
:func:`subset_violations` checks it and the test suite runs it over the catalog.

- Selectors: instant vectors ``name{label="v"}`` with matchers ``=``, ``!=``, ``=~``, ``!~``;
  range vectors ``name{...}[5m]``. Recording-rule names (``glowops:...``) are selectors too.
- Functions: ``rate``, ``increase``, ``irate``, ``avg_over_time``, ``min_over_time``,
  ``max_over_time``, ``sum_over_time``, ``count_over_time``, ``absent``, ``absent_over_time``,
  ``histogram_quantile``, ``time()``, ``clamp_min``, ``clamp_max``, ``vector(scalar)``.
- Aggregations: ``sum``, ``avg``, ``min``, ``max``, ``count``, with ``by (...)`` or
  ``without (...)``.
- Binary operators: ``+ - * /`` between vectors (one-to-one matching, optional ``on(...)`` /
  ``ignoring(...)``; no ``group_left``/``group_right``) and with scalars; comparisons
  ``> < >= <= == !=`` (filtering, optional ``bool``); set operators ``and``, ``or``, ``unless``;
  parentheses; numeric literals.
- Not supported: ``offset``, ``@``, subqueries (``[1h:5m]``), ``scalar()``, any other function.

Other conventions the engine relies on:

- Annotations are plain text (no Go templates), so both deployments render them identically.
- Recording rules are evaluated before alerting rules at the same timestamp.
- Durations (windows, ``for``, ``keep_firing_for``) are Prometheus duration strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from glowops.alerting.routing import HEARTBEAT_ALERT, SEVERITIES, Severity
from glowops.promql import format_duration, parse_duration
from glowops.telemetry.catalog import HTTP_BUCKETS

if TYPE_CHECKING:
    from glowops.packs import Pack

FUNCTIONS: frozenset[str] = frozenset(
    {
        "rate",
        "increase",
        "irate",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "absent",
        "absent_over_time",
        "histogram_quantile",
        "time",
        "clamp_min",
        "clamp_max",
        "vector",
    }
)
AGGREGATIONS: frozenset[str] = frozenset({"sum", "avg", "min", "max", "count"})
KEYWORDS: frozenset[str] = frozenset({"by", "without", "on", "ignoring", "and", "or", "unless", "bool"})
# glowops' own alert families; a pack declares its own (Pack.families).
FAMILIES: tuple[str, ...] = ("availability", "latency", "saturation", "backup", "meta")  # meta: the Watchdog
PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")

DEFAULT_RUNBOOK_BASE = "https://github.com/prisma-glow/glowops/blob/main"
DEFAULT_DASHBOARD_BASE = "http://127.0.0.1:3000"
DEFAULT_JOB = "glowops-gateway"
DEFAULT_SERVICE = "gateway"
CORE_RUNBOOK_PATH = "docs/runbooks"
RECORDING_GROUP = "glowops-slo-recording"


def alert_group(family: str) -> str:
    """The Prometheus rule group of a family's alerts."""
    return f"glowops-{family}"


_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_FAMILY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_RECORD = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alerting rule with everything a human and a machine need to act on it."""

    name: str
    severity: Severity
    expr: str
    summary: str
    description: str
    family: str
    runbook_url: str
    dashboard_url: str
    priority: str  # P0-P3, the spec's on-call priorities
    for_: str = "0s"
    keep_firing_for: str = "0s"
    extra_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    service: str = DEFAULT_SERVICE
    runbook_path: str = ""  # the page in the repository, e.g. docs/runbooks/alerts/HighErrorRate.md
    pack: str = ""  # the pack that declares the rule ("" for glowops' own)

    def __post_init__(self) -> None:
        problems = []
        if not _NAME.match(self.name):
            problems.append("name must be CamelCase letters and digits")
        if self.severity not in SEVERITIES:
            problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
        if not _FAMILY.match(self.family):
            problems.append("family must be a lower-case word (letters, digits, _)")
        if self.priority not in PRIORITIES:
            problems.append(f"priority must be one of {', '.join(PRIORITIES)}")
        for label, value in (("for", self.for_), ("keep_firing_for", self.keep_firing_for)):
            try:
                parse_duration(value)
            except ValueError as err:
                problems.append(f"{label}: {err}")
        if not self.summary or not self.description:
            problems.append("summary and description are required")
        if "{{" in self.summary + self.description:
            problems.append("annotations are plain text (no templates)")
        problems.extend(subset_violations(self.expr))
        if problems:
            raise ValueError(f"alert rule {self.name!r}: " + "; ".join(problems))

    @property
    def labels(self) -> dict[str, str]:
        """The static labels every alert of this rule carries (routing reads them)."""
        return {
            "severity": self.severity,
            "family": self.family,
            "priority": self.priority,
            "service": self.service,
            **self.extra_labels,
        }

    @property
    def annotations(self) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
            "dashboard_url": self.dashboard_url,
        }

    @property
    def for_seconds(self) -> float:
        return parse_duration(self.for_)

    @property
    def keep_firing_for_seconds(self) -> float:
        return parse_duration(self.keep_firing_for)


@dataclass(frozen=True, slots=True)
class RecordingRule:
    """A precomputed series (the SLO error ratios over each window)."""

    record: str
    expr: str

    def __post_init__(self) -> None:
        problems = [] if _RECORD.match(self.record) else ["not a valid metric name"]
        problems.extend(subset_violations(self.expr))
        if problems:
            raise ValueError(f"recording rule {self.record!r}: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Objectives:
    """Service level objectives the burn-rate alerts protect."""

    availability: float = 0.999  # share of requests answered without a 5xx
    latency: float = 0.99  # share of requests answered within latency_threshold_seconds
    latency_threshold_seconds: float = 2.0  # must be a bucket bound of http_request_duration_seconds

    def __post_init__(self) -> None:
        for name in ("availability", "latency"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(
                    f"{name} objective must be between 0 and 1 exclusive (e.g. 0.999), got {value}"
                )
        if self.latency_threshold_seconds not in HTTP_BUCKETS:
            bounds = ", ".join(f"{b:g}" for b in HTTP_BUCKETS)
            raise ValueError(
                f"latency threshold {self.latency_threshold_seconds:g}s is not a histogram bucket bound "
                f"of http_request_duration_seconds; choose one of {bounds}"
            )


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The numbers in the rules; the defaults are the spec's where it gives one."""

    error_ratio_critical: float = 0.05  # spec: error rate > 5 % over 5 min
    error_ratio_warning: float = 0.02  # spec: error rate > 2 % over 15 min
    p99_critical_seconds: float = 5.0  # spec: p99 > 5 s over 5 min
    p95_warning_seconds: float = 2.0  # spec: p95 > 2 s over 15 min
    disk_used_critical: float = 0.9  # spec: storage > 90 % full
    disk_used_warning: float = 0.8
    backup_max_age: str = "26h"
    drill_max_age: str = "35d"
    backup_size_drop_ratio: float = 0.5  # alert when a backup is below half the 7-day median


@dataclass(frozen=True, slots=True)
class Catalog:
    """The built catalog: alerting rules grouped by family and the recording rules."""

    alerts: tuple[AlertRule, ...]
    recording: tuple[RecordingRule, ...]
    objectives: Objectives = field(default_factory=Objectives)
    thresholds: Thresholds = field(default_factory=Thresholds)
    time_scale: float = 1.0
    job: str = DEFAULT_JOB  # the Prometheus scrape job of the service
    packs: tuple[Pack, ...] = ()  # the packs whose rules are in the catalog (dashboards and tests follow)

    def alert(self, name: str) -> AlertRule:
        for rule in self.alerts:
            if rule.name == name:
                return rule
        raise KeyError(f"no alert rule named {name!r}")

    @property
    def families(self) -> tuple[str, ...]:
        """Families that have rules, in catalog order."""
        return tuple(dict.fromkeys(rule.family for rule in self.alerts))

    @property
    def group_order(self) -> tuple[str, ...]:
        """Rule groups in evaluation order: the recording rules first."""
        return (RECORDING_GROUP, *(alert_group(f) for f in self.families))


# --------------------------------------------------------------------------------------------
# The PromQL subset check
# --------------------------------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENT_CALL = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\(")
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])")


def subset_violations(expr: str) -> list[str]:
    """What in ``expr`` lies outside the embedded engine's PromQL subset (empty when fine)."""
    problems = []
    bare = _STRING.sub('""', expr)
    if bare.count("(") != bare.count(")"):
        problems.append("unbalanced parentheses")
    for word in ("offset", "group_left", "group_right", "scalar"):
        if re.search(rf"\b{word}\b", bare):
            problems.append(f"{word!r} is not supported")
    if "@" in bare:
        problems.append("the @ modifier is not supported")
    for window in _RANGE.findall(bare):
        if ":" in window:
            problems.append(f"subquery [{window}] is not supported")
        else:
            try:
                parse_duration(window)
            except ValueError as err:
                problems.append(str(err))
    for name in _IDENT_CALL.findall(_BRACES.sub("", bare)):
        if name not in FUNCTIONS | AGGREGATIONS | KEYWORDS:
            problems.append(f"function {name}() is not supported")
    return problems


def referenced_metrics(expr: str) -> set[str]:
    """Metric and recording-rule names an expression selects."""
    bare = _STRING.sub('""', expr)
    bare = _BRACES.sub("", bare)
    bare = _RANGE.sub("", bare)
    bare = _GROUPING.sub(" ", bare)
    bare = _IDENT_CALL.sub(" (", bare)
    return {name for name in _IDENT.findall(bare) if name not in KEYWORDS and name not in ("Inf", "NaN")}


# --------------------------------------------------------------------------------------------
# Building the catalog
# --------------------------------------------------------------------------------------------
SLO_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "6h", "3d")
ERROR_WINDOWS: tuple[str, ...] = ("5m", "15m", "30m", "1h", "6h", "3d")

# (suffix, severity, priority, burn rate, long window, short window, for) - SRE Workbook, ch. 5
BURN_RATE_ALERTS: tuple[tuple[str, Severity, str, float, str, str, str], ...] = (
    ("Fast", "critical", "P0", 14.4, "1h", "5m", "2m"),
    ("Medium", "critical", "P1", 6.0, "6h", "30m", "5m"),
    ("Slow", "warning", "P2", 1.0, "3d", "6h", "30m"),
)


def error_ratio_record(window: str) -> str:
    return f"glowops:http_request_errors:ratio_rate{window}"


def slow_ratio_record(window: str) -> str:
    return f"glowops:http_request_slow:ratio_rate{window}"


def le_label(bound: float) -> str:
    """The ``le`` value prometheus-client (and Prometheus 3's normalisation) writes: ``2.0``."""
    return repr(float(bound))


def num(value: float) -> str:
    """A PromQL number literal without float noise (``0.0144``, not ``0.014400000000000001``)."""
    return f"{value:.10g}"


class RuleBuilder:
    """Writes rules for one deployment: the service, scrape job, links and time scale.

    glowops' own rules and every pack's are written with it, so they share the conventions
    (durations scaled for drills, ``runbook_url``/``dashboard_url`` built the same way)::

        def billing_alerts(b: RuleBuilder) -> list[AlertRule]:
            return [b.rule("InvoicesFailing", "warning", "P2", "billing",
                           f"sum(increase(invoices_failed_total[{b.d('15m')}])) > 10",
                           for_="5m", summary="Invoices fail", description="...", dashboard="billing")]
    """

    def __init__(
        self,
        runbook_base: str,
        dashboard_base: str,
        service: str,
        job: str,
        scale: float,
        runbook_dir: str = CORE_RUNBOOK_PATH,
        pack: str = "",
    ) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.runbook_base = runbook_base.rstrip("/")
        self.dashboard_base = dashboard_base.rstrip("/")
        self.service = service
        self.job = job
        self.scale = scale
        self.runbook_dir = runbook_dir.strip("/")
        self.pack = pack

    def for_pack(self, pack: Pack) -> RuleBuilder:
        """The same deployment, writing the rules of ``pack`` (its runbook folder)."""
        return RuleBuilder(
            self.runbook_base,
            self.dashboard_base,
            self.service,
            self.job,
            self.scale,
            pack.runbook_path or CORE_RUNBOOK_PATH,
            pack.name,
        )

    def d(self, duration: str) -> str:
        """A window or ``for`` in this (possibly time-scaled) catalog."""
        return format_duration(parse_duration(duration) / self.scale)

    def seconds(self, duration: str) -> str:
        """A duration as a number of seconds, for comparisons with ``time()``."""
        return num(parse_duration(duration) / self.scale)

    def rule(
        self,
        name: str,
        severity: Severity,
        priority: str,
        family: str,
        expr: str,
        *,
        for_: str,
        summary: str,
        description: str,
        dashboard: str,
        keep_firing_for: str = "0s",
    ) -> AlertRule:
        """One alerting rule; ``dashboard`` is the uid without ``glowops-`` (``service``)."""
        page = f"{self.runbook_dir}/alerts/{name}.md"
        return AlertRule(
            name=name,
            severity=severity,
            priority=priority,
            family=family,
            expr=expr,
            for_=self.d(for_),
            keep_firing_for=self.d(keep_firing_for),
            summary=summary,
            description=description,
            service=self.service,
            runbook_url=f"{self.runbook_base}/{page}",
            dashboard_url=f"{self.dashboard_base}/d/glowops-{dashboard}",
            runbook_path=page,
            pack=self.pack,
        )


def build_catalog(
    objectives: Objectives | None = None,
    thresholds: Thresholds | None = None,
    *,
    runbook_base: str = DEFAULT_RUNBOOK_BASE,
    dashboard_base: str = DEFAULT_DASHBOARD_BASE,
    service: str = DEFAULT_SERVICE,
    job: str = DEFAULT_JOB,
    time_scale: float = 1.0,
    packs: Sequence[Pack] = (),
    backups: bool = True,
) -> Catalog:
    """glowops' alerting and recording rules, then those of ``packs``.

    ``runbook_url`` is ``{runbook_base}/{runbook folder}/alerts/{AlertName}.md`` (the folder is
    ``docs/runbooks`` for glowops' rules, the pack's ``runbook_path`` for a pack's) and
    ``dashboard_url`` is ``{dashboard_base}/d/glowops-{dashboard}`` (the Grafana dashboard uid).
    ``time_scale`` divides every window, ``for`` and age threshold: ``60`` turns 5 minutes into
    5 seconds for drills and end-to-end tests; production uses 1. ``backups`` False leaves the
    backup rules out (a service with no backups configured has nothing they could watch).
    """
    obj = objectives or Objectives()
    th = thresholds or Thresholds()
    b = RuleBuilder(runbook_base, dashboard_base, service, job, time_scale)
    claimed = {"database", *(check for pack in packs for check in pack.alerted_checks)}
    recording = _recording_rules(b, obj)
    alerts = (
        _availability(b, th, claimed)
        + _slo_alerts(b, obj)
        + _latency(b, th)
        + _saturation(b, th)
        + (_backup(b, th) if backups else ())
        + _meta(b)
    )
    for pack in packs:
        pb = b.for_pack(pack)
        own = tuple(pack.alerts(pb)) if pack.alerts else ()
        wrong = sorted({r.name for r in own if r.family not in (*FAMILIES, *pack.families)})
        if wrong:
            raise ValueError(
                f"pack {pack.name!r}: rules {wrong} use a family the pack does not declare "
                f"(Pack.families: {list(pack.families)})"
            )
        alerts += own
        recording += tuple(pack.recording(pb)) if pack.recording else ()
    names = [rule.name for rule in alerts] + [r.record for r in recording]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate rule names: {sorted(duplicates)}")
    return Catalog(
        alerts=alerts,
        recording=recording,
        objectives=obj,
        thresholds=th,
        time_scale=time_scale,
        job=job,
        packs=tuple(packs),
    )


def _recording_rules(b: RuleBuilder, obj: Objectives) -> tuple[RecordingRule, ...]:
    rules = []
    for window in ERROR_WINDOWS:
        w = b.d(window)
        # `or vector(0)`: no 5xx series yet means a ratio of 0, not "no data".
        rules.append(
            RecordingRule(
                error_ratio_record(window),
                f'(sum(rate(http_requests_total{{status=~"5.."}}[{w}])) or vector(0))'
                f" / sum(rate(http_requests_total[{w}]))",
            )
        )
    le = le_label(obj.latency_threshold_seconds)
    for window in SLO_WINDOWS:
        w = b.d(window)
        rules.append(
            RecordingRule(
                slow_ratio_record(window),
                f'1 - (sum(rate(http_request_duration_seconds_bucket{{le="{le}"}}[{w}]))'
                f" / sum(rate(http_request_duration_seconds_count[{w}])))",
            )
        )
    return tuple(rules)


def _availability(b: RuleBuilder, th: Thresholds, claimed: set[str]) -> tuple[AlertRule, ...]:
    crit, warn = th.error_ratio_critical, th.error_ratio_warning
    # The checks with an alert of their own (the database here, a pack's checks) are left out of
    # the generic health rules: one failing dependency, one alert.
    others = f'check!~"{"|".join(sorted(claimed))}"'
    return (
        b.rule(
            "ServiceDown",
            "critical",
            "P0",
            "availability",
            f'up{{job="{b.job}"}} == 0',
            for_="1m",
            summary="Prometheus cannot scrape the service",
            description=f"The scrape of job {b.job} has failed for a minute: the service is down, "
            "unreachable, or refusing the ops token.",
            dashboard="service",
        ),
        b.rule(
            "HighErrorRate",
            "critical",
            "P0",
            "availability",
            f"{error_ratio_record('5m')} > {num(crit)}",
            for_="2m",
            keep_firing_for="5m",
            summary=f"More than {crit:.0%} of requests fail with 5xx (5 min window)",
            description=f"Over the last 5 minutes more than {crit:.0%} of HTTP requests answered with a "
            "server error. Find the failing route on the service overview dashboard.",
            dashboard="service",
        ),
        b.rule(
            "ElevatedErrorRate",
            "warning",
            "P2",
            "availability",
            f"{error_ratio_record('15m')} > {num(warn)}",
            for_="5m",
            summary=f"More than {warn:.0%} of requests fail with 5xx (15 min window)",
            description=f"Over the last 15 minutes more than {warn:.0%} of HTTP requests answered with a "
            "server error.",
            dashboard="service",
        ),
        b.rule(
            "DatabaseConnectionFailures",
            "critical",
            "P0",
            "availability",
            'glowops_health_check_up{check="database"} == 0',
            for_="1m",
            summary="The service cannot reach its database",
            description="The database health check has failed for a minute: connections are refused or "
            "time out. Requests that need the database fail.",
            dashboard="operations",
        ),
        b.rule(
            "CriticalHealthCheckFailing",
            "critical",
            "P1",
            "availability",
            f'glowops_health_check_up{{critical="true",{others}}} == 0',
            for_="2m",
            summary="A critical dependency of the service is failing",
            description="A health check the service declared critical has failed for 2 minutes: "
            "/health/ready answers 503 and the load balancer takes the instance out. The check label "
            "names the dependency; /health/dependencies shows its last output.",
            dashboard="operations",
        ),
        b.rule(
            "HealthCheckFailing",
            "warning",
            "P2",
            "availability",
            f'glowops_health_check_up{{critical!="true",{others}}} == 0',
            for_="5m",
            summary="A non-critical dependency of the service is failing",
            description="A health check the service declared non-critical has failed for 5 minutes: the "
            "service still answers, with that dependency degraded. The check label names it.",
            dashboard="operations",
        ),
    )


def _slo_alerts(b: RuleBuilder, obj: Objectives) -> tuple[AlertRule, ...]:
    out = []
    for kind, objective, record, dashboard in (
        ("Availability", obj.availability, error_ratio_record, "service"),
        ("Latency", obj.latency, slow_ratio_record, "service"),
    ):
        budget = 1 - objective
        what = (
            "requests failing with 5xx"
            if kind == "Availability"
            else f"requests slower than {obj.latency_threshold_seconds:g} s"
        )
        for suffix, severity, priority, burn, long_w, short_w, for_ in BURN_RATE_ALERTS:
            limit = num(burn * budget)
            share = burn * parse_duration(long_w) / parse_duration("30d")
            objective_text = f"{objective * 100:g}%"
            out.append(
                b.rule(
                    f"{kind}BudgetBurn{suffix}",
                    severity,
                    priority,
                    "availability" if kind == "Availability" else "latency",
                    f"({record(long_w)} > {limit}) and ({record(short_w)} > {limit})",
                    for_=for_,
                    summary=f"{kind} SLO ({objective_text}) error budget burning {burn:g}x too fast",
                    description=f"The share of {what} is above {burn:g}x the budget of the {objective_text} "
                    f"objective over both {long_w} and {short_w}: {share:.0%} of the 30-day error budget "
                    f"is spent in {long_w}.",
                    dashboard=dashboard,
                )
            )
    return tuple(out)


def _quantile(q: float, window: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket[{window}])))"


def _latency(b: RuleBuilder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "HighLatencyP99",
            "critical",
            "P1",
            "latency",
            f"{_quantile(0.99, b.d('5m'))} > {num(th.p99_critical_seconds)}",
            for_="2m",
            keep_firing_for="5m",
            summary=f"p99 response time above {th.p99_critical_seconds:g} s (5 min window)",
            description=f"The 99th percentile of HTTP request duration over 5 minutes exceeds "
            f"{th.p99_critical_seconds:g} s. Follow the performance troubleshooting runbook from the slow "
            "route to one slow trace.",
            dashboard="service",
        ),
        b.rule(
            "SlowResponsesP95",
            "warning",
            "P2",
            "latency",
            f"{_quantile(0.95, b.d('15m'))} > {num(th.p95_warning_seconds)}",
            for_="5m",
            summary=f"p95 response time above {th.p95_warning_seconds:g} s (15 min window)",
            description=f"The 95th percentile of HTTP request duration over 15 minutes exceeds "
            f"{th.p95_warning_seconds:g} s.",
            dashboard="service",
        ),
    )


def _saturation(b: RuleBuilder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "StorageAlmostFull",
            "critical",
            "P1",
            "saturation",
            f"glowops_disk_used_ratio > {num(th.disk_used_critical)}",
            for_="5m",
            summary=f"Data volume more than {th.disk_used_critical:.0%} full",
            description="The service's data volume (state directory, databases, backups) is nearly full; "
            "writes will start failing. Free space or grow the volume now.",
            dashboard="operations",
        ),
        b.rule(
            "StorageFillingUp",
            "warning",
            "P2",
            "saturation",
            f"glowops_disk_used_ratio > {num(th.disk_used_warning)}",
            for_="15m",
            summary=f"Data volume more than {th.disk_used_warning:.0%} full",
            description="The data volume passed the warning level; plan clean-up or growth before it "
            "reaches the critical level.",
            dashboard="operations",
        ),
    )


def _meta(b: RuleBuilder) -> tuple[AlertRule, ...]:
    """The dead man's switch: always firing, routed to the heartbeat receiver, never paged."""
    return (
        b.rule(
            HEARTBEAT_ALERT,
            "info",
            "P3",
            "meta",
            "vector(1)",
            for_="0s",
            summary="The alerting pipeline is alive (this alert always fires)",
            description="A dead man's switch: Alertmanager sends it to the heartbeat receiver every "
            "minute (the embedded engine pings GLOWOPS_HEARTBEAT_URL instead). The heartbeat service "
            "alarms when the pings stop: then rules are not evaluated or notifications cannot leave.",
            dashboard="operations",
        ),
        b.rule(
            "NotificationsDeadLettered",
            "warning",
            "P2",
            "meta",
            "glowops_outbox_dead_letters > 0",
            for_="0s",
            summary="Notifications were given up on (dead letters in the outbox)",
            description="A channel refused notifications (4xx) or stayed unreachable for 24 hours; "
            "people may have missed alerts. `glowops alerts outbox --dead` lists them.",
            dashboard="operations",
        ),
    )


def _backup(b: RuleBuilder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "BackupFailed",
            "warning",
            "P1",
            "backup",
            "glowops_backup_last_failure_timestamp_seconds > glowops_backup_last_success_timestamp_seconds",
            for_="0s",
            summary="The last backup failed",
            description="The most recent backup run failed after the last good one; see `glowops backup "
            "list` and the backup logs.",
            dashboard="operations",
        ),
        b.rule(
            "BackupStale",
            "critical",
            "P1",
            "backup",
            f"time() - glowops_backup_last_success_timestamp_seconds > {b.seconds(th.backup_max_age)}",
            for_="10m",
            summary=f"No good backup for more than {th.backup_max_age}",
            description=f"The last successful backup is older than {th.backup_max_age}: a restore now would "
            "lose more than a day of data.",
            dashboard="operations",
        ),
        b.rule(
            "BackupSizeDropped",
            "warning",
            "P2",
            "backup",
            f"glowops_backup_size_bytes < {num(th.backup_size_drop_ratio)}"
            " * glowops_backup_size_median_7_bytes",
            for_="0s",
            summary=f"The last backup is less than {th.backup_size_drop_ratio:.0%} of the usual size",
            description="The newest backup is much smaller than the median of the last seven: tables may "
            "be missing from the dump or data was deleted.",
            dashboard="operations",
        ),
        b.rule(
            "BackupDrillOverdue",
            "warning",
            "P2",
            "backup",
            f"time() - glowops_backup_last_verify_timestamp_seconds > {b.seconds(th.drill_max_age)}",
            for_="1h",
            summary=f"No restore drill for more than {th.drill_max_age}",
            description="The monthly restore drill has not run; nobody knows whether the backups restore. "
            "Run `glowops backup verify`.",
            dashboard="operations",
        ),
        # `and on() ...`: an unset gauge reads 0; only a drill that ran and failed counts.
        b.rule(
            "BackupDrillFailed",
            "warning",
            "P2",
            "backup",
            "glowops_backup_last_verify_success == 0 and on() "
            "(max(glowops_backup_last_verify_timestamp_seconds) > 0)",
            for_="0s",
            summary="The last restore drill failed",
            description="The last backup verification or restore drill failed; with BackupDrillOverdue "
            "this covers 'no successful drill for 35 days'. Read the drill report.",
            dashboard="operations",
        ),
        b.rule(
            "BackupRetentionViolated",
            "warning",
            "P2",
            "backup",
            "glowops_backup_retention_compliant == 0 and on() "
            "(max(glowops_backup_last_success_timestamp_seconds) > 0)",
            for_="1h",
            summary="Backups do not meet the retention policy",
            description="The backup store does not hold the daily/weekly/monthly backups the retention "
            "policy requires.",
            dashboard="operations",
        ),
    )
