"""Roles are current, tokens can be revoked, database errors keep their parameters to themselves.

Issue 14, points 3 and 7: a demoted user's old token kept the old role until it expired; there
was no logout; two concurrent ``POST /users`` for one e-mail gave a 500 whose log line carried
the password's hash and a TOTP secret.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from gateway_helpers import PASSWORD, Delta, Gw
from sqlalchemy import text
from test_approvals import decide, problem, request_approval


def add_user(gw: Gw, email: str, role: str, org: str = "acme") -> tuple[str, dict[str, str]]:
    created = gw.client.post(
        "/users", headers=gw.headers(org, "admin"), json={"email": email, "password": PASSWORD, "role": role}
    )
    assert created.status_code == 201, created.text
    login = gw.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return created.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_demoted_admin_loses_the_role_at_once(gw: Gw) -> None:
    boss_id, boss = add_user(gw, f"boss-{gw.backend}@acme.example", "admin")
    assert gw.client.get("/users", headers=boss).status_code == 200
    demoted = gw.client.patch(
        f"/users/{boss_id}", headers=gw.headers("acme", "admin"), json={"role": "viewer"}
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    # The token still says "admin"; the database says "viewer", and the database decides.
    with Delta() as d:
        refused = gw.client.post(
            "/users",
            headers=boss,
            json={"email": f"sneaky-{gw.backend}@acme.example", "password": PASSWORD, "role": "admin"},
        )
    assert "viewer" in problem(refused, 403)["detail"]
    assert d("security_permission_denied_total", action="users:manage") == 1
    assert gw.client.get("/auth/me", headers=boss).json()["role"] == "viewer"


def test_a_demoted_approver_cannot_decide(gw: Gw) -> None:
    approver_id, approver = add_user(gw, f"approver2-{gw.backend}@acme.example", "approver")
    approval = request_approval(gw, 100.0)
    gw.client.patch(f"/users/{approver_id}", headers=gw.headers("acme", "admin"), json={"role": "preparer"})
    refused = gw.client.post(
        f"/approvals/{approval['id']}/decision", headers=approver, json={"decision": "approved"}
    )
    problem(refused, 403)
    assert decide(gw, approval["id"]).status_code == 200  # the real approver still can


def test_a_deactivated_user_is_refused(gw: Gw) -> None:
    user_id, headers = add_user(gw, f"leaver-{gw.backend}@acme.example", "preparer")
    gw.client.patch(f"/users/{user_id}", headers=gw.headers("acme", "admin"), json={"active": False})
    with Delta() as d:
        problem(gw.client.get("/documents", headers=headers), 401)
    assert d("security_auth_failed_total", reason="unknown_user") == 1
    login = gw.client.post(
        "/auth/login", json={"email": f"leaver-{gw.backend}@acme.example", "password": PASSWORD}
    )
    problem(login, 401)


def test_logout_revokes_the_token(gw: Gw) -> None:
    _, headers = add_user(gw, f"logout-{gw.backend}@acme.example", "viewer")
    other = gw.client.post(
        "/auth/login", json={"email": f"logout-{gw.backend}@acme.example", "password": PASSWORD}
    )
    assert gw.client.post("/auth/logout", headers=headers).status_code == 204
    with Delta() as d:
        refused = gw.client.get("/auth/me", headers=headers)
    assert problem(refused, 401)["detail"] == "The token was revoked (logged out); log in again."
    assert d("security_auth_failed_total", reason="revoked_token") == 1
    # Only that token: the user's other session goes on.
    me = gw.client.get("/auth/me", headers={"Authorization": f"Bearer {other.json()['access_token']}"})
    assert me.status_code == 200


def test_a_taken_email_is_a_409_problem(gw: Gw) -> None:
    email = f"taken-{gw.backend}@acme.example"
    add_user(gw, email, "viewer")
    again = gw.client.post(
        "/users",
        headers=gw.headers("acme", "admin"),
        json={"email": email, "password": PASSWORD, "role": "viewer"},
    )
    assert problem(again, 409)["error_type"] == "email_taken"
    # Taken in another organisation (invisible to globex's scoped session) is a 409 too.
    elsewhere = gw.client.post(
        "/users",
        headers=gw.headers("globex", "admin"),
        json={"email": email, "password": PASSWORD, "role": "viewer"},
    )
    assert problem(elsewhere, 409)["error_type"] == "email_taken"


def test_two_concurrent_creations_of_one_email_give_201_and_409_and_log_no_secret(
    gw: Gw, capfd: pytest.CaptureFixture[str]
) -> None:
    email = f"race-{gw.backend}@acme.example"
    headers = gw.headers("acme", "admin")

    async def race() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gw.client.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            body = {"email": email, "password": PASSWORD, "role": "viewer"}
            return list(
                await asyncio.gather(*(client.post("/users", headers=headers, json=body) for _ in range(3)))
            )

    capfd.readouterr()
    answers: list[httpx.Response] = gw.run(race)
    assert sorted(r.status_code for r in answers) == [201, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["content-type"] == "application/problem+json"
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "$argon2" not in logged and "database_error" not in logged


def test_database_errors_do_not_carry_bound_parameters(gw: Gw) -> None:
    secret = "TOTPSECRETSHOULDNOTLEAK234567AB"

    async def collide() -> str:
        async with gw.gateway.db.engine.begin() as conn:
            try:
                await conn.execute(
                    text("INSERT INTO orgs (id, slug, name, created_at) VALUES (:id, :slug, :name, :at)"),
                    {"id": gw.orgs["acme"]["id"], "slug": "acme", "name": secret, "at": "2026-01-01"},
                )
            except Exception as err:  # the duplicate key
                return str(err)
        return ""

    message: Any = gw.run(collide)
    assert message and secret not in message and "hidden" in message
