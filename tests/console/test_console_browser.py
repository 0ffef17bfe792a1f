"""The console in a real headless Chromium, against the real gateway driven by demo traffic.

One server (a subprocess: the gateway with embedded alerting on a 600x time scale) and one
browser for the module. Screenshots of every dashboard go to the test's temporary directory
(and to ``docs/img/`` with ``--update-screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from glowops.dashboards.catalog import UIDS as CORE_UIDS
from glowops_prismaglow.dashboards import UIDS as PACK_UIDS
from peers import free_port, require_binary, wait_ready

# The gateway's console: glowops' dashboards and those of the Prisma Glow pack it registers.
UIDS = CORE_UIDS + PACK_UIDS
TOKEN = "browser-test-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
# Panels the demo traffic must fill on each dashboard (one per dashboard is enough to prove the
# path from the gateway's metrics to the chart; every panel is still loaded and checked for errors).
MUST_HAVE_DATA = {
    "glowops-assistant": "conversations",
    "glowops-documents": "uploads",
    "glowops-approvals": "mfa_challenges",
    "glowops-security": "auth_failures",
    "glowops-service": "request_rate",
    "glowops-operations": "alert_states",
}

pytestmark = pytest.mark.timeout(300)  # 30 s normally; --update-screenshots adds 150 s of traffic


@dataclass
class Console:
    base: str
    browser: Any
    shots: Path
    docs_shots: Path | None
    server_log: Path
    messages: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def new_page(self, context: Any) -> Any:
        page = context.new_page()

        def on_console(message: Any) -> None:
            if message.type in ("error", "warning"):
                self.messages.append(f"{message.type}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.messages.append(f"exception: {error}"))
        return page


def _drive_demo(base: str, seconds: float) -> None:
    from prisma_glow_gateway.demo import drive

    summary = asyncio.run(drive(base, duration=seconds, rps=8.0, ops_token=TOKEN, seed=7))
    assert summary.runs >= 5 * seconds, summary


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Console]:
    chromium = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    workdir = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {
        **os.environ,
        "GLOWOPS_STATE_DIR": str(workdir / "var"),
        "GLOWOPS_PORT": str(port),
        "GLOWOPS_HOST": "127.0.0.1",
        "GLOWOPS_OPS_TOKEN": TOKEN,
        "GLOWOPS_EMBEDDED_ALERTING": "false",  # the server script runs its own, time-scaled
        "GLOWOPS_SCRAPE_INTERVAL_SECONDS": "1",
        "GLOWOPS_EVALUATION_INTERVAL_SECONDS": "1",
        "GLOWOPS_RATE_LIMIT_PER_MINUTE": "0",
        "GLOWOPS_LOG_LEVEL": "WARNING",
        "GLOWOPS_DEMO": "false",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "OTEL_EXPORTER_OTLP_ENDPOINT", "OPENAI_API_KEY"):
        env.pop(name, None)
    log = workdir / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "console_server.py")], env=env, stdout=out, stderr=out
        )
    try:
        wait_ready(f"{base}/health", proc, log=log)
        docs = (
            ROOT / "docs" / "img" if request.config.getoption("--update-screenshots", default=False) else None
        )
        # Screenshots for the docs want a few minutes of lines; the checks need seconds.
        _drive_demo(base, 150.0 if docs is not None else 8.0)
        shots = workdir / "screenshots"
        shots.mkdir()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            try:
                yield Console(base, browser, shots, docs, log)
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def session(console: Console) -> Iterator[Any]:
    """A logged-in browser context (logged in through the form, with the keyboard)."""
    context = console.browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB")

    def only_this_service(route: Any) -> None:
        if route.request.url.startswith(console.base):
            route.continue_()
        else:  # no CDN, no external request of any kind
            console.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_service)
    page = console.new_page(context)
    page.goto(f"{console.base}/ops/login?next=/ops")
    page.keyboard.type(TOKEN)  # the token field has the focus (autofocus)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.base}/ops")
    page.close()
    yield context
    context.close()


def test_without_a_session_pages_go_to_login_and_the_api_answers_401(console: Console) -> None:
    context = console.browser.new_context()
    page = console.new_page(context)
    page.goto(f"{console.base}/ops/dashboards/glowops-service")
    assert "/ops/login?next=/ops/dashboards/glowops-service" in page.url
    assert page.get_by_label("Ops token").is_visible()
    page.get_by_label("Ops token").fill("wrong-token")
    page.get_by_role("button", name="Log in").click()
    assert "not the ops token" in page.get_by_role("alert").inner_text()
    answer = context.request.get(f"{console.base}/ops/api/panels/glowops-service/request_rate")
    assert answer.status == 401
    context.close()
    # the only console message is the refused login's own 401 (nothing else failed to load)
    assert console.messages == [
        "error: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ], console.messages
    console.messages.clear()


def test_the_session_cookie_is_http_only_and_strict(console: Console, session: Any) -> None:
    (cookie,) = [c for c in session.cookies() if c["name"] == "glowops_ops_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ops"
    assert TOKEN not in cookie["value"]


@pytest.mark.parametrize("uid", UIDS)
def test_each_dashboard_loads_without_errors_and_shows_data(console: Console, session: Any, uid: str) -> None:
    page = console.new_page(session)
    started = time.monotonic()
    range_ = "5m" if console.docs_shots is not None else "15m"
    page.goto(f"{console.base}/ops/dashboards/{uid}?range={range_}")
    page.wait_for_selector("body[data-loaded]", timeout=20_000)
    loaded = time.monotonic() - started
    states = page.eval_on_selector_all(
        ".panel", "els => els.map(e => [e.id, e.dataset.state, +e.querySelector('.chart').dataset.points])"
    )
    assert states, "no panels"
    assert all(state in ("ok", "empty") for _, state, _ in states), states
    must = dict((key, points) for key, _, points in states)[f"panel-{MUST_HAVE_DATA[uid]}"]
    assert must > 0, f"{uid}: {MUST_HAVE_DATA[uid]} has no data after demo traffic: {states}"
    panel = page.locator(f"#panel-{MUST_HAVE_DATA[uid]}")
    if panel.get_attribute("data-kind") == "timeseries":
        assert panel.locator("svg path.line").count() >= 1
    page.screenshot(path=str(console.shots / f"console-{uid}.png"), full_page=True)
    if console.docs_shots is not None:
        page.screenshot(path=str(console.docs_shots / f"console-{uid}.png"))
        if uid == "glowops-service":
            page.screenshot(path=str(console.docs_shots / "console-overview.png"))
    # the text alternative carries the same numbers
    panel.locator("summary").click()
    rows = panel.locator(".table-alt tbody tr")
    assert rows.count() >= 1 and re.search(r"\d", rows.first.inner_text())
    assert loaded < 10, f"{uid} took {loaded:.1f} s"
    page.close()
    assert console.messages == [], console.messages
    assert console.outside == [], console.outside
    assert (console.shots / f"console-{uid}.png").stat().st_size > 10_000


def test_keyboard_reaches_every_control_with_a_visible_focus(console: Console, session: Any) -> None:
    page = console.new_page(session)
    page.goto(f"{console.base}/ops/dashboards/glowops-service")
    page.wait_for_selector("body[data-loaded]")
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return [e.id || e.textContent.trim().slice(0, 20), s.outlineStyle, s.outlineWidth]; }"
        )
        reached.append(focused[0])
        if focused[0] in ("range", "org", "refresh", "Apply"):
            assert focused[1] != "none" and focused[2] != "0px", focused
    assert {"range", "org", "refresh", "Apply"} <= set(reached), reached
    page.focus("#refresh")
    page.keyboard.press("Space")  # auto-refresh off, remembered in the URL
    assert not page.is_checked("#refresh")
    assert "refresh=off" in page.evaluate("() => location.search")
    page.focus("#range")
    page.select_option("#range", "6h")
    page.focus("#controls button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"range=6h"))
    page.close()
    assert console.messages == [], console.messages


def _alert_row(page: Any, console: Console, rule: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(f"{console.base}/ops/alerts")
        row = page.locator(f'tr[data-alert="{rule}"][data-state="firing"]')
        if row.count():
            return row.first
        time.sleep(1)
    raise AssertionError(f"{rule} did not fire within {timeout}s:\n{page.content()[:3000]}")


def test_silence_and_acknowledge_through_the_forms(console: Console, session: Any) -> None:
    page = console.new_page(session)
    stale = _alert_row(page, console, "BackupStale")
    assert stale.get_attribute("data-silenced") == "no"
    assert (
        stale.get_by_role("link", name="Runbook for BackupStale")
        .get_attribute("href")
        .endswith("/docs/runbooks/alerts/BackupStale.md")
    )
    panel_link = stale.get_by_role("link", name="Panel for BackupStale").get_attribute("href")
    assert panel_link.startswith("/ops/dashboards/glowops-operations#panel-")

    stale.get_by_label("Silence BackupStale for").select_option("1h")
    stale.get_by_role("button", name="Silence").click()
    page.wait_for_url(re.compile(r"/ops/alerts\?notice="))
    assert "added" in page.get_by_role("status").inner_text()
    stale = page.locator('tr[data-alert="BackupStale"]').first
    assert stale.get_attribute("data-silenced") == "yes"
    assert "silenced until" in stale.inner_text()

    drill = _alert_row(page, console, "BackupDrillOverdue")
    drill.get_by_role("button", name="Acknowledge BackupDrillOverdue").click()
    page.wait_for_url(re.compile(r"/ops/alerts\?notice="))
    drill = page.locator('tr[data-alert="BackupDrillOverdue"]').first
    assert drill.get_attribute("data-acked") == "yes"
    assert "acknowledged by console" in drill.inner_text()

    page.goto(f"{console.base}{panel_link}")  # the alert's panel, highlighted by :target
    page.wait_for_selector("body[data-loaded]")
    assert page.evaluate("() => document.querySelector(':target').id") == panel_link.split("#")[1]
    page.close()
    assert console.messages == [], console.messages


def test_index_health_and_backups_pages(console: Console, session: Any) -> None:
    page = console.new_page(session)
    page.goto(f"{console.base}/ops")
    assert page.get_by_role("heading", name="Dashboards").is_visible()
    assert page.locator(".dashboards li").count() == len(UIDS)
    page.goto(f"{console.base}/ops/health")
    assert page.locator('#health-checks tr[data-check="database"]').count() == 1
    page.goto(f"{console.base}/ops/backups")
    assert "Last restore drill" in page.inner_text("main")
    page.screenshot(path=str(console.shots / "console-backups.png"), full_page=True)
    page.close()
    assert console.messages == [], console.messages
