"""The dashboard catalog: every dashboard and panel of glowops, declared once.

The Grafana export (:mod:`glowops.dashboards.grafana`), the embedded ``/ops`` console and
``docs/dashboards.md`` all read :func:`build_dashboards`. Six dashboards with fixed uids (alert
``dashboard_url`` annotations and provisioning point at them):

- ``glowops-assistant``: the spec's assistant adoption dashboard;
- ``glowops-documents``: the document pipeline;
- ``glowops-approvals``: the approvals SLA;
- ``glowops-security``: security denials;
- ``glowops-service``: the service overview (HTTP RED per route, error budget, cache);
- ``glowops-operations``: glowops' own operations (health checks, alerting, backups, telemetry).

Rules every panel follows (the tests check them):

- Queries select only metrics of :data:`glowops.telemetry.catalog.CATALOG` and recording rules
  of :func:`glowops.alerting.rules.build_catalog`, and stay in the embedded PromQL subset.
- Rates use ``[$__rate_interval]``. A panel that shows an alert's quantity uses the alert's own
  window instead (``increase(...[5m])`` for the 5-minute spike alerts), so the threshold line
  means exactly what the rule means.
- Metrics with an ``org_id`` label are filtered with ``org_id=~"$org_id"`` (``org_filtered``);
  the description of every other panel says that it covers all organisations.
- Thresholds are never typed here: :func:`rule_threshold` reads the number and the direction
  from the alert rule's expression (``... > 2``), so a changed
  :class:`~glowops.alerting.rules.Thresholds` value moves the panel line with the alert.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from glowops.alerting.rules import Catalog, error_ratio_record, slow_ratio_record
from glowops.dashboards.model import ORG_VAR, RATE_INTERVAL, Dashboard, Panel, Query, Threshold

if TYPE_CHECKING:
    from glowops.settings import Settings

R = RATE_INTERVAL
ORG = f'org_id=~"{ORG_VAR}"'
ALL_ORGS = " Covers all organisations (the metric has no org_id label)."
SERVICE_WIDE = " Service-wide, not filtered by organisation."

UIDS: tuple[str, ...] = (
    "glowops-assistant",
    "glowops-documents",
    "glowops-approvals",
    "glowops-security",
    "glowops-service",
    "glowops-operations",
)

# The comparison that ends an alert expression: "<expr> > 0.05", "... < 0.8".
_TAIL = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$")


def rule_threshold(catalog: Catalog, alert: str) -> Threshold:
    """The threshold of ``alert`` as the rule evaluates it: its number, severity and direction.

    Raises ``ValueError`` unless the rule is one comparison with a number (``expr > 2``), or when its
    severity is ``info`` (no colour step for information-only alerts).
    """
    rule = catalog.alert(alert)
    bare = re.sub(r"\{[^{}]*\}", "", rule.expr)  # label matchers hold = and != too
    single = len(re.findall(r"[<>]=?|==|!=", bare)) == 1 and not re.search(r"\b(and|or|unless)\b", bare)
    match = _TAIL.search(rule.expr)
    if match is None or not single:
        raise ValueError(f"alert {alert!r} is not one numeric comparison (expr > number): {rule.expr}")
    if rule.severity not in ("warning", "critical"):
        raise ValueError(f"alert {alert!r} has severity {rule.severity!r}; panels show warning/critical")
    mode = "below" if match.group(1).startswith("<") else "above"
    return Threshold(float(match.group(2)), rule.severity, rule.name, mode)  # type: ignore[arg-type]


def _q(expr: str, legend: str = "", ref: str = "A") -> Query:
    return Query(expr=expr, legend=legend, ref_id=ref)


def _quantiles(
    metric: str, by: str = "", legend: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[Query, ...]:
    """p50/p95/p99 of a histogram, optionally per label (``by="route"``)."""
    group = f"le, {by}" if by else "le"
    suffix = f" {legend}" if legend else ""
    return tuple(
        _q(
            f"histogram_quantile({q:g}, sum by ({group}) (rate({metric}_bucket[{R}])))",
            f"p{round(q * 100)}{suffix}",
            "ABCDEFGH"[i],
        )
        for i, q in enumerate(qs)
    )


def build_dashboards(
    settings: Settings | None = None, *, catalog: Catalog | None = None
) -> tuple[Dashboard, ...]:
    """The six dashboards, thresholds read from ``catalog`` (default: this deployment's rules).

    ``settings`` supplies the rule catalog's deployment values (disk warning/critical levels,
    links) and the approval SLA; ``catalog`` overrides the rule catalog, e.g. to see a changed
    :class:`~glowops.alerting.rules.Thresholds` value reach the panels.
    """
    if settings is None:
        from glowops.settings import get_settings

        settings = get_settings()
    if catalog is None:
        from glowops.alerting.export import catalog_from_settings

        catalog = catalog_from_settings(settings)
    # Transitional (issue 13): the approvals dashboard moves to the Prisma Glow pack with its SLA.
    sla_seconds = float(getattr(settings, "approval_sla_hours", 24.0)) * 3600
    return (
        _assistant(catalog),
        _documents(catalog),
        _approvals(catalog, sla_seconds),
        _security(catalog),
        _service(catalog),
        _operations(catalog),
    )


def dashboard_by_uid(dashboards: tuple[Dashboard, ...], uid: str) -> Dashboard:
    """The dashboard with ``uid`` (``KeyError`` naming the known uids otherwise)."""
    for dashboard in dashboards:
        if dashboard.uid == uid:
            return dashboard
    raise KeyError(f"no dashboard {uid!r}; known: {', '.join(d.uid for d in dashboards)}")


# --------------------------------------------------------------------------------------------
# Assistant adoption
# --------------------------------------------------------------------------------------------
def _assistant(c: Catalog) -> Dashboard:
    return Dashboard(
        uid="glowops-assistant",
        title="Assistant adoption",
        description="Who uses the assistant, how much, with which tools, and how fast it answers.",
        tags=("glowops", "assistant"),
        panels=(
            Panel(
                key="conversations",
                title="Conversations started per hour",
                description="New assistant conversations per hour, by organisation "
                "(assistant_conversations_total).",
                unit="short",
                queries=(
                    _q(
                        f"sum by (org_id) (rate(assistant_conversations_total{{{ORG}}}[{R}])) * 3600",
                        "{{org_id}}",
                    ),
                ),
                org_filtered=True,
            ),
            Panel(
                key="active_users",
                title="Active users (24 h)",
                description="Distinct users who sent the assistant a message in the last 24 hours, "
                "summed over the selected organisations.",
                unit="short",
                kind="stat",
                width=6,
                queries=(_q(f"sum(assistant_active_users{{{ORG}}})", "active users"),),
                org_filtered=True,
            ),
            Panel(
                key="messages_per_conversation",
                title="Average messages per conversation",
                description="Messages (user and assistant) divided by conversations started, over the "
                "same rate window: a rough depth of each conversation.",
                unit="short",
                kind="stat",
                width=6,
                queries=(
                    _q(
                        f"sum(rate(assistant_messages_total{{{ORG}}}[{R}]))"
                        f" / sum(rate(assistant_conversations_total{{{ORG}}}[{R}]))",
                        "messages per conversation",
                    ),
                ),
                org_filtered=True,
            ),
            Panel(
                key="tool_invocations",
                title="Tool invocations by tool",
                description="Assistant tool calls per second by tool and outcome." + ALL_ORGS,
                unit="ops",
                queries=(
                    _q(
                        f"sum by (tool, outcome) (rate(assistant_tool_invocations_total[{R}]))",
                        "{{tool}} ({{outcome}})",
                    ),
                ),
            ),
            Panel(
                key="response_time",
                title="Response time p50 / p95 / p99",
                description="Time to produce an assistant reply, by responder. No alert rule watches "
                "it, so the panel has no threshold." + ALL_ORGS,
                unit="s",
                queries=_quantiles("assistant_response_time_seconds"),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Document pipeline
# --------------------------------------------------------------------------------------------
def _documents(c: Catalog) -> Dashboard:
    ok = 'outcome="ok"'
    return Dashboard(
        uid="glowops-documents",
        title="Document pipeline",
        description="Documents through upload → extract → accept → commit: where they are, how long "
        "each stage takes, how often it fails, and the throughput.",
        tags=("glowops", "documents"),
        panels=(
            Panel(
                key="in_stage",
                title="Documents at each stage",
                description="Documents currently in each pipeline state (from the database)." + ALL_ORGS,
                unit="short",
                kind="bargauge",
                queries=(_q("sum by (stage) (documents_in_stage)", "{{stage}}"),),
            ),
            Panel(
                key="queue_depth",
                title="Extraction queue depth",
                description="Documents uploaded and waiting for extraction; DocumentQueueBacklog fires "
                "above the line." + ALL_ORGS,
                unit="short",
                kind="stat",
                width=6,
                queries=(_q("max(documents_queue_depth)", "queued"),),
                thresholds=(rule_threshold(c, "DocumentQueueBacklog"),),
            ),
            Panel(
                key="throughput",
                title="Throughput (docs/hour)",
                description="Documents committed per hour (the end of the pipeline)." + ALL_ORGS,
                unit="short",
                kind="stat",
                width=6,
                queries=(
                    _q(f'sum(rate(documents_stage_total{{stage="commit",{ok}}}[{R}])) * 3600', "committed/h"),
                ),
            ),
            Panel(
                key="uploads",
                title="Uploads per hour",
                description="Documents uploaded per hour, by organisation.",
                unit="short",
                queries=(
                    _q(
                        f"sum by (org_id) (rate(documents_uploaded_total{{{ORG}}}[{R}])) * 3600", "{{org_id}}"
                    ),
                ),
                org_filtered=True,
            ),
            Panel(
                key="stage_duration",
                title="Processing time per stage (p50 / p95)",
                description="Duration of each pipeline stage; the extract stage includes OCR and "
                "parsing." + ALL_ORGS,
                unit="s",
                queries=_quantiles("documents_stage_duration_seconds", "stage", "{{stage}}", (0.5, 0.95)),
            ),
            Panel(
                key="success_rate",
                title="Success rate per stage",
                description="Share of stage attempts that succeeded (outcome ok)." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    _q(
                        f"sum by (stage) (rate(documents_stage_total{{{ok}}}[{R}]))"
                        f" / sum by (stage) (rate(documents_stage_total[{R}]))",
                        "{{stage}}",
                    ),
                ),
            ),
            Panel(
                key="failure_rate",
                title="Failure rate per stage",
                description="Share of stage attempts that failed (rejected uploads, conflicting "
                "transitions, extraction errors); stages without failures show no series." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    _q(
                        f'sum by (stage) (rate(documents_stage_total{{outcome!="ok"}}[{R}]))'
                        f" / sum by (stage) (rate(documents_stage_total[{R}]))",
                        "{{stage}}",
                    ),
                ),
            ),
            Panel(
                key="extract_errors",
                title="Extraction errors (15 min)",
                description="Extraction failures in the last 15 minutes, the DocumentExtractErrors "
                "window, in total and by error type." + ALL_ORGS,
                unit="short",
                queries=(
                    _q("sum(increase(documents_extract_errors_total[15m]))", "all"),
                    _q(
                        "sum by (error_type) (increase(documents_extract_errors_total[15m]))",
                        "{{error_type}}",
                        "B",
                    ),
                ),
                thresholds=(rule_threshold(c, "DocumentExtractErrors"),),
            ),
            Panel(
                key="indexing_failures",
                title="Indexing failure ratio (15 min)",
                description="Share of embedding/indexing attempts that failed over 15 minutes, the "
                "DocumentIndexingFailures window." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    _q(
                        '(sum(rate(documents_indexed_total{outcome=~"error|failed|failure"}[15m]))'
                        " or vector(0)) / sum(rate(documents_indexed_total[15m]))",
                        "failed share",
                    ),
                ),
                thresholds=(rule_threshold(c, "DocumentIndexingFailures"),),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Approvals SLA
# --------------------------------------------------------------------------------------------
def _approvals(c: Catalog, sla_seconds: float) -> Dashboard:
    overdue = rule_threshold(c, "ApprovalsOverdue")
    # The SLA is a setting (GLOWOPS_APPROVAL_SLA_HOURS), not a number in the rule expression; it is
    # the due time whose passing makes ApprovalsOverdue fire, so the line links to that alert.
    sla = Threshold(sla_seconds, "warning", overdue.alert)
    return Dashboard(
        uid="glowops-approvals",
        title="Approvals SLA",
        description="Approvals waiting, how long decisions take, MFA on large approvals, and what "
        "missed its SLA.",
        tags=("glowops", "approvals"),
        panels=(
            Panel(
                key="pending",
                title="Pending approvals",
                description="Approvals waiting for a decision, summed over the selected organisations.",
                unit="short",
                kind="stat",
                width=6,
                queries=(_q(f"sum(approvals_pending{{{ORG}}})", "pending"),),
                org_filtered=True,
            ),
            Panel(
                key="overdue",
                title="Overdue approvals",
                description="Approvals past their SLA due time and still pending; ApprovalsOverdue fires "
                "for an organisation above the line.",
                unit="short",
                kind="stat",
                width=6,
                queries=(_q(f"sum(approvals_overdue{{{ORG}}})", "overdue"),),
                thresholds=(overdue,),
                org_filtered=True,
            ),
            Panel(
                key="pending_by_org",
                title="Pending and overdue by organisation",
                description="Pending and overdue approvals per organisation over time.",
                unit="short",
                queries=(
                    _q(f"sum by (org_id) (approvals_pending{{{ORG}}})", "pending {{org_id}}"),
                    _q(f"sum by (org_id) (approvals_overdue{{{ORG}}})", "overdue {{org_id}}", "B"),
                ),
                org_filtered=True,
            ),
            Panel(
                key="decision_time",
                title="Approval time, creation → decision (p50 / p95)",
                description="Time from the approval request to its decision. The line is the SLA "
                "(GLOWOPS_APPROVAL_SLA_HOURS) after which a pending approval counts as overdue." + ALL_ORGS,
                unit="s",
                queries=_quantiles("approvals_decision_time_seconds", qs=(0.5, 0.95)),
                thresholds=(sla,),
            ),
            Panel(
                key="mfa_completion_rate",
                title="MFA completion rate",
                description="MFA challenges passed divided by decisions that required MFA." + ALL_ORGS,
                unit="percentunit",
                kind="stat",
                width=6,
                queries=(
                    _q(
                        f"sum(rate(approvals_mfa_completed_total[{R}]))"
                        f" / sum(rate(approvals_mfa_required_total[{R}]))",
                        "completed share",
                    ),
                ),
            ),
            Panel(
                key="mfa_challenges",
                title="MFA challenges",
                description="MFA-protected decisions per second: required, passed, failed." + ALL_ORGS,
                unit="ops",
                width=6,
                queries=(
                    _q(f"sum(rate(approvals_mfa_required_total[{R}]))", "required"),
                    _q(f"sum(rate(approvals_mfa_completed_total[{R}]))", "completed", "B"),
                    _q(f"sum(rate(approvals_mfa_failed_total[{R}]))", "failed", "C"),
                ),
            ),
            Panel(
                key="requests_and_decisions",
                title="Requests and decisions per hour",
                description="Approvals requested (by organisation) and decided (by outcome) per hour. "
                "Decisions have no org_id label and are not filtered.",
                unit="short",
                queries=(
                    _q(
                        f"sum by (org_id) (rate(approvals_requested_total{{{ORG}}}[{R}])) * 3600",
                        "requested {{org_id}}",
                    ),
                    _q(
                        f"sum by (decision) (rate(approvals_decisions_total[{R}])) * 3600",
                        "{{decision}}",
                        "B",
                    ),
                ),
                org_filtered=True,
            ),
            Panel(
                key="became_overdue",
                title="Approvals that missed their SLA (1 h)",
                description="Approvals that passed their due time in the last hour, by severity (high: "
                "large enough to need MFA). ApprovalsBecomingOverdue (info) watches the total." + ALL_ORGS,
                unit="short",
                queries=(
                    _q("sum by (severity) (increase(approvals_became_overdue_total[1h]))", "{{severity}}"),
                ),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Security denials
# --------------------------------------------------------------------------------------------
def _spike(metric: str, label: str) -> tuple[Query, ...]:
    """The alert's quantity (total over 5 min) and the same per ``label``."""
    return (
        _q(f"sum(increase({metric}[5m]))", "all"),
        _q(f"sum by ({label}) (increase({metric}[5m]))", f"{{{{{label}}}}}", "B"),
    )


def _security(c: Catalog) -> Dashboard:
    return Dashboard(
        uid="glowops-security",
        title="Security denials",
        description="Refusals by row-level security, permission checks, authentication and the rate "
        "limiter, and suspicious activity. Counts per 5 minutes, the window of the spike alerts.",
        tags=("glowops", "security"),
        panels=(
            Panel(
                key="rls_denials",
                title="RLS denials by table (per 5 min)",
                description="Row-level-security refusals: a client reading or writing another "
                "organisation's rows. RLSDenialSpike fires when the total crosses the line." + ALL_ORGS,
                unit="short",
                queries=_spike("security_rls_denied_total", "table"),
                thresholds=(rule_threshold(c, "RLSDenialSpike"),),
            ),
            Panel(
                key="permission_denials",
                title="Permission failures by action (per 5 min)",
                description="Permission checks refused, by action. PermissionDeniedSpike is an info "
                "alert, shown in the alert list rather than as a line here." + ALL_ORGS,
                unit="short",
                queries=_spike("security_permission_denied_total", "action"),
            ),
            Panel(
                key="auth_failures",
                title="Failed authentication by reason (per 5 min)",
                description="Failed sign-ins and refused tokens by reason (bad password, unknown user, "
                "forged or expired token). AuthFailureSpike fires above the line." + ALL_ORGS,
                unit="short",
                queries=_spike("security_auth_failed_total", "reason"),
                thresholds=(rule_threshold(c, "AuthFailureSpike"),),
            ),
            Panel(
                key="suspicious_activity",
                title="Suspicious activity by kind",
                description="Forged tokens, repeated failed logins and other suspicious events per "
                "second, by kind." + ALL_ORGS,
                unit="ops",
                queries=(_q(f"sum by (kind) (rate(security_suspicious_activity_total[{R}]))", "{{kind}}"),),
            ),
            Panel(
                key="rate_limited",
                title="Rate-limited requests by route (per 5 min)",
                description="Requests refused with 429 by the per-client rate limiter; "
                "RateLimitRejections fires for a route above the line." + ALL_ORGS,
                unit="short",
                width=24,
                queries=(_q("sum by (route) (increase(http_rate_limited_total[5m]))", "{{route}}"),),
                thresholds=(rule_threshold(c, "RateLimitRejections"),),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Service overview (RED)
# --------------------------------------------------------------------------------------------
def _service(c: Catalog) -> Dashboard:
    p95, p99 = rule_threshold(c, "SlowResponsesP95"), rule_threshold(c, "HighLatencyP99")
    return Dashboard(
        uid="glowops-service",
        title="Service overview",
        description="Rate, errors and duration per route, requests in flight, the error budget and "
        "the cache: the first stop when an availability or latency alert fires.",
        tags=("glowops", "service"),
        panels=(
            Panel(
                key="request_rate",
                title="Request rate by route",
                description="HTTP requests per second by route template." + ALL_ORGS,
                unit="reqps",
                queries=(_q(f"sum by (route) (rate(http_requests_total[{R}]))", "{{route}}"),),
            ),
            Panel(
                key="errors",
                title="Errors by route and status",
                description="Responses with a 4xx or 5xx status per second, by route and status." + ALL_ORGS,
                unit="reqps",
                queries=(
                    _q(
                        f'sum by (route, status) (rate(http_requests_total{{status=~"4..|5.."}}[{R}]))',
                        "{{route}} {{status}}",
                    ),
                ),
            ),
            Panel(
                key="error_ratio",
                title="Server error ratio (5 min / 15 min)",
                description="Share of requests answered with 5xx, from the SLO recording rules: "
                "HighErrorRate reads the 5-minute ratio, ElevatedErrorRate the 15-minute one." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    _q(error_ratio_record("5m"), "5 min"),
                    _q(error_ratio_record("15m"), "15 min", "B"),
                ),
                thresholds=(rule_threshold(c, "ElevatedErrorRate"), rule_threshold(c, "HighErrorRate")),
            ),
            Panel(
                key="latency",
                title="Duration p50 / p95 / p99 by route",
                description="HTTP request duration per route. SlowResponsesP95 and HighLatencyP99 watch "
                "the p95 and p99 over all routes (15 and 5 minute windows)." + ALL_ORGS,
                unit="s",
                queries=_quantiles("http_request_duration_seconds", "route", "{{route}}"),
                thresholds=(p95, p99),
            ),
            Panel(
                key="in_flight",
                title="Requests in flight",
                description="HTTP requests being served right now." + ALL_ORGS,
                unit="short",
                kind="stat",
                width=6,
                queries=(_q("sum(http_requests_in_flight)", "in flight"),),
            ),
            Panel(
                key="slow_ratio",
                title=f"Requests slower than {c.objectives.latency_threshold_seconds:g} s",
                description="Share of requests slower than the latency objective's threshold, from the "
                "SLO recording rules (5 min and 1 h), the input of the latency burn-rate alerts." + ALL_ORGS,
                unit="percentunit",
                width=6,
                queries=(_q(slow_ratio_record("5m"), "5 min"), _q(slow_ratio_record("1h"), "1 h", "B")),
            ),
            Panel(
                key="cache_hit_ratio",
                title="Cache hit ratio (15 min)",
                description="Share of cache look-ups answered from the cache over 15 minutes, by cache; "
                "CacheHitRateLow fires below the line." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    _q(
                        'sum by (cache) (rate(cache_requests_total{result="hit"}[15m]))'
                        " / sum by (cache) (rate(cache_requests_total[15m]))",
                        "{{cache}}",
                    ),
                ),
                thresholds=(rule_threshold(c, "CacheHitRateLow"),),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Operations board
# --------------------------------------------------------------------------------------------
def _operations(c: Catalog) -> Dashboard:
    return Dashboard(
        uid="glowops-operations",
        title="Operations",
        description="glowops' own health: dependency checks, disk, the embedded alerting and its "
        "deliveries, backups and restore drills, lost telemetry and log volume.",
        tags=("glowops", "operations"),
        panels=(
            Panel(
                key="health_checks",
                title="Health checks",
                description="1 when the dependency check passed at its last run, 0 when it failed "
                "(database, Redis, Supabase, OpenAI, disk, backup)." + SERVICE_WIDE,
                unit="short",
                kind="stat",
                queries=(_q("min by (check) (glowops_health_check_up)", "{{check}}"),),
            ),
            Panel(
                key="health_check_duration",
                title="Health check duration p95",
                description="How long each dependency check takes." + SERVICE_WIDE,
                unit="s",
                queries=_quantiles("glowops_health_check_duration_seconds", "check", "{{check}}", (0.95,)),
            ),
            Panel(
                key="dependency_unavailable",
                title="Requests refused: dependency unavailable",
                description="Requests answered 503 per rate window because a dependency's deadline "
                "expired, it refused the connection or its pool was exhausted, by dependency and "
                "reason (request = the whole request deadline)." + SERVICE_WIDE,
                unit="short",
                queries=(
                    _q(
                        f"sum by (dependency, reason) (increase(dependency_unavailable_total[{R}]))",
                        "{{dependency}} {{reason}}",
                    ),
                ),
            ),
            Panel(
                key="disk_used",
                title="Data volume used",
                description="Used fraction of the data volume (database files, uploads, backups); "
                "StorageFillingUp and StorageAlmostFull fire above the lines." + SERVICE_WIDE,
                unit="percentunit",
                kind="gauge",
                width=6,
                queries=(_q("max(glowops_disk_used_ratio)", "used"),),
                thresholds=(rule_threshold(c, "StorageFillingUp"), rule_threshold(c, "StorageAlmostFull")),
            ),
            Panel(
                key="alert_states",
                title="Alerts by state and severity",
                description="Alerts of the embedded engine that are pending or firing, by severity."
                + SERVICE_WIDE,
                unit="short",
                width=6,
                queries=(_q("sum by (state, severity) (glowops_alerts)", "{{state}} {{severity}}"),),
            ),
            Panel(
                key="notifications",
                title="Notification delivery",
                description="Notification attempts by channel and outcome (sent, failed, dead-lettered) "
                "per rate window, and messages waiting in the outbox." + SERVICE_WIDE,
                unit="short",
                queries=(
                    _q(
                        f"sum by (channel, outcome) (increase(glowops_notifications_total[{R}]))",
                        "{{channel}} {{outcome}}",
                    ),
                    _q("max(glowops_outbox_depth)", "outbox depth", "B"),
                ),
            ),
            Panel(
                key="alert_evaluation",
                title="Rule evaluation",
                description="Evaluation cycles of the embedded rule engine per second and the p95 time "
                "to evaluate the whole catalog once." + SERVICE_WIDE,
                unit="s",
                queries=(
                    _q(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(glowops_alert_evaluation_duration_seconds_bucket[{R}])))",
                        "p95 evaluation time",
                    ),
                    _q(f"sum(rate(glowops_alert_evaluations_total[{R}]))", "evaluations/s", "B"),
                ),
            ),
            Panel(
                key="backup_age",
                title="Age of the newest good backup",
                description="Time since the newest good backup finished (no value: none yet); "
                "BackupStale fires above the line." + SERVICE_WIDE,
                unit="s",
                kind="stat",
                width=6,
                queries=(_q("time() - max(glowops_backup_last_success_timestamp_seconds > 0)", "age"),),
                thresholds=(rule_threshold(c, "BackupStale"),),
            ),
            Panel(
                key="drill_age",
                title="Age of the last successful restore drill",
                description="Time since the last successful verification/restore drill (no value: "
                "never); BackupDrillOverdue fires above the line." + SERVICE_WIDE,
                unit="s",
                kind="stat",
                width=6,
                queries=(_q("time() - max(glowops_backup_last_verify_timestamp_seconds > 0)", "age"),),
                thresholds=(rule_threshold(c, "BackupDrillOverdue"),),
            ),
            Panel(
                key="backup_status",
                title="Backup store",
                description="1/0 flags: the store could be read, the last drill passed, the retention "
                "policy is met; and the number of good backups." + SERVICE_WIDE,
                unit="short",
                kind="stat",
                width=6,
                queries=(
                    _q("max(glowops_backup_store_up)", "store readable"),
                    _q("max(glowops_backup_last_verify_success)", "last drill passed", "B"),
                    _q("max(glowops_backup_retention_compliant)", "retention met", "C"),
                    _q("max(glowops_backup_good_count)", "good backups", "D"),
                ),
            ),
            Panel(
                key="backup_size",
                title="Backup size",
                description="Stored size of the newest good backup and the median of the last seven "
                "(BackupSizeDropped fires when the newest is below half the median)." + SERVICE_WIDE,
                unit="bytes",
                width=6,
                queries=(
                    _q("max(glowops_backup_size_bytes)", "newest"),
                    _q("max(glowops_backup_size_median_7_bytes)", "median of 7", "B"),
                ),
            ),
            Panel(
                key="backup_timing",
                title="Backup and restore time",
                description="Duration of the newest good backup run and the restore time measured by "
                "the last drill (the recovery time objective in practice)." + SERVICE_WIDE,
                unit="s",
                queries=(
                    _q("max(glowops_backup_duration_seconds)", "backup"),
                    _q("max(glowops_backup_drill_restore_seconds)", "restore (drill)", "B"),
                ),
            ),
            Panel(
                key="telemetry_loss",
                title="Dropped spans and suppressed error events",
                description="Spans dropped because the export queue was full or failed, and error "
                "events not sent because their fingerprint hit the rate limit, per second." + SERVICE_WIDE,
                unit="ops",
                queries=(
                    _q(f"sum(rate(glowops_spans_dropped_total[{R}]))", "spans dropped"),
                    _q(f"sum(rate(glowops_sentry_events_suppressed_total[{R}]))", "errors suppressed", "B"),
                ),
            ),
            Panel(
                key="log_volume",
                title="Log volume by level",
                description="Log lines written per second, by level." + SERVICE_WIDE,
                unit="ops",
                queries=(_q(f"sum by (level) (rate(glowops_log_events_total[{R}]))", "{{level}}"),),
            ),
        ),
    )
