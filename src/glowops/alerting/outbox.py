"""The durable notification outbox: stored before sent, retried until delivered or dead-lettered.

A message is written to SQLite (``outbox`` table of ``state_dir/alerting.db``) in the same step
that decides to notify; delivery happens afterwards. If the process dies between the two, or
in the middle of a delivery, the message is still ``pending`` and is sent after the restart
with the same idempotency key (a receiver that saw the first attempt can drop the second).

Retry policy (:func:`next_delay`): exponential backoff from ``base`` doubling per attempt up to
``cap``, with jitter (a uniformly random 50-100 % of the step, so many senders don't retry in
lockstep). A 429 waits at least its ``Retry-After``. 5xx and network errors retry; any other
4xx means the message will never be accepted and goes to the dead-letter list, as does a
message still undelivered after ``max_age``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["pending", "sent", "dead", "cancelled"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
"""


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to the alerting state file (WAL, so the CLI can read while the service writes)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=10, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


_SELECT = (
    "SELECT id, idempotency_key, channel, payload, status, attempts, created_at, next_attempt_at, "
    "sent_at, last_error FROM outbox "
)


@dataclass(frozen=True, slots=True)
class Message:
    """One stored notification."""

    id: int
    idempotency_key: str
    channel: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    created_at: float
    next_attempt_at: float
    sent_at: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 2.0
    cap: float = 300.0
    max_age: float = 24 * 3600.0


def next_delay(attempts: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, with 50-100 % jitter."""
    step = min(policy.cap, policy.base * (2.0 ** max(0, attempts - 1)))
    return float(step * (0.5 + 0.5 * rng()))


class Outbox:
    """The ``outbox`` table. Methods are short transactions; safe to share across threads."""

    def __init__(self, db: sqlite3.Connection, policy: RetryPolicy | None = None) -> None:
        self.db = db
        self.policy = policy or RetryPolicy()
        self._lock = threading.Lock()
        db.executescript(SCHEMA)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Message]:
        with self._lock:
            rows = self.db.execute(
                _SELECT + sql,
                args,
            ).fetchall()
        return [Message(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def enqueue(self, channel: str, payload: dict[str, Any], key: str, now: float) -> bool:
        """Store a message; False when one with this idempotency key exists already."""
        with self._lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO outbox "
                "(idempotency_key, channel, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                (key, channel, json.dumps(payload, sort_keys=True), now, now),
            )
        return cur.rowcount == 1

    def due(self, now: float, limit: int = 100) -> list[Message]:
        return self._rows(
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (now, limit),
        )

    def next_due_at(self) -> float | None:
        with self._lock:
            row = self.db.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_sent(self, message: Message, now: float) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL "
                "WHERE id = ?",
                (now, message.id),
            )

    def mark_retry(self, message: Message, now: float, error: str, retry_after: float | None = None) -> bool:
        """Schedule another attempt; False (and dead-lettered) once the message is too old."""
        attempts = message.attempts + 1
        if now - message.created_at >= self.policy.max_age:
            self.mark_dead(message, f"gave up after {attempts} attempts: {error}", counted=True)
            return False
        delay = next_delay(attempts, self.policy)
        if retry_after is not None:
            delay = max(delay, retry_after)
        with self._lock:
            self.db.execute(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (attempts, now + delay, error[:500], message.id),
            )
        return True

    def mark_dead(self, message: Message, error: str, *, counted: bool = False) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE outbox SET status = 'dead', attempts = ?, last_error = ? WHERE id = ?",
                (message.attempts + (0 if counted else 1), error[:500], message.id),
            )

    def cancel_group(self, group_key: str, reason: str) -> int:
        """Stop the pending messages of a group (an acknowledged escalation's pages); PagerDuty
        acknowledge/resolve events are kept, they close what was opened."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE status = 'pending' "
                "AND json_extract(payload, '$.group_key') = ? "
                "AND json_extract(payload, '$.pagerduty_action') IS NULL",
                (reason, group_key),
            )
        return cur.rowcount

    def requeue(self, message_id: int, now: float) -> bool:
        """Put a dead letter back in the queue (after fixing the receiver)."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, created_at = ? "
                "WHERE id = ? AND status = 'dead'",
                (now, now, message_id),
            )
        return cur.rowcount == 1

    def failing_since(self, cutoff: float, limit: int = 100) -> list[Message]:
        """Pending messages stored before ``cutoff`` that have failed at least once."""
        return self._rows(
            "WHERE status = 'pending' AND attempts > 0 AND created_at <= ? ORDER BY id LIMIT ?",
            (cutoff, limit),
        )

    def dead_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").fetchone()[0])

    def depth(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0])

    def messages(self, status: Status | None = None, limit: int = 50) -> list[Message]:
        if status is None:
            return self._rows("ORDER BY id DESC LIMIT ?", (limit,))
        return self._rows("WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))

    def purge_sent(self, before: float) -> int:
        """Forget delivered messages older than ``before`` (dead letters stay until requeued)."""
        with self._lock:
            cur = self.db.execute(
                "DELETE FROM outbox WHERE (status = 'sent' AND sent_at < ?) "
                "OR (status = 'cancelled' AND created_at < ?)",
                (before, before),
            )
        return cur.rowcount
