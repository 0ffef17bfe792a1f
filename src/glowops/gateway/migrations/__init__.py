"""Alembic migrations of the gateway schema (applied by ``glowops db upgrade`` and ``glowops serve``)."""
