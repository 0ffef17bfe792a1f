"""End to end on the real binaries: an instrumented app, Prometheus and Alertmanager with the
exported (time-scaled) configuration, and local receivers speaking Slack, PagerDuty Events v2,
webhook and SMTP. Breach → the right alerts reach the right receivers with summary and runbook
link → recovery → they resolve.

The app is a tiny Starlette service on glowops' metric catalog and facade (the gateway can
replace it once it exists: it only has to serve /metrics and answer 200s and 500s).
"""

from __future__ import annotations

import email
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from glowops.alerting.export import write_bundle
from glowops.alerting.teams_relay import teams_relay_route
from glowops.redaction import default_policy
from glowops.settings import Settings
from glowops.telemetry.metrics import Metrics
from peers import free_port, require_binary, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.prometheus, pytest.mark.alertmanager]

SCALE = 60  # one production minute is one second
ROUTING_KEY = "e2e0routing0key0123456789abcdef0"


# --------------------------------------------------------------------------------------------
# The instrumented app
# --------------------------------------------------------------------------------------------
def make_app(metrics: Metrics, registry: CollectorRegistry) -> Starlette:
    def record(route: str, status: int, started: float) -> None:
        metrics.counter("http_requests", tags={"method": "GET", "route": route, "status": status})
        metrics.histogram(
            "http_request_duration_seconds",
            time.perf_counter() - started,
            tags={"method": "GET", "route": route},
        )

    async def ok(request: Request) -> Response:
        started = time.perf_counter()
        record("/v1/ok", 200, started)
        return PlainTextResponse("ok")

    async def fail(request: Request) -> Response:
        started = time.perf_counter()
        record("/v1/fail", 500, started)
        return PlainTextResponse("boom", status_code=500)

    async def expose(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/v1/ok", ok), Route("/v1/fail", fail), Route("/metrics", expose)])


# --------------------------------------------------------------------------------------------
# Receivers: Slack, PagerDuty Events v2, generic webhooks, the Teams relay, SMTP
# --------------------------------------------------------------------------------------------
@dataclass
class Inbox:
    """Everything the receivers got: (channel, body) in arrival order."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, channel: str, body: Any) -> None:
        with self.lock:
            self.items.append((channel, body))

    def of(self, channel: str) -> list[Any]:
        with self.lock:
            return [body for ch, body in self.items if ch == channel]


def make_receivers(inbox: Inbox, settings: Settings) -> Starlette:
    async def slack(request: Request) -> Response:
        inbox.add("slack", await request.json())
        return PlainTextResponse("ok")  # what Slack's incoming webhooks answer

    async def pagerduty(request: Request) -> Response:
        body = await request.json()
        inbox.add("pagerduty", body)
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
            status_code=202,
        )

    async def hook(request: Request) -> Response:
        inbox.add(request.path_params["name"], await request.json())
        return PlainTextResponse("")

    async def teams(request: Request) -> Response:
        inbox.add("teams", await request.json())
        return PlainTextResponse("", status_code=202)  # what a Workflows webhook answers

    # The real relay of glowops: Alertmanager 0.25 -> relay -> the Teams Workflows webhook above.
    relay_route, _relay = teams_relay_route(settings, default_policy(settings))

    return Starlette(
        routes=[
            Route("/slack", slack, methods=["POST"]),
            Route("/pagerduty/v2/enqueue", pagerduty, methods=["POST"]),
            Route("/hooks/{name}", hook, methods=["POST"]),
            Route("/teams", teams, methods=["POST"]),
            relay_route,
        ]
    )


class MailHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content)
        parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
        text = b"\n".join(p for p in parts if isinstance(p, bytes)).decode("utf-8", "replace")
        self.inbox.add("email", {"to": envelope.rcpt_tos, "subject": message["Subject"], "body": text})
        return "250 OK"


class ServerThread:
    """uvicorn in a thread, stopped for sure at the end."""

    def __init__(self, app: Starlette, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Process:
    """A real binary on its own ports and data directory, terminated for sure."""

    def __init__(self, args: list[str], ready_url: str, log: Path) -> None:
        self.log = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.ready_url = ready_url

    def __enter__(self) -> Process:
        try:
            wait_ready(self.ready_url, self.proc)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------
@dataclass
class Stack:
    inbox: Inbox
    metrics: Metrics
    app_url: str
    prometheus_url: str
    alertmanager_url: str
    logs: Path


@pytest.fixture
def stack(tmp_path: Path, prismaglow: Any) -> Iterator[Stack]:
    """The gateway's rules (glowops' and the Prisma Glow pack's) on real Prometheus and Alertmanager."""
    prometheus = require_binary("prometheus")
    alertmanager = require_binary("prometheus-alertmanager")
    inbox = Inbox()
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    app_port, receiver_port, smtp_port, prom_port, am_port = (free_port() for _ in range(5))
    receivers = f"http://127.0.0.1:{receiver_port}"
    settings = Settings(
        slack_webhook_url=f"{receivers}/slack",
        teams_webhook_url=f"{receivers}/teams",
        # Alertmanager must present the token to the Teams relay
        ops_token="relay-secret-0123456789abcdef0123456789",
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=f"{receivers}/pagerduty/v2/enqueue",
        error_notify_webhook=f"{receivers}/hooks/error",
        telemetry_alert_webhook=f"{receivers}/hooks/telemetry",
        rate_limit_alert_webhook=f"{receivers}/hooks/rate-limit",
        embedding_alert_webhook=f"{receivers}/hooks/embedding",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        alert_email_to=["oncall@example.com"],
        external_url=receivers,
        heartbeat_url=f"{receivers}/hooks/heartbeat",  # the Watchdog's dead man's switch
    )
    config_dir = tmp_path / "config"
    bundle = write_bundle(
        config_dir,
        settings,
        time_scale=SCALE,
        target=f"127.0.0.1:{app_port}",
        alertmanager=f"127.0.0.1:{am_port}",
    )
    assert bundle.warnings == []
    smtp = Controller(MailHandler(inbox), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        with (
            ServerThread(make_receivers(inbox, settings), receiver_port),
            ServerThread(make_app(metrics, registry), app_port),
            Process(
                [
                    alertmanager,
                    f"--config.file={config_dir / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                f"http://127.0.0.1:{am_port}/-/ready",
                tmp_path / "alertmanager.log",
            ),
            Process(
                [
                    prometheus,
                    f"--config.file={config_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'prom'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--rules.alert.resend-delay=1s",
                    "--log.level=warn",
                ],
                f"http://127.0.0.1:{prom_port}/-/ready",
                tmp_path / "prometheus.log",
            ),
        ):
            yield Stack(
                inbox,
                metrics,
                f"http://127.0.0.1:{app_port}",
                f"http://127.0.0.1:{prom_port}",
                f"http://127.0.0.1:{am_port}",
                tmp_path,
            )
    finally:
        smtp.stop()


class Driver:
    """Background load: HTTP traffic with a share of 500s, and counters that grow."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.error_share = 0.0
        self.counters: dict[str, tuple[str, dict[str, str]]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(base_url=self.stack.app_url, timeout=2) as client:
            while not self.stop.is_set():
                failures = round(10 * self.error_share)
                for i in range(10):
                    client.get("/v1/fail" if i < failures else "/v1/ok")
                for name, (_, tags) in list(self.counters.items()):
                    self.stack.metrics.counter(name, 20, tags=tags)
                time.sleep(0.2)

    def __enter__(self) -> Driver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def wait_for(what: str, condition: Callable[[], bool], stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    alerts = httpx.get(f"{stack.prometheus_url}/api/v1/alerts").json()["data"]["alerts"]
    firing = sorted({(a["labels"]["alertname"], a["state"]) for a in alerts})
    got = [(ch, _names(body)) for ch, body in stack.inbox.items]
    raise AssertionError(f"timed out waiting for {what}; Prometheus alerts: {firing}; received: {got}")


def _names(body: Any) -> list[str]:
    if isinstance(body, dict) and "alerts" in body:
        return [f"{a['labels']['alertname']}:{a['status']}" for a in body["alerts"]]
    if isinstance(body, dict) and "payload" in body:
        return [f"{body['payload']['summary']}:{body['event_action']}"]
    if isinstance(body, dict) and "attachments" in body:
        return [a.get("title", "") for a in body["attachments"]]
    return [str(body)[:80]]


def webhook_alerts(stack: Stack, channel: str, status: str) -> set[str]:
    """Alert names a webhook receiver got in ``status`` (Alertmanager's v4 JSON body)."""
    return {
        a["labels"]["alertname"]
        for body in stack.inbox.of(channel)
        for a in body["alerts"]
        if a["status"] == status
    }


def card_title(message: dict[str, Any]) -> str:
    """The title line of a Teams Adaptive Card message."""
    return str(message["attachments"][0]["content"]["body"][0]["text"])


def pagerduty_events(stack: Stack, action: str) -> dict[str, dict[str, Any]]:
    return {
        e["payload"]["summary"].split(":")[0]: e
        for e in stack.inbox.of("pagerduty")
        if e["event_action"] == action
    }


def test_breach_notifies_every_channel_and_resolves(stack: Stack) -> None:
    m = stack.metrics
    for check in ("database", "redis", "supabase", "openai", "disk"):
        m.gauge("glowops_health_check_up", 1, tags={"check": check})
    m.gauge("documents_queue_depth", 0)

    with Driver(stack) as driver:
        # --- breach: 20 % 500s, the database check fails, a backlog, 429s, permission denials
        driver.error_share = 0.2
        m.gauge("glowops_health_check_up", 0, tags={"check": "database"})
        m.gauge("documents_queue_depth", 1500)
        driver.counters = {
            "http_rate_limited": ("", {"route": "/v1/assistant/chat"}),
            "security_permission_denied": ("", {"action": "approve"}),
        }

        def breached() -> bool:
            return (
                {"HighErrorRate", "DatabaseConnectionFailures"} <= set(pagerduty_events(stack, "trigger"))
                and {"HighErrorRate", "DatabaseConnectionFailures"}
                <= webhook_alerts(stack, "error", "firing")
                and "DocumentQueueBacklog" in webhook_alerts(stack, "embedding", "firing")
                and "DocumentQueueBacklog" in webhook_alerts(stack, "telemetry", "firing")
                and "RateLimitRejections" in webhook_alerts(stack, "rate-limit", "firing")
                and any("PermissionDeniedSpike" in mail["subject"] for mail in stack.inbox.of("email"))
                and any(
                    "[FIRING" in card_title(c) and "HighErrorRate" in card_title(c)
                    for c in stack.inbox.of("teams")
                )
                and any("HighErrorRate" in str(s) for s in stack.inbox.of("slack"))
            )

        wait_for("the breach notifications", breached, stack, timeout=60)

        # PagerDuty Events v2: routing key, a stable dedup key, summary and the runbook link
        page = pagerduty_events(stack, "trigger")["HighErrorRate"]
        assert page["routing_key"] == ROUTING_KEY
        assert (
            page["payload"]["summary"]
            == "HighErrorRate: More than 5% of requests fail with 5xx (5 min window)"
        )
        assert page["payload"]["severity"] == "critical"
        assert any(link["href"].endswith("/docs/runbooks/alerts/HighErrorRate.md") for link in page["links"])
        # Slack: the summary and the runbook in the text
        slack = next(s for s in stack.inbox.of("slack") if "HighErrorRate" in s["attachments"][0]["title"])
        text = slack["attachments"][0]["text"]
        assert "More than 5% of requests fail with 5xx" in text
        assert (
            "Runbook: https://github.com/prisma-glow/glowops/blob/main/docs/runbooks/alerts/HighErrorRate.md"
            in text
        )
        # Teams (through the relay): an Adaptive Card with the summary and a runbook button
        card = next(
            c["attachments"][0]["content"]
            for c in stack.inbox.of("teams")
            if "HighErrorRate" in card_title(c)
        )
        assert card["type"] == "AdaptiveCard"
        assert any(
            "More than 5% of requests fail with 5xx" in block.get("text", "") for block in card["body"]
        )
        assert any(a["url"].endswith("/docs/runbooks/alerts/HighErrorRate.md") for a in card["actions"])
        # the spec's webhooks get Alertmanager's JSON with the annotations
        hook = next(
            a
            for body in stack.inbox.of("error")
            for a in body["alerts"]
            if a["labels"]["alertname"] == "DatabaseConnectionFailures"
        )
        assert hook["labels"]["check"] == "database"
        assert hook["annotations"]["runbook_url"].endswith("/DatabaseConnectionFailures.md")
        # routing: warnings never page, rate limits and the backlog reach their own webhooks
        assert "DocumentQueueBacklog" not in pagerduty_events(stack, "trigger")
        assert "RateLimitRejections" not in webhook_alerts(stack, "embedding", "firing")
        assert "HighErrorRate" not in webhook_alerts(stack, "telemetry", "firing")
        mail = next(mail for mail in stack.inbox.of("email") if "PermissionDeniedSpike" in mail["subject"])
        assert mail["to"] == ["oncall@example.com"]
        assert "Many permission checks refused" in mail["body"]
        assert "glowops_prismaglow/runbooks/alerts/PermissionDeniedSpike.md" in mail["body"]
        assert "ServiceDown" not in pagerduty_events(stack, "trigger")

        # --- recovery
        driver.error_share = 0.0
        driver.counters = {}
        m.gauge("glowops_health_check_up", 1, tags={"check": "database"})
        m.gauge("documents_queue_depth", 0)

        def recovered() -> bool:
            return (
                {"HighErrorRate", "DatabaseConnectionFailures"} <= set(pagerduty_events(stack, "resolve"))
                and {"HighErrorRate", "DatabaseConnectionFailures"}
                <= webhook_alerts(stack, "error", "resolved")
                and "DocumentQueueBacklog" in webhook_alerts(stack, "embedding", "resolved")
                and "RateLimitRejections" in webhook_alerts(stack, "rate-limit", "resolved")
                and any(
                    "RESOLVED" in mail["subject"] and "PermissionDeniedSpike" in mail["subject"]
                    for mail in stack.inbox.of("email")
                )
                and any(
                    "[RESOLVED]" in card_title(c) and "HighErrorRate" in card_title(c)
                    for c in stack.inbox.of("teams")
                )
            )

        wait_for("the resolve notifications", recovered, stack, timeout=60)

    resolved = pagerduty_events(stack, "resolve")["HighErrorRate"]
    assert resolved["dedup_key"] == pagerduty_events(stack, "trigger")["HighErrorRate"]["dedup_key"]

    # the dead man's switch went the whole way (Prometheus, Alertmanager, webhook) and nowhere else
    wait_for(
        "the Watchdog at the heartbeat receiver",
        lambda: "Watchdog" in webhook_alerts(stack, "heartbeat", "firing"),
        stack,
        timeout=60,
    )
    others = [body for channel, body in stack.inbox.items if channel != "heartbeat"]
    assert not any("Watchdog" in json.dumps(body) for body in others)


def test_critical_inhibits_warning_of_the_same_family(stack: Stack) -> None:
    """Posted straight to Alertmanager: the warning of a family with a firing critical is held back."""
    now = time.time()

    def alert(name: str, severity: str, family: str) -> dict[str, Any]:
        starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5))
        return {
            "labels": {"alertname": name, "severity": severity, "family": family, "service": "gateway"},
            "annotations": {"summary": name},
            "startsAt": starts,
        }

    # The critical first, until it has paged: Alertmanager's inhibitor reads alerts on its own
    # subscription, so a warning posted in the same call could be flushed before it sees the
    # critical on a loaded machine. In production the critical has fired long before.
    critical = [alert("HighErrorRate", "critical", "availability")]
    assert httpx.post(f"{stack.alertmanager_url}/api/v2/alerts", json=critical).status_code == 200
    wait_for("the page", lambda: "HighErrorRate" in pagerduty_events(stack, "trigger"), stack, timeout=60)
    warnings = [
        alert("ElevatedErrorRate", "warning", "availability"),
        alert("SlowResponsesP95", "warning", "latency"),
    ]
    assert httpx.post(f"{stack.alertmanager_url}/api/v2/alerts", json=warnings).status_code == 200
    wait_for(
        "the latency warning",
        lambda: "SlowResponsesP95" in webhook_alerts(stack, "telemetry", "firing"),
        stack,
        timeout=60,
    )
    time.sleep(2)  # a few more group intervals' worth of chances to leak
    assert "ElevatedErrorRate" not in webhook_alerts(stack, "telemetry", "firing")
    assert not any("ElevatedErrorRate" in json.dumps(s) for s in stack.inbox.of("slack"))
