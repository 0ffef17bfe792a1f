"""Delivers due outbox messages through the notifiers and records the outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from glowops.alerting.notify.base import Notifier, Outcome
from glowops.alerting.outbox import Message, Outbox

log = logging.getLogger("glowops.alerting.delivery")

OutcomeHook = Callable[[str, str], None]  # (channel, outcome: sent | failed | dead_lettered)


def count_in_metrics(channel: str, outcome: str) -> None:
    """Default hook: ``glowops_notifications_total{channel, outcome}``."""
    from glowops.telemetry.metrics import metrics

    metrics.counter("glowops_notifications", tags={"channel": channel, "outcome": outcome})


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Deliverer:
    """One pass over the due messages: send, then mark sent / retry later / dead-letter.

    With a ``fallback`` channel, a message still undelivered ``fallback_after`` seconds after it
    was stored (or refused for good) is copied once to that channel, marked as a fallback; the
    original keeps its own retries.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        *,
        on_outcome: OutcomeHook = count_in_metrics,
        concurrency: int = 8,
        fallback: str | None = None,
        fallback_after: float = 600.0,
    ) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.on_outcome = on_outcome
        self.fallback = fallback
        self.fallback_after = fallback_after
        self._semaphore = asyncio.Semaphore(concurrency)

    async def run_once(self, now: float) -> DeliveryReport:
        report = DeliveryReport()
        if self.fallback is not None:  # between retries too: backoff may leave hours between attempts
            for message in self.outbox.failing_since(now - self.fallback_after):
                self._fall_back(message, now, dead=False)
        due = self.outbox.due(now)
        if due:
            await asyncio.gather(*(self._deliver(message, now, report) for message in due))
        return report

    def _fall_back(self, message: Message, now: float, *, dead: bool) -> None:
        if (
            self.fallback is None
            or message.channel == self.fallback
            or message.payload.get("fallback_for")  # never a fallback of a fallback
            or message.payload.get("pagerduty_action")  # an ack/resolve means nothing elsewhere
            or not (dead or now - message.created_at >= self.fallback_after)
        ):
            return
        copy = {k: v for k, v in message.payload.items() if k not in ("target", "routing_key")}
        key = f"{message.idempotency_key}-fallback"
        copy.update(idempotency_key=key, receiver=self.fallback, fallback_for=message.channel)
        if self.outbox.enqueue(self.fallback, copy, key, now):
            log.warning(
                "notification %s to %s still failing: a copy goes to the fallback channel %s",
                message.id,
                message.channel,
                self.fallback,
            )

    async def _deliver(self, message: Message, now: float, report: DeliveryReport) -> None:
        notifier = self.notifiers.get(message.channel)
        async with self._semaphore:
            if notifier is None:
                outcome = Outcome("dead", f"channel {message.channel!r} is not configured")
            else:
                try:
                    outcome = await notifier.send(message.payload)
                except Exception as err:  # a bug in a notifier must not stop the others
                    log.exception("notifier %s failed", message.channel)
                    outcome = Outcome("retry", f"{type(err).__name__}: {err}")
        if outcome.kind != "sent":
            self._fall_back(message, now, dead=outcome.kind == "dead")
        if outcome.kind == "sent":
            self.outbox.mark_sent(message, now)
            report.sent += 1
            self.on_outcome(message.channel, "sent")
        elif outcome.kind == "retry" and self.outbox.mark_retry(
            message, now, outcome.detail, outcome.retry_after
        ):
            report.retried += 1
            self.on_outcome(message.channel, "failed")
            log.warning(
                "notification %s to %s failed, will retry: %s", message.id, message.channel, outcome.detail
            )
        else:
            if outcome.kind == "dead":
                self.outbox.mark_dead(message, outcome.detail)
            report.dead += 1
            self.on_outcome(message.channel, "dead_lettered")
            log.error("notification %s to %s dead-lettered: %s", message.id, message.channel, outcome.detail)
