"""The one-click acknowledgement link (signed, expiring, single-use) and the console's on-call page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from embedded_helpers import T0
from pydantic import SecretStr
from receivers import http_receiver
from starlette.applications import Starlette
from starlette.testclient import TestClient
from test_oncall import harness, pages, pd_events, policy

from glowops.alerting.acklink import AckLinks, LinkError
from glowops.alerting.outbox import connect
from glowops.console import install_console
from glowops.console.app import get_console

pytestmark = pytest.mark.anyio

TOKEN = "oncall-console-token-0123456789-abcdef"


def test_a_link_is_refused_when_tampered_expired_or_spent(tmp_path: Path) -> None:
    db = connect(tmp_path / "state.db")
    links = AckLinks(db, b"k" * 32, "https://ops.example")
    token = links.issue("CheckoutDown", "72c9a6bff106580a", T0, 2, expires=T0 + 3600)
    assert links.url(token) == f"https://ops.example/ops/oncall/ack/{token}"
    claim = links.verify(token, T0 + 10)
    assert (claim.alertname, claim.level) == ("CheckoutDown", 2)
    body, sig = token.split(".")
    with pytest.raises(LinkError, match="signature") as err:  # another alert's name in a valid link
        links.verify(body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig, T0)
    assert err.value.status in (400, 403)
    with pytest.raises(LinkError, match="signature"):
        AckLinks(db, b"x" * 32, "").verify(token, T0)  # signed with another key
    with pytest.raises(LinkError, match="expired") as err:
        links.verify(token, T0 + 3600)
    assert err.value.status == 410
    links.spend(token, T0 + 20, "test")
    with pytest.raises(LinkError, match="used already") as err:
        links.spend(token, T0 + 30, "test")
    assert err.value.status == 410
    for junk in ("", "nodot", "a.b", "!!!.???", "x" * 2000):
        with pytest.raises(LinkError):
            links.verify(junk, T0)


def ack_url(rx: object) -> str:
    bodies = [r.body for r in rx.requests if r.path == "/alice"]  # type: ignore[attr-defined]
    return str(bodies[-1]["ackURL"])


async def test_the_link_in_a_page_acknowledges_once_and_stops_the_escalation(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        url = ack_url(rx)
        path = url.removeprefix("http://glowops.test:8000")
        app = Starlette()
        install_console(app, h.service.settings)
        get_console(app).oncall.clock = h.clock  # type: ignore[union-attr]
        client = TestClient(app, base_url="http://glowops.test:8000", follow_redirects=False)
        shown = client.get(path)  # a GET (a mail scanner, a chat unfurl) acknowledges nothing
        assert shown.status_code == 200 and "Acknowledge CheckoutDown" in shown.text
        await h.run(15)
        assert h.service.escalator.acked_fingerprints() == set()  # type: ignore[union-attr]
        foreign = client.post(path, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
        done = client.post(path)
        assert done.status_code == 200 and "escalation stopped on every channel" in done.text
        again = client.post(path)
        assert again.status_code == 410 and "used already" in again.text
        await h.run(14 * 60)  # the team lead was due at 15 minutes after firing
        assert pages(rx) == ["/alice"]  # not paged: acknowledged
        status = h.service.escalator.status()  # type: ignore[union-attr]
        assert status[0]["ack_by"] == "one-click link (level 1)"
        await h.close()


async def test_an_expired_or_stale_link_is_refused_over_http(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx, ack_link_ttl="10m")
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        path = ack_url(rx).removeprefix("http://glowops.test:8000")
        app = Starlette()
        install_console(app, h.service.settings)
        get_console(app).oncall.clock = lambda: h.clock.now + 10 * 60  # the link lives 10 minutes
        client = TestClient(app, base_url="http://glowops.test:8000", follow_redirects=False)
        expired = client.get(path)
        assert expired.status_code == 410 and "expired" in expired.text
        links = h.service.links
        fresh = links.issue("CheckoutDown", "0" * 16, T0, 1, expires=4e9)  # not the firing that exists
        stale = client.post(links.url(fresh).removeprefix("http://glowops.test:8000"))
        assert stale.status_code == 410 and "resolved since" in stale.text
        tampered = client.get(path[:-3] + "abc")
        assert tampered.status_code in (400, 403)
        assert pd_events(rx) == []  # nothing was acknowledged
        await h.close()


async def test_the_oncall_page_shows_schedules_escalations_and_windows(tmp_path: Path) -> None:
    with http_receiver() as rx:
        windows = [
            {
                "name": "sunday patching",
                "matchers": ["service=gateway"],
                "days": "sun",
                "start": "02:00",
                "duration": "2h",
                "time_zone": "Europe/Berlin",
            }
        ]
        h = harness(tmp_path, rx, maintenance=windows)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        settings = h.service.settings.model_copy(update={"ops_token": SecretStr(TOKEN)})
        app = Starlette()
        install_console(app, settings)
        get_console(app).oncall.clock = h.clock  # type: ignore[union-attr]
        client = TestClient(app, base_url="https://ops.example", follow_redirects=False)
        assert client.get("/ops/oncall").status_code == 303  # a session first
        assert client.post("/ops/login", data={"token": TOKEN, "next": "/ops/oncall"}).status_code == 303
        html = client.get("/ops/oncall").text
        assert 'id="schedule-primary"' in html and "Europe/Berlin" in html
        assert re.search(r"<td>(alice|bob)</td>", html)
        assert 'data-alert="CheckoutDown"' in html and 'data-window="sunday patching"' in html
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        sent = client.post(
            "/ops/oncall/reassign", data={"csrf": csrf.group(1), "alertname": "CheckoutDown", "to": "bob"}
        )
        assert sent.status_code == 303 and "re-assigned" in sent.headers["location"]
        refused = client.post(
            "/ops/oncall/reassign", data={"csrf": csrf.group(1), "alertname": "CheckoutDown", "to": "mallory"}
        )
        assert "neither a person nor a schedule" in refused.headers["location"].replace("%20", " ")
        no_csrf = client.post("/ops/oncall/unack", data={"alertname": "CheckoutDown"})
        assert no_csrf.status_code == 403
        await h.run(15)
        assert pages(rx)[-1] == "/bob"
        await h.close()


def test_a_console_without_an_oncall_file_says_so(tmp_path: Path) -> None:
    from glowops.settings import Settings

    app = Starlette()
    install_console(app, Settings(state_dir=tmp_path, ops_token=TOKEN))
    client = TestClient(app, base_url="https://ops.example", follow_redirects=False)
    client.post("/ops/login", data={"token": TOKEN, "next": "/ops/oncall"})
    assert "No on-call file is configured" in client.get("/ops/oncall").text
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(policy("http://x") | {"levels": [{"schedule": "nope"}]}))
    app2 = Starlette()
    install_console(app2, Settings(state_dir=tmp_path, ops_token=TOKEN, oncall_file=bad))
    client2 = TestClient(app2, base_url="https://ops.example", follow_redirects=False)
    client2.post("/ops/login", data={"token": TOKEN, "next": "/ops/oncall"})
    assert "schedule &#39;nope&#39; is not in" in client2.get("/ops/oncall").text
