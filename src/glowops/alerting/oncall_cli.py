"""``glowops oncall now | show``: who is on call, from the on-call file (``GLOWOPS_ONCALL_FILE``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import click

from glowops.alerting.oncall import OnCallPolicy, load_policy
from glowops.alerting.schedule import Schedule, ScheduleError, parse_local, table_rows
from glowops.clikit import Group, print_table
from glowops.settings import load_settings

app = Group(
    help="On-call schedules: who is on call now and when (rotations and overrides of the on-call file).",
    no_args_is_help=True,
)


def _policy() -> OnCallPolicy:
    settings = load_settings()
    try:
        policy = load_policy(settings.oncall_file)
    except ValueError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(2) from None
    if policy is None:
        click.echo("error: no on-call file is configured (set GLOWOPS_ONCALL_FILE)", err=True)
        raise click.exceptions.Exit(2)
    if not policy.schedules:
        click.echo("error: the on-call file has no 'schedules'", err=True)
        raise click.exceptions.Exit(2)
    return policy


def _pick(policy: OnCallPolicy, name: str | None) -> list[Schedule]:
    if name is None:
        return list(policy.schedules.values())
    if name not in policy.schedules:
        known = ", ".join(policy.schedules)
        click.echo(f"error: no schedule {name!r} (schedules: {known})", err=True)
        raise click.exceptions.Exit(2)
    return [policy.schedules[name]]


@app.command("now")
@click.option("--schedule", "-s", "schedule", default=None, help="Only this schedule.")
@click.option("--at", "at", default=None, help="Another instant (ISO; naive = the schedule's zone).")
def now(
    schedule: str | None,
    at: str | None,
) -> None:
    """Who is on call right now in every schedule, and until when.

    Examples:

        glowops oncall now

        glowops oncall now --schedule primary --at 2026-12-24T20:00
    """
    policy = _policy()
    for s in _pick(policy, schedule):
        t = _instant(at, s) if at else time.time()
        person, source = s.who(t)
        until = next((seg.end for seg in s.segments(t, t + 35 * 86400)), None)
        shown_until = datetime.fromtimestamp(until, s.tz).strftime("%a %Y-%m-%d %H:%M %Z") if until else "-"
        contacts = ", ".join(f"{k}" for k, _ in policy.people[person].contacts) if person else ""
        click.echo(
            f"{s.name}: {person or 'nobody'} ({source}) until {shown_until}"
            + (f"  [{contacts}]" if contacts else "")
        )


def _instant(text: str, s: Schedule) -> float:
    try:
        return parse_local(text, s.tz, "--at/--from/--to").timestamp()
    except ScheduleError as err:
        raise click.BadParameter(str(err)) from None


@app.command("show")
@click.option("--from", "from_", default=None, help="Start (ISO date or date-time; default now).")
@click.option("--to", "to", default=None, help="End (default: 7 days after the start).")
@click.option("--schedule", "-s", "schedule", default=None, help="Only this schedule.")
def show(
    from_: str | None,
    to: str | None,
    schedule: str | None,
) -> None:
    """Who is on call when between two instants, as a table in each schedule's time zone.

    Examples:

        glowops oncall show

        glowops oncall show --from 2026-12-21 --to 2027-01-04 --schedule primary
    """
    policy = _policy()
    width = None if sys.stdout.isatty() else 160
    for s in _pick(policy, schedule):
        start = _instant(from_, s) if from_ else time.time()
        end = _instant(to, s) if to else start + timedelta(days=7).total_seconds()
        if end <= start:
            raise click.BadParameter("--to must be after --from")
        if end - start > 366 * 86400:
            raise click.BadParameter("show at most a year at a time")
        title = f"{s.name} ({s.tz}), {_utc(start)} to {_utc(end)}"
        rows = table_rows(s, start, end)
        columns = ("from", "to", "on call", "layer")
        print_table(title, columns, rows, width=width, no_wrap=("from", "to", "on call"))


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")
