"""The gateway's settings: glowops' :class:`~glowops.settings.Settings` plus the gateway's own.

The gateway's fields (its database, Redis, Supabase and OpenAI, token signing, upload limit,
MFA threshold, approval SLA, rate limit) live here, not in glowops: glowops serves any service
and knows nothing of them. The environment names are the spec's (``DATABASE_URL``,
``REDIS_URL``, ``SUPABASE_URL``, ``OPENAI_API_KEY``) or carry the ``GLOWOPS_`` prefix.

The embedded default (``make run``) configures, from the gateway's database: its backups (the
same database is dumped on schedule) and, on PostgreSQL, the leader election of the embedded
alert engine across replicas.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from glowops.settings import (
    CommaList,
    Settings,
    check_database_url,
    check_url,
    load_settings_as,
    to_async_url,
)

SERVICE_NAME = "gateway"
DEMO_SCRAPE_INTERVAL_SECONDS = 5.0


class GatewaySettings(Settings):
    """Everything the gateway reads from the environment (glowops' settings included)."""

    service_name: str = Field(
        default=SERVICE_NAME,
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "GLOWOPS_SERVICE_NAME"),
        description="service.name of traces, the service field of logs, metrics and alerts.",
    )
    packs: CommaList = Field(
        default_factory=lambda: ["prismaglow"],
        description="The gateway uses the Prisma Glow pack (its dashboards, rules and runbooks); "
        "GLOWOPS_PACKS may add more.",
    )
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "GLOWOPS_DATABASE_URL"),
        description="postgresql://... or sqlite:///...; empty means a SQLite file under the state dir.",
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "GLOWOPS_REDIS_URL")
    )
    supabase_url: str | None = Field(default=None, validation_alias=AliasChoices("SUPABASE_URL"))
    supabase_anon_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SUPABASE_ANON_KEY", "SUPABASE_KEY")
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("OPENAI_BASE_URL", "GLOWOPS_OPENAI_BASE_URL"),
    )
    openai_model: str = "gpt-4o-mini"
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs login tokens; empty means a random key kept in state_dir/secret.key.",
    )
    token_ttl_seconds: int = Field(default=3600, gt=0)
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    mfa_amount_threshold: float = Field(default=10_000.0, ge=0)
    approval_sla_hours: float = Field(default=24.0, gt=0)
    rate_limit_per_minute: int = Field(default=600, ge=0, description="Per client; 0 disables.")
    demo: bool = Field(default=False, description="Run a light built-in traffic generator.")
    health_openai_ttl_seconds: float = Field(
        default=60.0, ge=0, description="Cache of the OpenAI check (longer: each probe spends API quota)."
    )
    health_supabase_critical: bool = Field(
        default=False, description="A failing Supabase check makes /health/ready and /dependencies 503."
    )

    @field_validator("supabase_url", "openai_base_url")
    @classmethod
    def _gateway_http_url(cls, value: str | None) -> str | None:
        return check_url(value, ("http", "https"))

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return check_url(value, ("redis", "rediss", "unix"))

    @field_validator("database_url")
    @classmethod
    def _gateway_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @model_validator(mode="after")
    def _gateway_defaults(self) -> GatewaySettings:
        # The gateway's own database is what its embedded default backs up, and on PostgreSQL
        # what its replicas elect their one alert engine on; explicit settings win.
        plain = self.database_url or f"sqlite:///{self.state_dir / 'glowops.db'}"
        if "backup_database_url" not in self.model_fields_set:
            self.backup_database_url = plain
        if "leader_database_url" not in self.model_fields_set and plain.startswith("postgres"):
            self.leader_database_url = plain
        # A newcomer running the demo should see charts fill within seconds, not after the two
        # 15 s scrapes a rate() needs; an explicit GLOWOPS_SCRAPE_INTERVAL_SECONDS wins.
        if self.demo and "scrape_interval_seconds" not in self.model_fields_set:
            self.scrape_interval_seconds = DEMO_SCRAPE_INTERVAL_SECONDS
        return self

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy async URL: the configured one, or the embedded SQLite file."""
        return to_async_url(self.database_url or f"sqlite:///{self.state_dir / 'glowops.db'}")

    @property
    def uses_postgres(self) -> bool:
        return self.effective_database_url.startswith("postgresql")


def load_settings(**overrides: Any) -> GatewaySettings:
    """Read the environment into :class:`GatewaySettings` or raise a one-line ConfigError."""
    return load_settings_as(GatewaySettings, **overrides)


def as_gateway_settings(settings: Settings) -> GatewaySettings:
    """``settings`` as the gateway's: itself, or glowops' settings completed from the environment."""
    if isinstance(settings, GatewaySettings):
        return settings
    return load_settings(**settings.model_dump(exclude_unset=True))


@functools.lru_cache(maxsize=1)
def get_settings() -> GatewaySettings:
    """The gateway process's settings, read once."""
    return load_settings()
