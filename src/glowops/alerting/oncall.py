"""On-call: priorities with response times, and escalation of unacknowledged alerts.

Priorities (the spec's): P0 respond within 15 minutes, P1 within 1 hour, P2 within 4 hours,
P3 by the next business day. An alert carries its priority as the ``priority`` label.

The escalation chain is read from ``settings.oncall_file`` (YAML)::

    levels:
      - role: On-call engineer
        channel: pagerduty            # a configured channel (pagerduty, slack, teams, email, ...)
      - role: Team lead
        channel: webhook
        target: https://hooks.example.com/lead
      - role: Engineering manager
        channel: email
        target: em@example.com
      - role: CTO
        channel: slack
    response_times:                   # optional overrides of the spec's
      P2: 2h

Level 1 is notified when the alert fires; while nobody has acknowledged it, the next level is
notified each time another response time has passed (P0: 15 min, 30 min, 45 min after firing).
``glowops alerts ack NAME`` stops the escalation; a resolve ends it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from glowops.alerting.engine import Alert
from glowops.alerting.outbox import Outbox
from glowops.alerting.state import StateStore, fingerprint
from glowops.promql import parse_duration

RESPONSE_TIMES: dict[str, float | None] = {"P0": 15 * 60.0, "P1": 3600.0, "P2": 4 * 3600.0, "P3": None}
# None = the next business day (09:00 UTC on the next Monday-Friday)
BUSINESS_DAY_START_HOUR = 9
DEFAULT_ROLES = ("On-call engineer", "Team lead", "Engineering manager", "CTO")

SCHEMA = """
CREATE TABLE IF NOT EXISTS escalations (
    fingerprint TEXT PRIMARY KEY, alertname TEXT NOT NULL, priority TEXT NOT NULL,
    fired_at REAL NOT NULL, level INTEGER NOT NULL, stopped TEXT);
"""


@dataclass(frozen=True, slots=True)
class Level:
    role: str
    channel: str
    target: str | None = None


@dataclass(frozen=True, slots=True)
class OnCallPolicy:
    levels: tuple[Level, ...]
    response_times: dict[str, float | None]

    def deadline(self, priority: str, start: float) -> float:
        """When a response is due for an alert of ``priority`` that started waiting at ``start``."""
        seconds = self.response_times.get(priority, RESPONSE_TIMES.get(priority))
        if seconds is not None:
            return start + seconds
        return next_business_day(start)

    def due_level(self, priority: str, fired_at: float, now: float) -> int:
        """How many levels should have been notified by ``now`` (1 at firing)."""
        level, start = 1, fired_at
        while level < len(self.levels):
            start = self.deadline(priority, start)
            if now < start:
                break
            level += 1
        return level


def next_business_day(t: float) -> float:
    day = datetime.fromtimestamp(t, UTC).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, BUSINESS_DAY_START_HOUR, tzinfo=UTC).timestamp()


def load_policy(path: Path | None, default_channel: str = "webhook") -> OnCallPolicy | None:
    """The policy from the YAML file; None when no file is configured."""
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ValueError(f"on-call file {path} does not exist (GLOWOPS_ONCALL_FILE)") from None
    except yaml.YAMLError as err:
        raise ValueError(f"on-call file {path} is not valid YAML: {err}") from None
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise ValueError(f"on-call file {path}: 'levels' must be a non-empty list (on-call engineer first)")
    levels = []
    for i, item in enumerate(raw_levels):
        if not isinstance(item, dict) or not item.get("channel"):
            raise ValueError(f"on-call file {path}: level {i + 1} needs a 'channel'")
        role = str(item.get("role") or (DEFAULT_ROLES[i] if i < len(DEFAULT_ROLES) else f"Level {i + 1}"))
        levels.append(Level(role, str(item["channel"]), str(item["target"]) if item.get("target") else None))
    times = dict(RESPONSE_TIMES)
    for priority, text in (data.get("response_times") or {}).items():
        if priority not in RESPONSE_TIMES:
            raise ValueError(f"on-call file {path}: unknown priority {priority!r} (P0-P3)")
        try:
            times[priority] = None if text in (None, "next_business_day") else parse_duration(str(text))
        except ValueError as err:
            raise ValueError(f"on-call file {path}: response time of {priority}: {err}") from None
    return OnCallPolicy(tuple(levels), times)


class Escalator:
    """Tracks firing alerts with a priority and notifies the next level when a response is overdue."""

    def __init__(
        self,
        db: sqlite3.Connection,
        outbox: Outbox,
        state: StateStore,
        policy: OnCallPolicy,
        external_url: str = "",
        redact: Any = lambda obj: obj,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.state = state
        self.policy = policy
        self.external_url = external_url
        self.redact = redact
        db.executescript(SCHEMA)

    def process(self, alerts: Sequence[Alert], now: float) -> list[str]:
        """Start, advance or stop escalations; the idempotency keys enqueued."""
        firing = {
            fingerprint(a.labels): a for a in alerts if a.state == "firing" and a.labels.get("priority")
        }
        acks = self.state.acks()
        enqueued = []
        rows = {
            r[0]: r
            for r in self.db.execute(
                "SELECT fingerprint, alertname, priority, fired_at, level, stopped FROM escalations"
            )
        }
        for fp in set(rows) - set(firing):
            self.db.execute(
                "DELETE FROM escalations WHERE fingerprint = ?", (fp,)
            )  # resolved: escalation ends
        for fp, alert in firing.items():
            fired_at = (alert.fired_at or alert.active_at) / 1000
            row = rows.get(fp)
            if row is None or row[3] != fired_at:
                self.db.execute(
                    "INSERT OR REPLACE INTO escalations VALUES (?, ?, ?, ?, 0, NULL)",
                    (fp, alert.rule, alert.labels["priority"], fired_at),
                )
                level, stopped = 0, None
            else:
                level, stopped = row[4], row[5]
            if stopped:
                continue
            ack = next((a for a in acks if a.covers(alert.rule, fp, fired_at)), None)
            if ack is not None:
                self.db.execute(
                    "UPDATE escalations SET stopped = ? WHERE fingerprint = ?",
                    (f"acknowledged by {ack.by}", fp),
                )
                continue
            due = self.policy.due_level(alert.labels["priority"], fired_at, now)
            while level < due:
                level += 1
                enqueued.append(self._notify(alert, fp, fired_at, level, now))
            self.db.execute("UPDATE escalations SET level = ? WHERE fingerprint = ?", (level, fp))
        return enqueued

    def _notify(self, alert: Alert, fp: str, fired_at: float, level: int, now: float) -> str:
        target = self.policy.levels[level - 1]
        key = hashlib.sha256(f"escalation|{fp}|{fired_at}|{level}".encode()).hexdigest()[:32]
        priority = alert.labels["priority"]
        body = {
            "kind": "escalation",
            "receiver": target.channel,
            "status": "firing",
            "group_key": f"escalation:{fp}",
            "group_labels": {"alertname": alert.rule},
            "common_labels": dict(alert.labels),
            "common_annotations": dict(alert.annotations),
            "external_url": self.external_url,
            "dedup_key": f"glowops-escalation-{fp}",
            "alerts": [
                {
                    "status": "firing",
                    "labels": dict(alert.labels),
                    "annotations": dict(alert.annotations),
                    "startsAt": datetime.fromtimestamp(fired_at, UTC).isoformat().replace("+00:00", "Z"),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": self.external_url,
                    "fingerprint": fp,
                }
            ],
            "escalation": {
                "level": level,
                "role": target.role,
                "priority": priority,
                "unacknowledged_for_seconds": round(now - fired_at),
                "respond_by": datetime.fromtimestamp(self.policy.deadline(priority, now), UTC).isoformat(),
                "acknowledge_with": f"glowops alerts ack {alert.rule}",
            },
        }
        payload: dict[str, Any] = self.redact(body)
        payload["idempotency_key"] = key
        if target.target:
            payload["target"] = target.target
        self.outbox.enqueue(target.channel, payload, key, now)
        return key

    def status(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT fingerprint, alertname, priority, fired_at, level, stopped FROM escalations"
        ).fetchall()
        keys = ("fingerprint", "alertname", "priority", "fired_at", "level", "stopped")
        return [dict(zip(keys, r, strict=True)) for r in rows]
