"""The gateway's declared health checks: its database, and Redis, Supabase and OpenAI when set.

glowops adds its own (state volume, backup freshness); it never guesses the gateway's.
"""

from __future__ import annotations

from typing import Any

from glowops.health import checks
from glowops.health.model import Observation, Status
from glowops.health.registry import CheckOutcome, HealthCheck
from prisma_glow_gateway.settings import GatewaySettings

OPTIONAL_DEPENDENCIES: tuple[tuple[str, str], ...] = (
    ("redis", "REDIS_URL"),
    ("supabase", "SUPABASE_URL"),
    ("openai", "OPENAI_API_KEY"),
)
"""(check name, variable) of the dependencies the gateway runs without (``doctor`` lists them)."""


def gateway_checks(settings: GatewaySettings) -> list[HealthCheck]:
    """The database always (and its role, with a separate migration role); Redis, Supabase and
    OpenAI when configured."""
    declared = [checks.database(settings.effective_database_url)]
    if settings.uses_postgres and settings.migration_database_url:
        # Separate migration and gateway roles declare a least-privilege set-up: check it holds.
        declared.append(DatabaseRoleCheck(settings.effective_database_url))
    if settings.redis_url:
        declared.append(checks.redis(settings.redis_url))
    if settings.supabase_url:
        declared.append(supabase_check(settings))
    if settings.openai_api_key is not None:
        declared.append(openai_check(settings))
    return declared


def supabase_check(settings: GatewaySettings) -> HealthCheck:
    """``GET {SUPABASE_URL}/auth/v1/health`` with the ``apikey`` header Supabase requires.

    Non-critical unless ``GLOWOPS_HEALTH_SUPABASE_CRITICAL=true``: with Supabase Auth down,
    sign-ins fail but signed-in users keep working, so the instance should stay in rotation
    (the AuthenticationServiceDown alert pages instead).
    """
    assert settings.supabase_url is not None
    key = settings.supabase_anon_key.get_secret_value() if settings.supabase_anon_key else ""
    return checks.http(
        "supabase",
        settings.supabase_url.rstrip("/") + "/auth/v1/health",
        headers={"apikey": key} if key else {},
        require_headers=True,
        critical=settings.health_supabase_critical,
    )


def openai_check(settings: GatewaySettings) -> HealthCheck:
    """``GET {OPENAI_BASE_URL}/models`` with the key; cached longer since every call spends quota."""
    assert settings.openai_api_key is not None
    key = settings.openai_api_key.get_secret_value()
    return checks.http(
        "openai",
        settings.openai_base_url.rstrip("/") + "/models",
        headers={"Authorization": f"Bearer {key}"} if key else {},
        require_headers=True,
        critical=False,
        ttl=max(settings.health_openai_ttl_seconds, settings.health_cache_ttl_seconds),
    )


class DatabaseRoleCheck(HealthCheck):
    """Warns when the gateway connects as a role row-level security does not fully bind.

    Superuser, BYPASSRLS, owning tables, or inheriting ``glowops_service`` (so a reset role still
    reads every organisation): each is named in the output. Non-critical: the instance serves,
    ``glowops doctor`` and /dependencies show the warning (docs/operations.md, "Database roles").
    """

    name = "database_role"
    critical = False
    component_type = "datastore"

    def __init__(self, url: str) -> None:
        from glowops.settings import to_plain_url

        self.url = to_plain_url(url)

    async def run(self) -> CheckOutcome:
        import asyncpg  # type: ignore[import-untyped]

        from prisma_glow_gateway.roles import ROLE_FACTS_SQL, role_problems

        conn: Any = await asyncpg.connect(self.url, timeout=2.0)
        try:
            user = str(await conn.fetchval("SELECT current_user"))
            facts = await conn.fetchrow(ROLE_FACTS_SQL)
        finally:
            await conn.close()
        problems = role_problems(dict(facts or {}), user)
        if problems:
            return Observation(status=Status.WARN, output="; ".join(problems), observed_value=user)
        return Observation(observed_value=user)
