"""Runs health checks: concurrently, each with its own timeout, under one overall deadline,
behind a per-check TTL cache with single-flight.

Why each rule:

- **Concurrent, per-check timeout, overall deadline**: one hung dependency costs at most its
  timeout, never the sum, and the answer comes within the deadline whatever happens.
- **Single-flight**: a probe burst (200 load balancer probes at once) starts at most one run
  per check; every caller waits on that same run. The run is a task of its own, shielded from
  callers, so a caller that gives up (deadline, client gone) never cancels the run the others
  wait for.
- **TTL cache, shorter for failures**: probes don't hammer a struggling database or burn a
  paid API's quota, and a recovery is seen within the (short) failure TTL.
- **Blocking checks in a small dedicated thread pool**: a thread cannot be cancelled, so at
  most one thread per check runs at a time; a probe arriving while the previous thread is
  still stuck waits on that thread (bounded by its timeout) instead of starting another.
  Threads therefore never pile up, whatever the probe rate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from glowops.health.errors import TIMEOUT, classify, detail_of
from glowops.health.model import CheckResult, Observation, Status
from glowops.health.registry import CheckOutcome, HealthCheck, HealthRegistry, outcome_to_observation
from glowops.telemetry.metrics import metrics

if TYPE_CHECKING:
    from glowops.settings import Settings

_log = logging.getLogger("glowops.health")


@dataclass(frozen=True, slots=True)
class Report:
    """The results of one health request, in registration order."""

    results: tuple[CheckResult, ...]

    @property
    def status(self) -> Status:
        """FAIL when a critical check fails; WARN when anything else is not a clean pass."""
        overall = Status.PASS
        for result in self.results:
            if result.status is Status.FAIL and result.critical:
                return Status.FAIL
            if result.status is not Status.PASS:
                overall = Status.WARN
        return overall

    def get(self, name: str) -> CheckResult | None:
        return next((r for r in self.results if r.name == name), None)


@dataclass(slots=True)
class _Slot:
    """Per-check state: the cached result and the run in flight."""

    result: CheckResult | None = None
    expires: float = 0.0
    task: asyncio.Task[CheckResult] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    thread_future: concurrent.futures.Future[CheckOutcome] | None = None


@dataclass
class HealthRunner:
    """Runs the checks of ``registry``; one runner per app (it owns the cache and threads)."""

    registry: HealthRegistry
    timeout: float = 2.0
    deadline: float = 3.0
    ttl: float = 5.0
    failure_ttl: float = 1.0
    max_threads: int = 4
    redact: Callable[[str], str] = field(kw_only=True)  # the redaction policy's text scrubber
    # When cached results expire (tests drive it; timeouts and the deadline stay asyncio's).
    clock: Callable[[], float] = time.monotonic
    _slots: dict[str, _Slot] = field(default_factory=dict, init=False, repr=False)
    _pool: concurrent.futures.ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _prepared: set[int] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._prepare(list(self.registry))

    @classmethod
    def from_settings(cls, registry: HealthRegistry, settings: Settings) -> HealthRunner:
        """A runner with the timeouts and TTLs of ``settings`` and its redaction policy."""
        from glowops.redaction import default_policy

        redact = default_policy(settings).redact_text
        return cls(
            registry,
            timeout=settings.health_check_timeout_seconds,
            deadline=settings.health_deadline_seconds,
            ttl=settings.health_cache_ttl_seconds,
            failure_ttl=settings.health_failure_ttl_seconds,
            redact=redact,
        )

    # --- public ---------------------------------------------------------------------------------
    async def run(
        self, names: Iterable[str] | None = None, *, request_id: str | None = None, use_cache: bool = True
    ) -> Report:
        """Run (or read from cache) the named checks, all of them when ``names`` is None.

        Returns within ``deadline`` seconds; a check still running then is reported as a timeout
        for this answer and keeps running (bounded by its own timeout) to fill the cache.
        """
        checks = self._select(names)
        loop = asyncio.get_running_loop()
        now = self.clock()
        ready: dict[str, CheckResult] = {}
        waiting: dict[str, asyncio.Task[CheckResult]] = {}
        for check in checks:
            slot = self._slots.setdefault(check.name, _Slot())
            if use_cache and slot.result is not None and now < slot.expires:
                ready[check.name] = replace(slot.result, cached=True)
                continue
            if slot.task is None or slot.task.done() or slot.loop is not loop:
                slot.task = loop.create_task(
                    self._execute(check, slot, request_id), name=f"glowops-health-{check.name}"
                )
                slot.loop = loop
            waiting[check.name] = slot.task
        if waiting:
            # asyncio.wait never cancels what it waits for: a late run finishes and fills the cache.
            await asyncio.wait(set(waiting.values()), timeout=self.deadline)
            for name, task in waiting.items():
                ready[name] = (
                    task.result() if task.done() else self._deadline_result(self._check(name), request_id)
                )
        return Report(tuple(ready[c.name] for c in checks))

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached results (one check or all)."""
        for key, slot in self._slots.items():
            if name is None or key == name:
                slot.result, slot.expires = None, 0.0

    @property
    def threads_in_use(self) -> int:
        """Blocking checks whose thread is still running."""
        futures = [s.thread_future for s in self._slots.values() if s.thread_future is not None]
        return sum(1 for future in futures if not future.done())

    async def aclose(self) -> None:
        """Stop runs in flight, release the checks' resources and the thread pool."""
        tasks = [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()
        for task in tasks:
            if task.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(BaseException):  # cancelled or failed: either way it is over
                    await task
        for check in self.registry:
            try:
                await check.aclose()
            except Exception:
                _log.exception("health check %s failed to close", check.name)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # --- internals ----------------------------------------------------------------------------
    def _select(self, names: Iterable[str] | None) -> list[HealthCheck]:
        checks = (
            list(self.registry)
            if names is None
            else [self._check(name) for name in names if name in self.registry]
        )
        self._prepare(checks)
        return checks

    def _prepare(self, checks: list[HealthCheck]) -> None:
        """Prepare each check once (the ones added after start-up on their first run)."""
        for check in checks:
            if id(check) not in self._prepared:
                check.prepare(self.timeout)
                self._prepared.add(id(check))

    def _check(self, name: str) -> HealthCheck:
        check = self.registry.get(name)
        if check is None:
            raise KeyError(f"no health check named {name!r}")
        return check

    async def _execute(self, check: HealthCheck, slot: _Slot, request_id: str | None) -> CheckResult:
        """One run of one check: never raises, always records a result."""
        timeout = check.timeout if check.timeout is not None else self.timeout
        started = time.perf_counter()
        try:
            if check.blocking:
                outcome = await self._run_blocking(check, slot, limit=timeout)
            else:
                async with asyncio.timeout(timeout):
                    outcome = await check.run()
            observation = outcome_to_observation(outcome)
        except Exception as exc:
            observation = Observation(status=Status.FAIL, output=classify(exc))
            self._log_failure(check.name, observation.output, request_id, exc)
        duration = time.perf_counter() - started
        result = self._result(check, observation, duration)
        ttl = check.ttl if check.ttl is not None else self.ttl
        if result.status is Status.FAIL:
            ttl = min(ttl, check.failure_ttl if check.failure_ttl is not None else self.failure_ttl)
        slot.result, slot.expires = result, self.clock() + ttl
        _record_metrics(result)
        return result

    async def _run_blocking(self, check: HealthCheck, slot: _Slot, *, limit: float) -> CheckOutcome:
        future = slot.thread_future
        if future is None or future.done():
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.max_threads, thread_name_prefix="glowops-health"
                )
            # copy_context: the check's log lines carry the request's IDs
            future = self._pool.submit(contextvars.copy_context().run, check.run_blocking)
            slot.thread_future = future
        # shield: giving up on the wait must not cancel the concurrent future (nor the thread)
        outcome: CheckOutcome = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), limit)
        return outcome

    @staticmethod
    def _result(check: HealthCheck, observation: Observation, duration: float) -> CheckResult:
        value, unit = observation.observed_value, observation.observed_unit
        if value is None and check.measurement == "responseTime":
            value, unit = round(duration * 1000, 3), "ms"
        output = observation.output
        if output is None and observation.status is Status.FAIL:
            output = "check failed"
        return CheckResult(
            name=check.name,
            status=observation.status,
            critical=check.critical,
            component_type=check.component_type,
            measurement=check.measurement,
            duration_seconds=duration,
            output=output,
            observed_value=value,
            observed_unit=unit,
        )

    def _deadline_result(self, check: HealthCheck, request_id: str | None) -> CheckResult:
        _log.warning(
            "health check %s did not answer within the %.3g s deadline (request_id=%s)",
            check.name,
            self.deadline,
            request_id or "-",
        )
        return CheckResult(
            name=check.name,
            status=Status.FAIL,
            critical=check.critical,
            component_type=check.component_type,
            measurement=check.measurement,
            duration_seconds=self.deadline,
            output=TIMEOUT,
        )

    def _log_failure(self, name: str, output: str | None, request_id: str | None, exc: BaseException) -> None:
        # The detail (driver text, host names) is for operators only, and redacted even there.
        _log.warning(
            "health check %s failed: %s (request_id=%s) detail=%s",
            name,
            output,
            request_id or "-",
            self.redact(detail_of(exc)),
        )


def _record_metrics(result: CheckResult) -> None:
    tags = {"check": result.name}
    # critical: which generic rule watches the check (CriticalHealthCheckFailing or HealthCheckFailing)
    up_tags = {"check": result.name, "critical": "true" if result.critical else "false"}
    metrics.gauge("glowops_health_check_up", 1.0 if result.up else 0.0, tags=up_tags)
    metrics.histogram("glowops_health_check_duration_seconds", result.duration_seconds, tags=tags)
