"""Which channels an alert reaches: the routing policy, as data.

One policy for both deployments: the Alertmanager export turns it into a route tree, and the
embedded notification pipeline can call :func:`channels_for` directly.

- ``critical`` → PagerDuty, Slack, Teams, ``ERROR_NOTIFY_WEBHOOK``
- ``warning``  → Slack, Teams, ``TELEMETRY_ALERT_WEBHOOK``
- ``info``     → email
- family ``rate_limit`` additionally → ``RATE_LIMIT_ALERT_WEBHOOK``
- family ``indexing`` (document indexing / embedding) additionally → ``EMBEDDING_ALERT_WEBHOOK``

Channel names are those of the channel table (:mod:`glowops.alerting.channels`); a channel
whose setting is empty is left out (with a warning at export time).
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


# The always-firing dead man's switch: routed to the heartbeat receiver only, never to people.
HEARTBEAT_ALERT = "Watchdog"

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
