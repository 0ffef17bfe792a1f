"""What a health check reports: a status, a fixed message and an observed value.

Three statuses, named as in the IETF health-check draft (``pass``, ``warn``, ``fail``); the
spec's body shape spells them ``healthy``, ``degraded`` and ``unhealthy``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


class Status(enum.Enum):
    """Outcome of a check, ordered from best to worst."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def spec_name(self) -> str:
        """The spec's word for the status (``healthy``, ``degraded``, ``unhealthy``)."""
        return _SPEC_NAMES[self]

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def worst(self, other: Status) -> Status:
        return self if self.rank >= other.rank else other


_SPEC_NAMES = {Status.PASS: "healthy", Status.WARN: "degraded", Status.FAIL: "unhealthy"}
_RANKS = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Observation:
    """What a check function returns when it could measure something.

    ``status`` may be WARN (disk above the warning line) or FAIL with a fixed ``output``
    (disk above the failure line); raising :class:`CheckFailed` is the other way to fail.
    """

    status: Status = Status.PASS
    output: str | None = None
    observed_value: float | str | None = None
    observed_unit: str | None = None


class CheckFailed(Exception):
    """Raise from a check to fail it with a fixed, client-safe message (no exception text).

    ``detail`` goes to the log only.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one check, as cached and reported.

    ``output`` is always one of the fixed messages of :mod:`glowops.health.errors` (or a
    check author's fixed text), never exception text.
    """

    name: str
    status: Status
    critical: bool
    component_type: str
    measurement: str
    duration_seconds: float
    time: datetime = field(default_factory=utc_now)
    output: str | None = None
    observed_value: float | str | None = None
    observed_unit: str | None = None
    cached: bool = False

    @property
    def up(self) -> bool:
        """True unless the check failed (a warning is still up)."""
        return self.status is not Status.FAIL
