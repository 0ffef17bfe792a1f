"""PagerDuty Events API v2: ``trigger`` on firing, ``resolve`` on resolved, ``acknowledge`` on ack.

The ``dedup_key`` is derived from the alert group (receiver + grouping labels), so every event
of one incident - repeats, the acknowledgement, the resolve - lands on the same PagerDuty
incident, also after a glowops restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from glowops.alerting.notify.base import HttpNotifier, alert_lines, title

_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def events_v2(payload: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    action = payload.get("pagerduty_action") or (
        "resolve" if payload.get("status") == "resolved" else "trigger"
    )
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": payload["dedup_key"],
    }
    if action != "trigger":
        return event
    alerts = alert_lines(payload)
    common = payload.get("common_labels", {})
    first = alerts[0] if alerts else {"labels": {}, "annotations": {}}
    links = []
    if payload.get("ack_url"):
        links.append({"href": payload["ack_url"], "text": "Acknowledge in glowops"})
    for alert in alerts[:5]:
        if url := alert["annotations"].get("runbook_url"):
            links.append({"href": url, "text": f"Runbook: {alert['labels'].get('alertname', '')}"})
        if url := alert["annotations"].get("dashboard_url"):
            links.append({"href": url, "text": "Dashboard"})
    event.update(
        payload={
            "summary": title(payload)[:1024],
            "source": common.get("service") or first["labels"].get("service", "glowops"),
            "severity": _SEVERITY.get(common.get("severity", ""), "error"),
            "component": common.get("service", ""),
            "group": common.get("family", ""),
            "class": common.get("alertname", ""),
            "custom_details": {
                "firing": [a["annotations"].get("summary", "") for a in alerts if a["status"] == "firing"],
                "description": first["annotations"].get("description", ""),
                "runbook_url": first["annotations"].get("runbook_url", ""),
                "labels": common,
                "idempotency_key": payload["idempotency_key"],
            },
        },
        links=links,
        client="glowops",
        client_url=payload.get("external_url", ""),
    )
    return event


class PagerDutyNotifier(HttpNotifier):
    channel = "pagerduty"

    def __init__(self, url: str, routing_key: str, client: httpx.AsyncClient) -> None:
        super().__init__(url, client)
        self.routing_key = routing_key

    def render(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        # a person's own routing key (an escalation level naming them) wins over the configured one
        return events_v2(payload, str(payload.get("routing_key") or self.routing_key))
