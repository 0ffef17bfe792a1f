"""Health checks that answer fast, tell the truth and leak nothing.

::

    from glowops.health import install_health, health_check, HealthRegistry

    health = install_health(app, settings)          # /health, /health/db, /health/dependencies,
                                                    # /health/live, /health/ready

    @health_check("ledger", critical=False, registry=health.registry)
    async def ledger() -> None:
        await ledger_client.ping()

Checks run concurrently, each under its own timeout, the whole answer under a deadline; results
are cached per check (shorter for failures) with single-flight; clients only ever see fixed
messages. See :mod:`glowops.health.endpoints` for the routes and who sees details,
:mod:`glowops.health.runner` for the timing rules, :mod:`glowops.health.checks` for the
built-in checks.
"""

from __future__ import annotations

from glowops.health.endpoints import HealthEndpoints, get_health, install_health
from glowops.health.model import CheckFailed, CheckResult, Observation, Status
from glowops.health.registry import FunctionCheck, HealthCheck, HealthRegistry, health_check
from glowops.health.runner import HealthRunner, Report

__all__ = [
    "CheckFailed",
    "CheckResult",
    "FunctionCheck",
    "HealthCheck",
    "HealthEndpoints",
    "HealthRegistry",
    "HealthRunner",
    "Observation",
    "Report",
    "Status",
    "get_health",
    "health_check",
    "install_health",
]
