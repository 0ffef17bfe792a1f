"""``glowops oncall now | show``: who is on call, from the on-call file (``GLOWOPS_ONCALL_FILE``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from glowops.alerting.oncall import OnCallPolicy, load_policy
from glowops.alerting.schedule import Schedule, ScheduleError, parse_local, table_rows
from glowops.settings import load_settings

app = typer.Typer(
    help="On-call schedules: who is on call now and when (rotations and overrides of the on-call file).",
    no_args_is_help=True,
)


def _policy() -> OnCallPolicy:
    settings = load_settings()
    try:
        policy = load_policy(settings.oncall_file)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if policy is None:
        typer.echo("error: no on-call file is configured (set GLOWOPS_ONCALL_FILE)", err=True)
        raise typer.Exit(2)
    if not policy.schedules:
        typer.echo("error: the on-call file has no 'schedules'", err=True)
        raise typer.Exit(2)
    return policy


def _pick(policy: OnCallPolicy, name: str | None) -> list[Schedule]:
    if name is None:
        return list(policy.schedules.values())
    if name not in policy.schedules:
        known = ", ".join(policy.schedules)
        typer.echo(f"error: no schedule {name!r} (schedules: {known})", err=True)
        raise typer.Exit(2)
    return [policy.schedules[name]]


@app.command("now")
def now(
    schedule: Annotated[str | None, typer.Option("--schedule", "-s", help="Only this schedule.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Another instant (ISO; naive = the schedule's zone).")
    ] = None,
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
        typer.echo(
            f"{s.name}: {person or 'nobody'} ({source}) until {shown_until}"
            + (f"  [{contacts}]" if contacts else "")
        )


def _instant(text: str, s: Schedule) -> float:
    try:
        return parse_local(text, s.tz, "--at/--from/--to").timestamp()
    except ScheduleError as err:
        raise typer.BadParameter(str(err)) from None


@app.command("show")
def show(
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO date or date-time; default now).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (default: 7 days after the start).")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", "-s", help="Only this schedule.")] = None,
) -> None:
    """Who is on call when between two instants, as a table in each schedule's time zone.

    Examples:

        glowops oncall show

        glowops oncall show --from 2026-12-21 --to 2027-01-04 --schedule primary
    """
    from rich.console import Console
    from rich.table import Table

    policy = _policy()
    console = Console(width=None if sys.stdout.isatty() else 160)
    for s in _pick(policy, schedule):
        start = _instant(from_, s) if from_ else time.time()
        end = _instant(to, s) if to else start + timedelta(days=7).total_seconds()
        if end <= start:
            raise typer.BadParameter("--to must be after --from")
        if end - start > 366 * 86400:
            raise typer.BadParameter("show at most a year at a time")
        table = Table(title=f"{s.name} ({s.tz}), {_utc(start)} to {_utc(end)}")
        for column in ("from", "to", "on call", "layer"):
            table.add_column(column, no_wrap=column != "layer")
        for row in table_rows(s, start, end):
            table.add_row(*row)
        console.print(table)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")
