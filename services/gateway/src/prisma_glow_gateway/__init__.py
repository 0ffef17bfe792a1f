"""The reference Prisma Glow gateway: assistant, documents, approvals, org-scoped data.

It adopts glowops exactly as any other Prisma Glow service would, through the public API
(``glowops.instrument(app)``, ``glowops.metrics``, ``glowops.get_logger()``)::

    from prisma_glow_gateway import create_app
    app = create_app()          # uvicorn --factory prisma_glow_gateway:create_app
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: the migration environment and the CLI import submodules without building the app.
    if name == "create_app":
        from prisma_glow_gateway.app import create_app

        return create_app
    raise AttributeError(name)
