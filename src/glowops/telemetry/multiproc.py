"""Metrics shared by several worker processes: the ``PROMETHEUS_MULTIPROC_DIR`` life cycle.

prometheus-client keeps each worker's values in memory-mapped files of one directory; a scrape
of any worker aggregates them (:func:`scrape_registry`). Around that, the server that starts the
workers must:

* empty the directory before the first worker starts (:func:`prepare_multiproc_dir`): files of
  a previous run would add its counts to this one;
* mark each worker that exits (:func:`mark_worker_dead`): its ``live*`` gauge files go (an
  in-flight count or a pool size of a dead process is not current), its counters stay (a
  counter that dropped would read as a reset).

Gauges are declared in live modes (:mod:`glowops.telemetry.metrics`), so marking is what keeps
them right.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from glowops.settings import Settings

__all__ = ["ENV_VAR", "mark_worker_dead", "prepare_multiproc_dir", "scrape_registry"]

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_DIRNAME = "prometheus-multiproc"
_log = logging.getLogger("glowops.multiproc")
# Per-process collectors: their values cannot be aggregated over workers (prometheus-client's
# multiprocess mode does not support them), so a multiprocess scrape leaves them out.
_PER_PROCESS = (GCCollector, PlatformCollector, ProcessCollector)


def prepare_multiproc_dir(settings: Settings) -> Path:
    """The directory the workers share (``PROMETHEUS_MULTIPROC_DIR``, default
    ``state_dir/prometheus-multiproc``), created and emptied of a previous run's files.

    Only ``*.db`` files are removed, so a directory pointed at by mistake loses nothing else.
    """
    path = settings.prometheus_multiproc_dir or settings.state_dir / DEFAULT_DIRNAME
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def mark_worker_dead(pid: int, path: Path) -> None:
    """Drop the live-gauge files of a worker that exited (its counters and histograms stay)."""
    try:
        mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    except OSError as err:  # a directory removed under us must not stop the server
        _log.warning("cannot mark worker %d dead in %s: %s", pid, path, err.strerror)


def scrape_registry(settings: Settings, registry: CollectorRegistry = REGISTRY) -> CollectorRegistry:
    """What a scrape reads: ``registry`` itself, or under several workers every worker's files
    plus the collectors that compute their values at scrape time (the backup gauges, say)."""
    directory = settings.prometheus_multiproc_dir or _env_dir()
    if directory is None:
        return registry
    merged = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(merged, path=str(directory))  # type: ignore[no-untyped-call]
    for collector in list(registry._collector_to_names):  # no public listing of collectors
        if not isinstance(collector, (MetricWrapperBase, *_PER_PROCESS)):
            merged.register(collector)
    return merged


def _env_dir() -> Path | None:
    raw = os.environ.get(ENV_VAR)
    return Path(raw) if raw else None
