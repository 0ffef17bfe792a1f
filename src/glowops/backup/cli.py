"""``glowops backup``: run, list, check, prune, verify and restore backups.

Examples::

    glowops backup run                          # custom-format pg_dump of DATABASE_URL
    glowops backup run --format directory --jobs 4 --globals
    glowops backup list --json
    glowops backup status                       # exits 1 when the newest good backup is > 26 h old
    glowops backup verify                       # checksum + TOC + restore drill of the newest backup
    glowops backup prune --dry-run
    glowops backup restore 20250101T020000Z-ab12 --to postgresql://postgres@127.0.0.1/restored
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NoReturn

import click

from glowops.backup.errors import BackupError
from glowops.backup.keys import trusted
from glowops.backup.manifest import Manifest
from glowops.backup.progress import human_bytes
from glowops.backup.retention import plan_retention
from glowops.backup.status import MAX_AGE_HOURS, StoreStatus, policy_of, retention_items, summarize
from glowops.backup.store import BackupStore, LocalStore, open_store
from glowops.clikit import Group, print_table
from glowops.settings import Settings, load_settings

app = Group(
    help="Backups that are proven by restoring them: run, list, status, prune, verify, restore, schedule.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"glowops backup: {message}", err=True)
    raise click.exceptions.Exit(code)


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM (cron timeout, Kubernetes eviction) like Ctrl-C, so the run is recorded as
    failed ("interrupted") and pg_dump is stopped, instead of vanishing mid-write."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, handler)


def _context() -> tuple[Settings, BackupStore]:
    settings = load_settings()
    try:
        return settings, open_store(settings)
    except Exception as err:
        _fail(f"cannot open the backup store: {err}")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


@app.command("run")
@click.option(
    "--format",
    "-F",
    "fmt",
    default="custom",
    help="custom (one file) or directory (parallel).",
    show_default=True,
)
@click.option(
    "--jobs",
    "-j",
    "jobs",
    type=click.IntRange(min=1, max=64),
    default=1,
    help="pg_dump jobs (directory format).",
    show_default=True,
)
@click.option(
    "--globals",
    "include_globals",
    is_flag=True,
    default=False,
    help="Also dump roles/tablespaces (pg_dumpall --globals-only, without password hashes).",
)
@click.option("--database-url", "database_url", default=None, help="Default: DATABASE_URL.")
@click.option("--quiet", "-q", "quiet", is_flag=True, default=False, help="No progress output.")
def run(
    fmt: str,
    jobs: int,
    include_globals: bool,
    database_url: str | None,
    quiet: bool,
) -> None:
    """Back up the database (PostgreSQL via pg_dump, SQLite via its online backup API).

    The manifest (id, versions, times, size, sha256, per-table row counts taken in the dump's
    snapshot) is written last and atomically; a failed run is recorded as failed and the
    command exits 1 with the reason.

    Examples: `glowops backup run`, `glowops backup run --format directory --jobs 4`.
    """
    from glowops.backup.runner import RunOptions, run_backup

    if fmt not in ("custom", "directory"):
        _fail(f"--format must be custom or directory, not {fmt!r}", 2)
    settings, store = _context()
    _interrupt_on_sigterm()
    options = RunOptions(database_url, fmt, jobs, include_globals, show_progress=not quiet)  # type: ignore[arg-type]
    try:
        manifest = asyncio.run(run_backup(settings, store, options))
    except BackupError as err:
        _fail(str(err))
    click.echo(
        f"backup {manifest.id}: ok, {human_bytes(manifest.size_bytes)}, {len(manifest.tables)} tables, "
        f"{sum(manifest.tables.values())} rows, {manifest.duration_seconds:.1f} s, "
        f"sha256 {manifest.sha256[:16]}…"
    )


def _row(manifest: Manifest, verified: str) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "status": manifest.status,
        "kind": manifest.kind,
        "format": manifest.format,
        "started_at": manifest.started_at,
        "size_bytes": manifest.size_bytes,
        "duration_seconds": manifest.duration_seconds,
        "tables": len(manifest.tables),
        "rows": sum(manifest.tables.values()),
        "verified": verified,
        "error": manifest.error,
    }


@app.command("list")
@click.option("--json", "as_json", is_flag=True, default=False, help="One JSON array of manifests.")
def list_(
    as_json: bool,
) -> None:
    """List the backups in the store, oldest first (failed runs included, marked failed)."""
    _, store = _context()
    entries = store.entries()
    if as_json:
        out = []
        for e in entries:
            data = asdict(e.manifest)
            data["verify"] = e.report
            out.append(data)
        click.echo(json.dumps(out, indent=2))
        return
    rows = []
    for e in entries:
        m = e.manifest
        verified = "-" if e.report is None else ("passed" if e.verified else "FAILED")
        rows.append(
            (
                m.id,
                m.status if m.good else f"failed: {m.error}",
                m.format,
                human_bytes(m.size_bytes),
                str(len(m.tables)),
                str(sum(m.tables.values())),
                f"{m.duration_seconds:.1f} s",
                verified,
            )
        )
    columns = ("id", "status", "format", "size", "tables", "rows", "duration", "verified")
    width = 200 if not sys.stdout.isatty() else None
    print_table(f"backups in {store.description}", columns, rows, width=width)


def _status_text(status: StoreStatus, max_age_hours: float) -> list[str]:
    lines = []
    good = status.last_good
    lines.append(f"last good backup:     {good.id if good else '-'} ({_age(status.last_good_age)})")
    failed = status.last_failure
    if failed is not None:
        lines.append(
            f"last failed run:      {failed.id} ({_age(status.age_seconds(failed))}): {failed.error}"
        )
    verified = status.last_verified_backup
    drilled = status.last_verified_at
    drill_age = _age((status.now - drilled).total_seconds()) if drilled else "never"
    lines.append(
        f"last verified backup: {verified.id if verified else '-'} "
        f"({_age(status.age_seconds(verified))}), drill passed {drill_age}"
    )
    if status.last_verify is not None and not status.last_verify.get("ok"):
        lines.append(f"last drill FAILED:    backup {status.last_verify.get('backup_id')}")
    sizes = ", ".join(human_bytes(s) for s in status.recent_sizes)
    lines.append(f"size trend (last 7):  {sizes or '-'}")
    if good is not None and status.size_median_7:
        ratio = good.size_bytes / status.size_median_7
        flag = "  <-- less than half the median" if ratio < 0.5 else ""
        lines.append(f"newest vs median:     {ratio:.2f}x{flag}")
    lines.append(
        "retention:            "
        + ("compliant" if status.compliant else "NOT compliant: " + "; ".join(status.retention_problems))
    )
    label = f"fresh (< {max_age_hours:g} h):"
    lines.append(f"{label:<22}{'no' if status.stale(max_age_hours) else 'yes'}")
    return lines


@app.command("status")
@click.option(
    "--max-age-hours",
    "max_age_hours",
    type=float,
    default=MAX_AGE_HOURS,
    help="Older than this is stale (exit 1).",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, default=False)
def status_(
    max_age_hours: float,
    as_json: bool,
) -> None:
    """Age of the last good and last verified backup, size trend, retention compliance.

    Exits 1 when there is no good backup younger than --max-age-hours (default 26), so it can
    gate a cron job or a readiness probe.
    """
    settings, store = _context()
    status = summarize(trusted(settings, store.entries()), policy_of(settings), datetime.now(UTC))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "last_good": status.last_good.id if status.last_good else None,
                    "last_good_age_seconds": status.last_good_age,
                    "last_failure": status.last_failure.id if status.last_failure else None,
                    "last_verified_backup": status.last_verified_backup.id
                    if status.last_verified_backup
                    else None,
                    "last_verified_at": status.last_verified_at.isoformat()
                    if status.last_verified_at
                    else None,
                    "recent_sizes": status.recent_sizes,
                    "retention_problems": status.retention_problems,
                    "stale": status.stale(max_age_hours),
                },
                indent=2,
            )
        )
    else:
        for line in _status_text(status, max_age_hours):
            click.echo(line)
    if status.stale(max_age_hours):
        raise click.exceptions.Exit(1)


@app.command("prune")
@click.option("--dry-run", "dry_run", is_flag=True, default=False, help="Show what would go; delete nothing.")
def prune(
    dry_run: bool,
) -> None:
    """Apply the daily/weekly/monthly retention (GLOWOPS_BACKUP_KEEP_DAILY/WEEKLY/MONTHLY, 7/4/12).

    Never removes the newest good backup, the newest verified backup, or one being verified.
    """
    settings, store = _context()
    entries = trusted(settings, store.entries())  # a planted manifest displaces nothing
    plan = plan_retention(retention_items(entries), policy_of(settings), datetime.now(UTC))
    for backup_id, reasons in sorted(plan.keep.items()):
        click.echo(f"keep   {backup_id}  ({', '.join(reasons)})")
    for backup_id in plan.remove:
        click.echo(f"{'would remove' if dry_run else 'remove'} {backup_id}")
        if not dry_run:
            store.delete(backup_id)
    if isinstance(store, LocalStore):
        for orphan in store.orphans():
            click.echo(f"{'would remove' if dry_run else 'remove'} {orphan} (left by an interrupted run)")
            if not dry_run:
                import shutil

                shutil.rmtree(orphan, ignore_errors=True)
    click.echo(f"{len(plan.keep)} kept, {len(plan.remove)} {'to remove' if dry_run else 'removed'}")


@app.command("verify")
@click.argument("backup_id", default=None, required=False)
@click.option(
    "--no-drill", "no_drill", is_flag=True, default=False, help="Checksum and table of contents only."
)
@click.option(
    "--drill-url",
    "drill_url",
    default=None,
    help="Server for the scratch database (default: DATABASE_URL's server).",
)
@click.option(
    "--jobs",
    "-j",
    "jobs",
    type=click.IntRange(min=1, max=64),
    default=2,
    help="Parallel pg_restore/pg_dump jobs.",
    show_default=True,
)
@click.option("--quiet", "-q", "quiet", is_flag=True, default=False, help="No progress output.")
def verify(
    backup_id: str | None,
    no_drill: bool,
    drill_url: str | None,
    jobs: int,
    quiet: bool,
) -> None:
    """Prove a backup by restoring it: checksum, table of contents, restore drill.

    The drill restores into a scratch database glowops_drill_<id> (created and dropped here),
    compares row counts with the manifest and runs pg_amcheck when installed. It writes
    drill-report.json/.md beside the backup with the measured restore time; exits 1 on failure.

    Examples: `glowops backup verify`, `glowops backup verify 20250101T0200 --no-drill`.
    """
    from glowops.backup.drill import verify_backup

    settings, store = _context()
    try:
        report = asyncio.run(
            verify_backup(
                settings,
                store,
                backup_id,
                drill=not no_drill,
                drill_url=drill_url,
                jobs=jobs,
                show_progress=not quiet,
            )
        )
    except BackupError as err:
        _fail(str(err))
    for check in report.checks:
        click.echo(f"{'ok    ' if check.ok else 'FAILED'} {check.name}: {check.detail}")
    if report.restore_seconds is not None:
        click.echo(f"measured restore time: {report.restore_seconds:.1f} s")
    if not report.ok:
        _fail(f"backup {report.backup_id} did not verify: {report.failure}")
    click.echo(f"backup {report.backup_id}: verified")


@app.command("restore")
@click.argument("backup_id")
@click.option(
    "--to", "to", required=True, help="Target postgresql:// URL (created if missing) or sqlite:///file."
)
@click.option(
    "--force",
    "force",
    is_flag=True,
    default=False,
    help="Restore into a non-empty target (drops and recreates the backup's objects).",
)
@click.option("--yes", "-y", "yes", is_flag=True, default=False, help="Do not ask for confirmation.")
@click.option(
    "--no-acl", "no_acl", is_flag=True, default=False, help="Skip GRANTs (roles missing on the target)."
)
@click.option(
    "--jobs",
    "-j",
    "jobs",
    type=click.IntRange(min=1, max=64),
    default=2,
    help="Parallel pg_restore/pg_dump jobs.",
    show_default=True,
)
@click.option("--quiet", "-q", "quiet", is_flag=True, default=False, help="No progress output.")
def restore(
    backup_id: str,
    to: str,
    force: bool,
    yes: bool,
    no_acl: bool,
    jobs: int,
    quiet: bool,
) -> None:
    """Restore a backup into a database; prints the row counts found there afterwards.

    Refuses a non-empty target unless --force; asks for confirmation unless --yes; checks the
    checksum first; pg_restore runs with --exit-on-error --no-owner (and -j for directory format).
    """
    from glowops.backup.restore import restore_backup

    settings, store = _context()

    def confirm(question: str) -> bool:
        return yes or click.confirm(question, default=False)

    try:
        counts = asyncio.run(
            restore_backup(
                settings,
                store,
                None if backup_id == "latest" else backup_id,
                to,
                force=force,
                confirm=confirm,
                jobs=jobs,
                no_acl=no_acl,
                show_progress=not quiet,
            )
        )
    except BackupError as err:
        _fail(str(err))
    for table, rows in counts.items():
        click.echo(f"{table}: {rows} rows")
    click.echo(f"restored {len(counts)} tables, {sum(counts.values())} rows")


@app.command("keys")
@click.option(
    "--new", "new", is_flag=True, default=False, help="Print a new random key (base64 of 32 bytes) and exit."
)
def keys(
    new: bool,
) -> None:
    """Which keys sign and encrypt backups, which retired keys still verify, and how to rotate.

    Shows key ids (a hash), never a key. Rotation, without losing a single backup:

    1. `glowops backup keys --new` prints a new key;
    2. append the current key to GLOWOPS_BACKUP_OLD_KEYS (comma-separated) and put the new one in
       GLOWOPS_BACKUP_ENCRYPTION_KEY (or GLOWOPS_BACKUP_SIGNING_KEY);
    3. new backups are signed and encrypted with the new key; older ones still verify and restore;
    4. once `glowops backup keys` counts no backup under a retired key id, drop that key.

    Examples: `glowops backup keys`, `glowops backup keys --new`.
    """
    import base64
    import os
    from collections import Counter

    from glowops.backup.keys import keyring

    if new:
        click.echo(base64.b64encode(os.urandom(32)).decode())
        return
    settings, store = _context()
    try:
        ring = keyring(settings)
    except BackupError as err:
        _fail(str(err))
    if not ring.configured:
        click.echo(
            "no backup key: manifests are NOT signed and files are NOT encrypted, so a backup placed in "
            f"{store.description} by someone else would verify and restore.\n"
            "Set GLOWOPS_BACKUP_ENCRYPTION_KEY (create one with `glowops backup keys --new`)."
        )
        return
    click.echo(f"signing key:    {ring.signing_id} ({ring.signing_source}); signs new manifests")
    click.echo(
        f"encryption key: {ring.encryption_id} (GLOWOPS_BACKUP_ENCRYPTION_KEY); encrypts new backups"
        if ring.encryption_id
        else "encryption key: none: new backups are signed but stored in plaintext"
    )
    current = {ring.signing_id, ring.encryption_id}
    retired = sorted(set(ring.macs) | set(ring.aes) - current)
    click.echo(f"GLOWOPS_BACKUP_OLD_KEYS: {len(retired)} retired key id(s) that verify and decrypt only")
    used = Counter(
        (e.manifest.signature or {}).get("key_id", "unsigned") for e in store.entries() if e.manifest.good
    )
    for key_id, count in sorted(used.items()):
        state = "current" if key_id in current else ("retired" if key_id in ring.macs else "UNKNOWN key")
        click.echo(f"  {count} good backup(s) signed by {key_id} ({state})")
    click.echo("rotate: see `glowops backup keys --help`")


@app.command("schedule")
@click.option("--once", "once", is_flag=True, default=False, help="One pass, then exit (for cron / CronJob).")
@click.option(
    "--check-every",
    "check_every",
    type=float,
    default=900.0,
    help="Seconds between passes in loop mode.",
    show_default=True,
)
@click.option("--quiet/--progress", "quiet", default=True, help="Progress output off/on.")
def schedule(
    once: bool,
    check_every: float,
    quiet: bool,
) -> None:
    """Daily backup (then prune) and a monthly restore drill, in a loop or one pass (--once).

    Each pass backs up when the newest good backup is ~24 h old, prunes, and runs
    `verify` when no drill passed in the last 30 days. Exit code of --once: 1 if a step failed.

    cron (daily at 02:15):

        15 2 * * *  cd /srv/app && glowops backup schedule --once >> /var/log/glowops-backup.log 2>&1

    Kubernetes CronJob:

        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: glowops-backup}
        spec:
          schedule: "15 2 * * *"
          concurrencyPolicy: Forbid
          jobTemplate:
            spec:
              backoffLimit: 0
              template:
                spec:
                  restartPolicy: Never
                  containers:
                  - name: backup
                    image: prisma-glow/gateway:latest
                    args: ["glowops", "backup", "schedule", "--once"]
                    envFrom: [{secretRef: {name: glowops-backup}}]  # DATABASE_URL, GLOWOPS_BACKUP_*
    """
    from glowops.backup.schedule import run_pass

    settings, store = _context()
    _interrupt_on_sigterm()
    while True:
        report = asyncio.run(run_pass(settings, store, show_progress=not quiet))
        for line in report.lines:
            click.echo(line)
        for line in report.errors:
            click.echo(line, err=True)
        if once:
            if report.failed:
                raise click.exceptions.Exit(1)
            return
        time.sleep(check_every)
