"""``install_console(app, settings)``: the embedded ops console under ``/ops``.

=============================  ======================================================
path                           what it shows
=============================  ======================================================
/ops                           dashboards, alert summary, health summary
/ops/dashboards/<uid>          a dashboard's panels (range, org filter, auto-refresh)
/ops/alerts                    firing, pending, silences, recent history; silence/ack
/ops/oncall                    who is on call, escalations, maintenance windows
/ops/oncall/ack/<token>        a page's signed one-click acknowledgement (no session)
/ops/health                    every health check
/ops/backups                   backups, failures, the last restore drill, retention
/ops/api/panels/<uid>/<key>    one panel's data over a range (JSON)
/ops/api/query_range           any expression over a range (JSON, Prometheus-like)
/ops/login, /ops/logout        the session cookie (see :mod:`glowops.console.auth`)
=============================  ======================================================

Data come from the embedded alerting service the app runs (``app.state.glowops_alerting``,
set by ``glowops.instrument``): its sample store, engine and state file. Pages render at once;
panel data arrive per panel from the JSON endpoint, fetched in parallel by the browser.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from glowops.console import alerts as alert_ops
from glowops.console.assets import Assets
from glowops.console.auth import COOKIE_NAME, SESSION_SECONDS, ConsoleAuth, Session, cookie_secure
from glowops.console.queries import (
    DEFAULT_RANGE,
    ORG_PATTERN,
    RANGES,
    QueryError,
    Window,
    evaluate_range,
    org_ids,
    panel_data,
    stored_labels,
)
from glowops.console.render import SECURITY_HEADERS, page
from glowops.dashboards.model import Dashboard
from glowops.settings import Settings

_APP_ATTR = "glowops_console"
_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_UNAUTHORIZED = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "The console API needs Authorization: Bearer <GLOWOPS_OPS_TOKEN> or a console session.",
}
REFRESH_SECONDS = 15
_ORG_CACHE_SECONDS = 30.0


def _json(body: Any, status_code: int = 200) -> Response:
    media = "application/problem+json" if status_code >= 400 else "application/json"
    return Response(orjson.dumps(body), status_code=status_code, media_type=media, headers=_JSON_HEADERS)


def _cookie_dropped(request: Request) -> bool:
    """Plain http on a host where the Secure session cookie will not be kept (warn on the login page)."""
    host = request.url.hostname or ""
    return request.url.scheme != "https" and cookie_secure(request) and host != "localhost"


def _safe_next(target: str | None) -> str:
    """Only console paths: an attacker's ``next=//evil.example`` must not redirect away."""
    if not target or not target.startswith("/ops") or target.startswith("//") or "\\" in target:
        return "/ops"
    return target


class Console:
    """The console's routes over one app's settings, dashboards and alerting service."""

    def __init__(self, settings: Settings, dashboards: Callable[[], Sequence[Dashboard]]) -> None:
        self.settings = settings
        self.auth = ConsoleAuth(settings)
        self.assets = Assets()
        self._dashboards_factory = dashboards
        self._dashboards: tuple[Dashboard, ...] | None = None
        self._orgs: tuple[float, list[str]] = (0.0, [])
        self._backup_cache: Any = None
        from glowops.console.oncall import OnCallPages

        self.oncall = OnCallPages(self)

    # --- data sources -----------------------------------------------------------------------
    @property
    def dashboards(self) -> tuple[Dashboard, ...]:
        """Built on first use: the catalog reads the rule catalog, which costs at start-up otherwise."""
        if self._dashboards is None:
            self._dashboards = tuple(self._dashboards_factory())
        return self._dashboards

    def dashboard(self, uid: str) -> Dashboard | None:
        return next((d for d in self.dashboards if d.uid == uid), None)

    @staticmethod
    def alerting(request: Request) -> Any:
        """The app's EmbeddedAlerting while it runs, else None (alerting off, scale-out)."""
        return getattr(request.app.state, "glowops_alerting", None)

    def orgs(self, alerting: Any) -> list[str]:
        at, cached = self._orgs
        if alerting is None:
            return []
        if time.monotonic() - at > _ORG_CACHE_SECONDS:
            cached = org_ids(stored_labels(alerting.store.by_name))
            self._orgs = (time.monotonic(), cached)
        return cached

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
        if not self._same_origin(request) or not isinstance(token, str) or not self.auth.token_matches(token):
            await asyncio.sleep(0.5)  # slows guessing; the comparison itself is constant-time
            return page(
                "login.html",
                401,
                **self._context(request, None),
                title="Log in",
                next=target,
                error="That is not the ops token.",
                insecure=_cookie_dropped(request),
            )
        cookie, _ = self.auth.issue()
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        self._set_cookie(request, response, cookie)
        return response

    async def logout(self, request: Request) -> Response:
        checked = await self._checked_form(request)
        if isinstance(checked, Response):
            return checked
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
        return alert_ops.alert_views(alerting.engine.alerts(), alerting.state, self.dashboards, time.time())

    async def alerts_page(self, request: Request) -> Response:
        found = self._page_session(request)
        if found is None:
            return self._deny_page(request)
        session, cookie = found
        alerting = self.alerting(request)
        now = time.time()
        silences = alerting.state.silences(now) if alerting is not None else []
        history = alert_ops.history(alerting.state) if alerting is not None else []
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

    # --- JSON -----------------------------------------------------------------------------------
    async def panel_api(self, request: Request) -> Response:
        if not self.auth.allowed(request):
            return _json(_UNAUTHORIZED, 401)
        dashboard = self.dashboard(request.path_params["uid"])
        if dashboard is None:
            return _json({"title": "Not Found", "status": 404, "detail": "no such dashboard"}, 404)
        try:
            panel = dashboard.panel(request.path_params["key"])
        except KeyError:
            return _json({"title": "Not Found", "status": 404, "detail": "no such panel"}, 404)
        alerting = self.alerting(request)
        if alerting is None:
            return _no_samples()
        try:
            # Evaluated on the event loop, where the sampler writes the store, in slices: a read
            # between two slices may see a scrape half-written, and the series not yet written
            # answer with their previous sample (as Prometheus does during an ingest). Bounded
            # to ~120 steps per query.
            data = panel_data(
                alerting.store,
                panel,
                request.query_params.get("range", DEFAULT_RANGE),
                request.query_params.get("org") or None,
                round(time.time() * 1000),
            )
        except QueryError as err:
            return _json({"title": "Bad Request", "status": 400, "detail": str(err)}, 400)
        return _json(data)

    async def query_range_api(self, request: Request) -> Response:
        if not self.auth.allowed(request):
            return _json(_UNAUTHORIZED, 401)
        alerting = self.alerting(request)
        if alerting is None:
            return _no_samples()
        params = request.query_params
        try:
            now = time.time()
            end = float(params.get("end", now))
            start = float(params.get("start", end - 3600))
            step = float(params.get("step", 60))
            if step <= 0 or end < start or (end - start) / step > 11_000:
                raise QueryError("need start <= end, step > 0 and at most 11000 points")
            window = Window(round(start * 1000), round(end * 1000), round(step * 1000))
            data = evaluate_range(alerting.store, [(params.get("expr", ""), "")], window)
        except (QueryError, ValueError) as err:
            return _json({"title": "Bad Request", "status": 400, "detail": str(err)}, 400)
        return _json(data)

    # --- wiring ---------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        table: list[tuple[str, Callable[[Request], Any], list[str]]] = [
            ("/ops", self.index, get),
            ("/ops/login", self.login_form, get),
            ("/ops/login", self.login, post),
            ("/ops/logout", self.logout, post),
            ("/ops/dashboards/{uid}", self.dashboard_page, get),
            ("/ops/alerts", self.alerts_page, get),
            ("/ops/alerts/silence", self.silence, post),
            ("/ops/alerts/silence/expire", self.expire_silence, post),
            ("/ops/alerts/ack", self.acknowledge, post),
            ("/ops/oncall", self.oncall.page, get),
            ("/ops/oncall/ack/{token}", self.oncall.ack_link, [*get, *post]),
            ("/ops/oncall/{action:str}", self.oncall.action, post),
            ("/ops/health", self.health_page, get),
            ("/ops/backups", self.backups_page, get),
            ("/ops/api/panels/{uid}/{key}", self.panel_api, get),
            ("/ops/api/query_range", self.query_range_api, get),
            ("/ops/static/{name}", self.assets.serve, get),
        ]
        return [
            Route(path, handler, methods=methods, include_in_schema=False) for path, handler, methods in table
        ]


def _catalog_dashboards(settings: Settings) -> Callable[[], Sequence[Dashboard]]:
    def build() -> Sequence[Dashboard]:
        from glowops.dashboards.catalog import build_dashboards

        return build_dashboards(settings)

    return build


NO_SAMPLES = (
    "no in-process samples here: embedded alerting is off, or another worker or replica runs it "
    "(see docs/operations.md)"
)


def _no_samples() -> Response:
    return _json({"title": "Service Unavailable", "status": 503, "detail": NO_SAMPLES}, 503)


def install_console(
    app: Starlette,
    settings: Settings,
    dashboards: Sequence[Dashboard] | Callable[[], Sequence[Dashboard]] | None = None,
) -> Console:
    """Mount ``/ops`` on ``app``; returns the console (``get_console(app)`` finds it later).

    ``dashboards`` defaults to the dashboard catalog (:func:`glowops.dashboards.catalog.build_dashboards`).
    Alert and sample data come from ``app.state.glowops_alerting`` at request time.
    Calling it twice on one app returns the first installation.
    """
    existing = get_console(app)
    if existing is not None:
        return existing
    if dashboards is None:
        factory = _catalog_dashboards(settings)
    elif callable(dashboards):
        factory = dashboards
    else:
        fixed = tuple(dashboards)

        def factory() -> Sequence[Dashboard]:
            return fixed

    console = Console(settings, factory)
    app.router.routes.extend(console.routes())
    setattr(app.state, _APP_ATTR, console)
    return console


def get_console(app: Starlette) -> Console | None:
    """What :func:`install_console` installed on ``app``, or None."""
    found: Console | None = getattr(app.state, _APP_ATTR, None)
    return found
