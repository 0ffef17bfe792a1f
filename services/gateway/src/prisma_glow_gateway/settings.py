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
    migration_database_url: str = Field(
        default="",
        validation_alias=AliasChoices("MIGRATION_DATABASE_URL", "GLOWOPS_MIGRATION_DATABASE_URL"),
        description="The schema owner's URL for migrations; empty means database_url. "
        "With least-privilege roles, database_url is the gateway role's (docs/operations.md).",
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
    # --- deadlines on every dependency call made while a request runs (docs/operations.md) ---
    request_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Deadline of a whole request; past it the answer is a 503 problem with Retry-After.",
    )
    db_connect_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Opening a PostgreSQL connection (TCP and start-up)."
    )
    db_pool_size: int = Field(default=10, ge=1, description="PostgreSQL connections kept per process.")
    db_pool_max_overflow: int = Field(
        default=10, ge=0, description="Extra PostgreSQL connections opened under load, closed when idle."
    )
    db_pool_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Waiting for a free pooled connection before answering 503."
    )
    db_statement_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="PostgreSQL statement_timeout (server side); the client gives up one second later.",
    )
    # SQLite has one writer: under a burst of uploads a write waits its turn for seconds, which
    # is queueing, not an outage (the embedded default serves one machine).
    sqlite_busy_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Waiting for SQLite's write lock before answering 503."
    )
    redis_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Redis connect and socket (read/write) timeout."
    )
    http_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Outbound HTTP calls (OpenAI): connect, read, write, pool."
    )
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

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _gateway_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @model_validator(mode="after")
    def _deadlines_nest(self) -> GatewaySettings:
        # One request deadline above the dependency deadlines, or it would cut them short and
        # a frozen dependency would look like a slow request instead of an unavailable one.
        inner = max(
            self.db_connect_timeout_seconds + self.db_pool_timeout_seconds,
            self.db_statement_timeout_seconds + 1.0,
            self.sqlite_busy_timeout_seconds,
            self.redis_timeout_seconds,
        )
        if self.request_timeout_seconds <= inner:
            raise ValueError(
                f"request_timeout_seconds ({self.request_timeout_seconds:g}) must be above every "
                f"dependency deadline (the longest is {inner:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _gateway_defaults(self) -> GatewaySettings:
        # The gateway's own database is what its embedded default backs up, and on PostgreSQL
        # what its replicas elect their one alert engine on; explicit settings win.
        plain = self.database_url or f"sqlite:///{self.state_dir / 'glowops.db'}"
        # With least-privilege roles (a separate migration URL) the gateway's role may read no
        # table: backups need the backup role's URL, set explicitly (docs/operations.md).
        if "backup_database_url" not in self.model_fields_set and not self.migration_database_url:
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
    def effective_migration_url(self) -> str:
        """The SQLAlchemy async URL migrations run with (the owner's, else the gateway's)."""
        if self.migration_database_url:
            return to_async_url(self.migration_database_url)
        return self.effective_database_url

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
