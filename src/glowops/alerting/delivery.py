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
    """One pass over the due messages: send, then mark sent / retry later / dead-letter."""

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        *,
        on_outcome: OutcomeHook = count_in_metrics,
        concurrency: int = 8,
    ) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.on_outcome = on_outcome
        self._semaphore = asyncio.Semaphore(concurrency)

    async def run_once(self, now: float) -> DeliveryReport:
        report = DeliveryReport()
        due = self.outbox.due(now)
        if due:
            await asyncio.gather(*(self._deliver(message, now, report) for message in due))
        return report

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
