"""Alertmanager configuration generated from Settings and the routing policy.

The route tree is :mod:`glowops.alerting.routing` made concrete: family routes first (with
``continue: true`` so the alert also reaches its severity route), then one route per severity.
A channel whose setting is empty is left out and a warning is logged; the result is always a
configuration ``amtool check-config`` accepts. Secrets (PagerDuty routing key, webhook URLs,
SMTP password) are written into the file because Alertmanager needs them: write it 0600.

Each channel's integration comes from the channel table (:mod:`glowops.alerting.channels`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from glowops.alerting.channels import CHANNELS, secret
from glowops.alerting.routing import BY_FAMILY, BY_SEVERITY, HEARTBEAT_ALERT, SEVERITIES
from glowops.promql import scale_duration
from glowops.settings import Settings

log = logging.getLogger(__name__)

# Alertmanager's own defaults are 30s / 5m / 4h; pages repeat sooner, info mail once a day.
GROUP_WAIT = "30s"
GROUP_INTERVAL = "5m"
REPEAT_INTERVAL = "4h"
REPEAT_BY_SEVERITY = {"critical": "1h", "warning": "4h", "info": "24h"}
GROUP_WAIT_BY_SEVERITY = {"critical": "30s", "warning": "1m", "info": "5m"}
RESOLVE_TIMEOUT = "5m"

FAMILY_RECEIVERS = {"rate_limit": "rate-limit", "indexing": "embedding"}
GROUP_BY = ["alertname", "service"]


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
        spec = CHANNELS[channel]
        built = spec.receiver(self.s, self.version)
        if built is None:
            self._missing(channel, spec.why_missing)
        return built

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


def _heartbeat_receiver(settings: Settings, channels: _Channels) -> dict[str, Any]:
    if not settings.heartbeat_url:
        channels.warnings.append(
            "the heartbeat receiver has no URL: GLOWOPS_HEARTBEAT_URL is not set (a dead pipeline is silent)"
        )
        return {"name": "heartbeat"}
    return {
        "name": "heartbeat",
        "webhook_configs": [{"url": settings.heartbeat_url, "send_resolved": False, "max_alerts": 1}],
    }


def build_alertmanager_config(settings: Settings, *, time_scale: float = 1.0) -> AlertmanagerExport:
    """The Alertmanager configuration for ``settings`` (``time_scale`` > 1 for drills)."""
    channels = _Channels(settings)

    def d(duration: str) -> str:
        return scale_duration(duration, time_scale)

    receivers: list[dict[str, Any]] = [{"name": "blackhole"}, _heartbeat_receiver(settings, channels)]
    # The dead man's switch first, without `continue`: it reaches the heartbeat and nobody else,
    # every minute, so the heartbeat service notices within minutes when it stops.
    routes: list[dict[str, Any]] = [
        {
            "receiver": "heartbeat",
            "matchers": [f'alertname="{HEARTBEAT_ALERT}"'],
            "group_wait": "0s",
            "group_interval": d("1m"),
            "repeat_interval": d("1m"),
        }
    ]
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
            global_config["smtp_auth_password"] = secret(settings.smtp_password) or ""

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
