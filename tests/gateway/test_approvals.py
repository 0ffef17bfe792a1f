"""Approvals: request, decide, MFA above the threshold, SLA and overdue, refusals."""

from __future__ import annotations

import time
from typing import Any

import pytest
from gateway_helpers import Delta, Gw, sample


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def request_approval(gw: Gw, amount: float, org: str = "acme", **extra: Any) -> dict[str, Any]:
    doc_id = gw.committed_document(org)
    response = gw.client.post(
        "/approvals",
        headers=gw.headers(org, "preparer"),
        json={"document_id": doc_id, "amount": amount, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def decide(gw: Gw, approval_id: str, org: str = "acme", role: str = "approver", **body: Any) -> Any:
    return gw.client.post(
        f"/approvals/{approval_id}/decision",
        headers=gw.headers(org, role),
        json={"decision": "approved", **body},
    )


def test_small_approval_is_decided_without_mfa(gw: Gw) -> None:
    org_id = gw.orgs["acme"]["id"]
    with Delta() as d:
        approval = request_approval(gw, 1250.0)
        assert approval["status"] == "pending" and not approval["mfa_required"]
        assert sample("approvals_pending", {"org_id": org_id}) >= 1
        pending_before = sample("approvals_pending", {"org_id": org_id})
        response = decide(gw, approval["id"], note="ok")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == gw.user_id("acme", "approver")
    assert d("approvals_requested_total", org_id=org_id) == 1
    assert d("approvals_decisions_total", decision="approved") == 1
    assert d("approvals_decision_time_seconds_count", decision="approved") == 1
    assert d("approvals_mfa_required_total") == 0
    assert sample("approvals_pending", {"org_id": org_id}) == pending_before - 1


def test_sla_due_time_is_created_plus_configured_hours(gw: Gw) -> None:
    from datetime import datetime, timedelta

    approval = request_approval(gw, 10.0)
    created, due = datetime.fromisoformat(approval["created_at"]), datetime.fromisoformat(approval["due_at"])
    assert due - created == timedelta(hours=gw.settings.approval_sla_hours)
    tighter = request_approval(gw, 10.0, sla_hours=2)
    assert datetime.fromisoformat(tighter["due_at"]) - datetime.fromisoformat(
        tighter["created_at"]
    ) == timedelta(hours=2)
    looser = request_approval(gw, 10.0, sla_hours=10_000)  # never looser than the configured SLA
    assert datetime.fromisoformat(looser["due_at"]) - datetime.fromisoformat(
        looser["created_at"]
    ) == timedelta(hours=gw.settings.approval_sla_hours)


def test_large_approval_needs_a_valid_totp(gw: Gw) -> None:
    amount = gw.settings.mfa_amount_threshold + 1
    approval = request_approval(gw, amount)
    assert approval["mfa_required"] and approval["severity"] == "high"
    admin_totp = gw.enrol_mfa("acme", "admin")
    with Delta() as d:
        missing = decide(gw, approval["id"])
        assert problem(missing, 403)["error_type"] == "mfa_missing"
        code = gw.fresh_code("acme")
        wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"
        assert problem(decide(gw, approval["id"], mfa_code=wrong), 403)["error_type"] == "mfa_invalid"
        # Another user's code is not this approver's code.
        other = admin_totp.at(gw.now)
        if other != code:
            problem(decide(gw, approval["id"], mfa_code=other), 403)
        ok = decide(gw, approval["id"], mfa_code=code)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert d("approvals_mfa_required_total") == d("approvals_mfa_failed_total") + 1
    assert d("approvals_mfa_failed_total") >= 2
    assert d("approvals_mfa_completed_total") == 1


def test_malformed_mfa_code_is_a_validation_problem(gw: Gw) -> None:
    approval = request_approval(gw, gw.settings.mfa_amount_threshold * 2)
    body = problem(decide(gw, approval["id"], mfa_code="12ab"), 422)
    assert [e["field"] for e in body["errors"]] == ["mfa_code"] and "12ab" not in str(body)


def test_decided_approval_cannot_be_decided_again(gw: Gw) -> None:
    approval = request_approval(gw, 50.0)
    assert decide(gw, approval["id"], decision="rejected").json()["status"] == "rejected"
    body = problem(decide(gw, approval["id"]), 409)
    assert body["current_status"] == "rejected"


def test_only_committed_documents_go_to_approval(gw: Gw) -> None:
    doc = gw.upload("acme", "draft.txt", b"draft", "text/plain").json()
    response = gw.client.post(
        "/approvals", headers=gw.headers("acme", "preparer"), json={"document_id": doc["id"], "amount": 10}
    )
    assert problem(response, 409)["current_status"] == "uploaded"


@pytest.mark.parametrize(("role", "action"), [("viewer", "approvals:request")])
def test_viewer_cannot_request(gw: Gw, role: str, action: str) -> None:
    doc_id = gw.committed_document("acme")
    with Delta() as d:
        response = gw.client.post(
            "/approvals", headers=gw.headers("acme", role), json={"document_id": doc_id, "amount": 10}
        )
    problem(response, 403)
    assert d("security_permission_denied_total", action=action) == 1


def test_preparer_cannot_decide_and_nobody_decides_their_own(gw: Gw) -> None:
    approval = request_approval(gw, 75.0)
    with Delta() as d:
        problem(decide(gw, approval["id"], role="preparer"), 403)
    assert d("security_permission_denied_total", action="approvals:decide") == 1
    # The approver's own request: separation of duties.
    doc_id = gw.committed_document("acme")
    own = gw.client.post(
        "/approvals", headers=gw.headers("acme", "approver"), json={"document_id": doc_id, "amount": 5}
    ).json()
    with Delta() as d:
        problem(decide(gw, own["id"]), 403)
    assert d("security_permission_denied_total", action="approvals:decide_own") == 1


def test_other_orgs_approval_cannot_be_seen_or_decided(gw: Gw) -> None:
    approval = request_approval(gw, 99.0, org="acme")
    with Delta() as d:
        problem(decide(gw, approval["id"], org="globex"), 404)
        problem(gw.client.get(f"/approvals/{approval['id']}", headers=gw.headers("globex", "viewer")), 404)
    assert d("security_rls_denied_total", table="approvals") == 2
    pending = gw.client.get("/approvals/pending", headers=gw.headers("globex", "viewer")).json()
    assert approval["id"] not in [p["id"] for p in pending]
    # Requesting approval of another org's committed document is refused the same way.
    acme_doc = gw.committed_document("acme")
    with Delta() as d:
        problem(
            gw.client.post(
                "/approvals",
                headers=gw.headers("globex", "preparer"),
                json={"document_id": acme_doc, "amount": 1},
            ),
            404,
        )
    assert d("security_rls_denied_total", table="documents") == 1
    assert (
        gw.client.get(f"/approvals/{approval['id']}", headers=gw.headers("acme", "viewer")).json()["status"]
        == "pending"
    )


def test_approval_becomes_overdue_after_its_sla(gw: Gw) -> None:
    org_id = gw.orgs["globex"]["id"]
    approval = request_approval(gw, gw.settings.mfa_amount_threshold + 5, org="globex", sla_hours=0.5 / 3600)
    time.sleep(0.6)
    with Delta() as d:
        pending = gw.client.get("/approvals/pending", headers=gw.headers("globex", "viewer")).json()
    mine = next(p for p in pending if p["id"] == approval["id"])
    assert mine["overdue"] is True
    assert d("approvals_became_overdue_total", severity="high") == 1
    assert sample("approvals_overdue", {"org_id": org_id}) >= 1
    # Counted once: reading again does not count it again.
    with Delta() as d:
        gw.client.get(f"/approvals/{approval['id']}", headers=gw.headers("globex", "viewer"))
        gw.client.get("/approvals/pending", headers=gw.headers("globex", "viewer"))
    assert d("approvals_became_overdue_total", severity="high") == 0
    # Deciding an overdue approval still works and clears it from the overdue gauge.
    before = sample("approvals_overdue", {"org_id": org_id})
    decided = decide(gw, approval["id"], org="globex", mfa_code=gw.fresh_code("globex"))
    assert decided.status_code == 200
    assert sample("approvals_overdue", {"org_id": org_id}) == before - 1


def test_pending_list_is_cached_and_invalidated(gw: Gw) -> None:
    headers = gw.headers("acme", "viewer")
    gw.client.get("/approvals/pending", headers=headers)
    with Delta() as d:
        first = gw.client.get("/approvals/pending", headers=headers).json()
    assert d("cache_requests_total", cache="approvals_pending", result="hit") == 1
    approval = request_approval(gw, 33.0)
    with Delta() as d:
        second = gw.client.get("/approvals/pending", headers=headers).json()
    assert d("cache_requests_total", cache="approvals_pending", result="miss") == 1
    assert len(second) == len(first) + 1 and approval["id"] in [p["id"] for p in second]
