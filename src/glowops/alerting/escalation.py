"""Escalation of firing alerts with a priority: pages, acknowledgements, re-pages, re-assignment.

Per firing (alert fingerprint + firing time) one row of ``oncall_escalations`` in the alerting
state file holds where the escalation stands: the level last paged, when the next step is due
(``next_at``), the acknowledgement and until when it holds, and which acks and actions have been
applied. Each step is written in the same SQLite transaction as the outbox messages it sends,
with idempotency keys derived from (firing, level, page number): after a crash, or when another
replica becomes the leader, the escalation resumes from the row - a step that was due while
nobody ran is taken then (nothing skipped) and a step already taken is not taken again (nothing
repeated).

Timing, with ``R`` the priority's response time (P3: until the next business day):

- level 1 is paged when the alert fires; without an ack, level ``n + 1`` is paged ``R`` after
  level ``n`` was due, up to the last level;
- an acknowledgement (CLI, console, one-click link) stops the escalation: pending pages are
  cancelled on every channel and PagerDuty's incident is acknowledged. It holds for ``R``; if
  the alert still fires then, the current level is paged again and the escalation goes on;
- un-acknowledging pages the current level again now; re-assigning pages the named person or
  schedule now and makes them the assignee;
- a resolve ends everything (PagerDuty's incident is resolved), so a later firing of the same
  alert starts at level 1, whatever was acknowledged before.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from glowops.alerting.acklink import AckLinks
from glowops.alerting.engine import Alert
from glowops.alerting.oncall import Contact, Level, OnCallPolicy, iso
from glowops.alerting.outbox import Outbox
from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.alerting.state import Ack, Action, StateStore, fingerprint

SCHEMA = """
CREATE TABLE IF NOT EXISTS oncall_escalations (
    fingerprint TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


@dataclass
class Escalation:
    """Where one firing's escalation stands (stored as JSON)."""

    fingerprint: str
    alertname: str
    priority: str
    fired_at: float
    level: int = 0  # the level last paged (0: none yet)
    pages: int = 0  # pages sent so far (re-pages included): part of the idempotency keys
    next_at: float | None = None  # when the next level (or a re-page) is due; None: end of chain
    ack_by: str | None = None
    ack_at: float | None = None
    ack_until: float | None = None
    assignee: str | None = None
    last_ack_id: int = 0
    last_action_id: int = 0
    pagerduty_keys: list[str] = field(default_factory=list)  # "" = the configured routing key
    log: list[str] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return self.ack_by is not None

    def note(self, at: float, text: str) -> None:
        self.log.append(f"{iso(at)} {text}")
        del self.log[:-20]


class Escalator:
    """Starts, advances and stops escalations; call :meth:`process` after every evaluation."""

    def __init__(
        self,
        db: sqlite3.Connection,
        outbox: Outbox,
        state: StateStore,
        policy: OnCallPolicy,
        external_url: str = "",
        *,
        redact: Callable[[Any], Any],
        links: AckLinks | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.state = state
        self.policy = policy
        self.external_url = external_url
        self.redact = redact
        self.links = links
        db.executescript(SCHEMA)

    # --- state -------------------------------------------------------------------------------------
    def load(self) -> dict[str, Escalation]:
        return {
            fp: Escalation(**json.loads(data))
            for fp, data in self.db.execute("SELECT fingerprint, data FROM oncall_escalations")
        }

    def _save(self, esc: Escalation) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO oncall_escalations VALUES (?, ?)",
            (esc.fingerprint, json.dumps(asdict(esc))),
        )

    def acked_fingerprints(self) -> set[str]:
        return {fp for fp, esc in self.load().items() if esc.acked}

    def status(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.load().values()]

    # --- the step ----------------------------------------------------------------------------------
    def process(self, alerts: Sequence[Alert], now: float) -> list[str]:
        """Start, advance or stop escalations; the idempotency keys enqueued."""
        firing = {
            fingerprint(a.labels): a
            for a in alerts
            if a.state == "firing" and a.labels.get("priority") and a.rule != HEARTBEAT_ALERT
        }
        # a maintenance window pauses the escalation of what it mutes (resolving is not pausing)
        held = {fp for fp, a in firing.items() if self._in_window(a.labels, now)}
        firing = {fp: a for fp, a in firing.items() if fp not in held}
        acks = self.state.acks()
        actions = self.state.actions()
        rows = self.load()
        sent: list[str] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for fp in set(rows) - set(firing) - held:  # resolved: the escalation and any ack end here
                self._cancel_pages(fp)
                sent += self._pagerduty(rows[fp], None, "resolve", now)
                self.db.execute("DELETE FROM oncall_escalations WHERE fingerprint = ?", (fp,))
            for fp, alert in firing.items():
                fired_at = (alert.fired_at or alert.active_at) / 1000
                old = rows.get(fp)
                if old is not None and old.fired_at == fired_at:
                    esc = old
                else:
                    # fired inside a window: the escalation starts when the window lets it through
                    start = now if self._in_window(alert.labels, fired_at) else fired_at
                    esc = Escalation(fp, alert.rule, alert.labels["priority"], fired_at, next_at=start)
                sent += self._advance(esc, alert, acks, actions, now)
                self._save(esc)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return sent

    def _in_window(self, labels: dict[str, str], t: float) -> bool:
        return any(w.active(t) and w.matches(labels) for w in self.policy.maintenance)

    def _advance(
        self, esc: Escalation, alert: Alert, acks: list[Ack], actions: list[Action], now: float
    ) -> list[str]:
        sent: list[str] = []
        events: list[Ack | Action] = [
            a
            for a in acks
            if a.id > esc.last_ack_id and a.covers(esc.alertname, esc.fingerprint, esc.fired_at)
        ]
        events += [
            a
            for a in actions
            if a.id > esc.last_action_id and a.covers(esc.alertname, esc.fingerprint, esc.fired_at)
        ]
        esc.last_ack_id = max([esc.last_ack_id, *(a.id for a in acks)])
        esc.last_action_id = max([esc.last_action_id, *(a.id for a in actions)])
        for event in sorted(events, key=lambda e: e.at):
            if isinstance(event, Ack):
                sent += self._acknowledge(esc, event, now)
            elif event.action == "unack" and esc.acked:
                esc.ack_by = esc.ack_at = esc.ack_until = None
                esc.note(now, f"un-acknowledged by {event.by}")
                sent += self._page(esc, alert, esc.level, now, now)
                esc.next_at = self._after(esc, now)
            elif event.action == "reassign" and event.target:
                esc.ack_by = esc.ack_at = esc.ack_until = None
                esc.assignee = event.target
                esc.note(now, f"re-assigned to {event.target} by {event.by}")
                target = Level(
                    f"assignee (re-assigned by {event.by})",
                    schedule=event.target if event.target in self.policy.schedules else None,
                    person=event.target if event.target in self.policy.people else None,
                )
                sent += self._page(esc, alert, esc.level, now, now, target)
                esc.next_at = self._after(esc, now)
        if esc.acked:
            assert esc.ack_until is not None
            if now < esc.ack_until:
                return sent
            due = esc.ack_until  # the ack timed out: page the current level again
            esc.note(due, f"acknowledgement by {esc.ack_by} timed out")
            esc.ack_by = esc.ack_at = esc.ack_until = None
            sent += self._page(esc, alert, max(esc.level, 1), due, now)
            esc.next_at = self._after(esc, due)
        while esc.next_at is not None and now >= esc.next_at and esc.level < len(self.policy.levels):
            due = esc.next_at
            esc.level += 1
            sent += self._page(esc, alert, esc.level, due, now)
            esc.next_at = self._after(esc, due)
        return sent

    def _after(self, esc: Escalation, at: float) -> float | None:
        """When the next level is due after a page at ``at`` (None past the last level)."""
        if esc.level >= len(self.policy.levels):
            return None
        return self.policy.deadline(esc.priority, at)

    def _acknowledge(self, esc: Escalation, ack: Ack, now: float) -> list[str]:
        if esc.acked:
            return []
        esc.ack_by, esc.ack_at = ack.by, ack.at
        esc.ack_until = self.policy.deadline(esc.priority, max(ack.at, esc.fired_at))
        esc.note(now, f"acknowledged by {ack.by}" + (f": {ack.comment}" if ack.comment else ""))
        self._cancel_pages(esc.fingerprint)
        return self._pagerduty(esc, None, "acknowledge", now)

    def _cancel_pages(self, fp: str) -> None:
        """Pages of this escalation not yet delivered are not delivered any more (every channel)."""
        self.outbox.cancel_group(f"escalation:{fp}", "acknowledged or resolved before delivery")

    # --- messages ----------------------------------------------------------------------------------
    def _page(
        self, esc: Escalation, alert: Alert, level: int, due: float, now: float, target: Level | None = None
    ) -> list[str]:
        target = target or self.policy.levels[level - 1]
        contacts, who = self.policy.resolve(target, due)
        esc.pages += 1
        esc.note(now, f"paged level {level} ({target.role}: {who})")
        if not contacts:
            return []
        body = self._body(esc, alert, level, target, who, due, now)
        payload: dict[str, Any] = self.redact(body)
        if self.links is not None:
            expires = now + self.policy.ack_link_ttl
            token = self.links.issue(esc.alertname, esc.fingerprint, esc.fired_at, level, expires)
            payload["ack_url"] = self.links.url(token)
            payload["escalation"]["acknowledge_link"] = payload["ack_url"]
        keys = []
        for contact in contacts:
            key = self._key(esc, f"page|{esc.pages}|{contact.channel}|{contact.target}")
            message = dict(payload, idempotency_key=key, receiver=contact.channel)
            self._address(message, contact, esc)
            if self.outbox.enqueue(contact.channel, message, key, now):
                keys.append(key)
        return keys

    def _address(self, message: dict[str, Any], contact: Contact, esc: Escalation) -> None:
        if contact.kind == "pagerduty":
            message["routing_key"] = contact.target
            if contact.target not in esc.pagerduty_keys:
                esc.pagerduty_keys.append(str(contact.target))
        elif contact.channel == "pagerduty":
            if "" not in esc.pagerduty_keys:
                esc.pagerduty_keys.append("")
        elif contact.target:
            message["target"] = contact.target

    def _key(self, esc: Escalation, what: str) -> str:
        return hashlib.sha256(f"escalation|{esc.fingerprint}|{esc.fired_at}|{what}".encode()).hexdigest()[:32]

    def _body(
        self, esc: Escalation, alert: Alert, level: int, target: Level, who: str, due: float, now: float
    ) -> dict[str, Any]:
        return {
            "kind": "escalation",
            "receiver": "",
            "status": "firing",
            "group_key": f"escalation:{esc.fingerprint}",
            "group_labels": {"alertname": alert.rule},
            "common_labels": dict(alert.labels),
            "common_annotations": dict(alert.annotations),
            "external_url": self.external_url,
            "dedup_key": f"glowops-escalation-{esc.fingerprint}",
            "alerts": [
                {
                    "status": "firing",
                    "labels": dict(alert.labels),
                    "annotations": dict(alert.annotations),
                    "startsAt": iso(esc.fired_at),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": self.external_url,
                    "fingerprint": esc.fingerprint,
                }
            ],
            "escalation": {
                "level": level,
                "role": target.role,
                "paged": who,
                "priority": esc.priority,
                "unacknowledged_for_seconds": round(now - esc.fired_at),
                "respond_by": datetime.fromtimestamp(
                    self.policy.deadline(esc.priority, due), UTC
                ).isoformat(),
                "acknowledge_with": f"glowops alerts ack {alert.rule}",
            },
        }

    def _pagerduty(self, esc: Escalation, alert: Alert | None, action: str, now: float) -> list[str]:
        """``acknowledge`` or ``resolve`` the PagerDuty incident(s) this escalation opened."""
        keys = []
        for routing_key in esc.pagerduty_keys:
            key = self._key(esc, f"{action}|{esc.pages}|{routing_key}")
            payload: dict[str, Any] = {
                "kind": "escalation",
                "receiver": "pagerduty",
                "status": "resolved" if action == "resolve" else "firing",
                "group_key": f"escalation:{esc.fingerprint}",
                "dedup_key": f"glowops-escalation-{esc.fingerprint}",
                "pagerduty_action": action,
                "common_labels": {"alertname": esc.alertname, "priority": esc.priority},
                "alerts": [],
                "idempotency_key": key,
            }
            channel = "pagerduty"
            if routing_key:
                payload["routing_key"] = routing_key
                channel = "pagerduty_direct"
            if self.outbox.enqueue(channel, payload, key, now):
                keys.append(key)
        return keys
