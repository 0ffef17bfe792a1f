"""The alert list of the console and its two actions, on the embedded alerting state.

Silences and acknowledgements go through the same :class:`~glowops.alerting.state.StateStore`
calls as ``glowops alerts silence add`` and ``glowops alerts ack`` (matchers parsed by
:func:`~glowops.alerting.state.parse_matcher`, durations by
:func:`~glowops.promql.durations.parse_duration`), so the CLI and the console see each
other's changes and the engine applies them at its next evaluation.

Everything shown passes the redaction policy: labels, annotations, silences (their matchers
and comments) and the history, since labels and templates carry whatever the metrics held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from glowops.alerting.engine import Alert
from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.alerting.state import Ack, Silence, StateStore, fingerprint, parse_matcher
from glowops.dashboards.model import Dashboard
from glowops.promql import parse_duration
from glowops.redaction import RedactionPolicy

SILENCE_DURATIONS = ("30m", "1h", "2h", "4h", "1d")


@dataclass(frozen=True, slots=True)
class AlertView:
    """One pending or firing alert as the console lists it."""

    rule: str
    state: str
    severity: str
    priority: str
    summary: str
    description: str
    since: float  # seconds since the epoch
    value: float | None
    fingerprint: str
    labels: dict[str, str]
    runbook_url: str
    panel_url: str | None
    silenced_by: Silence | None
    acked_by: Ack | None


def when(t: float | None) -> str:
    """A UTC timestamp for humans (the same format as the CLI)."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def panel_link(alert: Alert, dashboards: Sequence[Dashboard]) -> str | None:
    """``/ops/dashboards/<uid>#<panel>``: the panel whose threshold comes from this rule, else the
    dashboard the rule names in its ``dashboard_url`` annotation."""
    for dashboard in dashboards:
        for panel in dashboard.panels:
            if any(t.alert == alert.rule for t in panel.thresholds):
                return f"/ops/dashboards/{dashboard.uid}#panel-{panel.key}"
    uid = urlsplit(alert.annotations.get("dashboard_url", "")).path.rstrip("/").rsplit("/", 1)[-1]
    if any(d.uid == uid for d in dashboards):
        return f"/ops/dashboards/{uid}"
    return None


def shown_silence(silence: Silence, policy: RedactionPolicy) -> Silence:
    """``silence`` as a page shows it: matcher values, author and comment through the policy."""
    text = policy.redact_text
    matchers = tuple(replace(m, value=text(m.value)) for m in silence.matchers)
    return replace(
        silence, matchers=matchers, created_by=text(silence.created_by), comment=text(silence.comment)
    )


def silence_views(state: StateStore, now: float, policy: RedactionPolicy) -> list[Silence]:
    """The active silences as the alerts page lists them."""
    return [shown_silence(s, policy) for s in state.silences(now)]


def alert_views(
    alerts: Sequence[Alert],
    state: StateStore,
    dashboards: Sequence[Dashboard],
    now: float,
    policy: RedactionPolicy,
) -> list[AlertView]:
    """Pending and firing alerts, firing first, then by severity and name (shown through ``policy``)."""
    silences = state.silences(now)
    acks = state.acks()
    text = policy.redact_text
    views = []
    for alert in alerts:
        if alert.state not in ("pending", "firing") or alert.rule == HEARTBEAT_ALERT:
            continue  # the Watchdog always fires: listing it would teach people to ignore the list
        fp = fingerprint(alert.labels)
        fired_at = (alert.fired_at or alert.active_at) / 1000
        silenced_by = next((s for s in silences if s.matches(alert.labels)), None)
        acked_by = next(
            (a for a in reversed(acks) if alert.state == "firing" and a.covers(alert.rule, fp, fired_at)),
            None,
        )
        views.append(
            AlertView(
                rule=alert.rule,
                state=alert.state,
                severity=alert.labels.get("severity", ""),
                priority=alert.labels.get("priority", ""),
                summary=text(alert.annotations.get("summary", "")),
                description=text(alert.annotations.get("description", "")),
                since=fired_at,
                value=alert.value if alert.value == alert.value else None,
                fingerprint=fp,
                labels=policy.redact(dict(alert.labels)),
                runbook_url=text(alert.annotations.get("runbook_url", "")),
                panel_url=panel_link(alert, dashboards),
                silenced_by=shown_silence(silenced_by, policy) if silenced_by is not None else None,
                acked_by=replace(acked_by, by=text(acked_by.by), comment=text(acked_by.comment))
                if acked_by is not None
                else None,
            )
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    views.sort(key=lambda v: (v.state != "firing", rank.get(v.severity, 3), v.rule))
    return views


def history(state: StateStore, policy: RedactionPolicy, limit: int = 50) -> list[dict[str, Any]]:
    """Recent state changes, newest first (``inactive`` shown as resolved), through ``policy``."""
    rows: list[dict[str, Any]] = policy.redact(state.history(limit))
    for row in rows:
        row["shown"] = "resolved" if row["state"] == "inactive" else row["state"]
    return rows


def silence(
    state: StateStore, matchers: Sequence[str], duration: str, by: str, comment: str, now: float
) -> str:
    """Add a silence (raises ValueError with a message for the user); returns its id."""
    parsed = [parse_matcher(m) for m in matchers if m.strip()]
    seconds = parse_duration(duration)
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    return state.add_silence(parsed, now, now + seconds, by, comment)


def acknowledge(state: StateStore, alertname: str, fp: str | None, by: str, comment: str, now: float) -> int:
    """Record an acknowledgement: stops the escalation and acks the PagerDuty incident."""
    if not alertname:
        raise ValueError("which alert?")
    return state.add_ack(alertname, fp or None, now, by, comment)
