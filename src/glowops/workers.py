"""Serve an ASGI app with one or several uvicorn worker processes sharing one socket.

``serve_workers("package.module:create_app", settings, factory=True)`` is what a service's
``serve --workers N`` command calls (the gateway's does). With N > 1:

* the parent binds the socket and starts N workers with uvicorn's supervisor; each worker is a
  fresh interpreter (uvicorn spawns, it does not fork) that imports the app itself, so tracing,
  Sentry, logging and request IDs are set up in each worker, never inherited from the parent;
* ``PROMETHEUS_MULTIPROC_DIR`` is prepared before the first worker starts (emptied of a previous
  run's files) and every worker that exits is marked dead in it, whether it was replaced after a
  crash or stopped at shutdown (:mod:`glowops.telemetry.multiproc`);
* ``GLOWOPS_WORKERS`` tells each worker how many there are: the one that wins the alerting
  leadership runs the embedded engine and the backup schedule, the others show its samples
  (:mod:`glowops.alerting.supervisor`, :mod:`glowops.alerting.follower`).

The app is passed as an import string: a worker cannot receive a built app, and the parent
never builds one (it would open connections and start threads it does not use).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from socket import socket

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from glowops.settings import Settings
from glowops.telemetry.multiproc import ENV_VAR, mark_worker_dead, prepare_multiproc_dir

__all__ = ["serve_workers"]

_log = logging.getLogger("glowops.serving")
# uvicorn kills a worker that does not answer its supervisor's ping within this time (default 5 s);
# a worker importing a large app on a busy machine can take longer than that to answer.
HEALTHCHECK_SECONDS = 30


def serve_workers(app: str, settings: Settings, *, factory: bool = False, workers: int | None = None) -> None:
    """Serve ``app`` (``module:attribute``; ``factory``: call it for the app) on the settings'
    host and port with ``workers`` processes (default ``settings.workers``) until stopped.

    The workers read their settings from the environment, which they inherit: what the caller
    changed on ``settings`` must be in ``os.environ`` too (host, port and workers are set here).
    """
    count = settings.workers if workers is None else workers
    if count < 1:
        raise ValueError("workers must be at least 1")
    os.environ["GLOWOPS_HOST"] = settings.host
    os.environ["GLOWOPS_PORT"] = str(settings.port)
    os.environ["GLOWOPS_WORKERS"] = str(count)
    multiproc: Path | None = None
    if count > 1:
        multiproc = prepare_multiproc_dir(settings)
        os.environ[ENV_VAR] = str(multiproc)
    # uvicorn's access log is replaced by glowops' canonical access line; the problem-body
    # protocol answers even a request uvicorn cannot parse with a problem+json 400.
    config = uvicorn.Config(
        app,
        factory=factory,
        host=settings.host,
        port=settings.port,
        workers=count,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        # by name: the workers are spawned, and the configuration is pickled to reach them
        http="glowops.serving:ProblemHTTPProtocol",
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )
    if count == 1:
        uvicorn.Server(config).run()
        return
    assert multiproc is not None
    # The supervisor's own lines (a worker died, was replaced) in the service's log format.
    from glowops.telemetry.logging import configure_logging

    configure_logging(settings)
    sock = config.bind_socket()
    try:
        _Supervisor(config, [sock], multiproc).run()
    finally:
        sock.close()


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, plus: a worker that exits is marked dead in the metrics
    directory (uvicorn replaces a dead worker but knows nothing of prometheus-client's files)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket], multiproc: Path) -> None:
        super().__init__(config, sockets)
        self.multiproc = multiproc
        self._marked: set[int] = set()

    def _mark_dead(self, processes: list[Process]) -> None:
        for process in processes:
            pid = process.pid
            if pid is None or pid in self._marked or process.process.is_alive():
                continue
            mark_worker_dead(pid, self.multiproc)
            self._marked.add(pid)
            _log.info("worker %d exited; its live gauges are dropped from /metrics", pid)

    # uvicorn forgets a worker once it replaced it: look at the list before and after each change.
    def keep_subprocess_alive(self) -> None:
        before = list(self.processes)
        super().keep_subprocess_alive()
        self._mark_dead(before)

    def restart_all(self) -> None:
        before = list(self.processes)
        super().restart_all()
        self._mark_dead(before)

    def handle_ttou(self) -> None:
        before = list(self.processes)
        super().handle_ttou()
        self._mark_dead(before)

    def join_all(self) -> None:
        super().join_all()
        self._mark_dead(list(self.processes))
