"""What the console's pages and API share: settings, the ops guard and sessions, assets, the
dashboards and the app's alerting service."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request

from glowops.console.assets import Assets
from glowops.console.queries import org_ids, stored_labels
from glowops.console.session import ConsoleSessions
from glowops.dashboards.model import Dashboard
from glowops.ops_guard import OpsGuard
from glowops.redaction import default_policy
from glowops.settings import Settings

REFRESH_SECONDS = 15
_ORG_CACHE_SECONDS = 30.0


class ConsoleCore:
    """The state every console handler reads."""

    def __init__(
        self, settings: Settings, dashboards: Callable[[], Sequence[Dashboard]], guard: OpsGuard | None = None
    ) -> None:
        self.settings = settings
        self.policy = default_policy(settings)  # everything a page shows passes it
        self.guard = guard or OpsGuard(settings)
        self.auth = ConsoleSessions(settings, self.guard)
        self.assets = Assets()
        self._dashboards_factory = dashboards
        self._dashboards: tuple[Dashboard, ...] | None = None
        self._orgs: tuple[float, list[str]] = (0.0, [])
        self._backup_cache: Any = None

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
