"""The gateway's declared health checks: its database, and Redis, Supabase and OpenAI when set.

glowops adds its own (state volume, backup freshness); it never guesses the gateway's.
"""

from __future__ import annotations

from glowops.health import checks
from glowops.health.registry import HealthCheck
from prisma_glow_gateway.settings import GatewaySettings

OPTIONAL_DEPENDENCIES: tuple[tuple[str, str], ...] = (
    ("redis", "REDIS_URL"),
    ("supabase", "SUPABASE_URL"),
    ("openai", "OPENAI_API_KEY"),
)
"""(check name, variable) of the dependencies the gateway runs without (``doctor`` lists them)."""


def gateway_checks(settings: GatewaySettings) -> list[HealthCheck]:
    """The database always; Redis, Supabase and OpenAI when configured."""
    declared = [checks.database(settings.effective_database_url)]
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
