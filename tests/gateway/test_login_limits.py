"""Limits an attacker cannot reset: buckets keyed on the verified user or the address, and
back-off per account and per address after failed logins.

Issue 14, point 2: the limiter was keyed on the raw Authorization header, so a made-up header
per request got a fresh bucket and password guessing on ``/auth/login`` was unlimited.
"""

from __future__ import annotations

import secrets

import pytest
from gateway_helpers import PASSWORD, Delta, Gw
from test_approvals import problem

from prisma_glow_gateway.clientaddr import client_address, parse_networks
from prisma_glow_gateway.loginguard import BackoffPolicy, LocalFailures
from prisma_glow_gateway.ratelimit import LocalRateLimiter


def login(gw: Gw, email: str, password: str, **headers: str) -> int:
    return gw.client.post(
        "/auth/login", json={"email": email, "password": password}, headers=headers
    ).status_code


def new_user(gw: Gw, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "role": "viewer"}
    assert gw.client.post("/users", headers=gw.headers("acme", "admin"), json=body).status_code == 201


def test_a_made_up_authorization_header_gets_no_bucket_of_its_own(
    gw: Gw, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = gw.headers("acme", "viewer")
    monkeypatch.setattr(gw.gateway, "limiter", LocalRateLimiter(per_minute=3))
    email = f"nobody-{secrets.token_hex(4)}@nowhere.example"
    with Delta() as d:
        statuses = [
            login(gw, email, "guess-guess", Authorization=f"Bearer {secrets.token_urlsafe(24)}")
            for _ in range(4)
        ]
        statuses.append(login(gw, email, "guess-guess", Authorization="garbage"))
    assert statuses == [401, 401, 401, 429, 429]
    assert d("http_rate_limited_total", route="/auth/login") == 2
    # A signed-in user has a bucket of their own, apart from the address' empty one.
    assert gw.client.get("/auth/me", headers=viewer).status_code == 200


def test_failed_logins_back_off_per_account(gw: Gw) -> None:
    email = f"target-{gw.backend}@acme.example"
    new_user(gw, email)
    threshold = gw.settings.login_lockout_threshold
    assert [login(gw, email, f"guess-{n}-guess") for n in range(threshold)] == [401] * threshold
    with Delta() as d:
        locked = gw.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    # Refused before the password is checked: the right one does not get through either.
    body = problem(locked, 429)
    assert body["error_type"] == "login_locked" and int(locked.headers["retry-after"]) == 1
    assert d("security_auth_failed_total", reason="login_locked") == 1
    assert d("security_auth_failed_total", reason="bad_password") == 0
    # Another account from the same address is not held back by this one.
    assert login(gw, gw.email("acme", "preparer"), PASSWORD) == 200
    gw.tick(1.0)
    # One more failure doubles the wait.
    assert login(gw, email, "guess-again-guess") == 401
    assert (
        int(gw.client.post("/auth/login", json={"email": email, "password": PASSWORD}).headers["retry-after"])
        == 2
    )
    gw.tick(2.0)
    assert login(gw, email, PASSWORD) == 200
    # Success clears the account's count: one wrong password is just a 401 again.
    assert login(gw, email, "typo-typo-typo") == 401
    assert login(gw, email, PASSWORD) == 200


def test_back_off_is_exponential_and_capped() -> None:
    store, policy = (
        LocalFailures(),
        BackoffPolicy(threshold=3, decay_seconds=1e9, base_seconds=1.0, cap_seconds=60),
    )

    async def waits() -> list[float]:
        found = []
        for _ in range(10):
            await store.fail("k", 100.0, policy)
            found.append(await store.wait("k", 100.0, policy))
        return found

    import anyio

    assert anyio.run(waits) == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_many_failures_from_one_address_back_off_whatever_the_account(
    gw: Gw, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gw.gateway.login_guard, "address", BackoffPolicy(threshold=4, decay_seconds=6.0))
    monkeypatch.setattr(gw.gateway, "trusted_proxies", ())
    gw.tick(3600)  # earlier tests' failures from this address are forgiven
    spray = [login(gw, f"user{n}-{secrets.token_hex(3)}@acme.example", "Winter2026!") for n in range(4)]
    assert spray == [401] * 4
    # A forged X-Forwarded-For does not make a new client: the peer is not a trusted proxy.
    assert login(gw, gw.email("acme", "viewer"), PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}) == 429
    # Behind a trusted proxy, the forwarded address is the client: another client is not held back.
    monkeypatch.setattr(gw.gateway, "trusted_proxies", parse_networks(["127.0.0.1"]))
    assert login(gw, gw.email("acme", "viewer"), PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}) == 200
    gw.tick(3600)
    assert login(gw, gw.email("acme", "viewer"), PASSWORD) == 200


def test_client_address_reads_forwarded_for_only_from_trusted_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert client_address("198.51.100.7", "1.2.3.4", proxies) == "198.51.100.7"
    assert client_address("10.0.0.5", "1.2.3.4", proxies) == "1.2.3.4"
    # The client may prepend anything; the walk stops at the first untrusted hop from the right.
    assert client_address("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.9", proxies) == "1.2.3.4"
    assert client_address("127.0.0.1", "not-an-ip", proxies) == "127.0.0.1"
    assert client_address("10.0.0.5", "", proxies) == "10.0.0.5"
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks(["10.0.0.0/33"])
