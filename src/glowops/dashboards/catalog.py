"""The dashboard catalog: every dashboard and panel of glowops, declared once.

The Grafana export (:mod:`glowops.dashboards.grafana`), the embedded ``/ops`` console and
``docs/dashboards.md`` all read :func:`build_dashboards`. glowops' own two dashboards have fixed
uids (alert ``dashboard_url`` annotations and provisioning point at them):

- ``glowops-service``: the service overview (HTTP RED per route, error budget);
- ``glowops-operations``: glowops' own operations (health checks, alerting, backups, telemetry).

A pack (:mod:`glowops.packs`) adds the dashboards of its domain, written with the helpers
below (:func:`query`, :func:`quantiles`, :func:`rule_threshold`) and held to the same rules.

Rules every panel follows (the tests check them):

- Queries select only catalogued metrics (glowops' and the registered packs') and recording rules
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

import dataclasses
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

# glowops' own dashboards; a pack adds its own (Pack.dashboards), with uids of its choosing.
UIDS: tuple[str, ...] = ("glowops-service", "glowops-operations")

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


def query(expr: str, legend: str = "", ref: str = "A") -> Query:
    """One panel query (``ref`` is Grafana's refId: A, B, ...)."""
    return Query(expr=expr, legend=legend, ref_id=ref)


def quantiles(
    metric: str, by: str = "", legend: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[Query, ...]:
    """p50/p95/p99 of a histogram, optionally per label (``by="route"``)."""
    group = f"le, {by}" if by else "le"
    suffix = f" {legend}" if legend else ""
    return tuple(
        query(
            f"histogram_quantile({q:g}, sum by ({group}) (rate({metric}_bucket[{R}])))",
            f"p{round(q * 100)}{suffix}",
            "ABCDEFGH"[i],
        )
        for i, q in enumerate(qs)
    )


def build_dashboards(
    settings: Settings | None = None, *, catalog: Catalog | None = None
) -> tuple[Dashboard, ...]:
    """glowops' dashboards, then those of the catalog's packs; thresholds are read from ``catalog``.

    ``settings`` supplies the rule catalog's deployment values (disk warning/critical levels,
    links, the packs of ``GLOWOPS_PACKS``) and is handed to the packs' dashboards (a pack reads
    its own settings there); ``catalog`` overrides the rule catalog, e.g. to see a changed
    :class:`~glowops.alerting.rules.Thresholds` value reach the panels.
    """
    if settings is None:
        from glowops.settings import get_settings

        settings = get_settings()
    if catalog is None:
        from glowops.alerting.export import catalog_from_settings

        catalog = catalog_from_settings(settings)
    dashboards = [_service(catalog), _operations(catalog)]
    for pack in catalog.packs:
        if pack.dashboards is not None:
            dashboards.extend(pack.dashboards(catalog, settings))
    uids = [d.uid for d in dashboards]
    twice = sorted({uid for uid in uids if uids.count(uid) > 1})
    if twice:
        raise ValueError(f"dashboard uids declared twice: {', '.join(twice)}")
    return tuple(dashboards)


def dashboard_by_uid(dashboards: tuple[Dashboard, ...], uid: str) -> Dashboard:
    """The dashboard with ``uid`` (``KeyError`` naming the known uids otherwise)."""
    for dashboard in dashboards:
        if dashboard.uid == uid:
            return dashboard
    raise KeyError(f"no dashboard {uid!r}; known: {', '.join(d.uid for d in dashboards)}")


# --------------------------------------------------------------------------------------------
# Service overview (RED)
# --------------------------------------------------------------------------------------------
def _service(c: Catalog) -> Dashboard:
    p95, p99 = rule_threshold(c, "SlowResponsesP95"), rule_threshold(c, "HighLatencyP99")
    return Dashboard(
        uid="glowops-service",
        title="Service overview",
        description="Rate, errors and duration per route, requests in flight and the error budget: "
        "the first stop when an availability or latency alert fires.",
        tags=("glowops", "service"),
        panels=(
            Panel(
                key="request_rate",
                title="Request rate by route",
                description="HTTP requests per second by route template." + ALL_ORGS,
                unit="reqps",
                queries=(query(f"sum by (route) (rate(http_requests_total[{R}]))", "{{route}}"),),
            ),
            Panel(
                key="errors",
                title="Errors by route and status",
                description="Responses with a 4xx or 5xx status per second, by route and status." + ALL_ORGS,
                unit="reqps",
                queries=(
                    query(
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
                    query(error_ratio_record("5m"), "5 min"),
                    query(error_ratio_record("15m"), "15 min", "B"),
                ),
                thresholds=(rule_threshold(c, "ElevatedErrorRate"), rule_threshold(c, "HighErrorRate")),
            ),
            Panel(
                key="latency",
                title="Duration p50 / p95 / p99 by route",
                description="HTTP request duration per route. SlowResponsesP95 and HighLatencyP99 watch "
                "the p95 and p99 over all routes (15 and 5 minute windows)." + ALL_ORGS,
                unit="s",
                queries=quantiles("http_request_duration_seconds", "route", "{{route}}"),
                thresholds=(p95, p99),
            ),
            Panel(
                key="in_flight",
                title="Requests in flight",
                description="HTTP requests being served right now." + ALL_ORGS,
                unit="short",
                kind="stat",
                width=6,
                queries=(query("sum(http_requests_in_flight)", "in flight"),),
            ),
            Panel(
                key="slow_ratio",
                title=f"Requests slower than {c.objectives.latency_threshold_seconds:g} s",
                description="Share of requests slower than the latency objective's threshold, from the "
                "SLO recording rules (5 min and 1 h), the input of the latency burn-rate alerts." + ALL_ORGS,
                unit="percentunit",
                width=6,
                queries=(query(slow_ratio_record("5m"), "5 min"), query(slow_ratio_record("1h"), "1 h", "B")),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------
# Operations board
# --------------------------------------------------------------------------------------------
_BACKUP_PANELS = ("backup_age", "drill_age", "backup_status", "backup_size", "backup_timing")


def _operations(c: Catalog) -> Dashboard:
    # No backups configured: no backup rules, and no backup panels that could only say "never".
    backups = any(rule.family == "backup" for rule in c.alerts)

    def line(alert: str) -> tuple[Threshold, ...]:
        return (rule_threshold(c, alert),) if backups else ()

    board = Dashboard(
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
                "(every check the service declared, the state volume, backups when configured)."
                + SERVICE_WIDE,
                unit="short",
                kind="stat",
                queries=(query("min by (check) (glowops_health_check_up)", "{{check}}"),),
            ),
            Panel(
                key="health_check_duration",
                title="Health check duration p95",
                description="How long each dependency check takes." + SERVICE_WIDE,
                unit="s",
                queries=quantiles("glowops_health_check_duration_seconds", "check", "{{check}}", (0.95,)),
            ),
            Panel(
                key="dependency_unavailable",
                title="Requests refused: dependency unavailable",
                description="Requests answered 503 per rate window because a dependency's deadline "
                "expired, it refused the connection or its pool was exhausted, by dependency and "
                "reason (request = the whole request deadline)." + SERVICE_WIDE,
                unit="short",
                queries=(
                    query(
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
                queries=(query("max(glowops_disk_used_ratio)", "used"),),
                thresholds=(rule_threshold(c, "StorageFillingUp"), rule_threshold(c, "StorageAlmostFull")),
            ),
            Panel(
                key="alert_states",
                title="Alerts by state and severity",
                description="Alerts of the embedded engine that are pending or firing, by severity."
                + SERVICE_WIDE,
                unit="short",
                width=6,
                queries=(query("sum by (state, severity) (glowops_alerts)", "{{state}} {{severity}}"),),
            ),
            Panel(
                key="notifications",
                title="Notification delivery",
                description="Notification attempts by channel and outcome (sent, failed, dead-lettered) "
                "per rate window, and messages waiting in the outbox." + SERVICE_WIDE,
                unit="short",
                queries=(
                    query(
                        f"sum by (channel, outcome) (increase(glowops_notifications_total[{R}]))",
                        "{{channel}} {{outcome}}",
                    ),
                    query("max(glowops_outbox_depth)", "outbox depth", "B"),
                ),
            ),
            Panel(
                key="alert_evaluation",
                title="Rule evaluation",
                description="Evaluation cycles of the embedded rule engine per second and the p95 time "
                "to evaluate the whole catalog once." + SERVICE_WIDE,
                unit="s",
                queries=(
                    query(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(glowops_alert_evaluation_duration_seconds_bucket[{R}])))",
                        "p95 evaluation time",
                    ),
                    query(f"sum(rate(glowops_alert_evaluations_total[{R}]))", "evaluations/s", "B"),
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
                queries=(query("time() - max(glowops_backup_last_success_timestamp_seconds > 0)", "age"),),
                thresholds=line("BackupStale"),
            ),
            Panel(
                key="drill_age",
                title="Age of the last successful restore drill",
                description="Time since the last successful verification/restore drill (no value: "
                "never); BackupDrillOverdue fires above the line." + SERVICE_WIDE,
                unit="s",
                kind="stat",
                width=6,
                queries=(query("time() - max(glowops_backup_last_verify_timestamp_seconds > 0)", "age"),),
                thresholds=line("BackupDrillOverdue"),
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
                    query("max(glowops_backup_store_up)", "store readable"),
                    query("max(glowops_backup_last_verify_success)", "last drill passed", "B"),
                    query("max(glowops_backup_retention_compliant)", "retention met", "C"),
                    query("max(glowops_backup_good_count)", "good backups", "D"),
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
                    query("max(glowops_backup_size_bytes)", "newest"),
                    query("max(glowops_backup_size_median_7_bytes)", "median of 7", "B"),
                ),
            ),
            Panel(
                key="backup_timing",
                title="Backup and restore time",
                description="Duration of the newest good backup run and the restore time measured by "
                "the last drill (the recovery time objective in practice)." + SERVICE_WIDE,
                unit="s",
                queries=(
                    query("max(glowops_backup_duration_seconds)", "backup"),
                    query("max(glowops_backup_drill_restore_seconds)", "restore (drill)", "B"),
                ),
            ),
            Panel(
                key="telemetry_loss",
                title="Dropped spans and suppressed error events",
                description="Spans dropped because the export queue was full or failed, and error "
                "events not sent because their fingerprint hit the rate limit, per second." + SERVICE_WIDE,
                unit="ops",
                queries=(
                    query(f"sum(rate(glowops_spans_dropped_total[{R}]))", "spans dropped"),
                    query(
                        f"sum(rate(glowops_sentry_events_suppressed_total[{R}]))", "errors suppressed", "B"
                    ),
                ),
            ),
            Panel(
                key="log_volume",
                title="Log volume by level",
                description="Log lines written per second, by level." + SERVICE_WIDE,
                unit="ops",
                queries=(query(f"sum by (level) (rate(glowops_log_events_total[{R}]))", "{{level}}"),),
            ),
        ),
    )
    if backups:
        return board
    return dataclasses.replace(board, panels=tuple(p for p in board.panels if p.key not in _BACKUP_PANELS))
