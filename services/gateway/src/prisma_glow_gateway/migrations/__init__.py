"""Alembic migrations of the gateway schema (``prisma-glow-gateway db upgrade`` and ``serve``)."""
