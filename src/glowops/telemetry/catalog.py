"""The metric catalog: every metric glowops emits on any service, declared once.

Each entry maps a dotted name (``cache.requests``) to its Prometheus name, type, unit and
labels. The facade (:mod:`glowops.telemetry.metrics`), the alert rules, the dashboards and
``docs/metrics.md`` are all derived from it. A pack (:mod:`glowops.packs`) adds the metrics of
its domain with :func:`add_specs` when it is registered, and only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]

# Buckets resolve the alert thresholds (2 s warning, 5 s critical) exactly.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
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
        "glowops_request_ids_replaced",
        "counter",
        "Client X-Request-ID values replaced by a fresh ID: of no safe shape, or holding "
        "something the redaction policy masks.",
        ("reason",),
    ),
    MetricSpec(
        "glowops_sentry_events_suppressed",
        "counter",
        "Error events not sent because their fingerprint hit the rate limit.",
    ),
    MetricSpec(
        "glowops_health_check_up",
        "gauge",
        "1 when the health check passes, 0 when it fails; critical says whether readiness depends on it.",
        ("check", "critical"),
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


# The core's own metrics need no unit conversion; a pack brings the aliases of its spec calls.
SPEC_ALIASES: tuple[SpecAlias, ...] = ()

# What a registered pack adds (glowops.packs.register_pack): the look-ups below cover the core
# catalog and every registered pack, keyed by the owning pack so that it can be taken back out.
_ADDED: dict[str, tuple[tuple[MetricSpec, ...], tuple[SpecAlias, ...]]] = {}
BY_NAME: dict[str, MetricSpec] = {}
BY_SPEC_NAME: dict[str, MetricSpec] = {}
ALIAS_BY_SPEC_NAME: dict[str, SpecAlias] = {}
OWNER: dict[str, str] = {}  # Prometheus name -> "glowops" or the pack that declares it
CORE_OWNER = "glowops"


def _reindex() -> None:
    BY_NAME.clear()
    BY_SPEC_NAME.clear()
    ALIAS_BY_SPEC_NAME.clear()
    OWNER.clear()
    for owner, (specs, aliases) in (("glowops", (CATALOG, SPEC_ALIASES)), *_ADDED.items()):
        for spec in specs:
            BY_NAME[spec.name] = spec
            OWNER[spec.name] = owner
            if spec.spec_name:
                BY_SPEC_NAME[spec.spec_name] = spec
        for alias in aliases:
            ALIAS_BY_SPEC_NAME[alias.spec_name] = alias


def add_specs(owner: str, specs: tuple[MetricSpec, ...], aliases: tuple[SpecAlias, ...] = ()) -> None:
    """Add a pack's metrics to the catalog (``ValueError`` when a name is already taken)."""
    taken = {name: OWNER[name] for name in (s.name for s in specs) if name in OWNER and OWNER[name] != owner}
    spec_names = {s.spec_name for s in specs if s.spec_name} | {a.spec_name for a in aliases}
    taken |= {
        n: OWNER.get(BY_SPEC_NAME[n].name, "?")
        for n in spec_names
        if n in BY_SPEC_NAME and OWNER.get(BY_SPEC_NAME[n].name) != owner
    }
    if taken:
        listed = ", ".join(f"{name} (declared by {who})" for name, who in sorted(taken.items()))
        raise ValueError(f"pack {owner!r} declares metrics that already exist: {listed}")
    own = {s.name for s in specs}
    for alias in aliases:
        if alias.metric not in own:
            raise ValueError(
                f"pack {owner!r}: alias {alias.spec_name!r} points at {alias.metric!r}, "
                "which the pack does not declare"
            )
    _ADDED[owner] = (tuple(specs), tuple(aliases))
    _reindex()


def remove_specs(owner: str) -> tuple[MetricSpec, ...]:
    """Take a pack's metrics out of the catalog again; returns them."""
    specs, _ = _ADDED.pop(owner, ((), ()))
    _reindex()
    return specs


def all_specs() -> tuple[MetricSpec, ...]:
    """The core catalog followed by the metrics of every registered pack."""
    return CATALOG + tuple(spec for specs, _ in _ADDED.values() for spec in specs)


def all_aliases() -> tuple[SpecAlias, ...]:
    """The spec-call aliases of the core and of every registered pack."""
    return SPEC_ALIASES + tuple(alias for _, aliases in _ADDED.values() for alias in aliases)


_reindex()


def lookup(name: str) -> MetricSpec:
    """Find a metric by its Prometheus name, exposed name or the spec's dotted name."""
    spec = BY_NAME.get(name) or BY_SPEC_NAME.get(name)
    if spec is None and name.endswith("_total"):
        spec = BY_NAME.get(name[: -len("_total")])
    if spec is None:
        raise KeyError(
            f"unknown metric {name!r}: declare it in glowops.telemetry.catalog.CATALOG, or register "
            "the pack that declares it (glowops.register_pack, GLOWOPS_PACKS)"
        )
    return spec
