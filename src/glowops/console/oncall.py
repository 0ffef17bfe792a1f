"""The console's on-call pages: who is on call, escalations, maintenance windows, one-click acks.

``/ops/oncall`` (a console session) shows each schedule's current responder and its next days
as a table, the escalations in progress (with un-acknowledge and re-assign forms) and the
maintenance windows with their next occurrences and how many notifications they suppressed.

``/ops/oncall/ack/<token>`` is the signed link in every page (see
:mod:`glowops.alerting.acklink`); it needs no session: the token is the credential, good for
one acknowledgement of one firing. GET shows what it would acknowledge, POST acknowledges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from glowops.alerting.acklink import AckLinks, LinkClaim, LinkError, link_key
from glowops.alerting.oncall import OnCallPolicy, load_policy
from glowops.alerting.schedule import table_rows
from glowops.alerting.state import StateStore, state_path
from glowops.console.render import page

if TYPE_CHECKING:
    from glowops.console.app import Console

DAYS_SHOWN = 7


@dataclass(frozen=True, slots=True)
class ScheduleView:
    name: str
    time_zone: str
    now: str | None
    rows: list[tuple[str, str, str, str]]


def schedule_views(policy: OnCallPolicy, start: float, end: float) -> list[ScheduleView]:
    return [
        ScheduleView(name, str(s.tz), s.on_call(start), list(table_rows(s, start, end)))
        for name, s in policy.schedules.items()
    ]


def escalations(state: StateStore) -> list[dict[str, Any]]:
    if not state.db.execute("SELECT name FROM sqlite_master WHERE name = 'oncall_escalations'").fetchone():
        return []
    return [json.loads(row[0]) for row in state.db.execute("SELECT data FROM oncall_escalations")]


class OnCallPages:
    """Handlers bound to one console (its auth, assets and settings)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.settings = console.settings
        self.clock: Callable[[], float] = time.time  # tests drive their own

    def _state(self) -> StateStore:
        return StateStore.open(state_path(self.settings), self.console.policy)

    def _policy(self) -> tuple[OnCallPolicy | None, str]:
        try:
            return load_policy(self.settings.oncall_file), ""
        except ValueError as err:
            return None, str(err)

    async def page(self, request: Request) -> Response:
        c = self.console
        found = c._page_session(request)
        if found is None:
            return c._deny_page(request)
        session, cookie = found
        policy, problem = self._policy()
        now = self.clock()
        state = self._state()
        try:
            windows = []
            if policy is not None:
                counts = state.get("maintenance.suppressed", {}) or {}
                for w in policy.maintenance:
                    windows.append(
                        {
                            "name": w.name,
                            "matchers": w.describe(),
                            "time_zone": str(w.tz),
                            "active": w.active(now),
                            "next": w.next_occurrences(now),
                            "suppressed": counts.get(w.name, 0),
                        }
                    )
            response = page(
                "oncall.html",
                **c._context(request, session),
                title="On call",
                configured=policy is not None,
                problem=problem,
                schedules=schedule_views(policy, now, now + DAYS_SHOWN * 86400) if policy else [],
                escalations=escalations(state),
                windows=windows,
                assignees=sorted([*policy.people, *policy.schedules]) if policy else [],
                notice=request.query_params.get("notice", ""),
            )
        finally:
            state.db.close()
        return c._with_session(request, response, cookie)

    async def action(self, request: Request) -> Response:
        """POST /ops/oncall/{unack,reassign}: the same records as ``glowops alerts unack|reassign``."""
        c = self.console
        if request.path_params["action"] not in ("unack", "reassign"):
            return Response("Not Found", 404)
        checked = await c._checked_form(request)
        if isinstance(checked, Response):
            return checked
        fields, _ = checked
        action = request.path_params["action"]
        alertname = fields.get("alertname", "")
        target = fields.get("to", "").strip() or None
        policy, _ = self._policy()
        if not alertname:
            notice = "which alert?"
        elif action == "reassign" and (
            policy is None
            or target is None
            or (target not in policy.people and target not in policy.schedules)
        ):
            notice = f"{target!r} is neither a person nor a schedule of the on-call file"
        else:
            state = self._state()
            try:
                state.add_action(
                    action,
                    alertname,
                    fields.get("fingerprint") or None,
                    target,
                    self.clock(),
                    c._who(fields),
                    "",
                )
            finally:
                state.db.close()
            notice = f"{alertname}: " + (
                "un-acknowledged" if action == "unack" else f"re-assigned to {target}"
            )
        return RedirectResponse(f"/ops/oncall?notice={quote(notice)}", status_code=303)

    # --- the one-click link -------------------------------------------------------------------
    def _links(self, state: StateStore) -> AckLinks:
        return AckLinks(state.db, link_key(self.settings), self.settings.external_url)

    def _refused(self, err: LinkError) -> Response:
        return page(
            "ack_link.html",
            err.status,
            title="Link refused",
            assets=self.console.assets,
            csrf="",
            error=str(err),
            claim=None,
            token="",
            done=False,
        )

    async def ack_link(self, request: Request) -> Response:
        token = request.path_params["token"]
        state = self._state()
        try:
            links = self._links(state)
            try:
                if request.method == "GET":  # shows; never acknowledges (link scanners GET too)
                    claim = links.verify(token, self.clock())
                    return self._link_page(claim, token, done=False)
                if not self.console._same_origin(request):
                    raise LinkError("this form was sent from another site", 403)
                claim = links.verify(token, self.clock())
                self._still_firing(state, claim)
                claim = links.spend(token, self.clock(), "one-click link")
            except LinkError as err:
                return self._refused(err)
            state.add_ack(
                claim.alertname,
                claim.fingerprint,
                self.clock(),
                f"one-click link (level {claim.level})",
                "acknowledged from the link in the page",
            )
            return self._link_page(claim, "", done=True)
        finally:
            state.db.close()

    @staticmethod
    def _still_firing(state: StateStore, claim: LinkClaim) -> None:
        for esc in escalations(state):
            if esc["fingerprint"] == claim.fingerprint and esc["fired_at"] == claim.fired_at:
                return
        raise LinkError("this alert has resolved since the page (a new firing gets a new link)", 410)

    def _link_page(self, claim: LinkClaim, token: str, *, done: bool) -> Response:
        return page(
            "ack_link.html",
            200,
            title="Acknowledge" if not done else "Acknowledged",
            assets=self.console.assets,
            csrf="",
            error="",
            claim=claim,
            token=token,
            done=done,
        )
