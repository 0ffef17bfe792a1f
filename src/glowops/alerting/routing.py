"""Which channels an alert reaches: the routing policy, as data.

One policy for both deployments: the Alertmanager export turns it into a route tree, and the
embedded notification pipeline can call :func:`channels_for` directly.

- ``critical`` → PagerDuty, Slack, Teams, ``ERROR_NOTIFY_WEBHOOK``
- ``warning``  → Slack, Teams, ``TELEMETRY_ALERT_WEBHOOK``
- ``info``     → email
- family ``rate_limit`` additionally → ``RATE_LIMIT_ALERT_WEBHOOK``
- family ``indexing`` (document indexing / embedding) additionally → ``EMBEDDING_ALERT_WEBHOOK``

A channel whose setting is empty is left out (with a warning at export time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True, slots=True)
class Channel:
    """One notification channel and the setting that configures it."""

    name: str
    setting: str  # the Settings field
    env: str  # what the user sets
    title: str  # how docs name it


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("pagerduty", "pagerduty_routing_key", "GLOWOPS_PAGERDUTY_ROUTING_KEY", "PagerDuty"),
        Channel("slack", "slack_webhook_url", "GLOWOPS_SLACK_WEBHOOK_URL", "Slack"),
        Channel("teams", "teams_webhook_url", "GLOWOPS_TEAMS_WEBHOOK_URL", "Teams"),
        Channel("error_webhook", "error_notify_webhook", "ERROR_NOTIFY_WEBHOOK", "ERROR_NOTIFY_WEBHOOK"),
        Channel(
            "telemetry_webhook",
            "telemetry_alert_webhook",
            "TELEMETRY_ALERT_WEBHOOK",
            "TELEMETRY_ALERT_WEBHOOK",
        ),
        Channel(
            "rate_limit_webhook",
            "rate_limit_alert_webhook",
            "RATE_LIMIT_ALERT_WEBHOOK",
            "RATE_LIMIT_ALERT_WEBHOOK",
        ),
        Channel(
            "embedding_webhook",
            "embedding_alert_webhook",
            "EMBEDDING_ALERT_WEBHOOK",
            "EMBEDDING_ALERT_WEBHOOK",
        ),
        Channel("email", "smtp_host", "GLOWOPS_SMTP_HOST", "email"),
    )
}

BY_SEVERITY: dict[Severity, tuple[str, ...]] = {
    "critical": ("pagerduty", "slack", "teams", "error_webhook"),
    "warning": ("slack", "teams", "telemetry_webhook"),
    "info": ("email",),
}

BY_FAMILY: dict[str, tuple[str, ...]] = {
    "rate_limit": ("rate_limit_webhook",),
    "indexing": ("embedding_webhook",),
}


def channels_for(severity: Severity, family: str) -> tuple[str, ...]:
    """Every channel an alert of this severity and family goes to, family channels first."""
    return BY_FAMILY.get(family, ()) + BY_SEVERITY[severity]
