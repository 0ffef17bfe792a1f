"""Auth: login, tokens, roles; every refusal is a problem, an audit row and a counter."""

from __future__ import annotations

from typing import Any

import jwt
from gateway_helpers import PASSWORD, Delta, Gw
from sqlalchemy import select

from prisma_glow_gateway.models import SecurityEvent


def events(gw: Gw, kind: str, reason: str) -> list[SecurityEvent]:
    async def load() -> list[SecurityEvent]:
        async with gw.gateway.db.system() as session:
            rows = await session.scalars(
                select(SecurityEvent).where(SecurityEvent.kind == kind, SecurityEvent.reason == reason)
            )
            return list(rows)

    result: list[SecurityEvent] = gw.run(load)
    return result


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_login_returns_a_token_that_identifies_the_user(gw: Gw) -> None:
    response = gw.client.post("/auth/login", json={"email": "Approver@Acme.example", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == gw.settings.token_ttl_seconds
    me = gw.client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {**body["user"], "email": "approver@acme.example", "role": "approver"}
    assert me.json()["org_id"] == gw.orgs["acme"]["id"]


def test_bad_password_is_refused_and_recorded(gw: Gw) -> None:
    before = len(events(gw, "auth_failed", "bad_password"))
    with Delta() as d:
        response = gw.client.post(
            "/auth/login", json={"email": "viewer@acme.example", "password": "nope-nope"}
        )
    body = assert_problem(response, 401)
    assert "nope" not in response.text and body["detail"] == "E-mail or password is wrong."
    assert d("security_auth_failed_total", reason="bad_password") == 1
    rows = events(gw, "auth_failed", "bad_password")
    assert len(rows) == before + 1
    assert rows[-1].user_id == gw.user_id("acme", "viewer") and rows[-1].org_id == gw.orgs["acme"]["id"]
    assert rows[-1].route == "/auth/login"


def test_unknown_user_gets_the_same_answer_as_a_bad_password(gw: Gw) -> None:
    with Delta() as d:
        response = gw.client.post("/auth/login", json={"email": "ghost@nowhere.example", "password": "x"})
    assert assert_problem(response, 401)["detail"] == "E-mail or password is wrong."
    assert d("security_auth_failed_total", reason="unknown_user") == 1
    assert events(gw, "auth_failed", "unknown_user")


def test_repeated_failed_logins_are_suspicious_once(gw: Gw) -> None:
    email = "preparer@globex.example"
    with Delta() as d:
        for _ in range(6):
            gw.client.post("/auth/login", json={"email": email, "password": "guess-guess"})
    # Threshold 5 within 5 minutes: crossed once for the account (and maybe once for the client).
    assert d("security_suspicious_activity_total", kind="repeated_failed_logins") >= 1
    # The sixth is refused before its password is checked: the account backs off.
    assert d("security_auth_failed_total", reason="bad_password") == 5
    assert d("security_auth_failed_total", reason="login_locked") == 1
    gw.tick(3600)  # the back-off is over for the tests that log in as this user
    rows = events(gw, "suspicious_activity", "repeated_failed_logins")
    assert any(row.detail == {"key": "account"} for row in rows)


def test_missing_token(gw: Gw) -> None:
    with Delta() as d:
        response = gw.client.get("/documents")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert d("security_auth_failed_total", reason="missing_token") == 1


def test_expired_token(gw: Gw) -> None:
    import time

    token = gw.gateway.tokens.issue(
        gw.user_id("acme", "viewer"),
        gw.orgs["acme"]["id"],
        "viewer",
        now=time.time() - gw.settings.token_ttl_seconds - 5,
    )
    with Delta() as d:
        response = gw.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert assert_problem(response, 401)["detail"] == "The token has expired; log in again."
    assert d("security_auth_failed_total", reason="expired_token") == 1
    assert events(gw, "auth_failed", "expired_token")


def test_forged_token_is_refused_and_suspicious(gw: Gw) -> None:
    # A token claiming admin rights in acme, signed with a key the attacker made up.
    forged = jwt.encode(
        {
            "sub": gw.user_id("acme", "viewer"),
            "org": gw.orgs["acme"]["id"],
            "role": "admin",
            "exp": 9999999999,
        },
        "attacker-key-attacker-key-attacker",
        algorithm="HS256",
    )
    with Delta() as d:
        response = gw.client.get("/users", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401)
    assert d("security_auth_failed_total", reason="forged_token") == 1
    assert d("security_suspicious_activity_total", kind="forged_token") == 1
    assert events(gw, "suspicious_activity", "forged_token")


def test_unsigned_and_garbage_tokens_are_refused(gw: Gw) -> None:
    unsigned = jwt.encode(
        {"sub": "x", "org": "y", "role": "admin", "exp": 9999999999}, None, algorithm="none"
    )
    for token in (unsigned, "not-a-jwt"):
        with Delta() as d:
            response = gw.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
        assert d("security_auth_failed_total", reason="malformed_token") == 1


def test_role_without_permission_is_refused_and_recorded(gw: Gw) -> None:
    with Delta() as d:
        response = gw.client.post(
            "/users",
            headers=gw.headers("acme", "approver"),
            json={"email": "new@acme.example", "password": "long-enough-1", "role": "viewer"},
        )
    body = assert_problem(response, 403)
    assert "users:manage" in body["detail"]
    assert d("security_permission_denied_total", action="users:manage") == 1
    row = events(gw, "permission_denied", "users:manage")[-1]
    assert row.detail == {"role": "approver"} and row.user_id == gw.user_id("acme", "approver")


def test_admin_creates_a_user_who_can_log_in(gw: Gw) -> None:
    email = f"analyst-{gw.backend}@acme.example"
    response = gw.client.post(
        "/users",
        headers=gw.headers("acme", "admin"),
        json={"email": email, "password": "analyst-pass-1", "role": "preparer"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == gw.orgs["acme"]["id"]
    again = gw.client.post(
        "/users",
        headers=gw.headers("acme", "admin"),
        json={"email": email, "password": "analyst-pass-1", "role": "preparer"},
    )
    assert_problem(again, 409)
    login = gw.client.post("/auth/login", json={"email": email, "password": "analyst-pass-1"})
    assert login.status_code == 200 and login.json()["user"]["role"] == "preparer"
    listed = gw.client.get("/users", headers=gw.headers("acme", "admin")).json()
    assert email in [u["email"] for u in listed]
    assert all(u["org_id"] == gw.orgs["acme"]["id"] for u in listed)


def test_bootstrap_needs_the_ops_token_when_one_is_set(gw: Gw, monkeypatch: Any) -> None:
    from pydantic import SecretStr

    monkeypatch.setattr(gw.settings, "ops_token", SecretStr("ops-secret"))
    body = {"orgs": [{"slug": "initech", "name": "Initech", "users": []}]}
    with Delta() as d:
        refused = gw.client.post("/admin/bootstrap", json=body)
    assert_problem(refused, 401)
    assert d("security_auth_failed_total", reason="bad_ops_token") == 1
    accepted = gw.client.post("/admin/bootstrap", json=body, headers={"Authorization": "Bearer ops-secret"})
    assert accepted.status_code == 200 and accepted.json()["orgs"][0]["slug"] == "initech"


def test_bootstrap_is_idempotent_and_keeps_users_in_their_org(gw: Gw, monkeypatch: Any) -> None:
    from pydantic import SecretStr

    ops = "ops-token-0123456789-0123456789-0123456789"
    monkeypatch.setattr(gw.settings, "ops_token", SecretStr(ops))
    headers = {"Authorization": f"Bearer {ops}"}
    body = {
        "orgs": [
            {
                "slug": "acme",
                "name": "Acme",
                "users": [{"email": "viewer@acme.example", "password": "another-pass", "role": "viewer"}],
            }
        ]
    }
    again = gw.client.post("/admin/bootstrap", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["orgs"][0]["id"] == gw.orgs["acme"]["id"]
    # The existing password still works: seeding never resets credentials.
    assert (
        gw.client.post("/auth/login", json={"email": "viewer@acme.example", "password": PASSWORD}).status_code
        == 200
    )
    steal = {
        "orgs": [
            {
                "slug": "globex",
                "name": "Globex",
                "users": [{"email": "viewer@acme.example", "password": "another-pass", "role": "admin"}],
            }
        ]
    }
    assert_problem(gw.client.post("/admin/bootstrap", json=steal, headers=headers), 409)


def test_loopback_cannot_add_an_admin_to_an_existing_organisation(gw: Gw) -> None:
    # No ops token set, the client is 127.0.0.1 (as behind a reverse proxy on the same host).
    assert gw.settings.ops_token is None and gw.client.app  # type: ignore[truthy-function]
    takeover = {
        "orgs": [
            {
                "slug": "acme",
                "name": "Acme",
                "users": [{"email": "mallory@acme.example", "password": "mallory-pass", "role": "admin"}],
            }
        ]
    }
    with Delta() as d:
        refused = gw.client.post("/admin/bootstrap", json=takeover)
    assert "GLOWOPS_OPS_TOKEN" in assert_problem(refused, 401)["detail"]
    assert d("security_auth_failed_total", reason="bad_ops_token") == 1
    login = gw.client.post("/auth/login", json={"email": "mallory@acme.example", "password": "mallory-pass"})
    assert_problem(login, 401)


def test_the_first_set_up_of_an_empty_database_needs_no_token(tmp_path: Any) -> None:
    from gateway_helpers import running_gateway, settings_for

    with running_gateway(settings_for("sqlite", tmp_path), "sqlite", seed=False) as fresh:
        first = {"orgs": [{"slug": "first", "name": "First", "users": []}]}
        assert fresh.client.post("/admin/bootstrap", json=first).status_code == 200
        second = {"orgs": [{"slug": "second", "name": "Second", "users": []}]}
        assert_problem(fresh.client.post("/admin/bootstrap", json=second), 401)
