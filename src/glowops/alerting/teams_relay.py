"""The Teams relay: Alertmanager (before 0.28, no ``msteamsv2``) → Microsoft Teams.

Debian's Alertmanager 0.25 can only POST its webhook JSON. The exported configuration points a
``webhook_configs`` entry at ``{external_url}/ops/alertmanager/teams`` (see
:mod:`glowops.alerting.alertmanager_config`); this endpoint, mounted by ``glowops.instrument()``
when ``GLOWOPS_TEAMS_WEBHOOK_URL`` is set, turns the body into the same Adaptive Card the
embedded engine sends and posts it to the Teams Workflows webhook.

Answers tell Alertmanager what to do next: 200 delivered; 502/503 Teams failed in a way worth
retrying (Alertmanager retries with back-off); 400 a body that will never be deliverable; 401
without the ops token (the relay would otherwise let anyone post into the team's channel).

Labels and annotations pass the redaction policy before the card is built, like every
notification of the embedded engine: Alertmanager's body holds whatever the metrics' labels
and the rules' templates put there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from glowops.alerting.channels import TEAMS_RELAY_PATH
from glowops.alerting.notify.teams import TeamsNotifier
from glowops.ops_guard import OpsGuard
from glowops.problems import problem_response
from glowops.redaction import RedactionPolicy
from glowops.settings import Settings

__all__ = ["TeamsRelay", "from_alertmanager", "teams_relay_route"]

_log = logging.getLogger("glowops.alerting.teams_relay")
MAX_BODY = 1 << 20  # Alertmanager's bodies are a few KB; max_alerts is 0 (all) in the export


def from_alertmanager(body: Mapping[str, Any]) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) as the payload the notifiers render.

    Raises ValueError when it is not such a body. The idempotency key is stable for one group
    notification (group key, status, the alerts' fingerprints and start/end times), so
    Alertmanager's retry of the same notification is recognisable downstream.
    """
    if body.get("version") != "4" or not isinstance(body.get("alerts"), list) or not body["alerts"]:
        raise ValueError("expected an Alertmanager webhook body (version 4) with alerts")
    alerts = []
    for alert in body["alerts"]:
        if not isinstance(alert, Mapping) or not isinstance(alert.get("labels"), Mapping):
            raise ValueError("every alert needs labels")
        alerts.append(
            {
                "status": str(alert.get("status", "firing")),
                "labels": {str(k): str(v) for k, v in alert["labels"].items()},
                "annotations": {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()},
                "startsAt": alert.get("startsAt"),
                "endsAt": alert.get("endsAt"),
            }
        )
    identity = orjson.dumps(
        [
            body.get("groupKey"),
            body.get("status"),
            [(a.get("fingerprint"), a.get("startsAt"), a.get("endsAt")) for a in body["alerts"]],
        ]
    )
    return {
        "status": str(body.get("status", "firing")),
        "common_labels": dict(body.get("commonLabels") or {}),
        "common_annotations": dict(body.get("commonAnnotations") or {}),
        "alerts": alerts,
        "idempotency_key": "am-" + hashlib.sha256(identity).hexdigest()[:32],
    }


class TeamsRelay:
    """The ASGI endpoint; one HTTP client for its lifetime."""

    def __init__(
        self,
        settings: Settings,
        policy: RedactionPolicy,
        client: httpx.AsyncClient | None = None,
        guard: OpsGuard | None = None,
    ) -> None:
        if settings.teams_webhook_url is None or not settings.teams_webhook_url.get_secret_value():
            raise ValueError("the Teams relay needs GLOWOPS_TEAMS_WEBHOOK_URL")
        self.policy = policy
        self.guard = guard or OpsGuard(settings)
        self.client = client or httpx.AsyncClient(timeout=10.0)
        self.notifier = TeamsNotifier(settings.teams_webhook_url.get_secret_value(), self.client)

    async def __call__(self, request: Request) -> Response:
        refusal = await self.guard.guard_request(request, "The Teams relay")
        if refusal is not None:
            return refusal
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return problem_response(413, "Alertmanager bodies are far smaller than 1 MiB.")
        try:
            payload = self.policy.redact(from_alertmanager(orjson.loads(raw)))
        except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
            return problem_response(400, f"Not an Alertmanager webhook body: {err}.")
        if self.client.is_closed:  # the app was shut down and started again
            self.client = self.notifier.client = httpx.AsyncClient(timeout=10.0)
        outcome = await self.notifier.send(payload)
        if outcome.kind == "sent":
            return JSONResponse({"status": "sent"})
        # The detail may quote Teams' answer; the URL (a secret) is never part of it.
        _log.warning("teams relay delivery %s: %s", outcome.kind, outcome.detail[:200])
        if outcome.kind == "retry":
            headers = {"retry-after": str(round(outcome.retry_after))} if outcome.retry_after else {}
            response = problem_response(502, "Teams did not accept the card; Alertmanager should retry.")
            response.headers.update(headers)
            return response
        return problem_response(400, "Teams refused the card for good (see the gateway's log).")

    async def aclose(self) -> None:
        await self.client.aclose()


def teams_relay_route(
    settings: Settings,
    policy: RedactionPolicy,
    client: httpx.AsyncClient | None = None,
    guard: OpsGuard | None = None,
) -> tuple[Route, TeamsRelay]:
    """The relay's route at :data:`TEAMS_RELAY_PATH` and the relay (close it at shutdown)."""
    relay = TeamsRelay(settings, policy, client, guard)
    # A bound method, so Starlette wraps it as a request/response endpoint.
    return Route(TEAMS_RELAY_PATH, relay.__call__, methods=["POST"], include_in_schema=False), relay
