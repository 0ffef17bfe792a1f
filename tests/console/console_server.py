"""Serve the gateway for the browser tests (run as a subprocess; settings come from GLOWOPS_*).

The embedded alerting runs the real rule catalog on a 600x time scale, so that alerts such as
``BackupStale`` (no backup in this fresh data directory) fire within seconds instead of hours.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from glowops.alerting.export import catalog_from_settings
from glowops.alerting.service import EmbeddedAlerting
from prisma_glow_gateway.app import create_app
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import load_settings

TIME_SCALE = 600.0


def main() -> None:
    settings = load_settings()
    upgrade(settings)
    app = create_app(settings)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with inner(target) as state:
            alerting = EmbeddedAlerting(
                settings, catalog=catalog_from_settings(settings, time_scale=TIME_SCALE)
            )
            await alerting.start()
            target.state.glowops_alerting = alerting
            try:
                yield state
            finally:
                await alerting.stop()

    app.router.lifespan_context = lifespan
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
