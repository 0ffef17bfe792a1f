"""The rule catalog: complete, consistent with the metric catalog, inside the PromQL subset."""

from __future__ import annotations

import pytest

from glowops.alerting.routing import channels_for
from glowops.alerting.rule_tests import build_cases, coverage_gaps, expand_values, hold, ramp
from glowops.alerting.rules import (
    AlertRule,
    Objectives,
    Thresholds,
    build_catalog,
    referenced_metrics,
    subset_violations,
)
from glowops.promql import format_duration, parse_duration, scale_duration
from glowops.telemetry.catalog import CATALOG
from glowops_prismaglow import PrismaGlowThresholds, make_pack
from glowops_prismaglow import pack as prismaglow

SPEC_RULES = {
    # spec, critical
    "HighErrorRate",
    "HighLatencyP99",
    "DatabaseConnectionFailures",
    "AuthenticationServiceDown",
    "StorageAlmostFull",
    # spec, warning
    "ElevatedErrorRate",
    "SlowResponsesP95",
    "DocumentQueueBacklog",
    "CacheHitRateLow",
    # SLO burn rates
    "AvailabilityBudgetBurnFast",
    "AvailabilityBudgetBurnMedium",
    "AvailabilityBudgetBurnSlow",
    "LatencyBudgetBurnFast",
    "LatencyBudgetBurnMedium",
    "LatencyBudgetBurnSlow",
    # issue list
    "ApprovalsOverdue",
    "AuthFailureSpike",
    "RLSDenialSpike",
    "RateLimitRejections",
    "DocumentIndexingFailures",
    "DocumentIndexingStalled",
    "BackupFailed",
    "BackupStale",
    "BackupSizeDropped",
    "BackupDrillOverdue",
    "BackupRetentionViolated",
    "ServiceDown",
}
# What glowops alone (no pack) must alert on, on any service.
GENERIC_RULES = {
    "ServiceDown",
    "HighErrorRate",
    "ElevatedErrorRate",
    "DatabaseConnectionFailures",
    "CriticalHealthCheckFailing",
    "HealthCheckFailing",
    "HighLatencyP99",
    "SlowResponsesP95",
    "StorageAlmostFull",
    "StorageFillingUp",
}


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return build_catalog(packs=[prismaglow])


def test_every_required_rule_is_in_the_catalog(catalog) -> None:  # type: ignore[no-untyped-def]
    names = {rule.name for rule in catalog.alerts}
    assert names >= SPEC_RULES, SPEC_RULES - names
    assert len(names) == len(catalog.alerts)


def test_spec_thresholds_and_severities(catalog) -> None:  # type: ignore[no-untyped-def]
    assert catalog.alert("HighErrorRate").severity == "critical"
    assert catalog.alert("HighErrorRate").expr.endswith("ratio_rate5m > 0.05")
    assert catalog.alert("ElevatedErrorRate").expr.endswith("ratio_rate15m > 0.02")
    assert "histogram_quantile(0.99" in catalog.alert("HighLatencyP99").expr
    assert "[5m]" in catalog.alert("HighLatencyP99").expr
    assert catalog.alert("HighLatencyP99").expr.endswith("> 5")
    assert "[15m]" in catalog.alert("SlowResponsesP95").expr
    assert catalog.alert("StorageAlmostFull").expr == "glowops_disk_used_ratio > 0.9"
    assert catalog.alert("DocumentQueueBacklog").expr.endswith("> 1000")
    assert catalog.alert("CacheHitRateLow").expr.endswith("< 0.8")
    assert catalog.alert("AuthenticationServiceDown").expr == 'glowops_health_check_up{check="supabase"} == 0'
    assert {r.severity for r in catalog.alerts} == {"critical", "warning", "info"}


def test_burn_rate_alerts_follow_the_sre_workbook(catalog) -> None:  # type: ignore[no-untyped-def]
    fast = catalog.alert("AvailabilityBudgetBurnFast")
    assert fast.expr == (
        "(glowops:http_request_errors:ratio_rate1h > 0.0144) and "
        "(glowops:http_request_errors:ratio_rate5m > 0.0144)"
    )
    assert fast.severity == "critical"
    medium = catalog.alert("LatencyBudgetBurnMedium")
    assert "ratio_rate6h > 0.06" in medium.expr and "ratio_rate30m > 0.06" in medium.expr
    slow = catalog.alert("AvailabilityBudgetBurnSlow")
    assert slow.severity == "warning"
    assert "ratio_rate3d > 0.001" in slow.expr and "ratio_rate6h > 0.001" in slow.expr


def test_objectives_are_configurable() -> None:
    custom = build_catalog(Objectives(availability=0.995, latency=0.95, latency_threshold_seconds=1.0))
    assert "ratio_rate1h > 0.072)" in custom.alert("AvailabilityBudgetBurnFast").expr
    assert "ratio_rate1h > 0.72)" in custom.alert("LatencyBudgetBurnFast").expr
    slow_5m = next(r for r in custom.recording if r.record == "glowops:http_request_slow:ratio_rate5m")
    assert 'le="1.0"' in slow_5m.expr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"availability": 1.0}, "between 0 and 1"),
        ({"latency": 0}, "between 0 and 1"),
        ({"latency_threshold_seconds": 3.0}, "not a histogram bucket bound"),
    ],
)
def test_bad_objectives_are_refused_clearly(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Objectives(**kwargs)


def test_every_expression_stays_inside_the_engine_subset(catalog) -> None:  # type: ignore[no-untyped-def]
    for rule in catalog.alerts:
        assert subset_violations(rule.expr) == [], rule.name
    for recording in catalog.recording:
        assert subset_violations(recording.expr) == [], recording.record


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(x[5m] offset 1h)", "'offset'"),
        ("max_over_time(rate(x[5m])[1h:5m])", "subquery"),
        ("a / on(x) group_left b", "'group_left'"),
        ("topk(3, x)", "topk()"),
        ("predict_linear(x[1h], 3600) < 0", "predict_linear()"),
        ("x @ 1700000000", "@ modifier"),
        ("rate(x[5 minutes])", "not a Prometheus duration"),
    ],
)
def test_subset_check_catches_what_the_engine_cannot_run(expr: str, problem: str) -> None:
    assert any(problem in p for p in subset_violations(expr)), subset_violations(expr)


def test_a_rule_outside_the_subset_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="topk"):
        AlertRule(
            name="Bad",
            severity="warning",
            expr="topk(1, x) > 0",
            summary="s",
            description="d",
            family="availability",
            runbook_url="u",
            dashboard_url="u",
            priority="P2",
        )
    with pytest.raises(ValueError, match="severity"):
        AlertRule(
            name="Bad",
            severity="urgent",
            expr="x > 0",
            summary="s",
            description="d",  # type: ignore[arg-type]
            family="availability",
            runbook_url="u",
            dashboard_url="u",
            priority="P2",
        )


def test_rules_read_only_catalogued_metrics(catalog) -> None:  # type: ignore[no-untyped-def]
    """Drift guard: a rule reading a metric nobody emits would never fire."""
    specs = (*CATALOG, *prismaglow.metrics)
    exposed = {spec.exposed_name for spec in specs}
    for spec in specs:
        if spec.kind == "histogram":
            exposed |= {f"{spec.name}_bucket", f"{spec.name}_count", f"{spec.name}_sum"}
    recorded = {r.record for r in catalog.recording}
    for rule in (*catalog.alerts, *catalog.recording):
        unknown = referenced_metrics(rule.expr) - exposed - recorded - {"up"}
        assert not unknown, f"{getattr(rule, 'name', getattr(rule, 'record', ''))} reads {unknown}"


def test_referenced_metrics_reads_names_not_labels_or_keywords() -> None:
    expr = (
        'sum by (le) (rate(a_bucket{le="2.0", x=~"b|c"}[5m])) > 0 unless '
        "on(job) glowops:rec:ratio_rate5m and bool time() - ts_seconds"
    )
    assert referenced_metrics(expr) == {"a_bucket", "glowops:rec:ratio_rate5m", "ts_seconds"}


def test_labels_and_links_of_every_rule(catalog) -> None:  # type: ignore[no-untyped-def]
    for rule in catalog.alerts:
        assert rule.labels["severity"] == rule.severity
        assert rule.labels["family"] == rule.family
        assert rule.labels["service"] == "gateway"
        assert rule.runbook_path.endswith(f"/alerts/{rule.name}.md")
        assert rule.runbook_url == f"https://github.com/prisma-glow/glowops/blob/main/{rule.runbook_path}"
        folder = prismaglow.runbook_path if rule.pack else "docs/runbooks"
        assert rule.runbook_path.startswith(folder + "/")
        assert rule.dashboard_url.startswith("http")
        assert channels_for(rule.severity, rule.family)
    linked = build_catalog(
        runbook_base="https://git.example.com/glowops/", dashboard_base="https://grafana.example"
    )
    assert (
        linked.alert("BackupStale").runbook_url
        == "https://git.example.com/glowops/docs/runbooks/alerts/BackupStale.md"
    )
    assert linked.alert("BackupStale").dashboard_url == "https://grafana.example/d/glowops-operations"


def test_routing_policy_by_severity_and_family() -> None:
    assert channels_for("critical", "availability") == ("pagerduty", "slack", "teams", "error_webhook")
    assert channels_for("warning", "rate_limit") == (
        "rate_limit_webhook",
        "slack",
        "teams",
        "telemetry_webhook",
    )
    assert channels_for("warning", "indexing")[0] == "embedding_webhook"
    assert channels_for("info", "security") == ("email",)


def test_time_scaled_catalog_shrinks_windows_for_and_ages() -> None:
    scaled = build_catalog(time_scale=60)
    assert scaled.alert("HighErrorRate").for_ == "2s"
    assert scaled.alert("HighErrorRate").keep_firing_for == "5s"
    assert "[5s]" in scaled.alert("HighLatencyP99").expr
    assert scaled.alert("BackupStale").expr.endswith("> 1560")  # 26 h / 60 in seconds
    ratio_3d = next(r for r in scaled.recording if r.record.endswith("ratio_rate3d"))
    assert "[1h12m]" in ratio_3d.expr  # names stay, windows shrink
    with pytest.raises(ValueError, match="positive"):
        build_catalog(time_scale=0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("1h30m", 5400),
        ("3d", 259200),
        ("250ms", 0.25),
        ("0s", 0),
        ("0", 0),
        ("1w", 604800),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 m", "m5", "1.5h", "-5m"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(bad)


def test_durations_format_and_scale() -> None:
    assert format_duration(4320) == "1h12m"
    assert format_duration(0.5) == "500ms"
    assert format_duration(90061) == "1d1h1m1s"
    assert scale_duration("5m", 60) == "5s"
    assert scale_duration("30s", 60) == "500ms"
    for text in ("5m", "1h12m", "26h", "35d", "1500ms"):
        assert format_duration(parse_duration(text)) in (text, "1d2h", "35d", "1s500ms")


def test_every_alert_has_a_firing_and_a_quiet_test_case(catalog) -> None:  # type: ignore[no-untyped-def]
    cases = build_cases(catalog)
    assert coverage_gaps(catalog, cases) == []
    fake = [*cases[:1]]
    assert any("no case where it fires" in gap for gap in coverage_gaps(catalog, tuple(fake)))


def test_test_cases_adapt_to_thresholds() -> None:
    custom = build_catalog(
        thresholds=Thresholds(disk_used_critical=0.95),
        packs=[make_pack(PrismaGlowThresholds(queue_depth_warning=50))],
    )
    assert coverage_gaps(custom, build_cases(custom)) == []
    queue = next(c for c in build_cases(custom) if "document queue" in c.name)
    assert max(v or 0 for v in expand_values(queue.series[0].values)) == 75


def test_expanding_notation_round_trips() -> None:
    assert expand_values("1+2x3 _ 5x1") == [1, 3, 5, 7, None, 5, 5]
    assert expand_values(ramp((2, 10), (3, 0), start=5)) == [5, 15, 25, 25, 25, 25]
    assert expand_values(hold((2, 1), (3, 0))) == [1, 1, 0, 0, 0]
    assert expand_values("0.5x1 -1") == [0.5, 0.5, -1]
    with pytest.raises(ValueError, match="cannot read"):
        expand_values("1+x3")


def test_scaled_catalog_cannot_render_production_test_cases() -> None:
    with pytest.raises(ValueError, match="time_scale=1"):
        build_cases(build_catalog(time_scale=60))


def test_the_core_alone_has_generic_rules_only() -> None:
    core = build_catalog()
    names = {rule.name for rule in core.alerts}
    assert names >= GENERIC_RULES
    assert not names & {rule.name for rule in build_catalog(packs=[prismaglow]).alerts if rule.pack}
    core_metrics = {spec.name for spec in CATALOG}
    for rule in (*core.alerts, *core.recording):
        read = referenced_metrics(rule.expr) - {"up"} - {r.record for r in core.recording}
        assert {m.removesuffix("_total").removesuffix("_bucket").removesuffix("_count") for m in read} <= (
            core_metrics
        ), rule
    assert coverage_gaps(core, build_cases(core)) == []


def test_backup_rules_only_when_backups_are_configured() -> None:
    assert {r.family for r in build_catalog().alerts} >= {"backup"}
    without = build_catalog(backups=False)
    assert "backup" not in {r.family for r in without.alerts}
    assert not [c for c in build_cases(without) if any("Backup" in ch.alertname for ch in c.checks)]
    assert coverage_gaps(without, build_cases(without)) == []


def test_generic_health_rules_leave_out_the_checks_with_their_own_alert() -> None:
    core = build_catalog()
    assert core.alert("CriticalHealthCheckFailing").expr == (
        'glowops_health_check_up{critical="true",check!~"database"} == 0'
    )
    with_pack = build_catalog(packs=[prismaglow])
    assert with_pack.alert("HealthCheckFailing").expr == (
        'glowops_health_check_up{critical!="true",check!~"database|openai|redis|supabase"} == 0'
    )


def test_a_pack_rule_in_an_undeclared_family_is_refused() -> None:
    from dataclasses import replace

    undeclared = replace(prismaglow, families=("cache",))
    with pytest.raises(ValueError, match="family the pack does not declare"):
        build_catalog(packs=[undeclared])


def test_a_pack_cannot_redeclare_a_rule() -> None:
    from dataclasses import replace

    from glowops.alerting.rules import RuleBuilder

    def clash(b: RuleBuilder) -> list[AlertRule]:
        return [
            b.rule(
                "HighErrorRate",
                "warning",
                "P2",
                "availability",
                "x > 1",
                for_="1m",
                summary="s",
                description="d",
                dashboard="service",
            )
        ]

    with pytest.raises(ValueError, match="duplicate rule names: \\['HighErrorRate'\\]"):
        build_catalog(packs=[replace(prismaglow, alerts=clash)])
