"""The alert rule catalog: every alerting and recording rule of glowops, declared once.

The Prometheus and Alertmanager export (:mod:`glowops.alerting.export`), the promtool unit
tests (:mod:`glowops.alerting.rule_tests`), ``docs/alerts.md`` and the embedded rule engine all
read :func:`build_catalog`. Nothing else declares an alert.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from glowops.alerting.routing import HEARTBEAT_ALERT, SEVERITIES, Severity
from glowops.promql import format_duration, parse_duration
from glowops.telemetry.catalog import HTTP_BUCKETS

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
FAMILIES: tuple[str, ...] = (
    "availability",
    "latency",
    "saturation",
    "cache",
    "indexing",
    "security",
    "approvals",
    "rate_limit",
    "backup",
    "meta",  # the alerting pipeline itself (the Watchdog)
)
PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")

DEFAULT_RUNBOOK_BASE = "https://github.com/prisma-glow/glowops/blob/main"
DEFAULT_DASHBOARD_BASE = "http://127.0.0.1:3000"
DEFAULT_JOB = "glowops-gateway"
DEFAULT_SERVICE = "gateway"
RECORDING_GROUP = "glowops-slo-recording"


def alert_group(family: str) -> str:
    """The Prometheus rule group of a family's alerts."""
    return f"glowops-{family}"


_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
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

    def __post_init__(self) -> None:
        problems = []
        if not _NAME.match(self.name):
            problems.append("name must be CamelCase letters and digits")
        if self.severity not in SEVERITIES:
            problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
        if self.family not in FAMILIES:
            problems.append(f"family must be one of {', '.join(FAMILIES)}")
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
    queue_depth_warning: float = 1000  # spec: queue depth > 1000
    cache_hit_ratio_warning: float = 0.8  # spec: cache hit rate < 80 %
    disk_used_critical: float = 0.9  # spec: storage > 90 % full
    disk_used_warning: float = 0.8
    auth_failures_per_5m: float = 50
    rls_denials_per_5m: float = 20
    permission_denials_per_5m: float = 100
    rate_limited_per_5m: float = 100  # 429s per route
    indexing_failure_ratio: float = 0.1
    extract_errors_per_15m: float = 10
    approvals_became_overdue_per_1h: float = 5
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
    job: str = DEFAULT_JOB  # the Prometheus scrape job of the gateway

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


class _Builder:
    """Holds the parameters while the rules are written out."""

    def __init__(self, runbook_base: str, dashboard_base: str, service: str, job: str, scale: float) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.runbook_base = runbook_base.rstrip("/")
        self.dashboard_base = dashboard_base.rstrip("/")
        self.service = service
        self.job = job
        self.scale = scale

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
            runbook_url=f"{self.runbook_base}/docs/runbooks/alerts/{name}.md",
            dashboard_url=f"{self.dashboard_base}/d/glowops-{dashboard}",
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
) -> Catalog:
    """Every alerting and recording rule, with the given objectives and thresholds.

    ``runbook_url`` is ``{runbook_base}/docs/runbooks/alerts/{AlertName}.md`` and ``dashboard_url``
    is ``{dashboard_base}/d/glowops-{dashboard}`` (the Grafana dashboard uid). ``time_scale``
    divides every window, ``for`` and age threshold: ``60`` turns 5 minutes into 5 seconds for
    drills and end-to-end tests; production uses 1.
    """
    obj = objectives or Objectives()
    th = thresholds or Thresholds()
    b = _Builder(runbook_base, dashboard_base, service, job, time_scale)
    recording = _recording_rules(b, obj)
    alerts = (
        _availability(b, th)
        + _slo_alerts(b, obj)
        + _latency(b, th)
        + _saturation(b, th)
        + _cache(b, th)
        + _indexing(b, th)
        + _security(b, th)
        + _approvals(b, th)
        + _rate_limit(b, th)
        + _backup(b, th)
        + _meta(b)
    )
    names = [rule.name for rule in alerts]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate alert names: {sorted(duplicates)}")
    return Catalog(
        alerts=alerts, recording=recording, objectives=obj, thresholds=th, time_scale=time_scale, job=job
    )


def _recording_rules(b: _Builder, obj: Objectives) -> tuple[RecordingRule, ...]:
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


def _availability(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    crit, warn = th.error_ratio_critical, th.error_ratio_warning
    return (
        b.rule(
            "GatewayDown",
            "critical",
            "P0",
            "availability",
            f'up{{job="{b.job}"}} == 0',
            for_="1m",
            summary="Prometheus cannot scrape the gateway",
            description=f"The scrape of job {b.job} has failed for a minute: the gateway is down, "
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
            summary="The gateway cannot reach its database",
            description="The database health check has failed for a minute: connections are refused or "
            "time out. Requests that need the database fail.",
            dashboard="operations",
        ),
        b.rule(
            "AuthenticationServiceDown",
            "critical",
            "P0",
            "availability",
            'glowops_health_check_up{check="supabase"} == 0',
            for_="2m",
            summary="The authentication service (Supabase Auth) is down",
            description="The Supabase health check (GET /auth/v1/health) has failed for 2 minutes: "
            "users cannot sign in and token refreshes fail.",
            dashboard="operations",
        ),
        b.rule(
            "AssistantProviderUnreachable",
            "warning",
            "P2",
            "availability",
            'glowops_health_check_up{check="openai"} == 0',
            for_="5m",
            summary="The assistant's model provider (OpenAI) is unreachable",
            description="The OpenAI health check has failed for 5 minutes: assistant replies fail or "
            "fall back.",
            dashboard="assistant",
        ),
    )


def _slo_alerts(b: _Builder, obj: Objectives) -> tuple[AlertRule, ...]:
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


def _latency(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
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


def _saturation(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "StorageAlmostFull",
            "critical",
            "P1",
            "saturation",
            f"glowops_disk_used_ratio > {num(th.disk_used_critical)}",
            for_="5m",
            summary=f"Data volume more than {th.disk_used_critical:.0%} full",
            description="The gateway's data volume (database files, uploads, backups) is nearly full; "
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


def _cache(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    w = b.d("15m")
    return (
        b.rule(
            "CacheHitRateLow",
            "warning",
            "P2",
            "cache",
            f'sum by (cache) (rate(cache_requests_total{{result="hit"}}[{w}]))'
            f" / sum by (cache) (rate(cache_requests_total[{w}])) < {num(th.cache_hit_ratio_warning)}",
            for_="10m",
            summary=f"Cache hit rate below {th.cache_hit_ratio_warning:.0%}",
            description="Fewer look-ups than usual are answered from the cache over 15 minutes: the "
            "cache was flushed, keys expire too early, or Redis is evicting.",
            dashboard="service",
        ),
        b.rule(
            "RedisDown",
            "warning",
            "P1",
            "cache",
            'glowops_health_check_up{check="redis"} == 0',
            for_="2m",
            summary="The gateway cannot reach Redis",
            description="The Redis health check has failed for 2 minutes: caching and rate limiting "
            "run degraded.",
            dashboard="operations",
        ),
    )


def _indexing(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    w15, w30 = b.d("15m"), b.d("30m")
    return (
        b.rule(
            "DocumentQueueBacklog",
            "warning",
            "P2",
            "indexing",
            f"max(documents_queue_depth) > {num(th.queue_depth_warning)}",
            for_="10m",
            summary=f"More than {th.queue_depth_warning:g} documents wait for extraction",
            description="The document queue has been deeper than the threshold for 10 minutes: "
            "extraction or indexing cannot keep up.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentIndexingFailures",
            "warning",
            "P2",
            "indexing",
            f'sum(rate(documents_indexed_total{{outcome="failed"}}[{w15}]))'
            f" / sum(rate(documents_indexed_total[{w15}])) > {num(th.indexing_failure_ratio)}",
            for_="10m",
            summary=f"More than {th.indexing_failure_ratio:.0%} of document indexing fails",
            description="Embedding/indexing attempts fail over the last 15 minutes; check the embedding "
            "provider and the pipeline logs.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentExtractErrors",
            "warning",
            "P2",
            "indexing",
            f"sum(increase(documents_extract_errors_total[{w15}])) > {num(th.extract_errors_per_15m)}",
            for_="5m",
            summary="Document text extraction is failing repeatedly",
            description=f"More than {th.extract_errors_per_15m:g} extraction errors in 15 minutes.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentIndexingStalled",
            "warning",
            "P2",
            "indexing",
            f"max(documents_queue_depth) > 0 unless sum(increase(documents_indexed_total[{w30}])) > 0",
            for_="15m",
            summary="Documents are queued but none has been indexed for 30 minutes",
            description="The document queue is not empty and no document was indexed in 30 minutes: the "
            "worker is stuck or stopped.",
            dashboard="documents",
        ),
    )


def _security(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    w = b.d("5m")
    return (
        b.rule(
            "AuthFailureSpike",
            "warning",
            "P1",
            "security",
            f"sum(increase(security_auth_failed_total[{w}])) > {num(th.auth_failures_per_5m)}",
            for_="1m",
            summary="Spike of failed sign-ins",
            description=f"More than {th.auth_failures_per_5m:g} failed authentication attempts in 5 minutes: "
            "possible credential stuffing. Check the security denials dashboard by reason.",
            dashboard="security",
        ),
        b.rule(
            "RLSDenialSpike",
            "warning",
            "P1",
            "security",
            f"sum(increase(security_rls_denied_total[{w}])) > {num(th.rls_denials_per_5m)}",
            for_="1m",
            summary="Spike of row-level-security denials",
            description=f"More than {th.rls_denials_per_5m:g} RLS refusals in 5 minutes: a client probes "
            "other organisations' rows, or a release broke a policy.",
            dashboard="security",
        ),
        b.rule(
            "PermissionDeniedSpike",
            "info",
            "P3",
            "security",
            f"sum(increase(security_permission_denied_total[{w}])) > {num(th.permission_denials_per_5m)}",
            for_="1m",
            summary="Many permission checks refused",
            description=f"More than {th.permission_denials_per_5m:g} permission denials in 5 minutes; "
            "review roles if this persists.",
            dashboard="security",
        ),
    )


def _approvals(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "ApprovalsOverdue",
            "warning",
            "P2",
            "approvals",
            "max by (org_id) (approvals_overdue) > 0",
            for_="15m",
            summary="Approvals are past their SLA",
            description="Approvals of this organisation have been pending past their due time for 15 "
            "minutes; remind the approvers.",
            dashboard="approvals",
        ),
        b.rule(
            "ApprovalsBecomingOverdue",
            "info",
            "P3",
            "approvals",
            f"sum(increase(approvals_became_overdue_total[{b.d('1h')}])) > "
            f"{num(th.approvals_became_overdue_per_1h)}",
            for_="0s",
            summary="Many approvals missed their SLA in the last hour",
            description=f"More than {th.approvals_became_overdue_per_1h:g} approvals passed their due time "
            "in one hour.",
            dashboard="approvals",
        ),
    )


def _rate_limit(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "RateLimitRejections",
            "warning",
            "P2",
            "rate_limit",
            f"sum by (route) (increase(http_rate_limited_total[{b.d('5m')}]))"
            f" > {num(th.rate_limited_per_5m)}",
            for_="5m",
            summary="Clients are being rate limited (429)",
            description=f"More than {th.rate_limited_per_5m:g} requests to this route were refused with 429 "
            "in 5 minutes: an abusive client, a retry storm, or a limit set too low.",
            dashboard="security",
        ),
    )


def _meta(b: _Builder) -> tuple[AlertRule, ...]:
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
    )


def _backup(b: _Builder, th: Thresholds) -> tuple[AlertRule, ...]:
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
