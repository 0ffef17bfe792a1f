"""Slack incoming webhook: Block Kit blocks with a plain ``text`` fallback (notifications, old clients)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glowops.alerting.notify.base import HttpNotifier, alert_lines, title


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    heading = title(payload)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading[:150]}}]
    fallback = [heading]
    for alert in alert_lines(payload)[:20]:  # Slack allows 50 blocks
        ann = alert["annotations"]
        summary = ann.get("summary", alert["labels"].get("alertname", ""))
        text = f"*{_mrkdwn(summary)}* ({alert['status']})\n{_mrkdwn(ann.get('description', ''))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
        links = []
        if ann.get("runbook_url"):
            links.append(f"<{ann['runbook_url']}|Runbook>")
        if ann.get("dashboard_url"):
            links.append(f"<{ann['dashboard_url']}|Dashboard>")
        if links:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
        fallback.append(f"{summary} ({alert['status']}) runbook: {ann.get('runbook_url', '-')}")
    if payload.get("ack_url"):  # the signed one-click acknowledgement of an on-call page
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{payload['ack_url']}|Acknowledge>"}}
        )
        fallback.append(f"Acknowledge: {payload['ack_url']}")
    return {
        "text": "\n".join(fallback),
        "blocks": blocks,
        "metadata": {
            "event_type": "glowops_alert",
            "event_payload": {"idempotency_key": payload["idempotency_key"]},
        },
    }


class SlackNotifier(HttpNotifier):
    channel = "slack"

    def render(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return slack_body(payload)
