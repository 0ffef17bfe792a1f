"""The Prisma Glow pack's metric specs: assistant adoption, document pipeline, approvals SLA,
security denials, and the gateway's cache and rate limiter.

Each entry maps the spec's dotted name (``assistant.tool_invocations``) to its Prometheus name,
type, unit and labels; ``dashboard`` names the pack dashboard that shows it.
"""

from __future__ import annotations

from glowops.telemetry.catalog import HTTP_BUCKETS, MetricSpec, SpecAlias

ORG = ("org_id",)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# Approval decisions take hours: 15 min .. 3 days, resolving the default 24 h SLA.
APPROVAL_BUCKETS = (900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 172800.0, 259200.0)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "http_rate_limited",
        "counter",
        "Requests refused with 429 by the per-client rate limiter.",
        ("route",),
        dashboard="security",
        spec_name="rate_limit.rejections",
    ),
    MetricSpec(
        "cache_requests",
        "counter",
        "Cache look-ups by cache and result (hit or miss).",
        ("cache", "result"),
        dashboard="assistant",
        spec_name="cache.requests",
    ),
    # --- assistant adoption -------------------------------------------------------------------
    MetricSpec(
        "assistant_conversations",
        "counter",
        "Assistant conversations started.",
        ORG,
        spec_name="assistant.conversations.total",
        dashboard="assistant",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "assistant_messages",
        "counter",
        "Assistant messages by role (user or assistant).",
        ("org_id", "role"),
        spec_name="assistant.messages",
        dashboard="assistant",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "assistant_active_users",
        "gauge",
        "Distinct users who sent a message in the last 24 hours.",
        ORG,
        spec_name="assistant.active_users",
        dashboard="assistant",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "assistant_tool_invocations",
        "counter",
        "Assistant tool invocations by tool and outcome.",
        ("tool", "outcome"),
        spec_name="assistant.tool_invocations",
        dashboard="assistant",
    ),
    MetricSpec(
        "assistant_response_time_seconds",
        "histogram",
        "Time to produce an assistant reply.",
        ("responder",),
        unit="seconds",
        spec_name="assistant.response_time",
        dashboard="assistant",
        buckets=HTTP_BUCKETS,
    ),
    # --- document pipeline --------------------------------------------------------------------
    MetricSpec(
        "documents_uploaded",
        "counter",
        "Documents uploaded.",
        ORG,
        spec_name="documents.uploaded",
        dashboard="documents",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "documents_stage",
        "counter",
        "Document pipeline stage outcomes (upload, extract, accept, commit).",
        ("stage", "outcome"),
        spec_name="documents.stage",
        dashboard="documents",
    ),
    MetricSpec(
        "documents_stage_duration_seconds",
        "histogram",
        "Processing time per pipeline stage.",
        ("stage",),
        unit="seconds",
        spec_name="documents.extract_time",
        dashboard="documents",
        buckets=STAGE_BUCKETS,
    ),
    MetricSpec(
        "documents_extract_errors",
        "counter",
        "Extraction failures by error type.",
        ("error_type",),
        spec_name="documents.extract_errors",
        dashboard="documents",
    ),
    MetricSpec(
        "documents_in_stage",
        "gauge",
        "Documents currently at each pipeline stage.",
        ("stage",),
        spec_name="documents.in_stage",
        dashboard="documents",
    ),
    MetricSpec(
        "documents_queue_depth",
        "gauge",
        "Documents waiting for extraction.",
        spec_name="documents.queue_depth",
        dashboard="documents",
    ),
    MetricSpec(
        "documents_indexed",
        "counter",
        "Document indexing (embedding) attempts by outcome.",
        ("outcome",),
        spec_name="documents.indexed",
        dashboard="documents",
    ),
    # --- approvals SLA ------------------------------------------------------------------------------
    MetricSpec(
        "approvals_requested",
        "counter",
        "Approvals requested.",
        ORG,
        spec_name="approvals.requested",
        dashboard="approvals",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "approvals_pending",
        "gauge",
        "Approvals waiting for a decision.",
        ORG,
        spec_name="approvals.pending",
        dashboard="approvals",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "approvals_decision_time_seconds",
        "histogram",
        "Time from approval request to decision.",
        ("decision",),
        unit="seconds",
        spec_name="approvals.decision_time",
        dashboard="approvals",
        buckets=APPROVAL_BUCKETS,
    ),
    MetricSpec(
        "approvals_decisions",
        "counter",
        "Approval decisions by outcome (approved, rejected).",
        ("decision",),
        spec_name="approvals.decisions",
        dashboard="approvals",
    ),
    MetricSpec(
        "approvals_mfa_required",
        "counter",
        "Approval decisions that required an MFA code.",
        spec_name="approvals.mfa_required",
        dashboard="approvals",
    ),
    MetricSpec(
        "approvals_mfa_completed",
        "counter",
        "MFA challenges passed on approval decisions.",
        spec_name="approvals.mfa_completed",
        dashboard="approvals",
    ),
    MetricSpec(
        "approvals_mfa_failed",
        "counter",
        "MFA challenges failed on approval decisions.",
        spec_name="approvals.mfa_failed",
        dashboard="approvals",
    ),
    MetricSpec(
        "approvals_overdue",
        "gauge",
        "Approvals past their SLA due time and still pending.",
        ORG,
        spec_name="approvals.overdue_pending",
        dashboard="approvals",
        guarded_labels=ORG,
    ),
    MetricSpec(
        "approvals_became_overdue",
        "counter",
        "Approvals that passed their SLA due time.",
        ("severity",),
        spec_name="approvals.overdue",
        dashboard="approvals",
    ),
    # --- security denials -----------------------------------------------------------------------
    MetricSpec(
        "security_rls_denied",
        "counter",
        "Row-level-security refusals by table.",
        ("table",),
        spec_name="security.rls_denied",
        dashboard="security",
    ),
    MetricSpec(
        "security_permission_denied",
        "counter",
        "Permission check failures by action.",
        ("action",),
        spec_name="security.permission_denied",
        dashboard="security",
    ),
    MetricSpec(
        "security_auth_failed",
        "counter",
        "Failed authentication attempts by reason.",
        ("reason",),
        spec_name="security.auth_failed",
        dashboard="security",
    ),
    MetricSpec(
        "security_suspicious_activity",
        "counter",
        "Suspicious activity by kind.",
        ("kind",),
        spec_name="security.suspicious_activity",
        dashboard="security",
    ),
)

# The spec passes milliseconds and hours; Prometheus wants seconds.
SPEC_ALIASES: tuple[SpecAlias, ...] = (
    SpecAlias("assistant.response_time", "assistant_response_time_seconds", 0.001, "milliseconds"),
    SpecAlias(
        "documents.extract_time",
        "documents_stage_duration_seconds",
        0.001,
        "milliseconds",
        (("stage", "extract"),),
    ),
    SpecAlias("approvals.decision_time", "approvals_decision_time_seconds", 3600.0, "hours"),
)
