"""The console's HTML pages and forms: login, logout, dashboards, alerts (silence, ack),
health and backups. Who may see them is :mod:`glowops.console.session`; the JSON API is
:mod:`glowops.console.api`."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from glowops.console import alerts as alert_ops
from glowops.console.core import REFRESH_SECONDS, ConsoleCore
from glowops.console.queries import DEFAULT_RANGE, ORG_PATTERN, RANGES
from glowops.console.render import SECURITY_HEADERS, page
from glowops.console.session import COOKIE_NAME, SESSION_SECONDS, Session, cookie_secure


def _cookie_dropped(request: Request) -> bool:
    """Plain http on a host where the Secure session cookie will not be kept (warn on the login page)."""
    host = request.url.hostname or ""
    return request.url.scheme != "https" and cookie_secure(request) and host != "localhost"


def _safe_next(target: str | None) -> str:
    """Only console paths: an attacker's ``next=//evil.example`` must not redirect away."""
    if not target or not target.startswith("/ops") or target.startswith("//") or "\\" in target:
        return "/ops"
    return target


class ConsolePages(ConsoleCore):
    """Page and form handlers (mixed into :class:`glowops.console.app.Console`)."""

    # --- auth ---------------------------------------------------------------------------------
    def _deny_page(self, request: Request) -> Response:
        if self.auth.token_required:
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&"
            )
            return RedirectResponse(f"/ops/login?next={target}", status_code=303, headers=SECURITY_HEADERS)
        return page("denied.html", 403, title="Not allowed", assets=self.assets, user=None, csrf="")

    def _context(self, request: Request, session: Session | None, **extra: Any) -> dict[str, Any]:
        return {
            "assets": self.assets,
            "csrf": self.auth.csrf_token(session) if session else "",
            "token_required": self.auth.token_required,
            "path": request.url.path,
            "logged_in": session is not None and self.auth.token_required,
            **extra,
        }

    def _with_session(self, request: Request, response: Response, cookie: str | None) -> Response:
        if cookie is not None:
            self._set_cookie(request, response, cookie)
        return response

    def _set_cookie(self, request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=SESSION_SECONDS,
            path="/ops",
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )

    def _page_session(self, request: Request) -> tuple[Session | None, str | None] | None:
        """The session of an allowed page request (and a new cookie to set), None when refused.

        A loopback visitor without a token gets a session at once: it anchors the CSRF token.
        """
        if not self.auth.allowed(request):
            return None
        session = self.auth.session_of(request)
        if session is None and not self.auth.token_required:
            cookie, session = self.auth.issue()
            return session, cookie
        return session, None

    def _same_origin(self, request: Request) -> bool:
        """A POST from another site is refused before anything else (login CSRF included)."""
        origin = request.headers.get("origin")
        if origin is None:  # not a browser, or one that sends no Origin on same-origin posts
            return True
        parts = urlsplit(origin)
        return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)

    async def _checked_form(self, request: Request) -> tuple[dict[str, str], Session] | Response:
        """A POST's form after the auth, origin and CSRF checks (or the refusal)."""
        if not self.auth.allowed(request):
            return self._deny_page(request)
        session = self.auth.session_of(request)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if (
            not self._same_origin(request)
            or session is None
            or not self.auth.csrf_ok(session, fields.get("csrf", ""))
        ):
            return page(
                "denied.html",
                403,
                title="Form expired",
                assets=self.assets,
                csrf="",
                message="The form was not accepted (expired or sent from another site). "
                "Reload the page and try again.",
            )
        return fields, session

    # --- login ----------------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if not self.auth.token_required:
            return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        return page(
            "login.html",
            **self._context(request, None),
            title="Log in",
            next=target,
            error=None,
            insecure=_cookie_dropped(request),
        )

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = form.get("token")
        target = _safe_next(str(form.get("next") or ""))
        if not self.auth.token_required:
            return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        decision = self.auth.login(token, request) if isinstance(token, str) else None
        if not self._same_origin(request) or decision is None or not decision.allowed:
            # Wrong tokens count in the ops guard's limiter, shared with /metrics and the rest.
            limited = decision is not None and decision.limited
            refused = page(
                "login.html",
                429 if limited else 401,
                **self._context(request, None),
                title="Log in",
                next=target,
                error=f"Too many wrong tokens: try again in {decision.retry_after} s."
                if limited and decision is not None
                else "That is not the ops token.",
                insecure=_cookie_dropped(request),
            )
            if limited and decision is not None:
                refused.headers["Retry-After"] = str(decision.retry_after)
            return refused
        cookie, _ = self.auth.issue()
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        self._set_cookie(request, response, cookie)
        return response

    async def logout(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        self.auth.revoke(checked[1])  # server-side: the cookie, replayed, opens nothing
        response = RedirectResponse(
            "/ops/login" if self.auth.token_required else "/ops", status_code=303, headers=SECURITY_HEADERS
        )
        response.delete_cookie(
            COOKIE_NAME, path="/ops", httponly=True, samesite="strict", secure=cookie_secure(request)
        )
        return response

    # --- pages ------------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        alerting = self.alerting(request)
        views = self._alert_views(alerting)
        health = await self._health_report(request, wait=0.5)
        response = page(
            "index.html",
            **self._context(request, session),
            title="glowops console",
            dashboards=self.dashboards,
            alerts=views,
            alerting_on=alerting is not None,
            health=health,
        )
        return self._with_session(request, response, cookie)

    async def dashboard_page(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        dashboard = self.dashboard(request.path_params["uid"])
        if dashboard is None:
            return page(
                "denied.html",
                404,
                **self._context(request, session),
                title="No such dashboard",
                message="There is no dashboard with that uid.",
            )
        range_name = request.query_params.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            range_name = DEFAULT_RANGE
        alerting = self.alerting(request)
        orgs = self.orgs(alerting)
        org = request.query_params.get("org", "")
        if org and not ORG_PATTERN.fullmatch(org):
            org = ""
        if org and org not in orgs:  # an org without samples yet stays selectable
            orgs = [*orgs, org]
        refresh = request.query_params.get("refresh", "on") != "off"
        response = page(
            "dashboard.html",
            **self._context(request, session),
            title=dashboard.title,
            dashboard=dashboard,
            dashboards=self.dashboards,
            ranges=list(RANGES),
            range=range_name,
            orgs=orgs,
            org=org,
            refresh=refresh,
            refresh_seconds=REFRESH_SECONDS,
            alerting_on=alerting is not None,
        )
        return self._with_session(request, response, cookie)

    def _alert_views(self, alerting: Any) -> list[alert_ops.AlertView]:
        if alerting is None:
            return []
        return alert_ops.alert_views(
            alerting.engine.alerts(), alerting.state, self.dashboards, time.time(), self.policy
        )

    async def alerts_page(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        alerting = self.alerting(request)
        now = time.time()
        silences = alert_ops.silence_views(alerting.state, now, self.policy) if alerting is not None else []
        history = alert_ops.history(alerting.state, self.policy) if alerting is not None else []
        response = page(
            "alerts.html",
            **self._context(request, session),
            title="Alerts",
            alerts=self._alert_views(alerting),
            silences=silences,
            history=history,
            alerting_on=alerting is not None,
            durations=alert_ops.SILENCE_DURATIONS,
            notice=request.query_params.get("notice", ""),
        )
        return self._with_session(request, response, cookie)

    async def silence(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        fields, _ = checked
        alerting = self.alerting(request)
        if alerting is None:
            return RedirectResponse("/ops/alerts?notice=alerting-off", status_code=303)
        matchers = [
            line for line in fields.get("matchers", "").replace(",", "\n").splitlines() if line.strip()
        ]
        try:
            sid = alert_ops.silence(
                alerting.state,
                matchers,
                fields.get("duration", "2h"),
                self._who(fields),
                fields.get("comment", ""),
                time.time(),
            )
        except ValueError as err:
            return RedirectResponse(f"/ops/alerts?notice={quote(str(err))}", status_code=303)
        return RedirectResponse(f"/ops/alerts?notice={quote(f'silence {sid} added')}", status_code=303)

    async def expire_silence(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        fields, _ = checked
        alerting = self.alerting(request)
        if alerting is not None and alerting.state.expire_silence(fields.get("silence", ""), time.time()):
            notice = f"silence {fields.get('silence', '')} expired"
        else:
            notice = "no such active silence"
        return RedirectResponse(f"/ops/alerts?notice={quote(notice)}", status_code=303)

    async def acknowledge(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
        fields, _ = checked
        alerting = self.alerting(request)
        if alerting is None:
            return RedirectResponse("/ops/alerts?notice=alerting-off", status_code=303)
        try:
            alert_ops.acknowledge(
                alerting.state,
                fields.get("alertname", ""),
                fields.get("fingerprint"),
                self._who(fields),
                fields.get("comment", ""),
                time.time(),
            )
        except ValueError as err:
            return RedirectResponse(f"/ops/alerts?notice={quote(str(err))}", status_code=303)
        notice = f"acknowledged {fields.get('alertname', '')}"
        return RedirectResponse(f"/ops/alerts?notice={quote(notice)}", status_code=303)

    @staticmethod
    def _who(fields: dict[str, str]) -> str:
        name = fields.get("by", "").strip()[:64]
        return name or "console"

    async def _health_report(self, request: Request, wait: float | None = None) -> Any:
        from glowops.health import get_health

        health = get_health(request.app)
        if health is None:
            return None
        run = asyncio.ensure_future(health.runner.run(None))
        if wait is None:
            return await run
        # The runner is single-flight and caches: a run that outlives the wait finishes in the
        # background and the next page shows it.
        done, _ = await asyncio.wait({run}, timeout=wait)
        return run.result() if done else None

    async def health_page(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        report = await self._health_report(request)
        response = page("health.html", **self._context(request, session), title="Health", report=report)
        return self._with_session(request, response, cookie)

    async def backups_page(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        from glowops.backup.monitoring import StatusCache, freshness

        if self._backup_cache is None:
            self._backup_cache = StatusCache(self.settings)
        status = await asyncio.to_thread(self._backup_cache.get)  # a store listing may be a network call
        fresh, age = freshness(status)
        response = page(
            "backups.html",
            **self._context(request, session),
            title="Backups",
            status=status,
            freshness=fresh,
            age=age,
        )
        return self._with_session(request, response, cookie)
