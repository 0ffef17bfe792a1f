"""RFC 9457 problems for every error; nothing internal reaches the client."""

from __future__ import annotations

from gateway_helpers import Gw


def test_unknown_route_and_method_are_problems(gw: Gw) -> None:
    for response, status in ((gw.client.get("/no/such/route"), 404), (gw.client.delete("/auth/login"), 405)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status and response.json()["type"] == "about:blank"


def test_validation_errors_name_fields_not_values(gw: Gw) -> None:
    response = gw.client.post("/auth/login", json={"email": "not-an-email", "password": "", "extra": 1})
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert sorted(e["field"] for e in body["errors"]) == ["email", "password"]
    assert "not-an-email" not in response.text
    secret = "hunter2-very-secret"
    response = gw.client.post(
        "/users",
        headers=gw.headers("acme", "admin"),
        json={"email": "x@acme.example", "password": secret, "role": "superuser"},
    )
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["role"]
    assert secret not in response.text and "superuser" not in response.text


def test_malformed_json_body_is_a_problem(gw: Gw) -> None:
    response = gw.client.post(
        "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert "{not json" not in response.text
    assert response.json()["detail"].endswith("at line 1, column 2.")


def test_unhandled_exception_is_a_generic_500(gw: Gw) -> None:
    async def explode() -> None:
        raise RuntimeError("database password is s3cr3t at /srv/app/internal.py line 42")

    gw.client.app.add_api_route("/test/explode", explode)  # type: ignore[attr-defined]
    response = gw.client.get("/test/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Internal Server Error" and body["request_id"] == response.headers["x-request-id"]
    for leak in ("s3cr3t", "RuntimeError", "internal.py", "Traceback"):
        assert leak not in response.text


def test_problem_carries_the_request_id(gw: Gw) -> None:
    response = gw.client.get("/documents", headers={"X-Request-ID": "req-12345"})
    assert response.status_code == 401 and response.json()["request_id"] == "req-12345"
