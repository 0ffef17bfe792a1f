"""The embedded ops console: ``/ops`` on the running service (dashboards, alerts, health, backups).

``glowops.instrument(app)`` mounts it when ``GLOWOPS_CONSOLE`` is on (the default); a service
that builds its own app can call :func:`install_console` directly.
"""

from __future__ import annotations

from glowops.console.app import Console, get_console, install_console

__all__ = ["Console", "get_console", "install_console"]
