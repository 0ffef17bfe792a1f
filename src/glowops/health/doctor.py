"""``glowops doctor``: is the configuration valid, and can every configured dependency be reached?

It runs the same checks as ``/health/dependencies`` (no cache), in-process, against the
configuration of the environment: the checks the service declares (passed in, or read from its
app) and glowops' own. Required parts are the configuration itself and the critical checks; a
service can list optional dependencies it did not configure as "not configured".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from glowops.health.checks import glowops_checks
from glowops.health.model import Status
from glowops.health.registry import HealthCheck, HealthRegistry
from glowops.health.runner import HealthRunner
from glowops.settings import ConfigError, Settings, load_settings


@dataclass(frozen=True, slots=True)
class DoctorRow:
    """One line of the doctor's table."""

    part: str
    required: bool
    status: str  # pass, warn, fail, skipped
    message: str
    observed: str = ""

    @property
    def blocking(self) -> bool:
        return self.required and self.status == "fail"


@dataclass(frozen=True, slots=True)
class DoctorReport:
    rows: tuple[DoctorRow, ...]

    @property
    def ok(self) -> bool:
        """True when every required part is fine."""
        return not any(row.blocking for row in self.rows)


async def diagnose(
    settings: Settings | None = None,
    checks: Iterable[HealthCheck] = (),
    optional: Iterable[tuple[str, str]] = (),
) -> DoctorReport:
    """Validate the configuration (when ``settings`` is None) and run every check once.

    ``checks``: the service's declared checks; ``optional``: (check name, variable) pairs of
    dependencies the service may have, shown as "not configured" when no check has that name.
    """
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as err:
            return DoctorReport((DoctorRow("configuration", True, "fail", str(err)),))
    rows = [DoctorRow("configuration", True, "pass", "valid")]
    registry = HealthRegistry(list(checks))
    for check in glowops_checks(settings):
        if check.name not in registry:
            registry.add(check)
    runner = HealthRunner.from_settings(registry, settings)
    try:
        report = await runner.run(use_cache=False)
    finally:
        await runner.aclose()
    for result in report.results:
        value, unit = result.observed_value, result.observed_unit or ""
        observed = "" if value is None else f"{value} {unit}"
        message = result.output or ("ok" if result.status is Status.PASS else result.status.spec_name)
        rows.append(DoctorRow(result.name, result.critical, result.status.value, message, observed.strip()))
    for name, variable in optional:
        if name not in registry:
            rows.append(DoctorRow(name, False, "skipped", f"not configured ({variable} is not set)"))
    return DoctorReport(tuple(rows))
