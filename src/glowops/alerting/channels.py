"""The notification channels, one row each: setting, variable, notifier and Alertmanager receiver.

Both deployments read this one table. The embedded engine builds its notifiers from it
(:func:`build_notifiers`), the Alertmanager export builds one receiver integration per channel
from it (:mod:`glowops.alerting.alertmanager_config`), the docs name channels by it, and the
deploy bundle passes exactly its variables to the one-shot that renders Alertmanager's file.
Which alerts reach which channel is the routing policy (:mod:`glowops.alerting.routing`).

Teams: Alertmanager 0.28+ has ``msteamsv2_configs`` (Teams Workflows webhooks). Older versions,
such as Debian's 0.25, reach Teams through the glowops relay: a ``webhook_configs`` entry
posting Alertmanager's JSON to ``{relay base}/ops/alertmanager/teams`` (the base is
``GLOWOPS_ALERTMANAGER_RELAY_URL``, else ``GLOWOPS_EXTERNAL_URL``), which re-posts it to
``GLOWOPS_TEAMS_WEBHOOK_URL`` as an Adaptive Card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from glowops.settings import Settings

if TYPE_CHECKING:  # the notifiers need httpx (glowops[http]); the export does not
    import httpx

    from glowops.alerting.notify.base import Notifier

# the receivers are part of the Alertmanager export: they log under its name
log = logging.getLogger("glowops.alerting.alertmanager_config")

TEAMS_RELAY_PATH = "/ops/alertmanager/teams"
MSTEAMSV2_SINCE = (0, 28)

TITLE = (
    "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} "
    "({{ .CommonLabels.severity }}, {{ .CommonLabels.service }})"
)
TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\nDashboard: {{ .Annotations.dashboard_url }}\n{{ end }}"
)
PD_DESCRIPTION = "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}"

Integration = tuple[str, dict[str, Any]]  # (receiver config key, its entry)
NotifierFactory = Callable[[Settings, "httpx.AsyncClient"], "Notifier | None"]
ReceiverFactory = Callable[[Settings, tuple[int, ...]], Integration | None]


def secret(value: Any) -> str | None:
    """The plain value of a (possibly secret) setting; None when unset or empty."""
    if value is None:
        return None
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return raw or None


@dataclass(frozen=True, slots=True)
class Channel:
    """One notification channel: what turns it on, and how each deployment reaches it."""

    name: str  # the outbox's and the metrics' channel label
    title: str  # how docs name it
    setting: str  # the Settings field that turns it on
    env: str  # the variable the user sets for it
    notifier: NotifierFactory  # the embedded engine's sender; None when not configured
    receiver: ReceiverFactory  # Alertmanager's integration; None when not configured
    # Every variable the channel reads, with a non-secret example (the deploy check renders
    # Alertmanager's configuration with them, as the one-shot would).
    examples: Mapping[str, str]
    missing: str = ""  # why it is left out when not configured; default "<env> is not set"

    @property
    def why_missing(self) -> str:
        return self.missing or f"{self.env} is not set"


def _webhook(url: str) -> dict[str, Any]:
    return {"url": url, "send_resolved": True, "max_alerts": 0}


# --- PagerDuty --------------------------------------------------------------------------------------
def _pagerduty_notifier(s: Settings, client: httpx.AsyncClient) -> Notifier | None:
    from glowops.alerting.notify.pagerduty import PagerDutyNotifier

    key = secret(s.pagerduty_routing_key)
    return PagerDutyNotifier(s.pagerduty_events_url, key, client) if key else None


def _pagerduty_receiver(s: Settings, version: tuple[int, ...]) -> Integration | None:
    key = secret(s.pagerduty_routing_key)
    if key is None:
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


# --- Slack ------------------------------------------------------------------------------------------
def _slack_notifier(s: Settings, client: httpx.AsyncClient) -> Notifier | None:
    from glowops.alerting.notify.slack import SlackNotifier

    url = secret(s.slack_webhook_url)
    return SlackNotifier(url, client) if url else None


def _slack_receiver(s: Settings, version: tuple[int, ...]) -> Integration | None:
    url = secret(s.slack_webhook_url)
    if url is None:
        return None
    return "slack_configs", {
        "api_url": url,
        "send_resolved": True,
        "title": TITLE,
        "title_link": "{{ .CommonAnnotations.runbook_url }}",
        "text": TEXT,
    }


# --- Teams ------------------------------------------------------------------------------------------
def _teams_notifier(s: Settings, client: httpx.AsyncClient) -> Notifier | None:
    from glowops.alerting.notify.teams import TeamsNotifier

    url = secret(s.teams_webhook_url)
    return TeamsNotifier(url, client) if url else None


def _teams_receiver(s: Settings, version: tuple[int, ...]) -> Integration | None:
    url = secret(s.teams_webhook_url)
    if url is None:
        return None
    if version >= MSTEAMSV2_SINCE:
        return "msteamsv2_configs", {"webhook_url": url, "send_resolved": True, "title": TITLE, "text": TEXT}
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
        token = s.ops_token.get_secret_value()
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": token}}
    return "webhook_configs", hook


# --- the spec's four webhooks (Alertmanager's webhook JSON) -------------------------------------------
def _webhook_channel(name: str, setting: str, env: str, example: str) -> Channel:
    def notifier(s: Settings, client: httpx.AsyncClient) -> Notifier | None:
        from glowops.alerting.notify.webhook import WebhookNotifier

        url = getattr(s, setting)
        return WebhookNotifier(url, client, name) if url else None

    def receiver(s: Settings, version: tuple[int, ...]) -> Integration | None:
        url = getattr(s, setting)
        return ("webhook_configs", _webhook(url)) if url else None

    return Channel(name, env, setting, env, notifier, receiver, {env: example})


# --- email ------------------------------------------------------------------------------------------
def _email_notifier(s: Settings, client: httpx.AsyncClient) -> Notifier | None:
    from glowops.alerting.notify.email import EmailNotifier

    return EmailNotifier(s) if s.smtp_host else None


def _email_receiver(s: Settings, version: tuple[int, ...]) -> Integration | None:
    # the SMTP server itself goes into Alertmanager's global section
    if not s.smtp_host or not s.alert_email_to:
        return None
    return "email_configs", {"to": ", ".join(s.alert_email_to), "send_resolved": True}


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel(
            "pagerduty",
            "PagerDuty",
            "pagerduty_routing_key",
            "GLOWOPS_PAGERDUTY_ROUTING_KEY",
            _pagerduty_notifier,
            _pagerduty_receiver,
            {
                "GLOWOPS_PAGERDUTY_ROUTING_KEY": "example0routing0key0000000000000",
                "GLOWOPS_PAGERDUTY_EVENTS_URL": "https://events.pagerduty.example/v2/enqueue",
            },
        ),
        Channel(
            "slack",
            "Slack",
            "slack_webhook_url",
            "GLOWOPS_SLACK_WEBHOOK_URL",
            _slack_notifier,
            _slack_receiver,
            {"GLOWOPS_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T000/B000/example"},
        ),
        Channel(
            "teams",
            "Teams",
            "teams_webhook_url",
            "GLOWOPS_TEAMS_WEBHOOK_URL",
            _teams_notifier,
            _teams_receiver,
            {"GLOWOPS_TEAMS_WEBHOOK_URL": "https://teams.example/workflows/example"},
        ),
        _webhook_channel(
            "error_webhook", "error_notify_webhook", "ERROR_NOTIFY_WEBHOOK", "https://hooks.example.com/error"
        ),
        _webhook_channel(
            "telemetry_webhook",
            "telemetry_alert_webhook",
            "TELEMETRY_ALERT_WEBHOOK",
            "https://hooks.example.com/telemetry",
        ),
        _webhook_channel(
            "rate_limit_webhook",
            "rate_limit_alert_webhook",
            "RATE_LIMIT_ALERT_WEBHOOK",
            "https://hooks.example.com/rate-limit",
        ),
        _webhook_channel(
            "embedding_webhook",
            "embedding_alert_webhook",
            "EMBEDDING_ALERT_WEBHOOK",
            "https://hooks.example.com/embedding",
        ),
        Channel(
            "email",
            "email",
            "smtp_host",
            "GLOWOPS_SMTP_HOST",
            _email_notifier,
            _email_receiver,
            {
                "GLOWOPS_SMTP_HOST": "smtp.example.com",
                "GLOWOPS_SMTP_PORT": "587",
                "GLOWOPS_SMTP_USERNAME": "alerts",
                "GLOWOPS_SMTP_PASSWORD": "example-smtp-password",
                "GLOWOPS_SMTP_STARTTLS": "true",
                "GLOWOPS_ALERT_EMAIL_FROM": "glowops@example.com",
                "GLOWOPS_ALERT_EMAIL_TO": "oncall@example.com,ops@example.com",
            },
            missing="GLOWOPS_SMTP_HOST and GLOWOPS_ALERT_EMAIL_TO must both be set",
        ),
    )
}

# Every variable the channels read, in table order, and a non-secret example of each.
CHANNEL_EXAMPLES: dict[str, str] = {k: v for c in CHANNELS.values() for k, v in c.examples.items()}
CHANNEL_ENV: tuple[str, ...] = tuple(CHANNEL_EXAMPLES)


# Channels that deliver to the address in each message (on-call contacts), never routed to by severity.
DIRECT_CHANNELS = frozenset({"webhook", "slack_direct", "pagerduty_direct"})


def build_notifiers(settings: Settings, client: httpx.AsyncClient) -> dict[str, Notifier]:
    """A notifier for every channel whose setting is filled in, and the direct ones (glowops[http])."""
    from glowops.alerting.notify.pagerduty import PagerDutyNotifier
    from glowops.alerting.notify.slack import SlackNotifier
    from glowops.alerting.notify.webhook import WebhookNotifier

    out: dict[str, Notifier] = {}
    for channel in CHANNELS.values():
        notifier = channel.notifier(settings, client)
        if notifier is not None:
            out[channel.name] = notifier
    # escalation levels may name a bare webhook URL of their own, and people their own Slack
    # webhook or PagerDuty routing key: these channels take the address from the message
    out.setdefault("webhook", WebhookNotifier("", client, "webhook"))
    out["slack_direct"] = SlackNotifier("", client)
    out["pagerduty_direct"] = PagerDutyNotifier(settings.pagerduty_events_url, "", client)
    return out
