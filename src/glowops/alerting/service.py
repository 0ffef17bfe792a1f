"""The embedded alerting service: sampler, rule engine, dispatcher, escalation and delivery in one loop.

In the app lifespan (``instrument()`` does this when ``settings.embedded_alerting`` is on)::

    alerting = start_embedded_alerting(settings, registry)
    await alerting.start()
    ...
    await alerting.stop()

Every ``scrape_interval_seconds`` the registry is sampled; every
``evaluation_interval_seconds`` the catalog is evaluated and the dispatcher and escalator
turn alerts into outbox messages; the outbox is drained continuously (retries as they fall
due). Samples, alert state, groups and the outbox live in ``state_dir/alerting.db``, so a
restart keeps history, pending ``for`` clocks, and undelivered notifications.

Sampling and evaluation run on the event loop in slices of at most ~2 ms
(:mod:`glowops.slicing`), so a request waits for one slice at worst, never a whole cycle.

The clock is injectable (``clock``): tests drive :meth:`EmbeddedAlerting.tick` with their own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import REGISTRY, CollectorRegistry

from glowops.alerting.acklink import AckLinks, link_key
from glowops.alerting.channels import DIRECT_CHANNELS, build_notifiers
from glowops.alerting.delivery import Deliverer, OutcomeHook, count_in_metrics
from glowops.alerting.dispatch import Dispatcher, Timings
from glowops.alerting.engine import Alert, EvaluationResult, RuleEngine
from glowops.alerting.escalation import Escalator
from glowops.alerting.notify.base import Notifier
from glowops.alerting.oncall import load_policy
from glowops.alerting.outbox import Outbox, connect
from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.alerting.sampler import Sampler
from glowops.alerting.state import StateStore, fingerprint, state_path
from glowops.promql import TSDB
from glowops.promql.tsdb import FlushBatch
from glowops.redaction import default_policy
from glowops.settings import Settings
from glowops.slicing import SLICE_SECONDS, Steps, drive, run_steps, yield_to_loop
from glowops.telemetry import listener

log = logging.getLogger("glowops.alerting.service")

ENGINE_STATE_KEY = "engine.alerts"


@dataclass
class CycleReport:
    """What one tick did (for tests and the benchmark)."""

    sampled: int = 0
    evaluated: bool = False
    enqueued: int = 0
    delivered: int = 0
    seconds: float = 0.0


def acked_fingerprints(alerts: list[Alert], state: StateStore) -> set[str]:
    """Firing alerts an acknowledgement covers (no on-call file: acks never time out)."""
    acks = state.acks()
    out = set()
    for alert in alerts:
        fp = fingerprint(alert.labels)
        fired_at = (alert.fired_at or alert.active_at) / 1000
        if alert.state == "firing" and any(a.covers(alert.rule, fp, fired_at) for a in acks):
            out.add(fp)
    return out


class EmbeddedAlerting:
    """Owns the store, engine, outbox and notifiers of one process."""

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry = REGISTRY,
        *,
        catalog: Any = None,
        clock: Callable[[], float] = time.time,
        notifiers: Mapping[str, Notifier] | None = None,
        timings: Timings | None = None,
        on_outcome: OutcomeHook = count_in_metrics,
        record_metrics: bool = True,
        flush_interval: float = 60.0,
    ) -> None:
        from glowops.alerting.export import catalog_from_settings

        self.settings = settings
        self.clock = clock
        self.catalog = catalog if catalog is not None else catalog_from_settings(settings)
        self.db: sqlite3.Connection = connect(state_path(settings))
        self.redaction = default_policy(settings)  # every message, the history and comments pass it
        self.state = StateStore(self.db, self.redaction)
        self.outbox = Outbox(self.db)
        retention_ms = round(settings.sample_retention_hours * 3600 * 1000)
        now = clock()
        self.store = TSDB.load(self.db, retention_ms, round(now * 1000))
        self.engine = RuleEngine(self.catalog, self.store)
        self.engine.restore(self.state.get(ENGINE_STATE_KEY, []) or [])
        # job as the exported scrape config names it; instance where the server really listens.
        self._default_instance = f"{settings.host}:{settings.port}"
        target = {"job": self.catalog.job, "instance": listener.instance(self._default_instance)}
        self.sampler = Sampler(registry, self.store, target)
        self._client: httpx.AsyncClient | None = None
        self.notifiers: Mapping[str, Notifier]
        if notifiers is None:
            self._client = httpx.AsyncClient(timeout=10.0)
            self.notifiers = build_notifiers(settings, self._client)
        else:
            self.notifiers = notifiers
        redact = self.redaction.redact
        self.policy = load_policy(settings.oncall_file)
        self.links = AckLinks(self.db, link_key(settings), settings.external_url)
        self.dispatcher = Dispatcher(
            self.db,
            self.outbox,
            self.state,
            [c for c in self.notifiers if c not in DIRECT_CHANNELS],
            timings=timings,
            redact=redact,
            external_url=settings.external_url,
            windows=self.policy.maintenance if self.policy else (),
            on_suppressed=self._count_suppressed if record_metrics else lambda window: None,
        )
        self.escalator = (
            Escalator(
                self.db,
                self.outbox,
                self.state,
                self.policy,
                settings.external_url,
                redact=redact,
                links=self.links,
            )
            if self.policy
            else None
        )
        if settings.fallback_channel and settings.fallback_channel not in self.notifiers:
            log.warning("fallback channel %r is not configured: no fallback", settings.fallback_channel)
        self.deliverer = Deliverer(
            self.outbox,
            self.notifiers,
            on_outcome=on_outcome,
            fallback=settings.fallback_channel if settings.fallback_channel in self.notifiers else None,
            fallback_after=settings.fallback_after_seconds,
        )
        self.record_metrics = record_metrics
        self.flush_interval = flush_interval
        self.slice_seconds = SLICE_SECONDS
        self.pause: Callable[[], Awaitable[None]] = yield_to_loop  # between slices of a cycle
        self._next_scrape = 0.0
        self._next_eval = 0.0
        self._next_flush = now + flush_interval
        self._next_heartbeat = 0.0
        self._last_eval_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.last_result: EvaluationResult | None = None

    # --- one step -------------------------------------------------------------------------------------
    async def tick(self, now: float | None = None) -> CycleReport:
        """Sample, evaluate and dispatch when due, then deliver what the outbox holds."""
        now = self.clock() if now is None else now
        report = CycleReport()
        started = time.perf_counter()
        t_ms = round(now * 1000)
        # Sampling and evaluation run in slices of the event loop (glowops.slicing):
        # requests arriving during a cycle wait for one slice, not for the whole cycle.
        if now >= self._next_scrape:
            self.sampler.retarget(instance=listener.instance(self._default_instance))
            report.sampled = await drive(self.sampler.sample_steps(t_ms), self.slice_seconds, self.pause)
            self._next_scrape = now + self.settings.scrape_interval_seconds
        if now >= self._next_eval:
            self._next_eval = now + self.settings.evaluation_interval_seconds
            report.enqueued = await drive(self._evaluate_steps(now), self.slice_seconds, self.pause)
            report.evaluated = True
        for ack in self.state.unnotified_acks():
            report.enqueued += len(self.dispatcher.acknowledge(ack.alertname, now))
            self.state.mark_ack_notified(ack.id)
        if now >= self._next_flush:
            await self._flush_sliced(now)
        report.seconds = time.perf_counter() - started
        delivery = await self.deliverer.run_once(now)
        report.delivered = delivery.sent
        await self._heartbeat(now)
        if self.record_metrics:
            from glowops.telemetry.metrics import metrics

            metrics.gauge("glowops_outbox_depth", self.outbox.depth())
            metrics.gauge("glowops_outbox_dead_letters", self.outbox.dead_count())
        return report

    @staticmethod
    def _count_suppressed(window: str) -> None:
        from glowops.telemetry.metrics import metrics

        metrics.counter("glowops_notifications_suppressed", tags={"window": window})

    async def _heartbeat(self, now: float) -> None:
        """The dead man's switch: ping the heartbeat URL while the Watchdog fires in this engine.

        Tied to the rule, not to a timer: if evaluation stops (a stuck loop, a lost leader) the
        pings stop and the heartbeat service raises the alarm. Not queued: a late ping would
        claim life that was not there.
        """
        url = self.settings.heartbeat_url
        if not url or now < self._next_heartbeat or self.last_result is None or self._last_eval_at is None:
            return
        if now - self._last_eval_at > 2 * self.settings.evaluation_interval_seconds:
            return  # evaluation stalled: say nothing, so the heartbeat service notices
        if not any(a.rule == HEARTBEAT_ALERT and a.state == "firing" for a in self.last_result.alerts):
            return
        self._next_heartbeat = now + self.settings.heartbeat_interval_seconds
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        body = {"alert": HEARTBEAT_ALERT, "service": self.settings.service_name, "at": now}
        try:
            response = await self._client.post(url, json=body, timeout=5.0)
            outcome = "sent" if response.is_success else "failed"
        except httpx.HTTPError as err:
            log.warning("heartbeat ping failed: %s", type(err).__name__)
            outcome = "failed"
        self.state.put("heartbeat.last", {"at": now, "outcome": outcome})
        if self.record_metrics:
            from glowops.telemetry.metrics import metrics

            metrics.counter("glowops_heartbeat_pings", tags={"outcome": outcome})

    def evaluate(self, now: float) -> int:
        """One evaluation of the catalog, then dispatch and escalation; messages enqueued."""
        return run_steps(self._evaluate_steps(now))

    def _evaluate_steps(self, now: float) -> Steps[int]:
        busy = 0.0  # seconds spent evaluating, without the time other tasks ran between steps
        steps = self.engine.evaluate_steps(round(now * 1000))
        while True:
            started = time.perf_counter()
            try:
                next(steps)
            except StopIteration as done:
                result: EvaluationResult = done.value
                break
            busy += time.perf_counter() - started
            yield
        started = time.perf_counter() - busy
        self.last_result = result
        self._last_eval_at = now
        self.state.put(ENGINE_STATE_KEY, self.engine.snapshot())
        alerts = list(result.alerts)
        enqueued = 0
        if self.escalator is not None:
            enqueued += len(self.escalator.process(alerts, now))
            self.dispatcher.acked = self.escalator.acked_fingerprints()
        else:
            self.dispatcher.acked = acked_fingerprints(alerts, self.state)
        enqueued += len(self.dispatcher.process(alerts, now))
        if self.record_metrics:
            self._metrics(result, time.perf_counter() - started)
        return enqueued

    def _metrics(self, result: EvaluationResult, seconds: float) -> None:
        from glowops.telemetry.metrics import metrics

        metrics.counter("glowops_alert_evaluations")
        metrics.histogram("glowops_alert_evaluation_duration_seconds", seconds)
        counts: dict[tuple[str, str], int] = {
            (state, sev): 0 for state in ("pending", "firing") for sev in ("critical", "warning", "info")
        }
        for alert in result.alerts:
            key = (alert.state, alert.labels.get("severity", ""))
            if key in counts:
                counts[key] += 1
        for (state, severity), count in counts.items():
            metrics.gauge("glowops_alerts", count, tags={"state": state, "severity": severity})

    def flush(self, now: float) -> None:
        """Persist new samples, drop expired ones."""
        self.store.apply_retention(round(now * 1000))
        self.store.flush(self.db)
        self._after_flush(now)

    async def _flush_sliced(self, now: float) -> None:
        """:meth:`flush` without holding the loop: the rows are copied in slices, SQLite writes
        them in a worker thread (it runs without the GIL)."""
        self.store.apply_retention(round(now * 1000))
        batch = await drive(self.store.flush_steps(), self.slice_seconds, self.pause)
        await asyncio.to_thread(self._write_and_prune, batch, now)
        self._next_flush = now + self.flush_interval

    def _write_and_prune(self, batch: FlushBatch, now: float) -> None:
        self.store.write_flush(self.db, batch)
        self.store.prune(self.db)
        self.outbox.purge_sent(now - 7 * 86400)

    def _after_flush(self, now: float) -> None:
        self.store.prune(self.db)
        self.outbox.purge_sent(now - 7 * 86400)
        self._next_flush = now + self.flush_interval

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the loop in the background until :meth:`stop`."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="glowops-embedded-alerting")

    async def _run(self) -> None:
        step = min(1.0, self.settings.scrape_interval_seconds, self.settings.evaluation_interval_seconds)
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # the loop must survive a bad cycle; the next one retries
                log.exception("embedded alerting cycle failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=step)

    async def stop(self) -> None:
        """Stop the loop, persist samples and state, close connections."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            self.flush(self.clock())
            self.state.put(ENGINE_STATE_KEY, self.engine.snapshot())
        finally:
            if self._client is not None:
                await self._client.aclose()
            self.db.close()


def start_embedded_alerting(settings: Settings, registry: CollectorRegistry = REGISTRY) -> EmbeddedAlerting:
    """Build the embedded alerting service for an app (call ``await .start()`` in the lifespan).

    Under several workers the engine samples what a scrape of ``/metrics`` shows (every worker's
    values) and flushes its samples at every scrape, so that the console of any worker, which
    reads them from the state file (:mod:`glowops.alerting.follower`), is one scrape behind.
    """
    from glowops.telemetry.multiproc import scrape_registry

    if settings.workers > 1:
        return EmbeddedAlerting(
            settings, scrape_registry(settings, registry), flush_interval=settings.scrape_interval_seconds
        )
    return EmbeddedAlerting(settings, scrape_registry(settings, registry))
