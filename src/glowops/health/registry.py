"""Health checks as objects, a decorator for plain functions, and the registry that holds them.

A service adds its own check with the decorator::

    registry = HealthRegistry()

    @registry.check("search_index", critical=False)
    async def search_index() -> Observation:
        hits = await index.ping()
        return Observation(observed_value=hits, observed_unit="documents")

or with a small class (sync checks run in the health thread pool, never on the event loop)::

    class BackupFreshness(HealthCheck):
        name, critical, blocking = "backup", False, True
        component_type, measurement = "component", "age"

        def run_blocking(self) -> Observation:
            age = newest_backup_age_hours()
            if age > 26:
                raise CheckFailed("backup too old")
            return Observation(observed_value=age, observed_unit="h")

    install_health(app, settings).registry.add(BackupFreshness())

A check returns None (pass), True/False, or an :class:`Observation`, or raises. Whatever it
raises, the client only sees a fixed message (:mod:`glowops.health.errors`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, overload

from glowops.health.model import CheckFailed, Observation

CheckOutcome = Observation | bool | None
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def validate_name(name: str) -> str:
    """Check names are metric label values and IETF keys: lower-case words joined by ``_``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"health check name {name!r} must match {_NAME.pattern}")
    return name


class HealthCheck:
    """One dependency or condition to check.

    Override :meth:`run` (async) or set ``blocking = True`` and override :meth:`run_blocking`
    (sync; it runs in the health thread pool and must bound its own I/O with timeouts, because a
    thread cannot be cancelled). ``timeout``/``ttl``/``failure_ttl`` of None take the settings'
    defaults (``GLOWOPS_HEALTH_CHECK_TIMEOUT_SECONDS``, ``..._CACHE_TTL_SECONDS``,
    ``..._FAILURE_TTL_SECONDS``).
    """

    name: str = ""
    critical: bool = True
    blocking: bool = False
    component_type: str = "component"
    measurement: str = "responseTime"
    timeout: float | None = None
    ttl: float | None = None
    failure_ttl: float | None = None

    async def run(self) -> CheckOutcome:
        """Probe the dependency once; raise or return an unhealthy outcome when it is not fine."""
        raise NotImplementedError(f"{type(self).__name__} must override run() or run_blocking()")

    def run_blocking(self) -> CheckOutcome:
        """The sync variant of :meth:`run`, used when ``blocking`` is True."""
        raise NotImplementedError(f"{type(self).__name__} must override run() or run_blocking()")

    def prepare(self, default_timeout: float) -> None:
        """Called once by the runner before the first probe (at start-up for the checks declared
        by then): take the default timeout when none was given, create what the probe needs."""
        if self.timeout is None:
            self.timeout = default_timeout

    async def aclose(self) -> None:
        """Release what the check holds (engines, clients); called on app shutdown."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} critical={self.critical}>"


class FunctionCheck(HealthCheck):
    """A :class:`HealthCheck` around a plain function (async, or sync run in the thread pool)."""

    def __init__(
        self,
        func: Callable[[], Any],
        name: str,
        *,
        critical: bool = True,
        component_type: str = "component",
        measurement: str = "responseTime",
        timeout: float | None = None,
        ttl: float | None = None,
        failure_ttl: float | None = None,
    ) -> None:
        self.func = func
        self.name = validate_name(name)
        self.critical = critical
        self.blocking = not inspect.iscoroutinefunction(func)
        self.component_type = component_type
        self.measurement = measurement
        self.timeout = timeout
        self.ttl = ttl
        self.failure_ttl = failure_ttl

    async def run(self) -> CheckOutcome:
        result: Awaitable[CheckOutcome] = self.func()
        return await result

    def run_blocking(self) -> CheckOutcome:
        outcome: CheckOutcome = self.func()
        return outcome


def outcome_to_observation(outcome: CheckOutcome) -> Observation:
    """Normalise what a check returned; False means a plain failure."""
    if outcome is None or outcome is True:
        return Observation()
    if outcome is False:
        raise CheckFailed("check failed")
    if isinstance(outcome, Observation):
        return outcome
    raise TypeError(
        f"a health check must return None, a bool or an Observation, not {type(outcome).__name__}"
    )


@overload
def health_check(func: Callable[[], Any], /) -> FunctionCheck: ...


@overload
def health_check(
    name: str | None = None,
    /,
    *,
    critical: bool = True,
    component_type: str = "component",
    measurement: str = "responseTime",
    timeout: float | None = None,
    ttl: float | None = None,
    failure_ttl: float | None = None,
    registry: HealthRegistry | None = None,
) -> Callable[[Callable[[], Any]], FunctionCheck]: ...


def health_check(
    name: Any = None,
    /,
    *,
    critical: bool = True,
    component_type: str = "component",
    measurement: str = "responseTime",
    timeout: float | None = None,
    ttl: float | None = None,
    failure_ttl: float | None = None,
    registry: HealthRegistry | None = None,
) -> Any:
    """Turn a function into a :class:`HealthCheck` (and add it to ``registry`` when given)::

        @health_check("ledger", critical=True, registry=registry)
        async def ledger() -> None:
            await ledger_client.ping()

    Bare ``@health_check`` names the check after the function.
    """
    if callable(name):
        return FunctionCheck(name, validate_name(name.__name__))

    def decorate(func: Callable[[], Any]) -> FunctionCheck:
        check = FunctionCheck(
            func,
            name or func.__name__,
            critical=critical,
            component_type=component_type,
            measurement=measurement,
            timeout=timeout,
            ttl=ttl,
            failure_ttl=failure_ttl,
        )
        if registry is not None:
            registry.add(check)
        return check

    return decorate


class HealthRegistry:
    """The checks of one service, by name, in registration order."""

    def __init__(self, checks: list[HealthCheck] | None = None) -> None:
        self._checks: dict[str, HealthCheck] = {}
        for check in checks or ():
            self.add(check)

    def add(self, check: HealthCheck, *, replace: bool = False) -> HealthCheck:
        """Register ``check``; a second check with the same name is an error unless ``replace``."""
        validate_name(check.name)
        if check.name in self._checks and not replace:
            raise ValueError(f"a health check named {check.name!r} is already registered")
        self._checks[check.name] = check
        return check

    def remove(self, name: str) -> HealthCheck | None:
        return self._checks.pop(name, None)

    def get(self, name: str) -> HealthCheck | None:
        return self._checks.get(name)

    def check(self, name: str | None = None, **options: Any) -> Callable[[Callable[[], Any]], FunctionCheck]:
        """Decorator: register a function as a check (options as :func:`health_check`)."""
        return health_check(name, registry=self, **options)

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    def __iter__(self) -> Iterator[HealthCheck]:
        return iter(list(self._checks.values()))

    def __len__(self) -> int:
        return len(self._checks)

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def critical_names(self) -> list[str]:
        return [c.name for c in self._checks.values() if c.critical]
