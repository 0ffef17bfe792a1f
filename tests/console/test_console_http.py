"""The console over HTTP: who gets in, what the forms change, what the panel API answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import DASHBOARDS, TOKEN, Service, console_app, csrf_of, settings_for
from starlette.applications import Starlette
from starlette.testclient import TestClient

from glowops.console.queries import QueryError, Window, evaluate_range, substitute
from glowops.console.session import COOKIE_NAME, ConsoleSessions
from glowops.ops_guard import OpsGuard
from glowops.promql import MemoryStorage, labels_of


@pytest.fixture
def service(tmp_path: Path) -> Service:
    settings = settings_for(tmp_path, ops_token=TOKEN)
    svc = Service(settings)
    svc.metrics.gauge("glowops_disk_used_ratio", 0.95)  # StorageAlmostFull: critical after 5 min
    svc.run_until_now()
    return svc


@pytest.fixture
def client(tmp_path: Path, service: Service) -> TestClient:
    settings = settings_for(tmp_path, ops_token=TOKEN)
    return TestClient(console_app(settings, service), base_url="https://ops.example", follow_redirects=False)


def login(client: TestClient, token: str = TOKEN) -> None:
    answer = client.post("/ops/login", data={"token": token, "next": "/ops/alerts"})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ops/alerts"


def test_pages_redirect_to_login_and_the_api_answers_401(client: TestClient) -> None:
    page = client.get("/ops/dashboards/test-ops?range=6h")
    assert page.status_code == 303
    assert page.headers["location"] == "/ops/login?next=/ops/dashboards/test-ops?range=6h"
    api = client.get("/ops/api/panels/test-ops/disk")
    assert api.status_code == 401 and api.json()["title"] == "Unauthorized"
    assert client.get("/ops/login").status_code == 200


def test_login_sets_a_signed_secure_httponly_strict_cookie_without_the_token(client: TestClient) -> None:
    answer = client.post("/ops/login", data={"token": TOKEN, "next": "/ops"})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/ops"} <= attributes
    assert TOKEN not in cookie
    assert client.get("/ops").status_code == 200


def test_a_wrong_token_or_a_forged_cookie_gets_nothing(client: TestClient) -> None:
    answer = client.post("/ops/login", data={"token": "guess", "next": "/ops"})
    assert answer.status_code == 401 and "not the ops token" in answer.text
    assert "set-cookie" not in answer.headers
    client.cookies.set(COOKIE_NAME, "v2.bm9uY2UtZm9yZ2VkLWJ5LXRoZS1hdHRhY2tlcg", path="/ops")
    assert client.get("/ops/api/panels/test-ops/disk").status_code == 401


def test_bearer_token_reads_the_api(client: TestClient) -> None:
    answer = client.get(
        "/ops/api/panels/test-ops/disk?range=15m", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["series"][0]["name"] == "used"
    assert [v for v in data["series"][0]["values"] if v is not None][-1] == pytest.approx(0.95)
    assert data["thresholds"] == [
        {"value": 0.9, "severity": "critical", "alert": "StorageAlmostFull", "mode": "above"}
    ]
    assert (
        client.get("/ops/api/panels/test-ops/disk", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_a_rate_panel_shows_the_route_series(client: TestClient) -> None:
    login(client)
    data = client.get("/ops/api/panels/test-ops/requests?range=15m").json()
    (series,) = data["series"]
    assert series["name"] == "/v1/things"
    values = [v for v in series["values"] if v is not None]
    assert len(values) >= 10 and values[-1] == pytest.approx(1 / 15, rel=0.05)  # one request per 15 s
    assert client.get("/ops/api/panels/test-ops/requests?range=2d").status_code == 400
    assert client.get("/ops/api/panels/test-ops/requests?org=a%22b").status_code == 400
    assert client.get("/ops/api/panels/test-ops/nope").status_code == 404


def test_next_never_redirects_off_the_console(client: TestClient) -> None:
    for target in ("//evil.example/ops", "https://evil.example/", "/elsewhere", "/ops\\@evil"):
        answer = client.post("/ops/login", data={"token": TOKEN, "next": target})
        assert answer.headers["location"] == "/ops", target


def test_the_alert_list_links_runbook_and_panel_then_silence_and_ack_change_it(client: TestClient) -> None:
    login(client)
    page = client.get("/ops/alerts")
    assert page.status_code == 200
    assert 'data-alert="StorageAlmostFull" data-state="firing"' in page.text
    assert "/docs/runbooks/alerts/StorageAlmostFull.md" in page.text
    assert 'href="/ops/dashboards/test-ops#panel-disk"' in page.text
    csrf = csrf_of(page.text)

    silenced = client.post(
        "/ops/alerts/silence",
        data={"csrf": csrf, "matchers": "alertname=StorageAlmostFull", "duration": "1h"},
    )
    assert silenced.status_code == 303
    acked = client.post(
        "/ops/alerts/ack", data={"csrf": csrf, "alertname": "StorageAlmostFull", "by": "alice"}
    )
    assert acked.status_code == 303
    after = client.get("/ops/alerts").text
    assert (
        'data-alert="StorageAlmostFull" data-state="firing"\n      data-silenced="yes" data-acked="yes"'
        in after
    )
    assert "acknowledged by alice" in after and "alertname=&#39;StorageAlmostFull&#39;" in after


def test_forms_need_the_csrf_token_and_the_same_origin(client: TestClient, service: Service) -> None:
    login(client)
    csrf = csrf_of(client.get("/ops/alerts").text)
    form = {"matchers": "alertname=StorageAlmostFull", "duration": "1h"}
    assert client.post("/ops/alerts/silence", data={**form, "csrf": "x" * 43}).status_code == 403
    cross = client.post(
        "/ops/alerts/silence", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert service.alerting.state.silences(None) == []


def test_without_a_token_only_loopback_is_served(tmp_path: Path, service: Service) -> None:
    settings = settings_for(tmp_path)
    app = console_app(settings, service)
    remote = TestClient(app, follow_redirects=False)
    assert remote.get("/ops").status_code == 403
    assert remote.get("/ops/api/panels/test-ops/disk").status_code == 401
    local = TestClient(
        app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 50000), follow_redirects=False
    )
    page = local.get("/ops/alerts")
    assert page.status_code == 200
    # plain http on 127.0.0.1: no Secure flag, or the browser would drop the cookie
    assert "secure" not in page.headers["set-cookie"].lower()
    answer = local.post(
        "/ops/alerts/ack", data={"csrf": csrf_of(page.text), "alertname": "StorageAlmostFull"}
    )
    assert answer.status_code == 303


def test_static_assets_are_cached_and_pages_are_not(client: TestClient) -> None:
    login(client)
    html = client.get("/ops/dashboards/test-ops").text
    assert '<script src="/ops/static/console.js?v=' in html and "http" not in html.split("<body")[0].replace(
        'content="width', ""
    )
    js_url = html.split('<script src="')[1].split('"')[0]
    asset = client.get(js_url)
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert client.get(js_url, headers={"If-None-Match": asset.headers["etag"]}).status_code == 304
    page = client.get("/ops")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_every_dashboard_panel_renders_with_its_anchor(client: TestClient) -> None:
    login(client)
    html = client.get("/ops/dashboards/test-ops?range=15m&org=acme").text
    for panel in DASHBOARDS[0].panels:
        assert f'id="panel-{panel.key}"' in html
        assert f"/ops/api/panels/test-ops/{panel.key}?range=15m&amp;org=acme" in html
    assert client.get("/ops/dashboards/nope").status_code == 404


# --- queries ------------------------------------------------------------------------------------
def test_placeholders_are_substituted_and_the_org_escaped() -> None:
    expr = 'sum(rate(x{org_id=~"$org_id"}[$__rate_interval]))'
    assert substitute(expr, None) == 'sum(rate(x{org_id=~".*"}[5m]))'
    assert substitute(expr, "org.one") == 'sum(rate(x{org_id=~"org\\\\.one"}[5m]))'
    with pytest.raises(QueryError):
        substitute(expr, 'a"}or vector(1)')


def test_the_org_filter_selects_only_that_org() -> None:
    storage = MemoryStorage()
    for i in range(5):
        for org, value in (("org.one", 1.0), ("orgXone", 10.0)):
            storage.add(labels_of({"__name__": "g", "org_id": org}), 1_000_000 + i * 15_000, value)
    window = Window(1_000_000, 1_060_000, 15_000)
    one = evaluate_range(storage, [(substitute('sum(g{org_id=~"$org_id"})', "org.one"), "")], window)
    every = evaluate_range(storage, [(substitute('sum(g{org_id=~"$org_id"})', None), "")], window)
    assert one["series"][0]["values"] == [1.0] * 5  # the dot is literal: orgXone is left out
    assert every["series"][0]["values"] == [11.0] * 5


def sessions(tmp_path: Path, token: str = TOKEN) -> ConsoleSessions:
    settings = settings_for(tmp_path, ops_token=token)
    return ConsoleSessions(settings, OpsGuard(settings))


def test_a_session_expires_and_is_bound_to_the_token(tmp_path: Path) -> None:
    auth = sessions(tmp_path)
    cookie, session = auth.issue(now=1000.0)
    assert auth.verify(cookie, now=1001.0) == session
    assert auth.verify(cookie, now=session.expires + 1) is None
    _, second = auth.issue(now=1000.0)
    assert auth.csrf_ok(session, auth.csrf_token(session))
    assert not auth.csrf_ok(second, auth.csrf_token(session))  # a CSRF token is bound to its session
    rotated = sessions(tmp_path, TOKEN + "-rotated")  # a restart with a new token
    assert rotated.verify(cookie, now=1001.0) is None
    assert auth.verify(cookie, now=1001.0) is None  # the old rows are gone from the shared store


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    login(client)
    cookie = client.cookies.get(COOKIE_NAME)
    assert cookie and client.get("/ops/api/panels/test-ops/disk").status_code != 401
    csrf = csrf_of(client.get("/ops/alerts").text)
    assert client.post("/ops/logout", data={"csrf": csrf}).status_code == 303
    # The attacker kept a copy of the cookie: replayed after logout, it opens nothing.
    client.cookies.set(COOKIE_NAME, cookie, path="/ops")
    assert client.get("/ops/api/panels/test-ops/disk").status_code == 401
    assert client.get("/ops/alerts").status_code == 303


def test_a_session_is_shared_by_the_workers_of_a_host(tmp_path: Path, service: Service) -> None:
    settings = settings_for(tmp_path, ops_token=TOKEN)
    first, second = (
        TestClient(console_app(settings, service), base_url="https://ops.example", follow_redirects=False)
        for _ in range(2)
    )
    login(first)
    second.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME], path="/ops")
    assert second.get("/ops/alerts").status_code == 200


def test_wrong_logins_are_limited_then_refused_with_retry_after(client: TestClient) -> None:
    answers = [client.post("/ops/login", data={"token": f"guess-{n}", "next": "/ops"}) for n in range(12)]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 2
    assert int(answers[-1].headers["retry-after"]) > 0 and "try again in" in answers[-1].text
    # While held, even the right token is not recognisable (no oracle), and no cookie is issued.
    held = client.post("/ops/login", data={"token": TOKEN, "next": "/ops"})
    assert held.status_code == 429 and "set-cookie" not in held.headers


def test_instrument_mounts_the_console_unless_switched_off(tmp_path: Path) -> None:
    import glowops

    on = glowops.instrument(
        Starlette(), settings_for(tmp_path, ops_token=TOKEN), configure_logs=False, health=False
    )
    off = glowops.instrument(
        Starlette(), settings_for(tmp_path, console=False), configure_logs=False, health=False
    )
    assert TestClient(on, follow_redirects=False).get("/ops").status_code == 303
    assert TestClient(off, follow_redirects=False).get("/ops").status_code == 404


def test_alert_views_silences_and_history_pass_the_redaction_policy(
    client: TestClient, service: Service, tmp_path: Path
) -> None:
    import time

    from glowops.alerting.state import state_path

    email, card, key = "jane.doe@example.com", "4111 1111 1111 1111", "ghp_" + "a1B2c3D4e5" * 4
    login(client)
    csrf = csrf_of(client.get("/ops/alerts").text)
    silenced = client.post(
        "/ops/alerts/silence",
        data={
            "csrf": csrf,
            "matchers": f"alertname=StorageAlmostFull\nuser={email}",
            "duration": "1h",
            "comment": f"customer {email} paid with {card}",
            "by": email,
        },
    )
    assert silenced.status_code == 303
    acked = client.post(
        "/ops/alerts/ack",
        data={
            "csrf": csrf,
            "alertname": "StorageAlmostFull",
            "by": "alice",
            "comment": f"rotated {key}",
        },
    )
    assert acked.status_code == 303
    service.alerting.state.record(
        time.time(), {"alertname": "LeakyRule", "user": email}, "firing", f"failures for {email}"
    )
    page = client.get("/ops/alerts").text
    assert "LeakyRule" in page and "***REDACTED***" in page  # the rows are there, masked
    for secret in (email, card, key, "jane.doe&#64;example.com"):
        assert secret not in page, secret
    files = state_path(service.alerting.settings).parent.glob("alerting.db*")
    raw = b"".join(path.read_bytes() for path in files)
    for secret in (card, key, f"failures for {email}"):  # comments and history are stored redacted
        assert secret.encode() not in raw, secret
