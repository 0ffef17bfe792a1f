"""Alertmanager configuration generated from Settings and the routing policy.

The route tree is :mod:`glowops.alerting.routing` made concrete: family routes first (with
``continue: true`` so the alert also reaches its severity route), then one route per severity.
A channel whose setting is empty is left out and a warning is logged; the result is always a
configuration ``amtool check-config`` accepts. Secrets (PagerDuty routing key, webhook URLs,
SMTP password) are written into the file because Alertmanager needs them: write it 0600.

Teams: Alertmanager 0.28+ has ``msteamsv2_configs`` (Teams Workflows webhooks). Older versions,
such as Debian's 0.25, reach Teams through the glowops relay: a ``webhook_configs`` entry
posting Alertmanager's JSON to ``{relay base}/ops/alertmanager/teams`` (the base is
``GLOWOPS_ALERTMANAGER_RELAY_URL``, else ``GLOWOPS_EXTERNAL_URL``), which re-posts it to
``GLOWOPS_TEAMS_WEBHOOK_URL`` as an Adaptive Card.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from glowops.alerting.routing import BY_FAMILY, BY_SEVERITY, CHANNELS, SEVERITIES
from glowops.promql import scale_duration
from glowops.settings import Settings

log = logging.getLogger(__name__)

TEAMS_RELAY_PATH = "/ops/alertmanager/teams"
MSTEAMSV2_SINCE = (0, 28)

# Alertmanager's own defaults are 30s / 5m / 4h; pages repeat sooner, info mail once a day.
GROUP_WAIT = "30s"
GROUP_INTERVAL = "5m"
REPEAT_INTERVAL = "4h"
REPEAT_BY_SEVERITY = {"critical": "1h", "warning": "4h", "info": "24h"}
GROUP_WAIT_BY_SEVERITY = {"critical": "30s", "warning": "1m", "info": "5m"}
RESOLVE_TIMEOUT = "5m"

FAMILY_RECEIVERS = {"rate_limit": "rate-limit", "indexing": "embedding"}
GROUP_BY = ["alertname", "service"]

TITLE = (
    "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} "
    "({{ .CommonLabels.severity }}, {{ .CommonLabels.service }})"
)
TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\nDashboard: {{ .Annotations.dashboard_url }}\n{{ end }}"
)
PD_DESCRIPTION = "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}"


@dataclass
class AlertmanagerExport:
    """The configuration as a dict (dump it as YAML) and the warnings about left-out channels."""

    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.25"``, ``"v0.28.1"`` → ``(0, 25)``, ``(0, 28, 1)``."""
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*)", text.strip())
    if match is None:
        raise ValueError(f"not an Alertmanager version: {text!r} (example: 0.25 or 0.28.1)")
    return tuple(int(part) for part in match.group(1).split("."))


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return raw or None


def _webhook(url: str) -> dict[str, Any]:
    return {"url": url, "send_resolved": True, "max_alerts": 0}


class _Channels:
    """Builds one receiver integration per channel, remembering what was left out."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.version = parse_version(settings.alertmanager_version)
        self.warnings: list[str] = []
        self._warned: set[str] = set()

    def _missing(self, channel: str, why: str) -> None:
        if channel not in self._warned:
            self._warned.add(channel)
            message = f"alert channel {CHANNELS[channel].title} left out: {why}"
            self.warnings.append(message)
            log.warning(message)

    def integration(self, channel: str) -> tuple[str, dict[str, Any]] | None:
        """``(config key, config)`` for one channel, or None when its settings are missing."""
        s = self.s
        if channel == "pagerduty":
            key = _secret(s.pagerduty_routing_key)
            if key is None:
                self._missing(channel, "GLOWOPS_PAGERDUTY_ROUTING_KEY is not set")
                return None
            return "pagerduty_configs", {
                "routing_key": key,
                "url": s.pagerduty_events_url,
                "send_resolved": True,
                "severity": "{{ .CommonLabels.severity }}",
                "description": PD_DESCRIPTION,
                "client": "glowops",
                "client_url": s.external_url,
                "links": [
                    {"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"},
                    {"href": "{{ .CommonAnnotations.dashboard_url }}", "text": "Dashboard"},
                ],
                "details": {
                    "summary": "{{ .CommonAnnotations.summary }}",
                    "description": "{{ .CommonAnnotations.description }}",
                    "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
                    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
                    "num_firing": "{{ .Alerts.Firing | len }}",
                },
            }
        if channel == "slack":
            url = _secret(s.slack_webhook_url)
            if url is None:
                self._missing(channel, "GLOWOPS_SLACK_WEBHOOK_URL is not set")
                return None
            return "slack_configs", {
                "api_url": url,
                "send_resolved": True,
                "title": TITLE,
                "title_link": "{{ .CommonAnnotations.runbook_url }}",
                "text": TEXT,
            }
        if channel == "teams":
            url = _secret(s.teams_webhook_url)
            if url is None:
                self._missing(channel, "GLOWOPS_TEAMS_WEBHOOK_URL is not set")
                return None
            if self.version >= MSTEAMSV2_SINCE:
                return "msteamsv2_configs", {
                    "webhook_url": url,
                    "send_resolved": True,
                    "title": TITLE,
                    "text": TEXT,
                }
            # Where Alertmanager reaches the gateway, which is not always where people do
            # (compose: http://gateway:8000 on the internal network).
            relay = (s.alertmanager_relay_url or s.external_url).rstrip("/") + TEAMS_RELAY_PATH
            log.info(
                "Alertmanager %s has no msteamsv2: Teams is reached through the relay %s",
                s.alertmanager_version,
                relay,
            )
            hook = _webhook(relay)
            if s.ops_token is not None and s.ops_token.get_secret_value():
                # The relay posts into the team's channel: only Alertmanager may call it.
                hook["http_config"] = {
                    "authorization": {"type": "Bearer", "credentials": s.ops_token.get_secret_value()}
                }
            return "webhook_configs", hook
        if channel == "email":
            if not s.smtp_host or not s.alert_email_to:
                self._missing(channel, "GLOWOPS_SMTP_HOST and GLOWOPS_ALERT_EMAIL_TO must both be set")
                return None
            return "email_configs", {"to": ", ".join(s.alert_email_to), "send_resolved": True}
        # the spec's four webhooks
        spec = CHANNELS[channel]
        url = getattr(s, spec.setting)
        if not url:
            self._missing(channel, f"{spec.env} is not set")
            return None
        return "webhook_configs", _webhook(url)

    def receiver(self, name: str, channels: tuple[str, ...]) -> dict[str, Any]:
        receiver: dict[str, Any] = {"name": name}
        for channel in channels:
            built = self.integration(channel)
            if built is not None:
                key, config = built
                receiver.setdefault(key, []).append(config)
        if len(receiver) == 1:
            message = f"receiver {name!r} has no channel configured: its alerts are not delivered"
            self.warnings.append(message)
            log.warning(message)
        return receiver


def build_alertmanager_config(settings: Settings, *, time_scale: float = 1.0) -> AlertmanagerExport:
    """The Alertmanager configuration for ``settings`` (``time_scale`` > 1 for drills)."""
    channels = _Channels(settings)

    def d(duration: str) -> str:
        return scale_duration(duration, time_scale)

    receivers = [{"name": "blackhole"}]
    routes: list[dict[str, Any]] = []
    for family, receiver_name in FAMILY_RECEIVERS.items():
        receivers.append(channels.receiver(receiver_name, BY_FAMILY[family]))
        routes.append(
            {
                "receiver": receiver_name,
                "matchers": [f'family="{family}"'],
                "continue": True,
            }
        )
    for severity in SEVERITIES:
        receivers.append(channels.receiver(severity, BY_SEVERITY[severity]))
        routes.append(
            {
                "receiver": severity,
                "matchers": [f'severity="{severity}"'],
                "group_wait": d(GROUP_WAIT_BY_SEVERITY[severity]),
                "repeat_interval": d(REPEAT_BY_SEVERITY[severity]),
            }
        )

    global_config: dict[str, Any] = {"resolve_timeout": d(RESOLVE_TIMEOUT)}
    if settings.smtp_host:
        global_config.update(
            {
                "smtp_smarthost": f"{settings.smtp_host}:{settings.smtp_port}",
                "smtp_from": settings.alert_email_from,
                "smtp_require_tls": settings.smtp_starttls,
                "smtp_hello": "glowops",
            }
        )
        if settings.smtp_username:
            global_config["smtp_auth_username"] = settings.smtp_username
            global_config["smtp_auth_password"] = _secret(settings.smtp_password) or ""

    config: dict[str, Any] = {
        "global": global_config,
        "route": {
            # Unmatched alerts (no or unknown severity) are dropped on purpose: every catalog
            # rule carries a severity, so anything else is noise from a foreign rule file.
            "receiver": "blackhole",
            "group_by": list(GROUP_BY),
            "group_wait": d(GROUP_WAIT),
            "group_interval": d(GROUP_INTERVAL),
            "repeat_interval": d(REPEAT_INTERVAL),
            "routes": routes,
        },
        "inhibit_rules": [
            {
                # A critical alert silences the warnings and infos of its own family and service:
                # HighErrorRate firing makes ElevatedErrorRate noise.
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["family", "service"],
            },
        ],
        "receivers": receivers,
    }
    return AlertmanagerExport(config=config, warnings=channels.warnings)
