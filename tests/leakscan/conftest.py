"""The leak scan's runs: a real gateway process with every sink at a local receiver, and the
embedded alert engine delivering over every channel. Each runs once per module; the tests then
read back one sink each."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from leak_corpus import Corpus
from leak_receivers import Recorder
from leak_runs import AlertRun, GatewayRun, run_alerts

from peers import free_port, wait_ready

PASSWORD = "leak scan battery staple"
CLOSE = {"Connection": "close"}
USER = "preparer@leakscan.example"


def _gateway_binary() -> str:
    found = shutil.which("prisma-glow-gateway", path=str(Path(sys.executable).parent))
    assert found, "prisma-glow-gateway is not installed in this environment (make env)"
    return found


def _header_safe(value: str) -> bool:
    return value.isascii() and "\n" not in value and "\r" not in value


def _traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def _plant(client: httpx.Client, corpus: Corpus, token: str, ops_token: str, answered: list[str]) -> None:
    """Every secret, in every spelling, through every request channel."""
    look = corpus.look_alike_query()

    def note(response: httpx.Response) -> None:
        answered.append(response.headers.get("x-request-id", ""))

    for secret in corpus.secrets:
        for text in secret.spellings().values():
            if "\n" in text:  # a URL cannot hold a raw newline: the encoded spellings carry it
                continue
            plain = secret.value
            headers: dict[str, str] = {
                "traceparent": _traceparent(),
                "tracestate": f"ls={quote(plain, safe='')[:200]}",
            }
            if _header_safe(plain):
                headers |= {
                    "Referer": f"https://app.example.test/search?q={quote_plus(plain)}&{look}",
                    "User-Agent": f"leakscan/1.0 ({plain})",
                    "X-Request-ID": plain.replace(" ", "-"),
                    "X-Note": plain,
                    "X-Api-Key": plain,
                    "Cookie": f"session={quote(plain, safe='')}; theme=dark",
                    "Authorization": f"Bearer {plain}",
                    "X-Forwarded-For": plain,
                }
            # query (as spelled) and look-alikes on a route that fails: a Sentry event each
            # (uvicorn closes the connection after an unhandled error: a fresh one each time)
            # (the diagnostics routes need the ops token: the secret Authorization goes to the path)
            ops = CLOSE | {"Authorization": f"Bearer {ops_token}"}
            note(client.get(f"/diagnostics/error?q={text}&{look}", headers=headers | ops))
            # the path (the ASGI scope holds it decoded)
            path = f"/v1/things/{quote(plain, safe='')}/{corpus.marker}/{corpus.look_alikes['uuid']}"
            note(client.get(path, headers=headers))
        # JSON body and login
        note(client.post("/auth/login", json={"email": secret.value, "password": secret.value}))
    # the client-chosen Host of an error
    email = next(s for s in corpus.secrets if s.kind == "email").value
    ops = CLOSE | {"Authorization": f"Bearer {ops_token}"}
    note(client.get(f"/diagnostics/error?{look}", headers={"Host": email} | ops))
    everything = "\n".join(s.value for s in corpus.secrets)
    auth = {"Authorization": f"Bearer {token}"}
    # a multipart upload and a JSON body of a signed-in user
    note(
        client.post(
            "/documents",
            headers=auth,
            files={"file": ("notes.txt", f"{corpus.marker}\n{everything}".encode(), "text/plain")},
        )
    )
    note(
        client.post(
            "/approvals",
            headers=auth,
            json={"document_id": corpus.look_alikes["uuid"], "amount": 12.5, "note": everything},
        )
    )
    # the Teams relay (Alertmanager's webhook) with secrets in labels and annotations
    labels = {"alertname": "LeakScan", "severity": "warning", "marker": corpus.marker}
    labels |= {f"s_{s.kind}": s.value for s in corpus.secrets}
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="LeakScan"}',
        "status": "firing",
        "receiver": "teams",
        "groupLabels": {"alertname": "LeakScan"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"{corpus.marker} {everything}"},
        "externalURL": "http://am",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": "f1",
                "startsAt": "2026-12-02T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "labels": labels,
                "annotations": {"summary": f"{corpus.marker} {look}", "description": everything},
            }
        ],
    }
    relayed = client.post(
        "/ops/alertmanager/teams", json=body, headers={"Authorization": f"Bearer {ops_token}"}
    )
    assert relayed.status_code == 200, relayed.text


def _plant_forms(client: httpx.Client, corpus: Corpus, answered: list[str]) -> None:
    """A form (the console's login) with each value as the token and its HTML-entity spelling.

    Last: wrong ops tokens make the ops guard hold off the client for a while (429)."""
    for secret in corpus.secrets:
        data = {"token": secret.value, "next": "/ops?" + secret.spellings()["entities"]}
        answered.append(client.post("/ops/login", data=data).headers.get("x-request-id", ""))


def _console(client: httpx.Client, corpus: Corpus, ops_token: str, pages: dict[str, str]) -> None:
    """Sign in to the console, plant secrets in a silence and an acknowledgement, read the pages."""
    import re

    login = client.post("/ops/login", data={"token": ops_token, "next": "/ops/alerts"})
    assert login.status_code == 303, login.text
    page = client.get("/ops/alerts").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page[:500]
    everything = " ".join(s.value.replace("\n", " ") for s in corpus.secrets)
    look = " ".join(corpus.look_alikes.values())
    email = next(s for s in corpus.secrets if s.kind == "email").value
    silenced = client.post(
        "/ops/alerts/silence",
        data={
            "csrf": csrf.group(1),
            "matchers": "alertname=LeakScan",
            "duration": "1h",
            "by": email,
            "comment": f"{corpus.marker} {look} {everything}",
        },
    )
    assert silenced.status_code == 303, silenced.text
    acked = client.post(
        "/ops/alerts/ack",
        data={
            "csrf": csrf.group(1),
            "alertname": "LeakScan",
            "by": "ops",
            "comment": f"{corpus.marker} {everything}",
        },
    )
    assert acked.status_code == 303, acked.text
    for path in ("/ops", "/ops/alerts", "/ops/health", "/ops/backups"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        pages[f"console {path}"] = answer.text


def _read_sinks(client: httpx.Client, ops_token: str, pages: dict[str, str]) -> None:
    bearer = {"Authorization": f"Bearer {ops_token}"}
    for path in ("/health", "/health/live", "/health/ready", "/health/db", "/health/dependencies"):
        pages[f"health {path}"] = client.get(path).text
        pages[f"health {path} (ops token)"] = client.get(path, headers=bearer).text
    metrics = client.get("/metrics", headers=bearer)
    assert metrics.status_code == 200
    pages["metrics"] = metrics.text


@pytest.fixture(scope="module")
def gateway_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayRun]:
    corpus = Corpus.fresh()
    root = tmp_path_factory.mktemp("leakscan")
    state = root / "var"
    recorder = Recorder()
    port = free_port()
    ops_token = "ops-" + secrets.token_hex(16)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GLOWOPS_", "SENTRY_", "OTEL_", "GATEWAY_"))
        },
        "GLOWOPS_STATE_DIR": str(state),
        "GLOWOPS_PORT": str(port),
        "GLOWOPS_HOST": "127.0.0.1",
        "GLOWOPS_LOG_LEVEL": "DEBUG",  # driver debug lines included
        "GLOWOPS_OPS_TOKEN": ops_token,
        "GLOWOPS_DIAGNOSTICS": "1",
        "GLOWOPS_RATE_LIMIT_PER_MINUTE": "0",
        "GLOWOPS_SENTRY_RATE_LIMIT_PER_MINUTE": "100000",
        "GLOWOPS_TEAMS_WEBHOOK_URL": f"{recorder.url}/teams",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{recorder.port}/1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": recorder.url,
        "GLOWOPS_SECRET_KEY": "leakscan-secret-key-0123456789abcdef",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    log_path = root / "gateway.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [_gateway_binary(), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root
    )
    pages: dict[str, str] = {}
    answered: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/health/live", server, timeout=180, log=log_path)
        with httpx.Client(base_url=base, timeout=30) as client:
            seeded = client.post(
                "/admin/bootstrap",
                headers={"Authorization": f"Bearer {ops_token}"},
                json={
                    "orgs": [
                        {
                            "slug": "leakscan",
                            "name": "Leak Scan",
                            "users": [{"email": USER, "password": PASSWORD, "role": "preparer"}],
                        }
                    ]
                },
            )
            assert seeded.status_code == 200, seeded.text
            login = client.post("/auth/login", json={"email": USER, "password": PASSWORD})
            assert login.status_code == 200, login.text
            _plant(client, corpus, login.json()["access_token"], ops_token, answered)
            _console(client, corpus, ops_token, pages)
            _read_sinks(client, ops_token, pages)
            _plant_forms(client, corpus, answered)
    finally:
        server.terminate()  # a clean shutdown flushes the span exporter and Sentry
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
    files = {str(p.relative_to(state)): p.read_bytes() for p in state.rglob("*") if p.is_file()}
    run = GatewayRun(corpus, log_path.read_text(errors="replace"), recorder, pages, files, answered)
    yield run
    recorder.stop()


@pytest.fixture(scope="module")
def alert_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertRun]:
    run = run_alerts(tmp_path_factory.mktemp("leakscan-alerts") / "var")
    yield run
    run.recorder.stop()
