"""The two body shapes of a health answer.

Default (the spec's shape)::

    {"status": "healthy", "version": "1.4.0", "timestamp": "2025-11-02T10:00:00+00:00",
     "uptime_seconds": 3600.0,
     "checks": {"database": {"status": "healthy", "critical": true, "observed_value": 1.9,
                             "observed_unit": "ms", "duration_ms": 2.0, "cached": false}}}

``Accept: application/health+json`` (draft-inadarei-api-health-check)::

    {"status": "pass", "version": "1.4.0", "serviceId": "gateway", "description": "...",
     "checks": {"database:responseTime": [{"componentType": "datastore", "observedValue": 1.9,
                                            "observedUnit": "ms", "status": "pass",
                                            "time": "2025-11-02T10:00:00+00:00"}]}}

``checks`` only appears for callers allowed to see details; ``output`` is a fixed message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glowops.health.model import CheckResult, Status

HEALTH_JSON = "application/health+json"


def spec_body(
    status: Status, *, version: str, now: datetime, uptime: float, results: tuple[CheckResult, ...] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status.spec_name,
        "version": version,
        "timestamp": now.isoformat(),
        "uptime_seconds": round(uptime, 3),
    }
    if results is not None:
        body["checks"] = {r.name: _spec_check(r) for r in results}
    return body


def _spec_check(result: CheckResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": result.status.spec_name, "critical": result.critical}
    if result.output:
        entry["output"] = result.output
    if result.observed_value is not None:
        entry["observed_value"] = result.observed_value
        entry["observed_unit"] = result.observed_unit
    entry["duration_ms"] = round(result.duration_seconds * 1000, 3)
    entry["cached"] = result.cached
    entry["time"] = result.time.isoformat()
    return entry


def ietf_body(
    status: Status,
    *,
    version: str,
    service: str,
    now: datetime,
    uptime: float,
    results: tuple[CheckResult, ...] | None,
    description: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status.value,
        "version": version,
        "serviceId": service,
        "description": description,
    }
    checks: dict[str, list[dict[str, Any]]] = {
        "uptime": [
            {
                "componentType": "system",
                "observedValue": round(uptime, 3),
                "observedUnit": "s",
                "status": "pass",
                "time": now.isoformat(),
            }
        ],
    }
    for result in results or ():
        checks[f"{result.name}:{result.measurement}"] = [_ietf_check(result)]
    body["checks"] = checks
    return body


def _ietf_check(result: CheckResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentType": result.component_type,
        "observedValue": result.observed_value,
        "observedUnit": result.observed_unit,
        "status": result.status.value,
        "time": result.time.isoformat(),
    }
    if result.output:
        entry["output"] = result.output
    return entry


def wants_health_json(accept: str | None) -> bool:
    """True when the Accept header lists application/health+json with a non-zero quality."""
    if not accept:
        return False
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        if media.strip().lower() != HEALTH_JSON:
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False
