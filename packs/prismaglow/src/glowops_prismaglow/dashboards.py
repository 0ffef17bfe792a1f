"""The Prisma Glow pack's dashboards: the seed's assistant adoption, document pipeline, approvals
SLA and security denials, written with glowops' dashboard helpers and held to its rules
(thresholds read from the alert rules, org filter where the metric has an org_id)."""

from __future__ import annotations

from typing import Any

from glowops.alerting.rules import Catalog
from glowops.dashboards.catalog import ALL_ORGS, ORG, R, quantiles, query, rule_threshold
from glowops.dashboards.model import Dashboard, Panel, Query, Threshold

UIDS: tuple[str, ...] = ("glowops-assistant", "glowops-documents", "glowops-approvals", "glowops-security")
DEFAULT_APPROVAL_SLA_HOURS = 24.0


def dashboards(c: Catalog, settings: Any) -> tuple[Dashboard, ...]:
    """The four dashboards; the approval SLA line comes from the service's settings
    (``approval_sla_hours`` of the gateway's settings), 24 h when they have none."""
    sla_seconds = float(getattr(settings, "approval_sla_hours", DEFAULT_APPROVAL_SLA_HOURS)) * 3600
    return (assistant(c), documents(c), approvals(c, sla_seconds), security(c))


# --------------------------------------------------------------------------------------------
# Assistant adoption
# --------------------------------------------------------------------------------------------
def assistant(c: Catalog) -> Dashboard:
    """The spec's assistant adoption dashboard (and the caches behind the answers)."""
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
                    query(
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
                queries=(query(f"sum(assistant_active_users{{{ORG}}})", "active users"),),
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
                    query(
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
                    query(
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
                queries=quantiles("assistant_response_time_seconds"),
            ),
            Panel(
                key="cache_hit_ratio",
                title="Cache hit ratio (15 min)",
                description="Share of cache look-ups answered from the cache over 15 minutes, by cache; "
                "CacheHitRateLow fires below the line." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    query(
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
# Document pipeline
# --------------------------------------------------------------------------------------------
def documents(c: Catalog) -> Dashboard:
    """The document pipeline: upload → extract → accept → commit."""
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
                queries=(query("sum by (stage) (documents_in_stage)", "{{stage}}"),),
            ),
            Panel(
                key="queue_depth",
                title="Extraction queue depth",
                description="Documents uploaded and waiting for extraction; DocumentQueueBacklog fires "
                "above the line." + ALL_ORGS,
                unit="short",
                kind="stat",
                width=6,
                queries=(query("max(documents_queue_depth)", "queued"),),
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
                    query(
                        f'sum(rate(documents_stage_total{{stage="commit",{ok}}}[{R}])) * 3600', "committed/h"
                    ),
                ),
            ),
            Panel(
                key="uploads",
                title="Uploads per hour",
                description="Documents uploaded per hour, by organisation.",
                unit="short",
                queries=(
                    query(
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
                queries=quantiles("documents_stage_duration_seconds", "stage", "{{stage}}", (0.5, 0.95)),
            ),
            Panel(
                key="success_rate",
                title="Success rate per stage",
                description="Share of stage attempts that succeeded (outcome ok)." + ALL_ORGS,
                unit="percentunit",
                queries=(
                    query(
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
                    query(
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
                    query("sum(increase(documents_extract_errors_total[15m]))", "all"),
                    query(
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
                    query(
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
def approvals(c: Catalog, sla_seconds: float) -> Dashboard:
    """The approvals SLA; ``sla_seconds`` is the gateway's approval SLA."""
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
                queries=(query(f"sum(approvals_pending{{{ORG}}})", "pending"),),
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
                queries=(query(f"sum(approvals_overdue{{{ORG}}})", "overdue"),),
                thresholds=(overdue,),
                org_filtered=True,
            ),
            Panel(
                key="pending_by_org",
                title="Pending and overdue by organisation",
                description="Pending and overdue approvals per organisation over time.",
                unit="short",
                queries=(
                    query(f"sum by (org_id) (approvals_pending{{{ORG}}})", "pending {{org_id}}"),
                    query(f"sum by (org_id) (approvals_overdue{{{ORG}}})", "overdue {{org_id}}", "B"),
                ),
                org_filtered=True,
            ),
            Panel(
                key="decision_time",
                title="Approval time, creation → decision (p50 / p95)",
                description="Time from the approval request to its decision. The line is the SLA "
                "(GLOWOPS_APPROVAL_SLA_HOURS) after which a pending approval counts as overdue." + ALL_ORGS,
                unit="s",
                queries=quantiles("approvals_decision_time_seconds", qs=(0.5, 0.95)),
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
                    query(
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
                    query(f"sum(rate(approvals_mfa_required_total[{R}]))", "required"),
                    query(f"sum(rate(approvals_mfa_completed_total[{R}]))", "completed", "B"),
                    query(f"sum(rate(approvals_mfa_failed_total[{R}]))", "failed", "C"),
                ),
            ),
            Panel(
                key="requests_and_decisions",
                title="Requests and decisions per hour",
                description="Approvals requested (by organisation) and decided (by outcome) per hour. "
                "Decisions have no org_id label and are not filtered.",
                unit="short",
                queries=(
                    query(
                        f"sum by (org_id) (rate(approvals_requested_total{{{ORG}}}[{R}])) * 3600",
                        "requested {{org_id}}",
                    ),
                    query(
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
                    query("sum by (severity) (increase(approvals_became_overdue_total[1h]))", "{{severity}}"),
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
        query(f"sum(increase({metric}[5m]))", "all"),
        query(f"sum by ({label}) (increase({metric}[5m]))", f"{{{{{label}}}}}", "B"),
    )


def security(c: Catalog) -> Dashboard:
    """Security denials and the rate limiter."""
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
                queries=(
                    query(f"sum by (kind) (rate(security_suspicious_activity_total[{R}]))", "{{kind}}"),
                ),
            ),
            Panel(
                key="rate_limited",
                title="Rate-limited requests by route (per 5 min)",
                description="Requests refused with 429 by the per-client rate limiter; "
                "RateLimitRejections fires for a route above the line." + ALL_ORGS,
                unit="short",
                width=24,
                queries=(query("sum by (route) (increase(http_rate_limited_total[5m]))", "{{route}}"),),
                thresholds=(rule_threshold(c, "RateLimitRejections"),),
            ),
        ),
    )
