"""From alerts to outbox messages, with Alertmanager's semantics.

- **Routing**: the channels of an alert come from :func:`glowops.alerting.routing.channels_for`
  (the same table the exported Alertmanager config is built from); channels without settings
  are left out.
- **Grouping**: per channel, alerts are grouped by ``alertname`` and ``service`` (the
  exported ``group_by``). A new group waits ``group_wait`` before its first notification so
  that alerts arriving together go out together; later changes go out at most every
  ``group_interval``; an unchanged firing group is re-sent after ``repeat_interval``. The
  timings per severity are those of the exported Alertmanager config.
- **Inhibition**: a firing critical alert mutes warning and info alerts of the same family and
  service (the exported ``inhibit_rules``).
- **Silences**: an alert matching an active silence is not notified.
- **Resolve**: an alert that was notified as firing and is no longer firing is sent once as
  resolved, in the group's next notification; then it leaves the group.

Group state is kept in the state file and written in the same transaction as the outbox
messages, so a restart neither repeats nor loses a notification.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from glowops.alerting.alertmanager_config import (
    GROUP_BY,
    GROUP_INTERVAL,
    GROUP_WAIT_BY_SEVERITY,
    REPEAT_BY_SEVERITY,
)
from glowops.alerting.engine import Alert
from glowops.alerting.maintenance import Window
from glowops.alerting.outbox import Outbox
from glowops.alerting.routing import HEARTBEAT_ALERT, SEVERITIES, channels_for
from glowops.alerting.state import Silence, StateStore, fingerprint
from glowops.promql import parse_duration

Redactor = Callable[[Any], Any]

GROUPS_SCHEMA = "CREATE TABLE IF NOT EXISTS alert_groups (key TEXT PRIMARY KEY, data TEXT NOT NULL)"
INHIBIT_SOURCE = "critical"
INHIBIT_TARGETS = ("warning", "info")
INHIBIT_EQUAL = ("family", "service")


@dataclass(frozen=True, slots=True)
class Timings:
    """group_wait / group_interval / repeat_interval in seconds, per severity."""

    group_wait: dict[str, float]
    group_interval: float
    repeat_interval: dict[str, float]

    @classmethod
    def alertmanager_defaults(cls) -> Timings:
        """The values the exported Alertmanager configuration uses."""
        return cls(
            {s: parse_duration(GROUP_WAIT_BY_SEVERITY[s]) for s in SEVERITIES},
            parse_duration(GROUP_INTERVAL),
            {s: parse_duration(REPEAT_BY_SEVERITY[s]) for s in SEVERITIES},
        )

    @classmethod
    def uniform(cls, group_wait: float, group_interval: float, repeat_interval: float) -> Timings:
        return cls(
            dict.fromkeys(SEVERITIES, group_wait), group_interval, dict.fromkeys(SEVERITIES, repeat_interval)
        )


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def alert_entry(alert: Alert, status: str, now: float, generator_url: str) -> dict[str, Any]:
    """One alert in Alertmanager's webhook shape."""
    starts = (alert.fired_at or alert.active_at) / 1000
    ends = alert.resolved_at / 1000 if status == "resolved" and alert.resolved_at else None
    return {
        "status": status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": iso(starts),
        "endsAt": iso(ends) if ends else ("0001-01-01T00:00:00Z" if status == "firing" else iso(now)),
        "generatorURL": generator_url,
        "fingerprint": fingerprint(alert.labels),
        "value": alert.value if alert.value == alert.value else None,
    }


@dataclass
class Group:
    """One aggregation group (channel x group_by labels) and what it last notified."""

    key: str
    channel: str
    labels: dict[str, str]
    severity: str
    created_at: float
    last_flush: float | None = None
    seq: int = 0
    notified: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> alert entry

    def to_json(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "channel": self.channel,
                "labels": self.labels,
                "severity": self.severity,
                "created_at": self.created_at,
                "last_flush": self.last_flush,
                "seq": self.seq,
                "notified": self.notified,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Group:
        return cls(**json.loads(text))


def dedup_key(group_key: str) -> str:
    """PagerDuty's dedup_key of a group: stable across repeats, acks, resolves and restarts."""
    return "glowops-" + hashlib.sha256(group_key.encode()).hexdigest()[:32]


class Dispatcher:
    """Turns the engine's alerts into outbox messages (call :meth:`process` every evaluation)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        outbox: Outbox,
        state: StateStore,
        channels: Iterable[str],
        *,
        redact: Redactor,
        timings: Timings | None = None,
        external_url: str = "",
        windows: Sequence[Window] = (),
        on_suppressed: Callable[[str], None] = lambda window: None,
    ) -> None:
        self.on_suppressed = on_suppressed
        self.db = db
        self.windows = tuple(windows)
        # fingerprints of acknowledged alerts: their groups are not re-sent at repeat_interval
        self.acked: set[str] = set()
        self.outbox = outbox
        self.state = state
        self.channels = set(channels)
        self.timings = timings or Timings.alertmanager_defaults()
        self.redact = redact
        self.external_url = external_url.rstrip("/")
        db.execute(GROUPS_SCHEMA)
        self.groups: dict[str, Group] = {
            key: Group.from_json(data) for key, data in db.execute("SELECT key, data FROM alert_groups")
        }
        self._last_states: dict[str, str] = state.get("dispatch.last_states", {}) or {}

    # --- muting --------------------------------------------------------------------------------------
    @staticmethod
    def inhibited(alert: Alert, firing: Sequence[Alert]) -> bool:
        if alert.labels.get("severity") not in INHIBIT_TARGETS:
            return False
        return any(
            other.labels.get("severity") == INHIBIT_SOURCE
            and all(other.labels.get(k, "") == alert.labels.get(k, "") for k in INHIBIT_EQUAL)
            for other in firing
        )

    @staticmethod
    def silenced(alert: Alert, silences: Sequence[Silence]) -> bool:
        return any(s.matches(alert.labels) for s in silences)

    def window(self, labels: dict[str, str], now: float) -> Window | None:
        """The maintenance window muting these labels now, if any."""
        return next((w for w in self.windows if w.active(now) and w.matches(labels)), None)

    def route(self, alert: Alert) -> list[str]:
        if alert.rule == HEARTBEAT_ALERT:  # the dead man's switch pings the heartbeat URL instead
            return []
        severity = alert.labels.get("severity", "warning")
        if severity not in SEVERITIES:
            severity = "warning"
        return [c for c in channels_for(severity, alert.labels.get("family", "")) if c in self.channels]  # type: ignore[arg-type]

    # --- the main step -------------------------------------------------------------------------------
    def process(self, alerts: Sequence[Alert], now: float) -> list[str]:
        """Update groups from the current alerts; enqueue what is due; the idempotency keys enqueued."""
        firing = [a for a in alerts if a.state == "firing"]
        self._history(alerts, now)
        silences = self.state.silences(now)
        current: dict[str, dict[str, Alert]] = {}
        held: set[str] = set()  # muted by a maintenance window: neither notified nor resolved now
        for alert in firing:
            window = self.window(alert.labels, now)
            if window is not None:
                held.add(fingerprint(alert.labels))
                self._count_suppressed(window, alert, now)
                continue
            if self.inhibited(alert, firing) or self.silenced(alert, silences):
                continue
            for channel in self.route(alert):
                key = self._group_key(channel, alert)
                group = self.groups.get(key)
                if group is None:
                    group = self.groups[key] = Group(
                        key,
                        channel,
                        {k: alert.labels.get(k, "") for k in GROUP_BY},
                        alert.labels.get("severity", "warning"),
                        now,
                    )
                current.setdefault(key, {})[fingerprint(alert.labels)] = alert
        muted_firing = {fingerprint(a.labels) for a in firing}
        by_fp = {fingerprint(a.labels): a for a in alerts}
        enqueued: list[str] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for key in list(self.groups):
                group = self.groups[key]
                now_firing = current.get(key, {})
                # resolved: notified as firing, no longer firing at all (silenced-but-firing is not resolved)
                # a resolve inside a maintenance window waits for the window's end
                held_here = held | {
                    fp
                    for fp, entry in group.notified.items()
                    if fp not in now_firing and self.window(entry["labels"], now) is not None
                }
                resolved = [
                    fp
                    for fp in group.notified
                    if fp not in now_firing and fp not in muted_firing and fp not in held_here
                ]
                gone_muted = [
                    fp
                    for fp in group.notified
                    if fp not in now_firing and fp in muted_firing and fp not in held_here
                ]
                for fp in gone_muted:  # silenced or inhibited after notifying: forget quietly
                    del group.notified[fp]
                if self._due(group, now_firing, resolved, now):
                    key_ = self._flush(group, now_firing, resolved, by_fp, now)
                    enqueued.append(key_)
                if not now_firing and not group.notified:
                    del self.groups[key]
                    self.db.execute("DELETE FROM alert_groups WHERE key = ?", (key,))
                else:
                    self.db.execute(
                        "INSERT OR REPLACE INTO alert_groups VALUES (?, ?)", (key, group.to_json())
                    )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return enqueued

    def _group_key(self, channel: str, alert: Alert) -> str:
        return channel + ":" + ",".join(f"{k}={alert.labels.get(k, '')}" for k in GROUP_BY)

    def _due(self, group: Group, firing: dict[str, Alert], resolved: list[str], now: float) -> bool:
        t = self.timings
        if group.last_flush is None:
            return bool(firing) and now >= group.created_at + t.group_wait.get(group.severity, 30.0)
        changed = bool(resolved) or any(fp not in group.notified for fp in firing)
        if changed and now >= group.last_flush + t.group_interval:
            return True
        if firing and all(fp in self.acked for fp in firing):
            return False  # acknowledged: somebody is on it, no reminders (the ack's timeout re-pages)
        return bool(firing) and now >= group.last_flush + t.repeat_interval.get(group.severity, 4 * 3600.0)

    def _flush(
        self, group: Group, firing: dict[str, Alert], resolved: list[str], by_fp: dict[str, Alert], now: float
    ) -> str:
        entries = [alert_entry(a, "firing", now, self.external_url) for a in firing.values()]
        for fp in resolved:
            alert = by_fp.get(fp)
            if alert is not None and alert.state == "inactive":
                entries.append(alert_entry(alert, "resolved", now, self.external_url))
            else:  # the engine no longer holds it: resolve from what was notified
                entry = dict(group.notified[fp], status="resolved", endsAt=iso(now))
                entries.append(entry)
        group.seq += 1
        status = "firing" if firing else "resolved"
        key = hashlib.sha256(f"{group.key}|{group.seq}|{group.created_at}".encode()).hexdigest()[:32]
        payload = self.payload(group, status, entries, key)
        self.outbox.enqueue(group.channel, payload, key, now)
        group.last_flush = now
        group.notified = {
            fingerprint(a.labels): alert_entry(a, "firing", now, self.external_url) for a in firing.values()
        }
        return key

    def payload(self, group: Group, status: str, entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
        """The stored message: Alertmanager's notification data, redacted."""
        common_labels = _common([e["labels"] for e in entries])
        common_annotations = _common([e["annotations"] for e in entries])
        body = {
            "kind": "alert",
            "receiver": group.channel,
            "status": status,
            "group_key": group.key,
            "group_labels": group.labels,
            "common_labels": common_labels,
            "common_annotations": common_annotations,
            "external_url": self.external_url,
            "alerts": entries,
            "dedup_key": dedup_key(group.key),
        }
        redacted: dict[str, Any] = self.redact(body)
        redacted["idempotency_key"] = key
        return redacted

    def acknowledge(self, alertname: str, now: float) -> list[str]:
        """PagerDuty ``acknowledge`` events for the groups of an acknowledged alert."""
        keys = []
        for group in self.groups.values():
            if (
                group.channel != "pagerduty"
                or group.labels.get("alertname") != alertname
                or not group.notified
            ):
                continue
            key = hashlib.sha256(f"{group.key}|ack|{now}".encode()).hexdigest()[:32]
            payload = self.payload(group, "firing", list(group.notified.values()), key)
            payload["pagerduty_action"] = "acknowledge"
            if self.outbox.enqueue("pagerduty", payload, key, now):
                keys.append(key)
        return keys

    def _count_suppressed(self, window: Window, alert: Alert, now: float) -> None:
        """Count each firing muted by each occurrence of a window once (metric and state file)."""
        occurrence = window.occurrence(now)
        fired_at = (alert.fired_at or alert.active_at) / 1000
        seen_key = (
            f"{window.name}|{occurrence[0] if occurrence else 0}|{fingerprint(alert.labels)}|{fired_at}"
        )
        seen: dict[str, float] = self.state.get("maintenance.seen", {}) or {}
        if seen_key in seen:
            return
        seen = {k: v for k, v in seen.items() if v > now - 8 * 86400}  # forget old occurrences
        seen[seen_key] = now
        self.state.put("maintenance.seen", seen)
        counts: dict[str, int] = self.state.get("maintenance.suppressed", {}) or {}
        counts[window.name] = counts.get(window.name, 0) + 1
        self.state.put("maintenance.suppressed", counts)
        self.on_suppressed(window.name)

    def _history(self, alerts: Sequence[Alert], now: float) -> None:
        states: dict[str, str] = {}
        for alert in alerts:
            fp = fingerprint(alert.labels)
            states[fp] = alert.state
            if self._last_states.get(fp) != alert.state:
                self.state.record(now, alert.labels, alert.state, alert.annotations.get("summary", ""))
        if states != self._last_states:
            self._last_states = states
            self.state.put("dispatch.last_states", states)


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}
