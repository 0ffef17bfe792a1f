"""Probing a running instance from outside, as an uptime monitor would (``glowops health``,
``glowops monitor``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from glowops.health.errors import classify


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, or ValueError when it is not an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    return url.rstrip("/")


@dataclass(slots=True)
class ProbeResult:
    """One probe of one health endpoint."""

    target: str
    url: str
    duration_seconds: float
    status_code: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a fixed message (timeout, connection refused...) when no answer came

    @property
    def health_status(self) -> str:
        """``healthy``/``degraded``/``unhealthy`` from the body, ``unreachable`` without an answer."""
        if self.error is not None:
            return "unreachable"
        status = self.body.get("status")
        return status if isinstance(status, str) else "invalid answer"

    @property
    def success(self) -> bool:
        """The blackbox exporter's rule: a 2xx answer (a degraded instance still serves)."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def log_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event": "health_probe",
            "target": self.target,
            "url": self.url,
            "success": self.success,
            "status_code": self.status_code,
            "health_status": self.health_status,
            "duration_seconds": round(self.duration_seconds, 6),
        }
        if self.error is not None:
            record["error"] = self.error
        return record


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "glowops-probe"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _result(
    target: str, url: str, started: float, response: httpx.Response | None, exc: BaseException | None
) -> ProbeResult:
    duration = time.perf_counter() - started
    if response is None:
        assert exc is not None
        return ProbeResult(target, url, duration, error=classify(exc))
    try:
        body = response.json()
    except ValueError:
        body = None
    return ProbeResult(
        target, url, duration, status_code=response.status_code, body=body if isinstance(body, dict) else {}
    )


def probe(client: httpx.Client, target: str, url: str, token: str | None) -> ProbeResult:
    """GET ``url`` once (blocking)."""
    started = time.perf_counter()
    try:
        response = client.get(url, headers=_headers(token))
    except httpx.HTTPError as exc:
        return _result(target, url, started, None, exc)
    return _result(target, url, started, response, None)


async def probe_async(client: httpx.AsyncClient, target: str, url: str, token: str | None) -> ProbeResult:
    """GET ``url`` once."""
    started = time.perf_counter()
    try:
        response = await client.get(url, headers=_headers(token))
    except httpx.HTTPError as exc:
        return _result(target, url, started, None, exc)
    return _result(target, url, started, response, None)
