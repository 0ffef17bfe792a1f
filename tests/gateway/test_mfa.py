"""MFA is a second factor: the secret is shown once, confirmed by a first code, each code works once.

Issue 14, point 1: a token got with the password alone used to read the TOTP secret again
(``GET /auth/mfa``) and so approve amounts above the threshold; a code was accepted twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pyotp
from gateway_helpers import PASSWORD, Delta, Gw
from test_approvals import decide, problem, request_approval
from test_auth import events


def new_user(gw: Gw, email: str, role: str = "approver", org: str = "acme") -> dict[str, str]:
    created = gw.client.post(
        "/users", headers=gw.headers(org, "admin"), json={"email": email, "password": PASSWORD, "role": role}
    )
    assert created.status_code == 201, created.text
    login = gw.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def enrol(gw: Gw, headers: dict[str, str], **body: Any) -> httpx.Response:
    return gw.client.post("/auth/mfa/enrol", headers=headers, json=body)


def confirm(gw: Gw, headers: dict[str, str], code: str) -> httpx.Response:
    return gw.client.post("/auth/mfa/confirm", headers=headers, json={"code": code})


def test_the_secret_is_shown_once_and_becomes_a_factor_after_a_first_code(gw: Gw) -> None:
    headers = new_user(gw, f"enrol-once-{gw.backend}@acme.example")
    state = gw.client.get("/auth/mfa", headers=headers).json()
    assert state["enrolled"] is False and "secret" not in state and "provisioning_uri" not in state

    started = enrol(gw, headers)
    assert started.status_code == 201 and started.headers["cache-control"] == "no-store"
    secret = started.json()["secret"]
    uri = started.json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    totp = pyotp.TOTP(secret)
    # Not a factor yet: a wrong first code does not confirm it.
    wrong = f"{(int(totp.at(gw.tick())) + 1) % 1_000_000:06d}"
    assert problem(confirm(gw, headers, wrong), 403)["error_type"] == "mfa_invalid"
    assert gw.client.get("/auth/mfa", headers=headers).json() | {"enrolled_at": None} == {
        "enrolled": False,
        "enrolled_at": None,
        "pending": True,
        "issuer": "Prisma Glow",
        "digits": 6,
        "period_seconds": 30,
    }
    confirmed = confirm(gw, headers, totp.at(gw.tick()))
    assert confirmed.status_code == 200 and confirmed.json()["enrolled"] is True

    # The password alone never shows the secret again, neither by reading nor by re-enrolling.
    again = gw.client.get("/auth/mfa", headers=headers)
    assert again.status_code == 200 and secret not in again.text
    refused = enrol(gw, headers)
    assert problem(refused, 403)["error_type"] == "mfa_missing" and secret not in refused.text
    wrong = f"{(int(totp.at(gw.tick())) + 1) % 1_000_000:06d}"
    assert problem(enrol(gw, headers, code=wrong), 403)["error_type"] == "mfa_invalid"


def test_a_password_only_token_cannot_approve_above_the_threshold(gw: Gw) -> None:
    # The attack: log in with a stolen password, fetch the secret, approve a large amount.
    headers = new_user(gw, f"stolen-{gw.backend}@acme.example")
    assert "provisioning_uri" not in gw.client.get("/auth/mfa", headers=headers).json()
    approval = request_approval(gw, gw.settings.mfa_amount_threshold * 3)
    with Delta() as d:
        no_code = gw.client.post(
            f"/approvals/{approval['id']}/decision", headers=headers, json={"decision": "approved"}
        )
        assert problem(no_code, 403)["error_type"] == "mfa_missing"
        guessed = gw.client.post(
            f"/approvals/{approval['id']}/decision",
            headers=headers,
            json={"decision": "approved", "mfa_code": "123456"},
        )
        assert problem(guessed, 403)["error_type"] == "mfa_not_enrolled"
    assert d("approvals_mfa_failed_total") == 2
    status = gw.client.get(f"/approvals/{approval['id']}", headers=gw.headers("acme", "viewer")).json()
    assert status["status"] == "pending"


def test_a_code_is_accepted_once(gw: Gw) -> None:
    first = request_approval(gw, gw.settings.mfa_amount_threshold + 10)
    second = request_approval(gw, gw.settings.mfa_amount_threshold + 20)
    code = gw.fresh_code("acme")
    assert decide(gw, first["id"], mfa_code=code).status_code == 200
    with Delta() as d:
        replayed = decide(gw, second["id"], mfa_code=code)
        body = problem(replayed, 403)
    assert body["error_type"] == "mfa_replay" and "already used" in body["detail"]
    assert d("security_auth_failed_total", reason="mfa_replay") == 1
    assert d("approvals_mfa_failed_total") == 1
    row = events(gw, "auth_failed", "mfa_replay")[-1]
    assert row.user_id == gw.user_id("acme", "approver") and row.detail == {"approval_id": second["id"]}
    # A code of an earlier step, still inside the drift window, is refused as well.
    earlier = str(gw.enrol_mfa("acme", "approver").at(gw.now - 30))
    assert problem(decide(gw, second["id"], mfa_code=earlier), 403)["error_type"] == "mfa_replay"
    assert decide(gw, second["id"], mfa_code=gw.fresh_code("acme")).status_code == 200


def test_two_racing_requests_with_one_code_approve_once(gw: Gw) -> None:
    approvals = [request_approval(gw, gw.settings.mfa_amount_threshold + n) for n in (31, 32)]
    code = gw.fresh_code("acme")
    headers = gw.headers("acme", "approver")

    async def race() -> list[int]:
        transport = httpx.ASGITransport(app=gw.client.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/approvals/{a['id']}/decision",
                        headers=headers,
                        json={"decision": "approved", "mfa_code": code},
                    )
                    for a in approvals
                )
            )
        return sorted(r.status_code for r in answers)

    assert gw.run(race) == [200, 403]


def test_reenrolment_needs_a_current_code_and_is_a_security_event(gw: Gw) -> None:
    headers = new_user(gw, f"reenrol-{gw.backend}@acme.example")
    old = pyotp.TOTP(enrol(gw, headers).json()["secret"])
    assert confirm(gw, headers, old.at(gw.tick())).status_code == 200
    started = enrol(gw, headers, code=old.at(gw.tick()))
    assert started.status_code == 201
    new = pyotp.TOTP(started.json()["secret"])
    assert new.secret != old.secret
    with Delta() as d:
        assert confirm(gw, headers, new.at(gw.tick())).status_code == 200
    assert d("security_suspicious_activity_total", kind="mfa_reenrolled") == 1
    assert events(gw, "suspicious_activity", "mfa_reenrolled")
    # The old factor is gone: re-enrolling again needs the new one.
    assert problem(enrol(gw, headers, code=old.at(gw.tick())), 403)["error_type"] == "mfa_invalid"
    assert enrol(gw, headers, code=new.at(gw.tick())).status_code == 201


def test_an_admin_reset_lets_a_user_enrol_again(gw: Gw) -> None:
    email = f"lost-phone-{gw.backend}@acme.example"
    headers = new_user(gw, email)
    totp = pyotp.TOTP(enrol(gw, headers).json()["secret"])
    assert confirm(gw, headers, totp.at(gw.tick())).status_code == 200
    user_id = gw.client.get("/auth/me", headers=headers).json()["id"]
    # Only an admin may reset; an approver is refused.
    refused = gw.client.post(f"/users/{user_id}/mfa/reset", headers=gw.headers("acme", "approver"))
    problem(refused, 403)
    with Delta() as d:
        reset = gw.client.post(f"/users/{user_id}/mfa/reset", headers=gw.headers("acme", "admin"))
    assert reset.status_code == 200 and reset.json()["enrolled"] is False
    assert d("security_suspicious_activity_total", kind="mfa_reset") == 1
    assert enrol(gw, headers).status_code == 201
    # Another organisation's admin cannot reset this user (not found there).
    problem(gw.client.post(f"/users/{user_id}/mfa/reset", headers=gw.headers("globex", "admin")), 404)
