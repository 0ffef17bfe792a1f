"""The leak scan: secrets of every kind through every request channel, every sink read back.

One gateway process runs with every sink pointed at local receivers (Sentry, OTLP, the Teams
relay's webhook); a fresh corpus of secrets (``leak_corpus``) is sent in plain, percent-, form-
and entity-encoded spellings through the path, the query, ten headers (Referer, User-Agent,
X-Request-ID, Authorization, Cookie, X-Api-Key, X-Forwarded-For, Host, tracestate...), JSON
bodies, logins, a multipart upload, forms, the console's silence and acknowledgement forms and
the Teams relay. The embedded alert engine separately delivers alerts whose labels and
annotations carry the same kinds over webhook, PagerDuty, Slack, Teams and e-mail.

Then every sink is decoded and searched (``leak_scan``): zero secrets anywhere, every look-alike
intact, and in each sink a positive control (the run's marker, or what the sink must hold) so
that an empty sink cannot pass.
"""

from __future__ import annotations

import re

import pytest
from leak_runs import AlertRun, GatewayRun, texts_of
from leak_scan import envelope_texts, find_leaks, missing, otlp_texts

pytestmark = pytest.mark.slow

#: the gateway's own data (its database, its uploaded documents): the application's, not a glowops sink
APP_DATA = ("glowops.db", "documents/")


def _no_leaks(sink: str, texts: list[str], run: GatewayRun | AlertRun) -> None:
    leaks = find_leaks(sink, texts, run.corpus.secrets)
    assert not leaks, f"{len(leaks)} leaks: {leaks}"


# --- the gateway's sinks ----------------------------------------------------------------------------
def test_stdout_logs(gateway_run: GatewayRun) -> None:
    lines = gateway_run.stdout.splitlines()
    assert len(lines) > 300  # every request logged, driver debug lines included
    assert any('"logger":"aiosqlite"' in line for line in lines)  # DEBUG really was on
    _no_leaks("stdout", lines, gateway_run)
    corpus = gateway_run.corpus
    assert not missing(lines, [corpus.marker, corpus.look_alikes["uuid"]])  # path of the 404s


def test_request_ids_echoed(gateway_run: GatewayRun) -> None:
    ids = gateway_run.request_ids
    assert ids and all(ids)
    _no_leaks("X-Request-ID answers", ids, gateway_run)


def test_sentry_events(gateway_run: GatewayRun) -> None:
    bodies = gateway_run.recorder.bodies("/api/")
    texts = [text for body in bodies for text in envelope_texts(body.data)]
    events = sum(body.data.count(b'"type":"event"') for body in bodies)
    secrets = len(gateway_run.corpus.secrets)
    assert events >= secrets * 3, events  # one per /diagnostics/error request
    _no_leaks("sentry", texts, gateway_run)
    corpus = gateway_run.corpus
    wanted = [corpus.marker, *corpus.look_alikes.values()]  # the query string, kept readable
    assert not missing(texts, wanted)
    urls = re.findall(r'"url": ?"([^"]+)"', "\n".join(texts))
    assert urls and all("@" not in url for url in urls)  # never rebuilt from a hostile Host


def test_otlp_spans(gateway_run: GatewayRun) -> None:
    bodies = gateway_run.recorder.bodies("/v1/traces")
    assert bodies
    texts = [text for body in bodies for text in otlp_texts(body.data)]
    _no_leaks("otlp", texts, gateway_run)
    assert not missing(texts, [gateway_run.corpus.marker, gateway_run.corpus.look_alikes["uuid"]])
    assert any("traceState" in text or "ls=" in text for text in texts)  # tracestate exported, masked


def test_metrics(gateway_run: GatewayRun) -> None:
    text = gateway_run.pages["metrics"]
    assert "http_requests_total" in text and "glowops_request_ids_replaced_total" in text
    _no_leaks("metrics", [text], gateway_run)


def test_console_pages(gateway_run: GatewayRun) -> None:
    pages = {name: text for name, text in gateway_run.pages.items() if name.startswith("console")}
    assert len(pages) == 4
    _no_leaks("console", list(pages.values()), gateway_run)
    alerts = pages["console /ops/alerts"]
    assert gateway_run.corpus.marker in alerts  # the silence comment is shown, masked where needed
    assert not missing([alerts], list(gateway_run.corpus.look_alikes.values())[:5])


def test_health_answers(gateway_run: GatewayRun) -> None:
    pages = [text for name, text in gateway_run.pages.items() if name.startswith("health")]
    assert len(pages) == 10 and all('"status"' in text for text in pages)
    _no_leaks("health", pages, gateway_run)


def test_teams_relay_delivery(gateway_run: GatewayRun) -> None:
    texts = texts_of(gateway_run.recorder.bodies("/teams"))
    assert texts and any(gateway_run.corpus.marker in text for text in texts)
    _no_leaks("teams relay", texts, gateway_run)


def test_state_files(gateway_run: GatewayRun) -> None:
    files = {name: data for name, data in gateway_run.state_files.items() if not name.startswith(APP_DATA)}
    assert any(name.startswith("alerting.db") for name in files)
    texts = [data.decode("latin-1") for data in files.values()]
    leaks = [
        leak
        for name, data in files.items()
        for leak in find_leaks(f"state file {name}", [data.decode("latin-1")], gateway_run.corpus.secrets)
    ]
    assert not leaks, f"{len(leaks)} leaks: {leaks}"
    assert gateway_run.corpus.marker in "".join(texts)  # the silence comment was stored


# --- the alert engine's deliveries ----------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["/webhook/", "/pagerduty/", "/slack", "/teams"])
def test_alert_deliveries_over_http(alert_run: AlertRun, channel: str) -> None:
    texts = texts_of(alert_run.recorder.bodies(channel))
    assert texts and any(alert_run.corpus.marker in text for text in texts), channel
    _no_leaks(f"alert {channel}", texts, alert_run)
    if channel == "/webhook/":
        assert not missing(texts, list(alert_run.corpus.look_alikes.values()))


def test_alert_deliveries_by_email(alert_run: AlertRun) -> None:
    assert alert_run.mails and any(alert_run.corpus.marker in mail for mail in alert_run.mails)
    _no_leaks("alert e-mail", alert_run.mails, alert_run)


def test_pagerduty_acknowledgement_and_engine_state(alert_run: AlertRun) -> None:
    acks = [t for t in texts_of(alert_run.recorder.bodies("/pagerduty/")) if '"acknowledge"' in t]
    assert acks
    rows = alert_run.derived_rows
    assert rows["outbox"] and rows["alert_history"] and rows["acks"]
    texts = [row for table in rows.values() for row in table]
    assert alert_run.corpus.marker in "".join(rows["acks"])  # the comment is stored, masked
    _no_leaks("alert state rows", texts, alert_run)
