"""Email over SMTP (aiosmtplib): plain text with the runbook links; Message-ID from the idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from glowops.alerting.notify.base import Outcome, alert_lines, title
from glowops.settings import Settings


def email_message(payload: Mapping[str, Any], sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = title(payload)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Message-ID"] = f"<{payload['idempotency_key']}@glowops>"
    msg["Idempotency-Key"] = str(payload["idempotency_key"])
    lines = [title(payload), ""]
    for alert in alert_lines(payload):
        ann = alert["annotations"]
        lines += [
            f"{ann.get('summary', '')} [{alert['status']}]",
            ann.get("description", ""),
            f"Runbook: {ann.get('runbook_url', '-')}",
            f"Dashboard: {ann.get('dashboard_url', '-')}",
            "Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items())),
            "",
        ]
    if payload.get("ack_url"):
        lines.append(f"Acknowledge (one click, works once): {payload['ack_url']}")
    lines.append(f"Idempotency key: {payload['idempotency_key']}")
    msg.set_content("\n".join(lines))
    return msg


class EmailNotifier:
    channel = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, payload: Mapping[str, Any]) -> Outcome:
        s = self.settings
        recipients = [str(payload["target"])] if payload.get("target") else list(s.alert_email_to)
        if not recipients:
            return Outcome("dead", "no recipients: set GLOWOPS_ALERT_EMAIL_TO")
        message = email_message(payload, s.alert_email_from, recipients)
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=password,
                start_tls=s.smtp_starttls,
                timeout=10,
            )
        except aiosmtplib.SMTPResponseException as err:
            # 5xx replies are permanent (bad address, refused); 4xx are temporary
            detail = f"SMTP {err.code}: {err.message}"
            return Outcome("dead", detail) if 500 <= err.code < 600 else Outcome("retry", detail)
        except aiosmtplib.SMTPRecipientsRefused as err:
            return Outcome("dead", f"recipients refused: {err.recipients}")
        except (aiosmtplib.SMTPException, OSError) as err:
            return Outcome("retry", f"{type(err).__name__}: {err}")
        return Outcome("sent", "250")
