"""The real sentry_sdk reporting to a local Sentry endpoint through the glowops middleware."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from errors_helpers import Reporting
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from sentry_server import SentryServer

import glowops

pytestmark = pytest.mark.anyio

# Planted in every place a request or an error can carry data.
SECRETS = {
    "message_email": "jane.doe@example.com",
    "message_card": "4111 1111 1111 1111",
    "local_password": "hunter2-local-pass",
    "local_token": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "query_api_key": "qs-secret-value-81723",
    "query_email": "query.person@example.org",
    "header_bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "header_api_key": "hdr-key-secret-44190",
    "cookie_session": "cookie-session-secret-5521",
    "user_email": "user.email@example.net",
}
QUERY = f"?api_key={SECRETS['query_api_key']}&contact={SECRETS['query_email']}&page=2"
HEADERS = {
    "Authorization": f"Bearer {SECRETS['header_bearer']}",
    "X-Api-Key": SECRETS["header_api_key"],
    "Cookie": f"session={SECRETS['cookie_session']}; theme=dark",
    "X-Request-ID": "req-planted-1",
}


def failing_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orgs/{org_id}/reports")
    async def report(org_id: str) -> None:
        glowops.bind_context(user_id="u-42", org_id=org_id)
        password = SECRETS["local_password"]  # local variables are captured... and scrubbed
        token = SECRETS["local_token"]
        email = SECRETS["user_email"]
        raise RuntimeError(
            f"report failed for {SECRETS['message_email']} card {SECRETS['message_card']}"
            f" ({len(password) + len(token) + len(email)})"
        )

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "no such thing")

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise HTTPException(403, "not yours")

    @app.get("/typed/{n}")
    async def typed(n: int) -> int:
        return n

    @app.get("/unavailable")
    async def unavailable() -> Any:
        return JSONResponse({"detail": "later"}, status_code=503)

    @app.get("/flaky")
    async def flaky() -> None:
        raise ValueError("same bug every time")

    return app


def assert_no_secret(payload: bytes | str) -> None:
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    left = [name for name, secret in SECRETS.items() if secret in text]
    assert not left, f"secrets left in the payload: {left}"


async def test_unhandled_exception_reported_once_with_context_and_nothing_secret(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    reporting = reporting_app(failing_app())
    async with reporting.client() as client:
        response = await client.get(f"/orgs/o-7/reports{QUERY}", headers=HEADERS)
    assert response.status_code == 500
    reporting.flush()
    [event] = sentry_server.wait_events(1)
    assert len(sentry_server.events) == 1  # the middleware's log line does not make a second event
    assert event["environment"] == "staging" and event["release"] == "v9.9.9"
    [span] = reporting.spans.get_finished_spans()
    trace_id = format(span.context.trace_id, "032x")
    assert event["tags"]["request_id"] == "req-planted-1" == response.headers["x-request-id"]
    assert event["tags"]["trace_id"] == trace_id
    assert event["contexts"]["trace"]["trace_id"] == trace_id
    assert event["tags"]["org_id"] == "o-7" and event["tags"]["route"] == "/orgs/{org_id}/reports"
    assert event["user"] == {"id": "u-42"}
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["mechanism"]["handled"] is False
    frames = exception["stacktrace"]["frames"]
    assert frames[-1]["function"] == "report" and "vars" in frames[-1]  # locals kept, but scrubbed
    assert frames[-1]["vars"]["password"] == "***REDACTED***"
    request = event["request"]
    assert request["method"] == "GET" and request["url"] == "http://api.example.test/orgs/o-7/reports"
    assert request["headers"]["authorization"] == "***REDACTED***"
    assert request["cookies"] == "***REDACTED***"  # "cookies" is a secret key for the policy
    assert "page=2" in request["query_string"]
    assert "data" not in request  # no request body, ever
    for body in sentry_server.raw_bodies:  # the whole envelope, not just the fields looked at
        assert_no_secret(body)


async def test_client_errors_are_not_reported(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    reporting = reporting_app(failing_app())
    async with reporting.client() as client:
        assert (await client.get("/missing")).status_code == 404
        assert (await client.get("/forbidden")).status_code == 403
        assert (await client.get("/typed/not-a-number")).status_code == 422
        assert (await client.get("/no/route")).status_code == 404
        assert (await client.get("/unavailable")).status_code == 503  # the only one reported
    reporting.flush()
    [event] = sentry_server.wait_events(1)
    assert event["message"] == "HTTP 503 answered to GET /unavailable"
    assert event["level"] == "error" and event["tags"]["http.status_code"] == "503"
    assert len(sentry_server.events) == 1


async def test_a_flood_of_one_error_is_rate_limited_and_the_suppressed_count_reported(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    reporting = reporting_app(failing_app(), sentry_rate_limit_per_minute=3)
    now = [1000.0]
    reporting.hook.limiter.clock = lambda: now[0]
    before = REGISTRY.get_sample_value("glowops_sentry_events_suppressed_total") or 0.0
    async with reporting.client() as client:
        for _ in range(10):
            assert (await client.get("/flaky")).status_code == 500
        assert (await client.get("/unavailable")).status_code == 503  # another fingerprint: not limited
        now[0] += 61  # the next minute
        assert (await client.get("/flaky")).status_code == 500
    reporting.flush()
    events = sentry_server.wait_events(5)
    flaky = [e for e in events if e.get("exception")]
    assert len(flaky) == 4
    assert [e.get("tags", {}).get("suppressed_since_last") for e in flaky] == [None, None, None, "7"]
    assert flaky[-1]["extra"]["suppressed_since_last"] == 7
    after = REGISTRY.get_sample_value("glowops_sentry_events_suppressed_total") or 0.0
    assert after - before == 7


async def test_same_secrets_same_redacted_text_in_log_span_and_sentry(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    reporting = reporting_app(failing_app())
    async with reporting.client() as client:
        await client.get("/orgs/o-7/reports", headers={"X-Request-ID": "req-same"})
    reporting.flush()
    [event] = sentry_server.wait_events(1)
    sentry_text = event["exception"]["values"][0]["value"]
    [span] = reporting.spans.get_finished_spans()
    [span_event] = span.events
    span_text = span_event.attributes["exception.message"]
    [log] = [line for line in reporting.log_lines() if line["event"] == "unhandled exception"]
    log_text = log["exception"][-1]["exc_value"]
    assert sentry_text == span_text == log_text
    assert "***REDACTED***" in sentry_text
    assert_no_secret(json.dumps([sentry_text, span_text, log_text]))


ENCODED = {
    "email": "jane.doe+audit@example.com",
    "phone": "+1 415 555 0123",
    "ssn": "123-45-6789",
    "card": "4111 1111 1111 1111",
}


def _spellings(secret: str) -> list[str]:
    from urllib.parse import quote, quote_plus

    return [secret, quote(secret, safe=""), quote_plus(secret), secret.replace(" ", "+")]


async def test_encoded_query_hostile_host_encoded_referer_and_secret_request_id_never_reach_sentry(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    from urllib.parse import quote, quote_plus

    reporting = reporting_app(failing_app())
    query = (
        f"?email={quote(ENCODED['email'], safe='')}&phone={quote(ENCODED['phone'], safe='')}"
        f"&ssn={ENCODED['ssn'].replace('-', '%2D')}&card={quote_plus(ENCODED['card'])}&page=2"
    )
    referer = (
        f"https://app.example.test/search?q={quote_plus(ENCODED['email'])}&n={quote_plus(ENCODED['phone'])}"
    )
    headers = {"Host": f"{ENCODED['email']}", "Referer": referer, "X-Request-ID": "req-4111-1111-1111-1111"}
    async with reporting.client() as client:
        response = await client.get(f"/orgs/o-7/reports{query}", headers=headers)
    assert response.status_code == 500
    assert response.headers["x-request-id"] != headers["X-Request-ID"]
    reporting.flush()
    [event] = sentry_server.wait_events(1)
    request = event["request"]
    # the server's address, not the Host header
    assert request["url"] == "http://api.example.test/orgs/o-7/reports"
    assert (
        request["query_string"] == "email=***REDACTED***&phone=***REDACTED***&ssn=***REDACTED***"
        "&card=***REDACTED***&page=2"
    )
    assert (
        request["headers"]["referer"] == "https://app.example.test/search?q=***REDACTED***&n=***REDACTED***"
    )
    assert event["tags"]["request_id"] == response.headers["x-request-id"]
    for body in sentry_server.raw_bodies:
        text = body.decode("utf-8", "replace")
        for secret in ENCODED.values():
            for spelling in _spellings(secret):
                assert spelling not in text, spelling
        assert "req-4111-1111-1111-1111" not in text


def test_sentry_url_is_rebuilt_from_redacted_parts() -> None:
    from glowops.redaction import RedactionPolicy
    from glowops.telemetry.sentry_scrub import FingerprintLimiter, SentryScrubber

    scrubber = SentryScrubber(RedactionPolicy(), FingerprintLimiter(10))
    event = {
        "request": {"url": "http://jane.doe+audit@example.com/diagnostics/error?x=jane%40example.com#frag"}
    }
    assert scrubber.scrub(event)["request"]["url"] == "http://invalid-host/diagnostics/error?x=***REDACTED***"
    event = {"request": {"url": "https://api.example.test:8443/users/jane%40example.com/profile"}}
    assert (
        scrubber.scrub(event)["request"]["url"]
        == "https://api.example.test:8443/users/***REDACTED***/profile"
    )
