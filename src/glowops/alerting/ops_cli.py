"""``glowops alerts status | history | silence | ack | unack | reassign | test-notify | outbox``.

The commands read and write the alerting state file (``<state_dir>/alerting.db``), so they
work while the service runs: a silence or an acknowledgement takes effect at its next
evaluation.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from glowops.alerting.cli import app
from glowops.alerting.outbox import Outbox
from glowops.alerting.state import StateStore, parse_matcher, state_path
from glowops.clikit import Group
from glowops.promql import parse_duration
from glowops.redaction import default_policy
from glowops.settings import load_settings

silence_app = Group(help="Mute alerts matching label matchers for a while.", no_args_is_help=True)
app.add_command(silence_app, "silence")


def _open() -> tuple[StateStore, Outbox]:
    settings = load_settings()
    path = state_path(settings)
    state = StateStore.open(path, default_policy(settings))
    return state, Outbox(state.db)


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command("status")
@click.option("--json", "as_json", is_flag=True, default=False, help="Machine-readable output.")
def status(
    as_json: bool,
) -> None:
    """Firing and pending alerts, silences, escalations and the outbox.

    Examples:

        glowops alerts status

        glowops alerts status --json | jq '.alerts[] | select(.state == "firing")'
    """
    from glowops.alerting.service import ENGINE_STATE_KEY

    state, outbox = _open()
    now = time.time()
    alerts = [a for a in state.get(ENGINE_STATE_KEY, []) or [] if a["state"] in ("pending", "firing")]
    silences = state.silences(now)
    escalations: list[dict[str, Any]] = []
    if state.db.execute("SELECT name FROM sqlite_master WHERE name = 'oncall_escalations'").fetchone():
        escalations = [json.loads(row[0]) for row in state.db.execute("SELECT data FROM oncall_escalations")]
    report: dict[str, Any] = {
        "alerts": alerts,
        "silences": [{"id": s.id, "matchers": s.describe(), "ends_at": s.ends_at} for s in silences],
        "escalations": [
            {
                "alertname": e["alertname"],
                "priority": e["priority"],
                "level": e["level"],
                "acknowledged_by": e["ack_by"],
                "acknowledged_until": e["ack_until"],
                "next_step_at": e["next_at"],
                "assignee": e["assignee"],
            }
            for e in escalations
        ],
        "outbox": {"pending": outbox.depth(), "dead": len(outbox.messages("dead", limit=10_000))},
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if not alerts:
        click.echo("No alerts pending or firing.")
    for a in sorted(alerts, key=lambda a: (a["state"], a["rule"])):
        labels = a["labels"]
        since = _when((a.get("fired_at") or a["active_at"]) / 1000)
        click.echo(
            f"{a['state'].upper():8} {a['rule']:32} {labels.get('severity', ''):8} "
            f"{labels.get('priority', ''):3} since {since}  {a['annotations'].get('summary', '')}"
        )
    for s in report["silences"]:
        click.echo(f"silence {s['id']}: {s['matchers']} until {_when(s['ends_at'])}")
    for e in report["escalations"]:
        if e["acknowledged_by"]:
            where = f"acknowledged by {e['acknowledged_by']} until {_when(e['acknowledged_until'])}"
        elif e["next_step_at"] is not None:
            where = f"next step {_when(e['next_step_at'])}"
        else:
            where = "end of the chain"
        click.echo(
            f"escalation {e['alertname']} ({e['priority']}): level {e['level']}, {where}"
            + (f", assigned to {e['assignee']}" if e["assignee"] else "")
        )
    click.echo(f"outbox: {report['outbox']['pending']} pending, {report['outbox']['dead']} dead letter(s)")


@app.command("history")
@click.option(
    "--limit",
    "-n",
    "limit",
    type=click.IntRange(min=1),
    default=30,
    help="How many state changes.",
    show_default=True,
)
@click.option("--alert", "alert", default=None, help="Only this alert name.")
def history(
    limit: int,
    alert: str | None,
) -> None:
    """Alert state changes (pending, firing, inactive = resolved), newest first.

    Examples:

        glowops alerts history -n 100

        glowops alerts history --alert HighErrorRate
    """
    state, _ = _open()
    rows = state.history(limit, alert)
    if not rows:
        click.echo("No alert history yet.")
    for row in rows:
        shown = "resolved" if row["state"] == "inactive" else row["state"]
        click.echo(
            f"{_when(row['at'])}  {shown:8} {row['alertname']:32} {row['severity']:8} {row['summary']}"
        )


@silence_app.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", "-d", "duration", default="2h", help="How long: 30m, 2h, 1d.", show_default=True)
@click.option("--comment", "-c", "comment", default="", help="Why (shown in status).", show_default=True)
@click.option("--by", "by", default=None, help="Who (default: your user name).")
def silence_add(
    matchers: tuple[str, ...],
    duration: str,
    comment: str,
    by: str | None,
) -> None:
    """Silence alerts matching every matcher for a while.

    Examples:

        glowops alerts silence add alertname=BackupStale -d 4h -c "storage migration"

        glowops alerts silence add family=indexing 'severity=~"warning|info"' -d 30m
    """
    try:
        parsed = [parse_matcher(m) for m in matchers]
        seconds = parse_duration(duration)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    state, _ = _open()
    now = time.time()
    sid = state.add_silence(parsed, now, now + seconds, by or getpass.getuser(), comment)
    click.echo(f"silence {sid} active until {_when(now + seconds)}")


@silence_app.command("list")
@click.option("--all", "all_", is_flag=True, default=False, help="Include expired silences.")
def silence_list(
    all_: bool,
) -> None:
    """Active silences (or all of them)."""
    state, _ = _open()
    now = time.time()
    silences = state.silences(None if all_ else now)
    if not silences:
        click.echo("No silences.")
    for s in silences:
        mark = "active " if s.active(now) else "expired"
        click.echo(f"{s.id} {mark} {s.describe()} until {_when(s.ends_at)} by {s.created_by}: {s.comment}")


@silence_app.command("expire")
@click.argument("silence_id")
def silence_expire(
    silence_id: str,
) -> None:
    """End a silence now."""
    state, _ = _open()
    if not state.expire_silence(silence_id, time.time()):
        click.echo(f"no active silence {silence_id!r}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"silence {silence_id} expired")


@app.command("ack")
@click.argument("alertname")
@click.option("--fingerprint", "fingerprint", default=None, help="Only this instance.")
@click.option("--by", "by", default=None, help="Who (default: your user name).")
@click.option("--comment", "-c", "comment", default="", show_default=True)
def ack(
    alertname: str,
    fingerprint: str | None,
    by: str | None,
    comment: str,
) -> None:
    """Acknowledge a firing alert: stops its escalation and acknowledges the PagerDuty incident.

    Examples:

        glowops alerts ack HighErrorRate -c "looking into it"
    """
    from glowops.alerting.service import ENGINE_STATE_KEY

    state, _ = _open()
    firing = [
        a for a in state.get(ENGINE_STATE_KEY, []) or [] if a["state"] == "firing" and a["rule"] == alertname
    ]
    if not firing:
        click.echo(
            f"warning: {alertname} is not firing now; the acknowledgement is recorded anyway", err=True
        )
    state.add_ack(alertname, fingerprint, time.time(), by or getpass.getuser(), comment)
    click.echo(f"acknowledged {alertname}" + (f" ({fingerprint})" if fingerprint else ""))


@app.command("unack")
@click.argument("alertname")
@click.option("--fingerprint", "fingerprint", default=None, help="Only this instance.")
@click.option("--by", "by", default=None, help="Who (default: your user name).")
@click.option("--comment", "-c", "comment", default="", show_default=True)
def unack(
    alertname: str,
    fingerprint: str | None,
    by: str | None,
    comment: str,
) -> None:
    """Take an acknowledgement back: the current escalation level is paged again now.

    Examples:

        glowops alerts unack HighErrorRate -c "not mine after all"
    """
    state, _ = _open()
    state.add_action("unack", alertname, fingerprint, None, time.time(), by or getpass.getuser(), comment)
    click.echo(f"un-acknowledged {alertname}: the current level is paged again at the next evaluation")


@app.command("reassign")
@click.argument("alertname")
@click.option("--to", "to", required=True, help="A person or a schedule of the on-call file.")
@click.option("--fingerprint", "fingerprint", default=None, help="Only this instance.")
@click.option("--by", "by", default=None, help="Who (default: your user name).")
@click.option("--comment", "-c", "comment", default="", show_default=True)
def reassign(
    alertname: str,
    to: str,
    fingerprint: str | None,
    by: str | None,
    comment: str,
) -> None:
    """Hand a firing alert to someone else: they are paged now; without their ack it escalates.

    Examples:

        glowops alerts reassign HighErrorRate --to bob -c "bob owns the payments service"

        glowops alerts reassign BackupStale --to database-oncall
    """
    from glowops.alerting.oncall import load_policy

    settings = load_settings()
    try:
        policy = load_policy(settings.oncall_file)
    except ValueError as err:
        click.echo(str(err), err=True)
        raise click.exceptions.Exit(2) from None
    if policy is None:
        click.echo("no on-call file is configured (GLOWOPS_ONCALL_FILE): nobody to re-assign to", err=True)
        raise click.exceptions.Exit(2)
    if to not in policy.people and to not in policy.schedules:
        known = ", ".join(sorted([*policy.people, *policy.schedules])) or "none"
        click.echo(
            f"{to!r} is neither a person nor a schedule of the on-call file (known: {known})", err=True
        )
        raise click.exceptions.Exit(2)
    state, _ = _open()
    state.add_action("reassign", alertname, fingerprint, to, time.time(), by or getpass.getuser(), comment)
    click.echo(f"re-assigned {alertname} to {to}: paged at the next evaluation")


@app.command("test-notify")
@click.argument("channel")
def test_notify(
    channel: str,
) -> None:
    """Send a test notification through CHANNEL now and report what the receiver answered.

    The message goes through the outbox like any other (a failure is retried by the service).

    Examples:

        glowops alerts test-notify slack

        GLOWOPS_SMTP_HOST=127.0.0.1 glowops alerts test-notify email
    """
    import httpx

    from glowops.alerting.channels import build_notifiers
    from glowops.alerting.delivery import Deliverer

    settings = load_settings()
    _, outbox = _open()
    now = time.time()
    key = f"test-{channel}-{int(now * 1000)}"
    runbook = f"{settings.alert_runbook_base_url.rstrip('/')}/docs/runbooks/alerts/README.md"
    labels = {"alertname": "GlowopsTestNotification", "severity": "info", "service": settings.service_name}
    annotations = {
        "summary": "Test notification from glowops",
        "runbook_url": runbook,
        "description": f"Sent by `glowops alerts test-notify {channel}`; no action needed.",
    }
    payload = {
        "kind": "test",
        "receiver": channel,
        "status": "firing",
        "group_key": f"test:{channel}",
        "group_labels": {"alertname": labels["alertname"]},
        "common_labels": labels,
        "common_annotations": annotations,
        "external_url": settings.external_url,
        "dedup_key": f"glowops-test-{channel}",
        "idempotency_key": key,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": _when(now),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": settings.external_url,
                "fingerprint": "test",
            }
        ],
    }

    async def send() -> list[tuple[str, str]]:
        outcomes: list[tuple[str, str]] = []
        async with httpx.AsyncClient(timeout=10) as client:
            notifiers = build_notifiers(settings, client)
            if channel not in notifiers or channel == "webhook":
                configured = ", ".join(sorted(c for c in notifiers if c != "webhook")) or "none"
                click.echo(f"channel {channel!r} is not configured (configured: {configured})", err=True)
                raise click.exceptions.Exit(2)
            outbox.enqueue(channel, payload, key, now)
            deliverer = Deliverer(
                outbox, {channel: notifiers[channel]}, on_outcome=lambda c, o: outcomes.append((c, o))
            )
            await deliverer.run_once(now)
        return outcomes

    asyncio.run(send())
    message = next(m for m in outbox.messages(limit=100) if m.idempotency_key == key)
    if message.status == "sent":
        click.echo(f"sent to {channel} (idempotency key {key})")
        return
    click.echo(f"{channel}: {message.status}: {message.last_error}", err=True)
    raise click.exceptions.Exit(1)


@app.command("outbox")
@click.option("--dead", "dead", is_flag=True, default=False, help="Show only dead letters.")
@click.option("--requeue", "requeue", type=int, default=None, help="Put this dead letter back in the queue.")
@click.option("--limit", "-n", "limit", type=click.IntRange(min=1), default=30, show_default=True)
def outbox_command(
    dead: bool,
    requeue: int | None,
    limit: int,
) -> None:
    """Notifications waiting, sent and dead-lettered (4xx answers, or undelivered for 24 h).

    Examples:

        glowops alerts outbox --dead

        glowops alerts outbox --requeue 42
    """
    _, box = _open()
    if requeue is not None:
        if not box.requeue(requeue, time.time()):
            click.echo(f"no dead letter with id {requeue}", err=True)
            raise click.exceptions.Exit(1)
        click.echo(f"message {requeue} queued again")
        return
    messages = box.messages("dead" if dead else None, limit)
    click.echo(f"{box.depth()} pending, {len(box.messages('dead', limit=10_000))} dead letter(s)")
    for m in messages:
        title = m.payload.get("common_labels", {}).get("alertname", "")
        click.echo(
            f"#{m.id:<5} {m.status:7} {m.channel:18} attempts={m.attempts} {title} "
            f"created {_when(m.created_at)}" + (f"  last error: {m.last_error}" if m.last_error else "")
        )
