"""What every notifier shares: the outcome of a delivery and HTTP response classification."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

OutcomeKind = Literal["sent", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """``sent``; ``retry`` (optionally not before ``retry_after`` seconds); or ``dead`` (never retry)."""

    kind: OutcomeKind
    detail: str = ""
    retry_after: float | None = None


class Notifier(Protocol):
    channel: str

    async def send(self, payload: Mapping[str, Any]) -> Outcome: ...


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def classify(response: httpx.Response) -> Outcome:
    """2xx sent; 429 retry after Retry-After; 408/5xx retry; any other 4xx dead."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome("sent", str(code))
    detail = f"HTTP {code}: {response.text[:200]}"
    if code == 429:
        return Outcome("retry", detail, retry_after_seconds(response.headers.get("retry-after")))
    if code >= 500 or code == 408:
        return Outcome("retry", detail, retry_after_seconds(response.headers.get("retry-after")))
    return Outcome("dead", detail)


class HttpNotifier:
    """POSTs a JSON body built by :meth:`render`; subclasses render their channel's format."""

    channel = "http"

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    def render(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def url_for(self, payload: Mapping[str, Any]) -> str:
        return str(payload.get("target") or self.url)

    async def send(self, payload: Mapping[str, Any]) -> Outcome:
        body = self.render(payload)
        headers = {"Idempotency-Key": str(payload["idempotency_key"]), "User-Agent": "glowops-alerting"}
        try:
            response = await self.client.post(self.url_for(payload), json=body, headers=headers)
        except httpx.HTTPError as err:
            return Outcome("retry", f"{type(err).__name__}: {err}")
        return classify(response)


def alert_lines(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The alerts of a payload (each with status, labels, annotations, startsAt, endsAt)."""
    return list(payload.get("alerts", []))


def title(payload: Mapping[str, Any]) -> str:
    """``[FIRING:2] HighErrorRate (critical, gateway)``; escalations and tests say so."""
    alerts = alert_lines(payload)
    common = payload.get("common_labels", {})
    name = common.get("alertname") or (alerts[0]["labels"].get("alertname") if alerts else "glowops")
    status = str(payload.get("status", "firing")).upper()
    firing = sum(1 for a in alerts if a["status"] == "firing")
    count = f":{firing}" if status == "FIRING" else ""
    prefix = ""
    if payload.get("kind") == "escalation":
        esc = payload.get("escalation", {})
        prefix = f"[ESCALATION {esc.get('priority', '')} level {esc.get('level', '')}] "
    elif payload.get("kind") == "test":
        prefix = "[TEST] "
    if payload.get("fallback_for"):  # its own channel could not deliver it
        prefix = f"[FALLBACK for {payload['fallback_for']}] " + prefix
    severity, service = common.get("severity", ""), common.get("service", "")
    return f"{prefix}[{status}{count}] {name} ({severity}, {service})".replace(" (, )", "")
