"""Generic webhook: Alertmanager's webhook body, version 4, plus the idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from glowops.alerting.notify.base import HttpNotifier, alert_lines


def alertmanager_v4(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Alertmanager posts to ``webhook_configs`` receivers (version "4")."""
    return {
        "version": "4",
        "groupKey": payload.get("group_key", ""),
        "truncatedAlerts": 0,
        "status": payload.get("status", "firing"),
        "receiver": payload.get("receiver", ""),
        "groupLabels": dict(payload.get("group_labels", {})),
        "commonLabels": dict(payload.get("common_labels", {})),
        "commonAnnotations": dict(payload.get("common_annotations", {})),
        "externalURL": payload.get("external_url", ""),
        "alerts": [
            {
                "status": a["status"],
                "labels": dict(a["labels"]),
                "annotations": dict(a["annotations"]),
                "startsAt": a["startsAt"],
                "endsAt": a["endsAt"],
                "generatorURL": a.get("generatorURL", ""),
                "fingerprint": a["fingerprint"],
            }
            for a in alert_lines(payload)
        ],
        # not part of v4, ignored by receivers that don't know it; lets them drop duplicates
        "idempotencyKey": payload["idempotency_key"],
        **({"escalation": payload["escalation"]} if payload.get("escalation") else {}),
        **({"ackURL": payload["ack_url"]} if payload.get("ack_url") else {}),
    }


class WebhookNotifier(HttpNotifier):
    def __init__(self, url: str, client: httpx.AsyncClient, channel: str = "webhook") -> None:
        super().__init__(url, client)
        self.channel = channel

    def render(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return alertmanager_v4(payload)
