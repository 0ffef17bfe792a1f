"""A service that is not the gateway, for tests/deploy: an app factory taking glowops' settings."""

from __future__ import annotations

from fastapi import FastAPI

import glowops
from glowops.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="worker")
    glowops.instrument(app, settings or Settings(), configure_logs=False)
    return app
