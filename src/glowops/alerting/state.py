"""The alerting state file (``state_dir/alerting.db``): silences, acknowledgements, history, engine state.

The service writes it; the ``glowops alerts`` commands read and write it while the service
runs (SQLite in WAL mode, short transactions). The outbox and the samples live in the same file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glowops.alerting.outbox import connect
from glowops.promql import Matcher, PromQLError
from glowops.redaction import RedactionPolicy
from glowops.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, expired_at REAL);
CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alertname TEXT NOT NULL, fingerprint TEXT,
    at REAL NOT NULL, by TEXT NOT NULL, comment TEXT NOT NULL, notified INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, alertname TEXT NOT NULL,
    fingerprint TEXT NOT NULL, state TEXT NOT NULL, severity TEXT NOT NULL, labels TEXT NOT NULL,
    summary TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oncall_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, alertname TEXT NOT NULL,
    fingerprint TEXT, target TEXT, at REAL NOT NULL, by TEXT NOT NULL, comment TEXT NOT NULL);
"""


def state_path(settings: Settings) -> Path:
    return settings.state_dir / "alerting.db"


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (16 hex digits, like Alertmanager's)."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_MATCHER_TEXT = ("=~", "!~", "!=", "=")


def parse_matcher(text: str) -> Matcher:
    """``alertname=HighErrorRate``, ``severity!=info``, ``route=~"/v1/.*"`` (quotes optional)."""
    for op in _MATCHER_TEXT:
        name, sep, value = text.partition(op)
        if sep and name.strip():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            try:
                return Matcher.make(name.strip(), op, value)
            except PromQLError as err:
                raise ValueError(str(err)) from None
    raise ValueError(
        f'not a label matcher: {text!r} (examples: alertname=HighErrorRate, severity=~"warning|info")'
    )


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def describe(self) -> str:
        return ", ".join(f"{m.name}{m.op}{m.value!r}" for m in self.matchers)


@dataclass(frozen=True, slots=True)
class Ack:
    id: int
    alertname: str
    fingerprint: str | None
    at: float
    by: str
    comment: str

    def covers(self, alertname: str, fp: str, fired_at: float) -> bool:
        """An ack applies to the firing it was given for, not to a later one."""
        return self.alertname == alertname and self.fingerprint in (None, fp) and self.at >= fired_at


@dataclass(frozen=True, slots=True)
class Action:
    """An un-acknowledgement or a re-assignment of a firing alert."""

    id: int
    action: str
    alertname: str
    fingerprint: str | None
    target: str | None
    at: float
    by: str
    comment: str

    def covers(self, alertname: str, fp: str, fired_at: float) -> bool:
        return self.alertname == alertname and self.fingerprint in (None, fp) and self.at >= fired_at


class StateStore:
    """Silences, acks, history and small key/value state in the alerting state file.

    ``policy`` is the redaction policy: silence and acknowledgement comments and authors, and
    the labels and summaries of the history, are stored after it (the state file is a sink like
    any other: its bytes leave the process in backups). Silence matchers are kept as written,
    since they must match the alerts' labels.
    """

    def __init__(self, db: sqlite3.Connection, policy: RedactionPolicy) -> None:
        self.db = db
        self.policy = policy
        self.lock = threading.Lock()
        db.executescript(SCHEMA)

    @classmethod
    def open(cls, path: Path, policy: RedactionPolicy) -> StateStore:
        return cls(connect(path), policy)

    # --- silences ----------------------------------------------------------------------------------
    def add_silence(
        self, matchers: list[Matcher], starts_at: float, ends_at: float, by: str, comment: str
    ) -> str:
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        sid = uuid.uuid4().hex[:12]
        data = json.dumps([[m.name, m.op, m.value] for m in matchers])
        by, comment = self.policy.redact_text(by), self.policy.redact_text(comment)
        with self.lock:
            self.db.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment) "
                "VALUES (?,?,?,?,?,?)",
                (sid, data, starts_at, ends_at, by, comment),
            )
        return sid

    def expire_silence(self, sid: str, now: float) -> bool:
        with self.lock:
            cur = self.db.execute(
                "UPDATE silences SET ends_at = MIN(ends_at, ?), expired_at = ? WHERE id = ? AND ends_at > ?",
                (now, now, sid, now),
            )
        return cur.rowcount == 1

    def silences(self, now: float | None = None) -> list[Silence]:
        """All silences, or those active at ``now``."""
        with self.lock:
            rows = self.db.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment "
                "FROM silences ORDER BY starts_at"
            ).fetchall()
        out = [
            Silence(r[0], tuple(Matcher.make(*m) for m in json.loads(r[1])), r[2], r[3], r[4], r[5])
            for r in rows
        ]
        return [s for s in out if s.active(now)] if now is not None else out

    # --- acks ----------------------------------------------------------------------------------------
    def add_ack(self, alertname: str, fp: str | None, at: float, by: str, comment: str) -> int:
        by, comment = self.policy.redact_text(by), self.policy.redact_text(comment)
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO acks (alertname, fingerprint, at, by, comment) VALUES (?,?,?,?,?)",
                (alertname, fp, at, by, comment),
            )
        return int(cur.lastrowid or 0)

    def acks(self) -> list[Ack]:
        with self.lock:
            rows = self.db.execute("SELECT id, alertname, fingerprint, at, by, comment FROM acks").fetchall()
        return [Ack(*r) for r in rows]

    def unnotified_acks(self) -> list[Ack]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, alertname, fingerprint, at, by, comment FROM acks WHERE notified = 0"
            ).fetchall()
        return [Ack(*r) for r in rows]

    def mark_ack_notified(self, ack_id: int) -> None:
        with self.lock:
            self.db.execute("UPDATE acks SET notified = 1 WHERE id = ?", (ack_id,))

    # --- un-acknowledge and re-assign (applied by the escalator at its next evaluation) ------------
    def add_action(
        self,
        action: str,
        alertname: str,
        fp: str | None,
        target: str | None,
        at: float,
        by: str,
        comment: str,
    ) -> int:
        """Record ``unack`` or ``reassign`` (``target``: a person or a schedule of the on-call file)."""
        if action not in ("unack", "reassign"):
            raise ValueError(f"unknown on-call action {action!r}")
        by, comment = self.policy.redact_text(by), self.policy.redact_text(comment)
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO oncall_actions (action, alertname, fingerprint, target, at, by, comment) "
                "VALUES (?,?,?,?,?,?,?)",
                (action, alertname, fp, target, at, by, comment),
            )
        return int(cur.lastrowid or 0)

    def actions(self, after_id: int = 0) -> list[Action]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, action, alertname, fingerprint, target, at, by, comment FROM oncall_actions "
                "WHERE id > ? ORDER BY id",
                (after_id,),
            ).fetchall()
        return [Action(*r) for r in rows]

    # --- history ---------------------------------------------------------------------------------------
    def record(self, at: float, labels: Mapping[str, str], state: str, summary: str) -> None:
        shown = self.policy.redact(dict(labels))
        summary = self.policy.redact_text(summary)
        with self.lock:
            self.db.execute(
                "INSERT INTO alert_history (at, alertname, fingerprint, state, severity, labels, summary) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    at,
                    labels.get("alertname", ""),
                    fingerprint(labels),
                    state,
                    labels.get("severity", ""),
                    json.dumps(shown, sort_keys=True),
                    summary,
                ),
            )

    def history(self, limit: int = 50, alertname: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, alertname, fingerprint, state, severity, labels, summary FROM alert_history"
        args: tuple[Any, ...] = ()
        if alertname:
            sql += " WHERE alertname = ?"
            args = (alertname,)
        with self.lock:
            rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        keys = ("at", "alertname", "fingerprint", "state", "severity", "labels", "summary")
        return [dict(zip(keys, r, strict=True)) | {"labels": json.loads(r[5])} for r in rows]

    # --- key/value ------------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))
