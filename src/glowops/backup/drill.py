"""``backup verify``: prove a backup by restoring it.

1. checksum of every stored file against the manifest;
2. the archive's table of contents (``pg_restore --list``);
3. the drill: restore into a scratch database ``glowops_drill_<id>`` that is created and
   dropped here, compare per-table row counts with the manifest, run ``pg_amcheck`` where the
   amcheck extension exists or the drill's role may create it (else a skipped check, saying
   why: :mod:`glowops.backup.privileges`), and record the restore time (the RTO measured here).

SQLite backups get the checksum, ``PRAGMA integrity_check`` and the row counts.
The report is stored beside the backup as ``drill-report.json`` and ``drill-report.md``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glowops.backup.archive import checksum_problems, materialize, run_pg_restore, toc_entries
from glowops.backup.errors import BackupError
from glowops.backup.keys import BackupAuthError, Keyring, keyring
from glowops.backup.manifest import Manifest, iso
from glowops.backup.pgconn import connect, table_counts, tool_url
from glowops.backup.pgtools import find_tool, mask, summarise_stderr, with_database
from glowops.backup.privileges import AMCHECK_CREATABLE, amcheck_availability, unforce_row_security
from glowops.backup.progress import Progress
from glowops.backup.sqlite import counts_of, integrity_check
from glowops.backup.store import BackupStore

if TYPE_CHECKING:
    from glowops.settings import Settings


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass(slots=True)
class DrillReport:
    backup_id: str
    kind: str
    verified_at: str
    ok: bool = False
    checks: list[Check] = field(default_factory=list)
    restore_seconds: float | None = None
    size_bytes: int = 0
    tables: int = 0
    rows: int = 0
    mismatches: dict[str, dict[str, int | None]] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str, seconds: float = 0.0) -> bool:
        self.checks.append(Check(name, ok, detail, round(seconds, 3)))
        return ok

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failure(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)

    def markdown(self) -> str:
        verdict = "PASSED" if self.ok else "FAILED"
        lines = [
            f"# Restore drill of backup {self.backup_id}: {verdict}",
            "",
            f"- verified at: {self.verified_at}",
            f"- kind: {self.kind}; size: {self.size_bytes} bytes; {self.tables} tables, {self.rows} rows",
            "- measured restore time (RTO): "
            + (f"{self.restore_seconds:.1f} s" if self.restore_seconds is not None else "not measured"),
            "",
            "| check | result | seconds | detail |",
            "|---|---|---:|---|",
        ]
        for c in self.checks:
            detail = c.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {c.name} | {'ok' if c.ok else 'FAILED'} | {c.seconds:.2f} | {detail} |")
        if self.mismatches:
            lines += ["", "## Row count mismatches", "", "| table | manifest | restored |", "|---|---:|---:|"]
            for table, counts in sorted(self.mismatches.items()):
                lines.append(f"| {table} | {counts['expected']} | {counts['restored']} |")
        return "\n".join(lines) + "\n"


def drill_database_name(backup_id: str) -> str:
    return "glowops_drill_" + re.sub(r"[^a-z0-9_]", "_", backup_id.lower())


def compare_counts(expected: dict[str, int], restored: dict[str, int]) -> dict[str, dict[str, int | None]]:
    names = set(expected) | set(restored)
    return {
        n: {"expected": expected.get(n), "restored": restored.get(n)}
        for n in sorted(names)
        if expected.get(n) != restored.get(n)
    }


def admin_url(settings: Settings, drill_url: str | None) -> str:
    """A connection to the server that hosts scratch databases (its ``postgres`` database)."""
    from glowops.settings import to_plain_url

    url = drill_url or to_plain_url(settings.backup_drill_url or settings.backup_database_url)
    if not url.startswith(("postgresql://", "postgres://")):
        raise BackupError(
            "a PostgreSQL drill needs a server for its scratch database: pass "
            "--drill-url postgresql://user@host:5432/postgres"
        )
    return with_database(url, "postgres")


async def _admin(url: str, sql: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _amcheck(url: str, server_major: int) -> tuple[bool | None, str, float]:
    tool = find_tool("pg_amcheck", server_major, required=False)
    if tool is None:
        return None, "pg_amcheck is not installed: skipped", 0.0
    availability, why = asyncio.run(amcheck_availability(url))
    if availability is None:
        return None, f"skipped: {why}", 0.0
    # --install-missing only where creating the extension is allowed (a superuser's drill).
    install = ["--install-missing"] if availability == AMCHECK_CREATABLE else []
    start = time.monotonic()
    with tool_url(url) as dburl:  # the password goes in a passfile, never in argv
        out = subprocess.run([tool, *install, dburl], capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if out.returncode == 0:
        return True, "no corruption found in heap tables and B-tree indexes", seconds
    return False, summarise_stderr(out.stderr + out.stdout), seconds


async def verify_backup(
    settings: Settings,
    store: BackupStore,
    backup_id: str | None = None,
    *,
    drill: bool = True,
    drill_url: str | None = None,
    jobs: int = 2,
    show_progress: bool = True,
) -> DrillReport:
    """Verify a backup (the newest good one by default), store and return the report."""
    entry = store.get(backup_id)
    manifest = entry.manifest
    if not manifest.good:
        raise BackupError(
            f"backup {manifest.id} failed when it was taken ({manifest.error}); nothing to verify"
        )
    ring = keyring(settings)
    report = DrillReport(
        manifest.id,
        manifest.kind,
        iso(datetime.now(UTC)),
        size_bytes=manifest.size_bytes,
        tables=len(manifest.tables),
        rows=sum(manifest.tables.values()),
    )
    if _authentic(ring, manifest, report):
        key = ring.decryption_key(manifest)
        with store.verify_lock(manifest.id), store.fetch(manifest) as folder:
            store.scratch.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="verify-", dir=store.scratch) as tmp:
                await _verify(
                    settings, manifest, folder, Path(tmp), key, report, drill, drill_url, jobs, show_progress
                )
    report.ok = all(c.ok for c in report.checks)
    store.write_report(manifest.id, report.to_dict(), report.markdown())
    return report


def _authentic(ring: Keyring, manifest: Manifest, report: DrillReport) -> bool:
    """The signature check, first: a forged backup is reported failed before it is fetched."""
    try:
        verdict = ring.authenticate(manifest)
    except BackupAuthError as err:
        return report.add("signature", False, str(err))
    return report.add("signature", True, verdict)


async def _verify(
    settings: Settings,
    manifest: Manifest,
    folder: Path,
    workdir: Path,
    key: bytes | None,
    report: DrillReport,
    drill: bool,
    drill_url: str | None,
    jobs: int,
    show_progress: bool,
) -> None:
    start = time.monotonic()
    problems = await asyncio.to_thread(checksum_problems, manifest, folder)
    if not report.add(
        "checksum",
        not problems,
        "; ".join(problems) or f"sha256 of {len(manifest.files)} file(s) match",
        time.monotonic() - start,
    ):
        return
    start = time.monotonic()
    try:
        archive = await asyncio.to_thread(materialize, manifest, folder, workdir, key)
    except (BackupError, OSError, ValueError) as err:  # zlib errors are ValueError subclasses
        report.add("read archive", False, mask(str(err)), time.monotonic() - start)
        return
    decode_seconds = time.monotonic() - start
    if manifest.kind == "sqlite":
        _verify_sqlite(manifest, archive, report, decode_seconds)
        return
    server_major = int(manifest.server_version.split(".")[0])
    start = time.monotonic()
    try:
        toc = await asyncio.to_thread(toc_entries, archive, server_major)
    except BackupError as err:
        report.add("table of contents", False, str(err), time.monotonic() - start)
        return
    data_items = sum(1 for line in toc if " TABLE DATA " in line)
    if not report.add(
        "table of contents",
        data_items >= len(manifest.tables),
        f"{len(toc)} entries, {data_items} with table data (manifest: {len(manifest.tables)} tables)",
        time.monotonic() - start,
    ):
        return
    if drill:
        await _drill(
            settings, manifest, archive, report, drill_url, jobs, server_major, show_progress, decode_seconds
        )


async def _drill(
    settings: Settings,
    manifest: Manifest,
    archive: Path,
    report: DrillReport,
    drill_url: str | None,
    jobs: int,
    server_major: int,
    show_progress: bool,
    decode_seconds: float,
) -> None:
    admin = admin_url(settings, drill_url)
    name = drill_database_name(manifest.id)
    scratch_url = with_database(admin, name)
    await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(admin, f'CREATE DATABASE "{name}"')
    try:
        start = time.monotonic()
        try:
            with Progress(f"drill restore into {name}", unit="steps", enabled=show_progress) as progress:
                await asyncio.to_thread(
                    run_pg_restore,
                    archive,
                    scratch_url,
                    fmt=manifest.format,
                    jobs=jobs,
                    server_major=server_major,
                    no_acl=True,
                    progress=progress,
                )
        except BackupError as err:
            report.add("restore", False, str(err), time.monotonic() - start)
            return
        restore_seconds = time.monotonic() - start
        report.restore_seconds = round(restore_seconds + decode_seconds, 3)
        report.add(
            "restore",
            True,
            f"restored into {name} in {restore_seconds:.1f} s"
            + (f" (+{decode_seconds:.1f} s decrypting)" if manifest.encryption else ""),
            restore_seconds,
        )
        start = time.monotonic()
        # The drill's role owns the restored tables: lift FORCE RLS so it counts every row.
        await unforce_row_security(scratch_url)
        restored = await table_counts(scratch_url)
        report.mismatches = compare_counts(manifest.tables, restored)
        report.add(
            "row counts",
            not report.mismatches,
            f"{len(restored)} tables, {sum(restored.values())} rows match the manifest"
            if not report.mismatches
            else f"{len(report.mismatches)} table(s) differ from the manifest",
            time.monotonic() - start,
        )
        ok, detail, seconds = await asyncio.to_thread(_amcheck, scratch_url, server_major)
        if ok is None:
            report.checks.append(Check("pg_amcheck", True, detail, 0.0))
        else:
            report.add("pg_amcheck", ok, detail, seconds)
    finally:
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _verify_sqlite(manifest: Manifest, path: Path, report: DrillReport, decode_seconds: float) -> None:
    report.restore_seconds = round(decode_seconds, 3)
    start = time.monotonic()
    ok, detail = integrity_check(path)
    if not report.add("integrity_check", ok, detail, time.monotonic() - start):
        return
    start = time.monotonic()
    report.mismatches = compare_counts(manifest.tables, counts_of(path))
    report.add(
        "row counts",
        not report.mismatches,
        f"{len(manifest.tables)} tables, {report.rows} rows match"
        if not report.mismatches
        else f"{len(report.mismatches)} table(s) differ from the manifest",
        time.monotonic() - start,
    )
