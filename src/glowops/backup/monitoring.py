"""Backup metrics for /metrics (a prometheus-client custom collector) and the freshness check
for ``/health/dependencies``; both read the backup store, cached for a few seconds.

::

    from glowops.backup.monitoring import register_backup_collector, check_backup_freshness
    register_backup_collector(settings)                  # once, at start-up
    status, age_seconds = await check_backup_freshness(settings)

Timestamps that are not known yet (no good backup, no drill) are exposed as 0, which the alert
rules read as "never": ``BackupStale`` fires when backups are expected but none succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from glowops.backup.keys import trusted
from glowops.backup.status import MAX_AGE_HOURS, StoreStatus, policy_of, summarize
from glowops.backup.store import BackupStore, open_store
from glowops.telemetry.catalog import CATALOG

if TYPE_CHECKING:
    from glowops.settings import Settings

CACHE_SECONDS = 10.0
FRESHNESS_WARN_HOURS = MAX_AGE_HOURS
FRESHNESS_FAIL_HOURS = 48.0

_log = logging.getLogger("glowops.backup")

# (name, help), declared in the metric catalog (docs/metrics.md and the alert rules read it).
GAUGES: tuple[tuple[str, str], ...] = tuple(
    (spec.name, spec.help) for spec in CATALOG if spec.collected_by == __name__
)


class StatusCache:
    """The store summary, recomputed at most every ``ttl`` seconds (scrapes and health checks
    arrive every few seconds; an S3 listing costs a round trip)."""

    def __init__(
        self,
        settings: Settings,
        ttl: float = CACHE_SECONDS,
        store_factory: Callable[[Settings], BackupStore] = open_store,
    ) -> None:
        self.settings = settings
        self.ttl = ttl
        self._factory = store_factory
        self._store: BackupStore | None = None
        self._lock = threading.Lock()
        self._at = -math.inf
        self._value: StoreStatus | None = None
        self._error: str | None = None

    def get(self) -> StoreStatus | None:
        """The cached summary; ``None`` when the store cannot be read."""
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._value
            try:
                if self._store is None:
                    self._store = self._factory(self.settings)
                every = self._store.entries()
                entries = trusted(self.settings, every)
                self._value = summarize(entries, policy_of(self.settings), datetime.now(UTC), every)
                self._error = None
            except Exception as err:  # a broken store must not break /metrics
                self._value = None
                self._error = str(err)
                _log.warning("backup store unreadable: %s", err)
            self._at = time.monotonic()
            return self._value


def _ts(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


class BackupCollector(Collector):
    """Exposes the ``glowops_backup_*`` gauges computed from the store at scrape time."""

    def __init__(self, cache: StatusCache) -> None:
        self.cache = cache

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, text) for name, text in GAUGES]

    def collect(self) -> Iterable[Metric]:
        status = self.cache.get()
        helps = dict(GAUGES)

        def gauge(name: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, helps[name], value=value)

        yield gauge("glowops_backup_store_up", 0.0 if status is None else 1.0)
        if status is None:
            return
        good, failed = status.last_good, status.last_failure
        yield gauge("glowops_backup_last_success_timestamp_seconds", _ts(good.finished if good else None))
        yield gauge("glowops_backup_last_failure_timestamp_seconds", _ts(failed.finished if failed else None))
        yield gauge("glowops_backup_good_count", float(len(status.good)))
        yield gauge("glowops_backup_retention_compliant", 1.0 if status.compliant else 0.0)
        if good is not None:
            yield gauge("glowops_backup_size_bytes", float(good.size_bytes))
            yield gauge("glowops_backup_size_median_7_bytes", float(status.size_median_7 or 0.0))
            yield gauge("glowops_backup_duration_seconds", good.duration_seconds)
        yield gauge("glowops_backup_last_verify_timestamp_seconds", _ts(status.last_verified_at))
        report = status.last_verify
        if report is not None:
            yield gauge("glowops_backup_last_verify_success", 1.0 if report.get("ok") else 0.0)
            if report.get("restore_seconds") is not None:
                yield gauge("glowops_backup_drill_restore_seconds", float(report["restore_seconds"]))


def register_backup_collector(
    settings: Settings, registry: CollectorRegistry = REGISTRY, ttl: float = CACHE_SECONDS
) -> BackupCollector:
    """Add the backup gauges to ``registry``.

    Once per registry: calling it again (a second app in the same process, new settings) points
    the existing collector at the new settings' store instead of registering the names twice.
    """
    cache = _cache_for(settings, ttl)
    with _registered_lock:
        collector = _registered.get(registry)
        if collector is None:
            collector = _registered[registry] = BackupCollector(cache)
            registry.register(collector)
        else:
            collector.cache = cache
    return collector


_registered: weakref.WeakKeyDictionary[CollectorRegistry, BackupCollector] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()
_caches: dict[int, StatusCache] = {}


def _cache_for(settings: Settings, ttl: float = CACHE_SECONDS) -> StatusCache:
    cache = _caches.get(id(settings))
    if cache is None or cache.settings is not settings:
        cache = _caches[id(settings)] = StatusCache(settings, ttl)
    return cache


def freshness(status: StoreStatus | None) -> tuple[str, float]:
    """("pass" | "warn" | "fail", age in seconds of the newest good backup; inf when none)."""
    if status is None or status.last_good_age is None:
        return "fail", math.inf
    age = status.last_good_age
    if age <= FRESHNESS_WARN_HOURS * 3600:
        return "pass", age
    if age <= FRESHNESS_FAIL_HOURS * 3600:
        return "warn", age
    return "fail", age


def backup_freshness_now(settings: Settings) -> tuple[str, float]:
    """Blocking :func:`check_backup_freshness` (reads the store through the shared cache)."""
    return freshness(_cache_for(settings).get())


async def check_backup_freshness(settings: Settings) -> tuple[str, float]:
    """Health check: pass when the newest good backup is at most 26 h old, warn up to 48 h,
    fail beyond, when there is none (age ``inf``) or when the store cannot be read."""
    return await asyncio.to_thread(backup_freshness_now, settings)
