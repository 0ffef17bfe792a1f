"""Notifiers: turn a stored notification into the wire format of one channel and send it.

Each notifier is a small class with ``async send(payload) -> Outcome``. Bodies are rendered
from the (already redacted) payload the dispatcher stored in the outbox:

- :mod:`.webhook`: Alertmanager's webhook v4 JSON, so existing receivers work unchanged
- :mod:`.slack`: Slack incoming webhook, Block Kit with a ``text`` fallback
- :mod:`.teams`: Teams Workflows webhook carrying an Adaptive Card
- :mod:`.pagerduty`: PagerDuty Events API v2 (trigger / acknowledge / resolve, stable dedup_key)
- :mod:`.email`: SMTP via aiosmtplib

Which notifier serves which channel is the channel table (:mod:`glowops.alerting.channels`).
Every HTTP request carries the message's ``Idempotency-Key`` header, and the key is in the body.
"""

from glowops.alerting.notify.base import Notifier, Outcome

__all__ = ["Notifier", "Outcome"]
