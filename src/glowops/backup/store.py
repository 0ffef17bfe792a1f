"""Where backups live: a local directory or an S3-compatible bucket, behind one interface.

Layout (both stores)::

    <root>/<backup id>/manifest.json        written last; a backup without one does not exist
    <root>/<backup id>/dump.pgc[.enc]       custom format (or the files of a directory dump,
                                            or db.sqlite.gz[.enc], plus globals.sql[.enc])
    <root>/<backup id>/drill-report.json    the latest verification (and drill-report.md)
    <root>/<backup id>/.verifying           present while `backup verify` works on it

Backups are produced in a local staging directory (``<backup dir>/.staging/<id>``) and then
committed: renamed into place (local) or uploaded (S3), the manifest always last.

Ids and file names read from a store are outside data: an id must have the one backup id
format and match its directory (or key prefix), and every local path built from a name goes
through :func:`glowops.paths.contained`. Fetching copies exactly the files the manifest lists,
nothing else found under the backup's prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glowops.backup.atomic import atomic_write_bytes, fsync_dir
from glowops.backup.errors import BackupError
from glowops.backup.manifest import MANIFEST_NAME, REPORT_JSON, REPORT_MD, Manifest, check_id
from glowops.paths import UnsafePath, contained

if TYPE_CHECKING:
    from glowops.settings import Settings

LOCK_NAME = ".verifying"
S3_LOCK_NAME = "verifying.lock"
LOCK_STALE_SECONDS = 6 * 3600  # a verify that died leaves a lock; after this it no longer protects


@dataclass(slots=True)
class BackupEntry:
    """A backup as listed: its manifest, its latest drill report, whether a verify holds it."""

    manifest: Manifest
    report: dict[str, Any] | None = None
    verifying: bool = False

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def verified(self) -> bool:
        return bool(self.report and self.report.get("ok"))


class BackupStore(ABC):
    """Common behaviour; subclasses move bytes."""

    description = ""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def staging(self, backup_id: str) -> Path:
        """A fresh local directory to produce the backup's files in."""
        path = contained(self.scratch / ".staging", check_id(backup_id))
        path.mkdir(parents=True, exist_ok=False)
        return path

    def discard_staging(self, staging: Path | None) -> None:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)

    @abstractmethod
    def commit(self, manifest: Manifest, staging: Path) -> None:
        """Make a good backup visible: its files first, its manifest last."""

    @abstractmethod
    def record_failure(self, manifest: Manifest) -> None:
        """Keep a ``status: failed`` manifest (no data) so monitoring sees the failure."""

    @abstractmethod
    def entries(self) -> list[BackupEntry]:
        """Every backup with a manifest, oldest first."""

    @abstractmethod
    def fetch(self, manifest: Manifest) -> contextlib.AbstractContextManager[Path]:
        """A local directory holding the files ``manifest`` lists, for the duration of the block."""

    @abstractmethod
    def write_report(self, backup_id: str, report: dict[str, Any], markdown: str) -> None:
        """Store the drill report (JSON and Markdown) beside the backup."""

    @abstractmethod
    def delete(self, backup_id: str) -> None:
        """Remove a backup: its manifest first, so a half-deleted backup is never listed as good."""

    @abstractmethod
    def verify_lock(self, backup_id: str) -> contextlib.AbstractContextManager[None]:
        """Mark the backup as being verified (prune leaves it alone) for the block."""

    def get(self, backup_id: str | None = None) -> BackupEntry:
        """A backup by id (or unique prefix); the newest good one when ``None``."""
        entries = self.entries()
        if backup_id is None:
            good = [e for e in entries if e.manifest.good]
            if not good:
                raise BackupError(f"no good backup in {self.description}")
            return good[-1]
        matches = [e for e in entries if e.id == backup_id] or [
            e for e in entries if e.id.startswith(backup_id)
        ]
        if not matches:
            raise BackupError(f"no backup {backup_id!r} in {self.description} (see `glowops backup list`)")
        if len(matches) > 1:
            raise BackupError(f"backup id {backup_id!r} is ambiguous: {', '.join(e.id for e in matches)}")
        return matches[0]


def _lock_fresh(started: float) -> bool:
    return time.time() - started < LOCK_STALE_SECONDS


class LocalStore(BackupStore):
    """Backups under a directory (``GLOWOPS_BACKUP_DIR``, default ``var/backups``)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.root = root
        self.description = f"the backup directory {root}"

    def _dir(self, backup_id: str) -> Path:
        try:
            return contained(self.root, check_id(backup_id))
        except ValueError as err:
            raise BackupError(f"refusing a backup directory outside {self.root}: {err}") from None

    def commit(self, manifest: Manifest, staging: Path) -> None:
        final = self._dir(manifest.id)
        os.replace(staging, final)
        fsync_dir(self.root)
        atomic_write_bytes(final / MANIFEST_NAME, manifest.to_json())

    def record_failure(self, manifest: Manifest) -> None:
        final = self._dir(manifest.id)
        final.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(final / MANIFEST_NAME, manifest.to_json())

    def entries(self) -> list[BackupEntry]:
        if not self.root.is_dir():
            return []
        out: list[BackupEntry] = []
        for path in sorted(self.root.glob(f"*/{MANIFEST_NAME}")):
            try:
                manifest = Manifest.from_json(path.read_bytes())
            except (OSError, ValueError, TypeError):
                continue  # unreadable manifest (or hostile id / file name): not a usable backup
            if manifest.id != path.parent.name or path.parent.is_symlink():
                continue  # a manifest moved under another id is not that backup
            report = None
            report_path = path.parent / REPORT_JSON
            if report_path.is_file():
                with contextlib.suppress(OSError, ValueError):
                    report = json.loads(report_path.read_bytes())
            lock = path.parent / LOCK_NAME
            verifying = False
            with contextlib.suppress(OSError):
                verifying = _lock_fresh(lock.stat().st_mtime)
            out.append(BackupEntry(manifest, report, verifying))
        out.sort(key=lambda e: e.id)
        return out

    @contextlib.contextmanager
    def fetch(self, manifest: Manifest) -> Iterator[Path]:
        folder = self._dir(manifest.id)
        for entry in manifest.files:
            try:
                contained(folder, entry.name)
            except UnsafePath as err:
                raise BackupError(f"backup {manifest.id}: {err}") from None
        yield folder

    def write_report(self, backup_id: str, report: dict[str, Any], markdown: str) -> None:
        folder = self._dir(backup_id)
        atomic_write_bytes(folder / REPORT_MD, markdown.encode())
        atomic_write_bytes(folder / REPORT_JSON, json.dumps(report, indent=2).encode() + b"\n")

    def delete(self, backup_id: str) -> None:
        folder = self._dir(backup_id)
        with contextlib.suppress(FileNotFoundError):
            (folder / MANIFEST_NAME).unlink()
            fsync_dir(folder)
        shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def verify_lock(self, backup_id: str) -> Iterator[None]:
        lock = self._dir(backup_id) / LOCK_NAME
        lock.write_text(f"{os.getpid()} {time.time()}\n")
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def orphans(self, older_than_seconds: float = 86400) -> list[Path]:
        """Directories left by interrupted runs (no manifest), old enough to be abandoned."""
        if not self.root.is_dir():
            return []
        now = time.time()
        found = [
            p
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.is_symlink()  # a planted link: removing "it" would follow it elsewhere
            and not p.name.startswith(".")
            and not (p / MANIFEST_NAME).exists()
        ]
        staging = self.root / ".staging"
        if staging.is_dir():
            found += list(staging.iterdir())
        return [p for p in found if now - p.stat().st_mtime > older_than_seconds]


class S3Store(BackupStore):
    """Backups in an S3-compatible bucket (AWS, MinIO, R2...) under a key prefix."""

    def __init__(
        self, bucket: str, prefix: str, scratch: Path, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        super().__init__(scratch)
        import boto3

        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)
        self.description = f"s3://{bucket}/{self.prefix}"
        self._cache: dict[str, tuple[str, Any]] = {}  # key -> (etag, parsed body)

    def _key(self, backup_id: str, name: str) -> str:
        check_id(backup_id)
        return f"{self.prefix}{backup_id}/{name}"

    def commit(self, manifest: Manifest, staging: Path) -> None:
        try:
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                rel = path.relative_to(staging).as_posix()
                self.client.upload_file(str(path), self.bucket, self._key(manifest.id, rel))
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(manifest.id, MANIFEST_NAME),
                Body=manifest.to_json(),
                ContentType="application/json",
            )
        except Exception as err:
            raise BackupError(f"upload to {self.description} failed: {err}") from err
        self.discard_staging(staging)

    def record_failure(self, manifest: Manifest) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(manifest.id, MANIFEST_NAME),
            Body=manifest.to_json(),
            ContentType="application/json",
        )

    def _objects(self) -> dict[str, dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        out: dict[str, dict[str, Any]] = {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj
        return out

    def _json(self, key: str, etag: str) -> Any:
        cached = self._cache.get(key)
        if cached is not None and cached[0] == etag:
            return cached[1]
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        parsed = json.loads(body)
        self._cache[key] = (etag, parsed)
        return parsed

    def entries(self) -> list[BackupEntry]:
        objects = self._objects()
        out: list[BackupEntry] = []
        for key, obj in objects.items():
            if not key.endswith("/" + MANIFEST_NAME):
                continue
            backup_id = key[len(self.prefix) :].split("/", 1)[0]
            if key != f"{self.prefix}{backup_id}/{MANIFEST_NAME}":
                continue  # a manifest deeper down (prefix/<id>/x/manifest.json) is no backup
            try:
                manifest = Manifest.from_dict(self._json(key, obj["ETag"]))
            except (ValueError, TypeError):
                continue  # unreadable, or a hostile id / file name
            if manifest.id != backup_id:
                continue  # a manifest copied under another id is not that backup
            report_obj = objects.get(self._key(backup_id, REPORT_JSON))
            report = self._json(report_obj["Key"], report_obj["ETag"]) if report_obj else None
            lock = objects.get(self._key(backup_id, S3_LOCK_NAME))
            verifying = bool(lock and _lock_fresh(lock["LastModified"].timestamp()))
            out.append(BackupEntry(manifest, report, verifying))
        out.sort(key=lambda e: e.id)
        return out

    @contextlib.contextmanager
    def fetch(self, manifest: Manifest) -> Iterator[Path]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"fetch-{check_id(manifest.id)}-", dir=self.scratch) as tmp:
            root = Path(tmp)
            for entry in manifest.files:
                try:
                    dest = contained(root, entry.name)
                except UnsafePath as err:
                    raise BackupError(f"backup {manifest.id}: {err}") from None
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.client.download_file(self.bucket, self._key(manifest.id, entry.name), str(dest))
                except Exception as err:
                    # A missing object shows up as "missing" in the checksum step.
                    if "404" not in str(err) and "Not Found" not in str(err):
                        raise BackupError(
                            f"download of {entry.name} from {self.description} failed: {err}"
                        ) from err
            yield root

    def write_report(self, backup_id: str, report: dict[str, Any], markdown: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(backup_id, REPORT_MD), Body=markdown.encode()
        )
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(backup_id, REPORT_JSON),
            Body=json.dumps(report, indent=2).encode(),
            ContentType="application/json",
        )

    def delete(self, backup_id: str) -> None:
        check_id(backup_id)
        manifest_key = self._key(backup_id, MANIFEST_NAME)
        self.client.delete_object(Bucket=self.bucket, Key=manifest_key)
        keys = [k for k in self._objects() if k.startswith(self._key(backup_id, ""))]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    @contextlib.contextmanager
    def verify_lock(self, backup_id: str) -> Iterator[None]:
        key = self._key(backup_id, S3_LOCK_NAME)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=f"{os.getpid()} {time.time()}".encode())
        try:
            yield
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=key)


def open_store(settings: Settings) -> BackupStore:
    """The configured store: S3 when ``GLOWOPS_BACKUP_S3_BUCKET`` is set, else the backup directory."""
    scratch = settings.effective_backup_dir
    if settings.backup_s3_bucket:
        return S3Store(
            settings.backup_s3_bucket,
            settings.backup_s3_prefix,
            scratch,
            endpoint_url=settings.backup_s3_endpoint_url,
        )
    return LocalStore(scratch)
