"""The manifest of one backup: what was dumped, how, when, how big, its checksum, its row counts.

A backup is good only when its manifest says ``status: ok``; a failed run leaves a manifest with
``status: failed`` and the reason (and no data), an interrupted one may leave nothing at all.
Manifests never change after they are written; verification results live beside them in
``drill-report.json``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["postgresql", "sqlite"]
Status = Literal["ok", "failed"]

MANIFEST_NAME = "manifest.json"
# The one id format (``new_backup_id``); the milliseconds arrived later, ids without them stay valid.
ID_PATTERN = re.compile(r"\d{8}T\d{6}(?:\.\d{3})?Z-[0-9a-f]{4}")
REPORT_JSON = "drill-report.json"
REPORT_MD = "drill-report.md"


def new_backup_id(now: datetime | None = None) -> str:
    """A lexicographically sortable id: UTC time to the millisecond plus 4 random hex digits,
    e.g. ``20250101T020000.123Z-ab12`` (two runs in the same second still sort by time)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def check_id(backup_id: object) -> str:
    """``backup_id`` when it has the one id format, else :class:`ValueError` (ids come from
    manifests and object keys, which are outside data: they become directory names)."""
    if not isinstance(backup_id, str) or not ID_PATTERN.fullmatch(backup_id):
        raise ValueError(f"{str(backup_id)[:80]!r} is not a backup id (like 20250101T020000.123Z-ab12)")
    return backup_id


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(slots=True)
class FileEntry:
    """One stored file of a backup (custom dumps have one, directory dumps many)."""

    name: str
    size: int
    sha256: str


@dataclass(slots=True)
class Manifest:
    """Everything known about one backup run."""

    id: str
    kind: Kind
    status: Status
    started_at: str
    finished_at: str = ""
    duration_seconds: float = 0.0
    database: str = ""  # connection string with secrets masked
    server_version: str = ""
    pg_dump_version: str = ""
    format: str = ""  # custom | directory | sqlite
    compression: str = ""  # gzip | zstd
    encryption: str | None = None
    size_bytes: int = 0
    sha256: str = ""  # of the main stored file; for directory dumps, of the sorted file list
    files: list[FileEntry] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows in the snapshot
    globals_included: bool = False
    tool_version: str = ""
    error: str | None = None
    encryption_key_id: str | None = None  # which key encrypted the files (rotation)
    # {"alg": "hmac-sha256", "key_id": ..., "mac": hex} over canonical(); see backup.signing
    signature: dict[str, str] | None = None

    @property
    def good(self) -> bool:
        return self.status == "ok"

    @property
    def started(self) -> datetime:
        return parse_iso(self.started_at)

    @property
    def finished(self) -> datetime:
        return parse_iso(self.finished_at or self.started_at)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=False).encode() + b"\n"

    def canonical(self) -> bytes:
        """The bytes the signature covers: every field but the signature, keys sorted, no
        whitespace, ASCII only (unknown fields of a stored manifest are dropped on load, so
        they can neither add nor hide anything)."""
        data = asdict(self)
        data.pop("signature")
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """A manifest from parsed JSON; :class:`ValueError` when the id is not a backup id or a
        file name could leave the backup's directory."""
        from glowops.paths import check_name

        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        check_id(known.get("id"))
        known["files"] = [FileEntry(**f) for f in known.get("files", [])]
        for entry in known["files"]:
            check_name(entry.name)
        return cls(**known)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        return cls.from_dict(json.loads(raw))


def directory_checksum(files: list[FileEntry]) -> str:
    """The checksum of a multi-file backup: sha256 of its ``sha256sum``-style listing."""
    import hashlib

    listing = "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name))
    return hashlib.sha256(listing.encode()).hexdigest()
