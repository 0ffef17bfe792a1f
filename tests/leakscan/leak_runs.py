"""What a leak-scan run leaves in each sink (built by the fixtures in conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leak_corpus import Corpus, Secret
from leak_receivers import Recorder, SmtpServer

from peers import free_port


@dataclass
class GatewayRun:
    """What one gateway run left in each sink."""

    corpus: Corpus
    stdout: str
    recorder: Recorder
    pages: dict[str, str] = field(default_factory=dict)  # console pages, health, /metrics answers
    state_files: dict[str, bytes] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)  # every X-Request-ID the gateway answered


@dataclass
class AlertRun:
    """What the embedded engine delivered over every channel, for alerts carrying secrets."""

    corpus: Corpus
    recorder: Recorder
    mails: list[str]
    #: the rows glowops derives from alerts and people (outbox messages, history, silences and
    #: acknowledgements), per table. The series store and the engine's own state keep metric
    #: labels as /metrics exposes them, so they are not read here: this run plants secrets in
    #: metric labels on purpose, which no real service does (see docs/redaction.md).
    derived_rows: dict[str, list[str]]


def texts_of(bodies: list[Any]) -> list[str]:
    return [body.data.decode("utf-8", "replace") for body in bodies]


@dataclass(frozen=True)
class _Rule:
    name: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    for_seconds: float = 0
    keep_firing_for_seconds: float = 0


@dataclass(frozen=True)
class _Catalog:
    alerts: tuple[_Rule, ...]
    recording: tuple[()] = ()
    job: str = "leakscan"


def _secret_label(secret: Secret) -> str:
    return secret.value.replace("\n", " ")


def run_alerts(state: Path) -> AlertRun:
    """The embedded engine on a driven clock, alerts carrying secrets, every channel at a local receiver."""
    from prometheus_client import CollectorRegistry

    from glowops.alerting.dispatch import Timings
    from glowops.alerting.service import EmbeddedAlerting
    from glowops.settings import Settings
    from glowops.telemetry.metrics import Metrics

    corpus = Corpus.fresh()
    recorder = Recorder()
    smtp = SmtpServer(free_port())
    url = recorder.url
    settings = Settings(
        state_dir=state,
        service_name="leakscan",
        slack_webhook_url=f"{url}/slack",
        teams_webhook_url=f"{url}/teams",
        pagerduty_routing_key="R0UT1NGKEY0000000000000000000000",
        pagerduty_events_url=f"{url}/pagerduty/v2/enqueue",
        error_notify_webhook=f"{url}/webhook/error",
        telemetry_alert_webhook=f"{url}/webhook/telemetry",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        alert_email_to=["oncall@leakscan.example"],
        external_url="http://glowops.test:8000",
        scrape_interval_seconds=15.0,
        evaluation_interval_seconds=15.0,
    )
    everything = " ".join(_secret_label(s) for s in corpus.secrets)
    look = " ".join(corpus.look_alikes.values())
    # Labels from the series (a health check named after a secret) and from the rule itself.
    rules = tuple(
        _Rule(
            f"LeakScan{severity.title()}",
            "glowops_health_check_up == 0",
            {
                "severity": severity,
                "priority": "P1",
                "family": f"leakscan-{severity}",  # no inhibition between the three
                "marker": corpus.marker,
                **{f"s_{s.kind}": _secret_label(s) for s in corpus.secrets},
            },
            {
                "summary": f"{corpus.marker} {look} {everything}",
                "description": everything,
                "runbook_url": "https://runbooks.example/LeakScan.md",
            },
        )
        for severity in ("critical", "warning", "info")
    )
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    clock = [1_700_000_000.0]
    service = EmbeddedAlerting(
        settings,
        registry,
        catalog=_Catalog(rules),
        clock=lambda: clock[0],
        timings=Timings.uniform(group_wait=30, group_interval=60, repeat_interval=3600),
        record_metrics=False,
    )
    for secret in corpus.secrets:
        metrics.gauge(
            "glowops_health_check_up", 0, tags={"check": f"{corpus.marker} {_secret_label(secret)}"}
        )

    async def drive() -> None:
        for _ in range(12):  # three minutes on the engine's clock, every 15 s
            clock[0] += 15
            await service.tick()
        service.state.add_ack("LeakScanCritical", None, clock[0], "ops", f"{corpus.marker} {everything}")
        for _ in range(4):
            clock[0] += 15
            await service.tick()
        await service.stop()

    try:
        asyncio.run(drive())
    finally:
        smtp.stop()
    import sqlite3

    db = sqlite3.connect(state / "alerting.db")
    try:
        rows = {
            table: [repr(row) for row in db.execute(f"SELECT * FROM {table}")]
            for table in ("outbox", "alert_history", "silences", "acks")
        }
    finally:
        db.close()
    return AlertRun(corpus, recorder, list(smtp.messages), rows)
