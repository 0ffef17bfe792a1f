"""The Teams relay on its own: auth, bad bodies, and what Alertmanager is told when Teams fails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import glowops
from glowops.alerting.channels import TEAMS_RELAY_PATH
from glowops.settings import Settings

pytestmark = pytest.mark.anyio

AM_BODY: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="HighErrorRate"}',
    "status": "firing",
    "receiver": "critical",
    "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate", "severity": "critical", "service": "gateway"},
    "commonAnnotations": {"summary": "More than 5% of requests fail"},
    "externalURL": "http://am",
    "truncatedAlerts": 0,
    "alerts": [
        {
            "status": "firing",
            "fingerprint": "abc",
            "startsAt": "2026-11-26T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom",
            "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "gateway"},
            "annotations": {
                "summary": "More than 5% of requests fail",
                "description": "5xx share",
                "runbook_url": "https://runbooks/HighErrorRate.md",
            },
        }
    ],
}


class FakeTeams:
    """A Teams Workflows webhook: records cards, answers what the test asks."""

    def __init__(self) -> None:
        self.cards: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, str]] = (202, {})

    async def receive(self, request: Request) -> Response:
        self.cards.append(await request.json())
        status, headers = self.answer
        return PlainTextResponse("", status_code=status, headers=headers)


def gateway(teams: FakeTeams, **overrides: Any) -> tuple[Starlette, httpx.AsyncClient]:
    settings = Settings(
        teams_webhook_url="https://teams.example/hook",
        embedded_alerting=False,
        health_backup_check=False,
        **overrides,
    )
    app = Starlette()
    glowops.instrument(app, settings, configure_logs=False, health=False)
    # The relay's outgoing client reaches the fake Teams in-process.
    teams_app = Starlette(routes=[Route("/hook", teams.receive, methods=["POST"])])
    state = app._glowops_instrumented  # type: ignore[attr-defined]
    state.teams_relay.client = state.teams_relay.notifier.client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=teams_app), base_url="https://teams.example"
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 4000)), base_url="http://gw"
    )
    return app, client


async def test_a_firing_group_reaches_teams_as_an_adaptive_card() -> None:
    teams = FakeTeams()
    _, client = gateway(teams, ops_token="tok-0123456789abcdef0123456789abcdef")
    async with client:
        answer = await client.post(
            TEAMS_RELAY_PATH,
            json=AM_BODY,
            headers={"authorization": "Bearer tok-0123456789abcdef0123456789abcdef"},
        )
    assert answer.status_code == 200, answer.text
    [message] = teams.cards
    card = message["attachments"][0]["content"]
    assert card["body"][0]["text"] == "[FIRING:1] HighErrorRate (critical, gateway)"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks/HighErrorRate.md"}
    ]


async def test_without_the_ops_token_nothing_is_posted() -> None:
    teams = FakeTeams()
    _, client = gateway(teams, ops_token="tok-0123456789abcdef0123456789abcdef")
    async with client:
        missing = await client.post(TEAMS_RELAY_PATH, json=AM_BODY)
        wrong = await client.post(TEAMS_RELAY_PATH, json=AM_BODY, headers={"authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert teams.cards == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"version": "3", "alerts": []}',
        b'{"version": "4", "alerts": []}',
        b'{"version": "4", "alerts": [{"labels": "x"}]}',
        b"[1, 2]",
    ],
)
async def test_a_body_that_is_not_alertmanagers_is_a_400(body: bytes) -> None:
    teams = FakeTeams()
    _, client = gateway(teams, ops_token="tok-0123456789abcdef0123456789abcdef")
    async with client:
        answer = await client.post(
            TEAMS_RELAY_PATH,
            content=body,
            headers={"authorization": "Bearer tok-0123456789abcdef0123456789abcdef"},
        )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert teams.cards == []


async def test_teams_throttling_asks_alertmanager_to_retry_and_a_refusal_does_not() -> None:
    teams = FakeTeams()
    _, client = gateway(teams, ops_token="tok-0123456789abcdef0123456789abcdef")
    auth = {"authorization": "Bearer tok-0123456789abcdef0123456789abcdef"}
    async with client:
        teams.answer = (429, {"retry-after": "7"})
        throttled = await client.post(TEAMS_RELAY_PATH, json=AM_BODY, headers=auth)
        teams.answer = (404, {})
        refused = await client.post(TEAMS_RELAY_PATH, json=AM_BODY, headers=auth)
    assert throttled.status_code == 502 and throttled.headers["retry-after"] == "7"
    assert refused.status_code == 400
    assert "teams.example" not in throttled.text + refused.text  # the webhook URL is a secret
    # The same notification keeps its idempotency key across Alertmanager's retries.
    assert teams.cards[0]["idempotencyKey"] == teams.cards[1]["idempotencyKey"]


async def test_the_relay_is_only_mounted_with_a_teams_webhook() -> None:
    app = Starlette()
    glowops.instrument(
        app, Settings(embedded_alerting=False, health_backup_check=False), configure_logs=False, health=False
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        answer = await client.post(TEAMS_RELAY_PATH, json=AM_BODY)
    assert answer.status_code == 404


async def test_labels_and_annotations_pass_the_redaction_policy() -> None:
    import copy
    import json

    secrets = [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "ghp_" + "a1B2c3D4e5" * 4,
        "123-45-6789",
        "+1%20415%20555%200123",
    ]
    body = copy.deepcopy(AM_BODY)
    alert = body["alerts"][0]
    alert["labels"] |= {"user": secrets[0], "card": secrets[1]}
    alert["annotations"] |= {
        "summary": f"Errors for {secrets[0]} with token {secrets[2]}",
        "description": f"ssn {secrets[3]} phone {secrets[4]}",
    }
    body["commonAnnotations"] = {"summary": alert["annotations"]["summary"]}
    teams = FakeTeams()
    _, client = gateway(teams, ops_token="tok-0123456789abcdef0123456789abcdef")
    async with client:
        answer = await client.post(
            TEAMS_RELAY_PATH,
            json=body,
            headers={"authorization": "Bearer tok-0123456789abcdef0123456789abcdef"},
        )
    assert answer.status_code == 200, answer.text
    rendered = json.dumps(teams.cards)
    for secret in secrets:
        assert secret not in rendered, secret
    assert "***REDACTED***" in rendered and "HighErrorRate" in rendered  # the card is still there
