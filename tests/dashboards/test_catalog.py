"""The dashboard catalog: the spec's panels are there, every query is in the embedded PromQL
subset and reads catalogued metrics, thresholds are the alert rules' numbers."""

from __future__ import annotations

import re

import pytest

from glowops.alerting.rules import Thresholds, build_catalog, referenced_metrics, subset_violations
from glowops.dashboards.catalog import UIDS, build_dashboards, dashboard_by_uid, rule_threshold
from glowops.dashboards.model import CONSOLE_RATE_INTERVAL, Dashboard, Panel
from glowops.packs import register_pack
from glowops.promql import parse, parse_duration
from glowops.settings import Settings
from glowops.telemetry.catalog import CATALOG
from glowops_prismaglow import PrismaGlowThresholds, make_pack
from glowops_prismaglow import pack as prismaglow
from glowops_prismaglow.dashboards import UIDS as PACK_UIDS

SPECS = (*CATALOG, *prismaglow.metrics)

# The spec's metric lists (observability-operations.md, "Required Dashboards") and the issue's
# service overview and operations board, as panel keys.
SPEC_PANELS: dict[str, set[str]] = {
    "glowops-assistant": {
        "conversations",  # total conversations
        "active_users",
        "messages_per_conversation",
        "tool_invocations",
        "response_time",  # p50, p95, p99
    },
    "glowops-documents": {
        "in_stage",  # documents at each stage
        "stage_duration",  # processing time per stage
        "success_rate",
        "failure_rate",
        "throughput",  # docs/hour
    },
    "glowops-approvals": {"pending", "decision_time", "mfa_completion_rate", "overdue"},
    "glowops-security": {"rls_denials", "permission_denials", "auth_failures", "suspicious_activity"},
    "glowops-service": {"request_rate", "errors", "latency", "in_flight"},
    "glowops-operations": {
        "health_checks",
        "alert_states",
        "notifications",
        "backup_age",
        "drill_age",
        "telemetry_loss",
        "log_volume",
    },
}
ORG_FILTER = 'org_id=~"$org_id"'


def substituted(expr: str) -> str:
    return expr.replace("$__rate_interval", CONSOLE_RATE_INTERVAL).replace("$org_id", ".*")


@pytest.fixture(scope="module")
def dashboards() -> tuple[Dashboard, ...]:
    """glowops' dashboards with the Prisma Glow pack's, every rule (backups included) behind them."""
    return build_dashboards(Settings.model_construct(), catalog=build_catalog(packs=[prismaglow]))


def all_panels(dashboards: tuple[Dashboard, ...]) -> list[tuple[Dashboard, Panel]]:
    return [(d, p) for d in dashboards for p in d.panels]


def test_fixed_uids_and_unique_keys(dashboards: tuple[Dashboard, ...]) -> None:
    assert UIDS == ("glowops-service", "glowops-operations")
    assert PACK_UIDS == ("glowops-assistant", "glowops-documents", "glowops-approvals", "glowops-security")
    assert tuple(d.uid for d in dashboards) == UIDS + PACK_UIDS
    for dashboard in dashboards:
        keys = [p.key for p in dashboard.panels]
        assert len(keys) == len(set(keys)), dashboard.uid
        for panel in dashboard.panels:
            refs = [q.ref_id for q in panel.queries]
            assert panel.queries and len(refs) == len(set(refs)), panel.key
            assert panel.title and panel.description and panel.unit
            assert re.fullmatch(r"[a-z][a-z0-9_]*", panel.key)
    assert dashboard_by_uid(dashboards, "glowops-service").title == "Service overview"
    with pytest.raises(KeyError, match="glowops-assistant"):
        dashboard_by_uid(dashboards, "nope")


def test_every_spec_panel_is_there(dashboards: tuple[Dashboard, ...]) -> None:
    for uid, keys in SPEC_PANELS.items():
        present = {p.key for p in dashboard_by_uid(dashboards, uid).panels}
        assert keys <= present, f"{uid} lacks {sorted(keys - present)}"
    latency = dashboard_by_uid(dashboards, "glowops-assistant").panel("response_time")
    assert [q.legend for q in latency.queries] == ["p50", "p95", "p99"]
    red = dashboard_by_uid(dashboards, "glowops-service").panel("latency")
    assert [q.legend for q in red.queries] == ["p50 {{route}}", "p95 {{route}}", "p99 {{route}}"]


def test_every_alert_links_to_a_catalogued_dashboard(dashboards: tuple[Dashboard, ...]) -> None:
    uids = {d.uid for d in dashboards}
    for rule in build_catalog(packs=[prismaglow]).alerts:
        assert rule.dashboard_url.rsplit("/d/", 1)[1] in uids, rule.name


def test_every_query_is_in_the_embedded_subset(dashboards: tuple[Dashboard, ...]) -> None:
    for dashboard, panel in all_panels(dashboards):
        for query in panel.queries:
            expr = substituted(query.expr)
            assert subset_violations(expr) == [], (dashboard.uid, panel.key, query.expr)
            parse(expr)  # the console's engine parses it too


def test_every_metric_is_catalogued(dashboards: tuple[Dashboard, ...]) -> None:
    allowed = {spec.exposed_name for spec in SPECS}
    allowed |= {
        f"{s.name}_{part}" for s in SPECS if s.kind == "histogram" for part in ("bucket", "sum", "count")
    }
    allowed |= {rule.record for rule in build_catalog(packs=[prismaglow]).recording}
    used: set[str] = set()
    for dashboard, panel in all_panels(dashboards):
        for query in panel.queries:
            names = referenced_metrics(substituted(query.expr))
            assert names, query.expr
            assert names <= allowed, (dashboard.uid, panel.key, sorted(names - allowed))
            used |= names
    # every dashboard metric of the spec's four dashboards is shown somewhere
    for spec in prismaglow.metrics:
        if spec.dashboard in ("assistant", "documents", "approvals", "security"):
            shown = {spec.exposed_name, f"{spec.name}_bucket"} & used
            assert shown, f"{spec.exposed_name} ({spec.dashboard}) is on no panel"


def test_org_filter_on_every_org_labelled_metric(dashboards: tuple[Dashboard, ...]) -> None:
    org_metrics = {s.exposed_name for s in SPECS if "org_id" in s.labels}
    for dashboard, panel in all_panels(dashboards):
        exprs = [q.expr for q in panel.queries]
        for expr in exprs:
            for name in referenced_metrics(substituted(expr)) & org_metrics:
                for selector in re.findall(rf"{name}(\{{[^}}]*\}})?", expr):
                    assert ORG_FILTER in selector, (dashboard.uid, panel.key, expr)
        filtered = any(ORG_FILTER in e for e in exprs)
        assert panel.org_filtered == filtered, (dashboard.uid, panel.key)
        if not filtered:
            assert "organisation" in panel.description, (dashboard.uid, panel.key)
    assert dashboard_by_uid(dashboards, "glowops-approvals").panel("pending").org_filtered
    assert not dashboard_by_uid(dashboards, "glowops-security").panel("rls_denials").org_filtered


def test_rates_use_the_rate_interval_or_the_alert_window(dashboards: tuple[Dashboard, ...]) -> None:
    """A fixed window is only used where a panel shows an alert's own quantity."""
    for dashboard, panel in all_panels(dashboards):
        windows = {w for q in panel.queries for w in re.findall(r"\[([^\]]+)\]", q.expr)}
        fixed = windows - {"$__rate_interval"}
        if fixed:
            # the two info alerts (PermissionDeniedSpike, ApprovalsBecomingOverdue) draw no line
            info_alert_window = panel.key in ("permission_denials", "became_overdue")
            assert panel.thresholds or info_alert_window, (dashboard.uid, panel.key, fixed)
            assert "min" in panel.title or " h)" in panel.title, panel.title  # the title names it


def test_thresholds_are_the_rule_catalog_numbers(dashboards: tuple[Dashboard, ...]) -> None:
    th, pth = Thresholds(), PrismaGlowThresholds()
    catalog = build_catalog(packs=[prismaglow])
    expected = {
        "SlowResponsesP95": th.p95_warning_seconds,
        "HighLatencyP99": th.p99_critical_seconds,
        "ElevatedErrorRate": th.error_ratio_warning,
        "HighErrorRate": th.error_ratio_critical,
        "CacheHitRateLow": pth.cache_hit_ratio_warning,
        "DocumentQueueBacklog": pth.queue_depth_warning,
        "StorageFillingUp": th.disk_used_warning,
        "StorageAlmostFull": th.disk_used_critical,
        "AuthFailureSpike": pth.auth_failures_per_5m,
        "RLSDenialSpike": pth.rls_denials_per_5m,
        "RateLimitRejections": pth.rate_limited_per_5m,
        "DocumentIndexingFailures": pth.indexing_failure_ratio,
        "DocumentExtractErrors": pth.extract_errors_per_15m,
        "BackupStale": parse_duration(th.backup_max_age),
        "BackupDrillOverdue": parse_duration(th.drill_max_age),
    }
    seen: dict[str, float] = {}
    for _, panel in all_panels(dashboards):
        for t in panel.thresholds:
            rule = catalog.alert(t.alert)
            assert t.severity == rule.severity
            seen.setdefault(t.alert, t.value)
    assert {k: seen[k] for k in expected} == expected
    service = dashboard_by_uid(dashboards, "glowops-service")
    assert [(t.value, t.severity, t.alert) for t in service.panel("latency").thresholds] == [
        (2.0, "warning", "SlowResponsesP95"),
        (5.0, "critical", "HighLatencyP99"),
    ]
    assert [(t.value, t.alert) for t in service.panel("error_ratio").thresholds] == [
        (0.02, "ElevatedErrorRate"),
        (0.05, "HighErrorRate"),
    ]
    assistant = dashboard_by_uid(dashboards, "glowops-assistant")
    assert assistant.panel("cache_hit_ratio").thresholds[0].mode == "below"
    ops = dashboard_by_uid(dashboards, "glowops-operations")
    assert [t.value for t in ops.panel("disk_used").thresholds] == [0.8, 0.9]
    approvals = dashboard_by_uid(dashboards, "glowops-approvals")
    assert approvals.panel("decision_time").thresholds[0].value == 24 * 3600  # the default SLA


def test_changed_thresholds_reach_the_panels() -> None:
    catalog = build_catalog(
        thresholds=Thresholds(p95_warning_seconds=2.5, p99_critical_seconds=10.0, backup_max_age="30h"),
        packs=[
            make_pack(
                PrismaGlowThresholds(
                    cache_hit_ratio_warning=0.9, queue_depth_warning=250, auth_failures_per_5m=7
                )
            )
        ],
    )
    dashboards = build_dashboards(Settings.model_construct(), catalog=catalog)
    service = dashboard_by_uid(dashboards, "glowops-service")
    assert [t.value for t in service.panel("latency").thresholds] == [2.5, 10.0]
    assert (
        dashboard_by_uid(dashboards, "glowops-assistant").panel("cache_hit_ratio").thresholds[0].value == 0.9
    )
    assert dashboard_by_uid(dashboards, "glowops-documents").panel("queue_depth").thresholds[0].value == 250
    assert dashboard_by_uid(dashboards, "glowops-security").panel("auth_failures").thresholds[0].value == 7
    ops = dashboard_by_uid(dashboards, "glowops-operations")
    assert ops.panel("backup_age").thresholds[0].value == 30 * 3600


def test_settings_reach_the_panels() -> None:
    from prisma_glow_gateway.settings import GatewaySettings

    settings = GatewaySettings(disk_warn_percent=70, disk_fail_percent=85, approval_sla_hours=8)
    register_pack(prismaglow)  # as the gateway does
    dashboards = build_dashboards(settings)
    ops = dashboard_by_uid(dashboards, "glowops-operations")
    assert [t.value for t in ops.panel("disk_used").thresholds] == [0.7, 0.85]
    approvals = dashboard_by_uid(dashboards, "glowops-approvals")
    assert approvals.panel("decision_time").thresholds[0].value == 8 * 3600


def test_rule_threshold_refuses_what_it_cannot_draw() -> None:
    catalog = build_catalog(packs=[prismaglow])
    with pytest.raises(ValueError, match="is not one numeric comparison"):
        rule_threshold(catalog, "DocumentIndexingStalled")
    with pytest.raises(ValueError, match="severity 'info'"):
        rule_threshold(catalog, "PermissionDeniedSpike")
    with pytest.raises(KeyError):
        rule_threshold(catalog, "NoSuchAlert")


def test_without_packs_only_the_generic_dashboards(without_packs: None) -> None:
    plain = build_dashboards(Settings.model_construct())
    assert tuple(d.uid for d in plain) == UIDS
    ops = dashboard_by_uid(plain, "glowops-operations")
    # no backups configured: no backup panels that could only say "never"
    assert not {p.key for p in ops.panels} & {"backup_age", "drill_age", "backup_status"}
    with_backups = build_dashboards(Settings(backup_database_url="sqlite:///x.db"))
    assert "backup_age" in {p.key for p in dashboard_by_uid(with_backups, "glowops-operations").panels}
    pack_metrics = {s.name for s in prismaglow.metrics}
    for dashboard, panel in all_panels(plain):
        for query in panel.queries:
            read = {n.removesuffix("_total").removesuffix("_bucket") for n in referenced_metrics(query.expr)}
            assert not read & pack_metrics, (dashboard.uid, panel.key)
