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
/ops/login, /ops/logout        the server-side session (see :mod:`glowops.console.session`)
=============================  ======================================================

Data come from the embedded alerting service the app runs (``app.state.glowops_alerting``,
set by ``glowops.instrument``): its sample store, engine and state file. Pages render at once;
panel data arrive per panel from the JSON endpoint, fetched in parallel by the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from glowops.console.api import ConsoleApi
from glowops.console.pages import ConsolePages
from glowops.dashboards.model import Dashboard
from glowops.ops_guard import OpsGuard
from glowops.settings import Settings

_APP_ATTR = "glowops_console"


class Console(ConsolePages, ConsoleApi):
    """The console's routes over one app's settings, dashboards and alerting service: the pages
    (:mod:`glowops.console.pages`), the JSON API (:mod:`glowops.console.api`) and the sessions
    (:mod:`glowops.console.session`) over shared state (:mod:`glowops.console.core`)."""

    def __init__(
        self, settings: Settings, dashboards: Callable[[], Sequence[Dashboard]], guard: OpsGuard | None = None
    ) -> None:
        super().__init__(settings, dashboards, guard)
        from glowops.console.oncall import OnCallPages

        self.oncall = OnCallPages(self)

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


def install_console(
    app: Starlette,
    settings: Settings,
    dashboards: Sequence[Dashboard] | Callable[[], Sequence[Dashboard]] | None = None,
    guard: OpsGuard | None = None,
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

    console = Console(settings, factory, guard)
    app.router.routes.extend(console.routes())
    setattr(app.state, _APP_ATTR, console)
    return console


def get_console(app: Starlette) -> Console | None:
    """What :func:`install_console` installed on ``app``, or None."""
    found: Console | None = getattr(app.state, _APP_ATTR, None)
    return found
