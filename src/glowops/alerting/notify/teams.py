"""Microsoft Teams through a Workflows ("When a Teams webhook request is received") webhook.

The Workflows trigger expects a message with an Adaptive Card attachment (the old Office 365
connector MessageCard is retired).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glowops.alerting.notify.base import HttpNotifier, alert_lines, title


def adaptive_card(payload: Mapping[str, Any]) -> dict[str, Any]:
    firing = payload.get("status") == "firing"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": title(payload),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention" if firing else "Good",
        },
    ]
    actions: list[dict[str, Any]] = []
    if payload.get("ack_url"):
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": payload["ack_url"]})
    for alert in alert_lines(payload)[:20]:
        ann = alert["annotations"]
        body.append({"type": "TextBlock", "text": ann.get("summary", ""), "weight": "Bolder", "wrap": True})
        body.append({"type": "TextBlock", "text": ann.get("description", ""), "wrap": True, "isSubtle": True})
        facts = [{"title": k, "value": v} for k, v in sorted(alert["labels"].items())]
        body.append({"type": "FactSet", "facts": facts})
        if ann.get("runbook_url") and len(actions) < 5:
            actions.append({"type": "Action.OpenUrl", "title": "Runbook", "url": ann["runbook_url"]})
        if ann.get("dashboard_url") and len(actions) < 5:
            actions.append({"type": "Action.OpenUrl", "title": "Dashboard", "url": ann["dashboard_url"]})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
        "idempotencyKey": payload["idempotency_key"],
    }


class TeamsNotifier(HttpNotifier):
    channel = "teams"

    def render(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return adaptive_card(payload)
