"""The metric catalog: every metric glowops and the gateway emit, declared once.

Each entry maps the spec's dotted name (``assistant.tool_invocations``) to its Prometheus
name, type, unit and labels. The facade (:mod:`glowops.telemetry.metrics`), the alert rules,
the dashboards and ``docs/metrics.md`` are all derived from this one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]

# Buckets resolve the alert thresholds (2 s warning, 5 s critical) exactly.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# Approval decisions take hours: 15 min .. 3 days, resolving the default 24 h SLA.
APPROVAL_BUCKETS = (900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 172800.0, 259200.0)
CHECK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One catalogued metric."""

    name: str  # Prometheus name (counters without the _total suffix, as prometheus_client wants)
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""  # Prometheus base unit: seconds, bytes, ratio, or "" for counts
    spec_name: str | None = None  # the dotted name the spec uses, when it names one
    dashboard: str = "operations"
    buckets: tuple[float, ...] | None = None
    guarded_labels: tuple[str, ...] = field(default=())  # labels under the cardinality guard
    # A module whose custom collector computes the metric at scrape time (the facade does not
    # create it): the backup gauges read the backup store, not an in-process value.
    collected_by: str | None = None

    @property
    def exposed_name(self) -> str:
        """The name as it appears on /metrics (counters gain ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


ORG = ("org_id",)
_BACKUP = "glowops.backup.monitoring"

CATALOG: tuple[MetricSpec, ...] = (
    # --- service overview: HTTP RED ---------------------------------------------------------
    MetricSpec(
        "http_requests",
        "counter",
        "HTTP requests by method, route template and status code.",
        ("method", "route", "status"),
        dashboard="service",
    ),
    MetricSpec(
        "http_request_duration_seconds",
        "histogram",
        "HTTP request duration by route template.",
        ("method", "route"),
        unit="seconds",
        dashboard="service",
        buckets=HTTP_BUCKETS,
    ),
    MetricSpec(
        "http_requests_in_flight", "gauge", "HTTP requests being served right now.", dashboard="service"
    ),
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
        dashboard="service",
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
    # --- glowops' own operations -----------------------------------------------------------------
    MetricSpec("glowops_log_events", "counter", "Log lines written, by level.", ("level",)),
    MetricSpec(
        "glowops_metric_label_overflow",
        "counter",
        "Label values folded into the overflow value by the cardinality guard.",
        ("metric", "label"),
    ),
    MetricSpec(
        "glowops_spans_dropped", "counter", "Spans dropped because the export queue was full or failed."
    ),
    MetricSpec(
        "glowops_sentry_events_suppressed",
        "counter",
        "Error events not sent because their fingerprint hit the rate limit.",
    ),
    MetricSpec(
        "glowops_health_check_up", "gauge", "1 when the health check passes, 0 when it fails.", ("check",)
    ),
    MetricSpec(
        "glowops_health_check_duration_seconds",
        "histogram",
        "Health check duration.",
        ("check",),
        unit="seconds",
        buckets=CHECK_BUCKETS,
    ),
    MetricSpec("glowops_disk_used_ratio", "gauge", "Used fraction of the data volume.", unit="ratio"),
    MetricSpec("glowops_probe_success", "gauge", "1 when the synthetic probe succeeded.", ("target",)),
    MetricSpec(
        "glowops_probe_duration_seconds",
        "gauge",
        "Duration of the last synthetic probe.",
        ("target",),
        unit="seconds",
    ),
    MetricSpec(
        "dependency_unavailable",
        "counter",
        "Requests answered 503 because a dependency was frozen, down or exhausted (its deadline "
        "expired, it refused the connection, or its pool had no free connection), and requests "
        "past the request deadline (dependency=request).",
        ("dependency", "reason"),
    ),
    # --- embedded alerting (issue 7) ---------------------------------------------------------
    MetricSpec("glowops_alert_evaluations", "counter", "Rule evaluation cycles of the embedded engine."),
    MetricSpec(
        "glowops_alert_evaluation_duration_seconds",
        "histogram",
        "Time to evaluate the whole rule catalog once and dispatch its alerts.",
        unit="seconds",
        buckets=CHECK_BUCKETS,
    ),
    MetricSpec(
        "glowops_notifications",
        "counter",
        "Notification delivery attempts by channel and outcome (sent, failed, dead_lettered).",
        ("channel", "outcome"),
    ),
    MetricSpec("glowops_outbox_depth", "gauge", "Notifications stored in the outbox and not yet delivered."),
    MetricSpec(
        "glowops_outbox_dead_letters",
        "gauge",
        "Notifications given up on (dead letters) and not requeued; alerted on by OutboxDeadLetters.",
    ),
    # --- on-call (issue 19) ------------------------------------------------------------------
    MetricSpec(
        "glowops_heartbeat_pings",
        "counter",
        "Dead man's switch pings to GLOWOPS_HEARTBEAT_URL by outcome (sent, failed).",
        ("outcome",),
    ),
    MetricSpec(
        "glowops_notifications_suppressed",
        "counter",
        "Firing alerts kept quiet by a maintenance window of the on-call file, by window.",
        ("window",),
    ),
    MetricSpec(
        "glowops_alerts",
        "gauge",
        "Alerts of the embedded engine by state and severity.",
        ("state", "severity"),
    ),
    # --- backups and restore drills (issue 8): computed from the backup store at scrape time --
    MetricSpec(
        "glowops_backup_store_up",
        "gauge",
        "1 when the backup store could be read at the last scrape.",
        unit="",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_last_success_timestamp_seconds",
        "gauge",
        "End time of the newest good backup (0: none).",
        unit="seconds",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_last_failure_timestamp_seconds",
        "gauge",
        "End time of the newest failed backup run (0: none).",
        unit="seconds",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_size_bytes",
        "gauge",
        "Stored size of the newest good backup.",
        unit="bytes",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_size_median_7_bytes",
        "gauge",
        "Median stored size of the last seven good backups.",
        unit="bytes",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_duration_seconds",
        "gauge",
        "Duration of the newest good backup run.",
        unit="seconds",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_last_verify_success",
        "gauge",
        "1 when the most recent verification/drill passed, 0 otherwise.",
        unit="",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_last_verify_timestamp_seconds",
        "gauge",
        "Time of the most recent successful drill (0: none).",
        unit="seconds",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_drill_restore_seconds",
        "gauge",
        "Restore time measured by the most recent drill (RTO).",
        unit="seconds",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_retention_compliant",
        "gauge",
        "1 when the store holds what the retention policy requires.",
        unit="",
        collected_by=_BACKUP,
    ),
    MetricSpec(
        "glowops_backup_good_count", "gauge", "Good backups in the store.", unit="", collected_by=_BACKUP
    ),
)


@dataclass(frozen=True, slots=True)
class SpecAlias:
    """A call from the spec whose value unit or fixed labels differ from the catalogued metric.

    The spec passes milliseconds and hours (``metrics.histogram("assistant.response_time",
    duration_ms)``); Prometheus wants seconds. Calls by the spec's dotted name take the spec's
    unit and are converted; calls by the Prometheus name take the base unit.
    """

    spec_name: str
    metric: str  # Prometheus name of the catalogued metric
    scale: float = 1.0  # multiplies the value the spec passes into the base unit
    spec_unit: str = ""  # the unit the spec passes (for docs/metrics.md)
    fixed_tags: tuple[tuple[str, str], ...] = ()


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
ALIAS_BY_SPEC_NAME: dict[str, SpecAlias] = {a.spec_name: a for a in SPEC_ALIASES}


BY_NAME: dict[str, MetricSpec] = {m.name: m for m in CATALOG}
BY_SPEC_NAME: dict[str, MetricSpec] = {m.spec_name: m for m in CATALOG if m.spec_name}


def lookup(name: str) -> MetricSpec:
    """Find a metric by its Prometheus name, exposed name or the spec's dotted name."""
    spec = BY_NAME.get(name) or BY_SPEC_NAME.get(name)
    if spec is None and name.endswith("_total"):
        spec = BY_NAME.get(name[: -len("_total")])
    if spec is None:
        raise KeyError(f"unknown metric {name!r}: add it to glowops.telemetry.catalog.CATALOG")
    return spec
