"""The one settings object: the only place in glowops that reads the environment.

Every variable named in the spec keeps the spec's name (``SENTRY_DSN``, ``DATABASE_URL``,
``OTEL_EXPORTER_OTLP_ENDPOINT``...); glowops' own settings carry the ``GLOWOPS_`` prefix.
A malformed value stops start-up with :class:`ConfigError`, whose message is one line naming
the variable and what is wrong with it, never a traceback.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_DEFAULT_STATE_DIR = Path("var")
# OpenTelemetry's name for a service that did not say what it is.
DEFAULT_SERVICE_NAME = "unknown_service"


class ConfigError(Exception):
    """A configuration value is malformed. ``str(err)`` is one line meant for a human."""


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    if not parts.netloc and parts.scheme not in ("sqlite", "sqlite+aiosqlite", "file"):
        raise ValueError("must be a URL with a host")
    return value


_HTTP = ("http", "https")

# Lists are read from the environment as comma-separated values (``a,b,c``), not JSON.
CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Effective configuration of a glowops-instrumented service.

    Secrets are :class:`pydantic.SecretStr` so that printing the object never shows them;
    ``glowops config show`` masks them too.
    """

    model_config = SettingsConfigDict(
        env_prefix="GLOWOPS_",
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # --- service identity -------------------------------------------------------------
    service_name: str = Field(
        default=DEFAULT_SERVICE_NAME,
        validation_alias=_alias("OTEL_SERVICE_NAME", "GLOWOPS_SERVICE_NAME"),
        description="service.name of traces, the service field of logs, metrics and alerts; "
        "unset: instrument(app) names the service after the app's title.",
    )
    service_version: str = Field(default="", description="Version reported by /health and in logs.")
    environment: str = Field(
        default="development",
        validation_alias=_alias("SENTRY_ENVIRONMENT", "GLOWOPS_ENVIRONMENT"),
        description="deployment.environment / Sentry environment.",
    )
    packs: CommaList = Field(
        default_factory=list,
        description="Installed packs to use (entry point group glowops.packs), comma-separated: their "
        "metrics, dashboards, alert rules and runbooks join glowops' generic catalogs.",
    )

    # --- where the service listens, and where glowops keeps its state ----------------------
    host: str = Field(default="127.0.0.1", description="Address the service listens on (bundle, monitor).")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the service listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes serving the port (`serve --workers`); 1 in the embedded "
        "default, about one per core in production. Above 1, metrics aggregate over the workers "
        "and one of them leads (embedded alert engine, backup schedule).",
    )
    state_dir: Path = Field(
        default=_DEFAULT_STATE_DIR,
        validation_alias=_alias("GLOWOPS_STATE_DIR", "GLOWOPS_DATA_DIR"),
        description="Every file glowops writes lives under this directory (alert state, samples, "
        "console sessions, local backups).",
    )
    diagnostics: bool = Field(
        default=False, description="Mount /diagnostics/* routes (errors, slow answers)."
    )
    app: str = Field(
        default="",
        description="The service's app as an import string (module:attribute, a factory is "
        "called), for commands that read what the service declares: doctor, deploy check.",
    )

    # --- the service's database, only for what glowops is asked to do with it -------------
    backup_database_url: str = Field(
        default="",
        description="The database `glowops backup` dumps and the embedded leader backs up on "
        "schedule (postgresql://... or sqlite:///...). Empty: backups are not configured, so no "
        "schedule, no backup alert rules and no backup health check.",
    )
    backup_drill_url: str = Field(
        default="",
        description="The server the restore drill creates its scratch database on, as a role that "
        "may create databases (postgresql://glowops_drill@host/postgres). Empty: the server and "
        "role of backup_database_url.",
    )
    leader_database_url: str = Field(
        default="",
        description="A PostgreSQL database the service's replicas share, where one embedded alert "
        "engine is elected with an advisory lock. Empty: one engine per host (a file lock).",
    )

    # --- logging --------------------------------------------------------------------------
    log_level: LogLevel = "INFO"
    log_format: Literal["json", "console"] = "json"
    log_sql_parameters: bool = Field(
        default=False,
        description="Let SQL drivers' log lines show query parameters and result rows (local "
        "debugging only: they hold user data; a warning line says so at start).",
    )

    # --- redaction --------------------------------------------------------------------------
    redaction_hmac_key: SecretStr | None = Field(
        default=None, description="Key of the HMAC-SHA256 pseudonym mode; unset means mask only."
    )
    redaction_extra_keys: CommaList = Field(default_factory=list, description="More key names to mask.")
    redaction_pseudonymize_keys: CommaList = Field(
        default_factory=lambda: ["email", "user_email"],
        description="Key names replaced by a keyed pseudonym when the HMAC key is set.",
    )

    # --- metrics ----------------------------------------------------------------------------
    ops_token: SecretStr | None = Field(
        default=None,
        description="Bearer token guarding /metrics, health details, the console, the Teams relay and "
        "/diagnostics (at least 32 characters; `glowops config gen-token` prints one).",
    )
    ops_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve ops endpoints on this loopback port instead."
    )
    metrics_label_limit: int = Field(default=1000, gt=0, description="Distinct values per guarded label.")
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias=_alias("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    )

    # --- tracing (the standard OTEL_* names) ---------------------------------------------
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=_alias("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP base URL; traces go to <base>/v1/traces (OTel spec).",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias=_alias("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        description="Full OTLP/HTTP traces URL, used as given; wins over the base endpoint.",
    )
    otel_exporter_otlp_headers: SecretStr | None = Field(
        default=None,
        validation_alias=_alias("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
    )
    otel_traces_sampler: str = Field(
        default="parentbased_always_on", validation_alias=_alias("OTEL_TRACES_SAMPLER")
    )
    otel_traces_sampler_arg: float | None = Field(
        default=None, ge=0, le=1, validation_alias=_alias("OTEL_TRACES_SAMPLER_ARG")
    )
    otel_max_queue_size: int = Field(
        default=2048, gt=0, validation_alias=_alias("OTEL_BSP_MAX_QUEUE_SIZE", "GLOWOPS_OTEL_MAX_QUEUE_SIZE")
    )
    otel_export_timeout_seconds: float = Field(default=5.0, gt=0)

    # --- error tracking -------------------------------------------------------------------
    sentry_dsn: SecretStr | None = Field(default=None, validation_alias=_alias("SENTRY_DSN"))
    gateway_sentry_dsn: SecretStr | None = Field(default=None, validation_alias=_alias("GATEWAY_SENTRY_DSN"))
    web_sentry_dsn: SecretStr | None = Field(default=None, validation_alias=_alias("WEB_SENTRY_DSN"))
    next_public_sentry_dsn: SecretStr | None = Field(
        default=None, validation_alias=_alias("NEXT_PUBLIC_SENTRY_DSN")
    )
    sentry_release: str | None = Field(default=None, validation_alias=_alias("SENTRY_RELEASE"))
    sentry_traces_sample_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        validation_alias=_alias("SENTRY_TRACES_SAMPLE_RATE", "GLOWOPS_SENTRY_TRACES_SAMPLE_RATE"),
    )
    sentry_rate_limit_per_minute: int = Field(default=10, gt=0, description="Events per fingerprint.")
    sentry_mode: Literal["auto", "attach", "replace"] = Field(
        default="auto",
        description="When the service initialised Sentry itself: auto/attach join its client (its DSN, "
        "environment, tracing stay; glowops adds scrubbing and request tags), replace re-initialises "
        "with glowops' options. auto initialises from the DSN when there is no client.",
    )
    sentry_auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=_alias("SENTRY_AUTH_TOKEN"),
        description="For `glowops release` (sentry-cli).",
    )
    sentry_org: str | None = Field(default=None, validation_alias=_alias("SENTRY_ORG"))
    sentry_project: str | None = Field(default=None, validation_alias=_alias("SENTRY_PROJECT"))
    sentry_url: str | None = Field(
        default=None,
        validation_alias=_alias("SENTRY_URL"),
        description="Self-hosted Sentry; default sentry.io.",
    )

    # --- alert channels (spec names) -----------------------------------------------------
    error_notify_webhook: str | None = Field(default=None, validation_alias=_alias("ERROR_NOTIFY_WEBHOOK"))
    telemetry_alert_webhook: str | None = Field(
        default=None, validation_alias=_alias("TELEMETRY_ALERT_WEBHOOK")
    )
    rate_limit_alert_webhook: str | None = Field(
        default=None, validation_alias=_alias("RATE_LIMIT_ALERT_WEBHOOK")
    )
    embedding_alert_webhook: str | None = Field(
        default=None, validation_alias=_alias("EMBEDDING_ALERT_WEBHOOK")
    )
    slack_webhook_url: SecretStr | None = None
    teams_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    alert_email_from: str = "glowops@localhost"
    alert_email_to: CommaList = Field(default_factory=list)
    alertmanager_version: str = Field(default="0.25", description="Version the exported config targets.")
    alertmanager_relay_url: str | None = Field(
        default=None,
        description="Base URL at which Alertmanager reaches the gateway's Teams relay (Alertmanager "
        "before 0.28); default GLOWOPS_EXTERNAL_URL. The compose bundle sets http://gateway:8000.",
    )
    oncall_file: Path | None = Field(
        default=None,
        description="YAML file of the on-call policy: people, schedules, escalation levels, response "
        "times, maintenance windows (see docs/alerts.md#on-call).",
    )
    oncall_ack_key: SecretStr | None = Field(
        default=None,
        description="Key signing the one-click acknowledgement links in pages; unset: a random key "
        "kept in state_dir/oncall-ack.key (replicas sharing links need the same key).",
    )
    heartbeat_url: str | None = Field(
        default=None,
        description="Dead man's switch: a healthchecks-style URL pinged while the Watchdog rule fires "
        "(by the embedded leader every heartbeat interval; by Alertmanager's heartbeat receiver).",
    )
    heartbeat_interval_seconds: float = Field(default=60.0, gt=0, description="How often to ping it.")
    fallback_channel: str | None = Field(
        default=None,
        description="A configured channel (email, slack, ...) that gets a copy of a notification its "
        "own channel could not deliver within fallback_after_seconds, or refused outright.",
    )
    fallback_after_seconds: float = Field(
        default=600.0, gt=0, description="How long a channel may keep failing before the fallback."
    )
    external_url: str = Field(default="http://127.0.0.1:8000", description="Base of links in alerts.")
    alert_runbook_base_url: str = Field(
        default="https://github.com/prisma-glow/glowops/blob/main",
        description="Runbook links in alerts are <base>/docs/runbooks/alerts/<AlertName>.md.",
    )
    alert_dashboard_base_url: str = Field(
        default="http://127.0.0.1:3000", description="Grafana base; alert dashboard links are <base>/d/<uid>."
    )

    # --- health -------------------------------------------------------------------------------
    health_check_timeout_seconds: float = Field(default=2.0, gt=0)
    health_deadline_seconds: float = Field(default=3.0, gt=0)
    health_cache_ttl_seconds: float = Field(default=5.0, ge=0)
    health_failure_ttl_seconds: float = Field(default=1.0, ge=0)
    disk_warn_percent: float = Field(default=80.0, gt=0, le=100)
    disk_fail_percent: float = Field(default=90.0, gt=0, le=100)
    health_backup_check: bool = Field(
        default=True,
        description="Report backup freshness in /health/dependencies (non-critical) when backups "
        "are configured.",
    )
    monitor_health_interval_seconds: float = Field(default=30.0, gt=0, description="glowops monitor: /health")
    monitor_db_interval_seconds: float = Field(default=60.0, gt=0, description="glowops monitor: /health/db.")
    monitor_dependencies_interval_seconds: float = Field(
        default=120.0, gt=0, description="glowops monitor: /health/dependencies."
    )

    # --- embedded alerting ----------------------------------------------------------------
    scrape_job: str = Field(
        default="",
        description="The Prometheus job that scrapes the service (exported prometheus.yml, the "
        "embedded engine's job label); empty: the service name.",
    )
    scrape_interval_seconds: float = Field(default=15.0, gt=0)
    evaluation_interval_seconds: float = Field(default=15.0, gt=0)
    sample_retention_hours: float = Field(default=24.0, gt=0)
    embedded_alerting: bool = Field(default=True, description="Run the in-process alert engine.")
    console: bool = Field(
        default=True,
        description="Serve the embedded ops console at /ops (guarded like /metrics by GLOWOPS_OPS_TOKEN).",
    )

    # --- backups --------------------------------------------------------------------------
    backup_dir: Path | None = Field(default=None, description="Default state_dir/backups.")
    backup_s3_bucket: str | None = None
    backup_s3_prefix: str = "glowops/"
    backup_s3_endpoint_url: str | None = None
    backup_encryption_key: SecretStr | None = Field(
        default=None,
        description="AES-256-GCM key of backup files (32 bytes, base64); also signs manifests "
        "when no GLOWOPS_BACKUP_SIGNING_KEY is set. See `glowops backup keys`.",
    )
    backup_signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key signing backup manifests (at least 32 characters). Once a "
        "signing or encryption key is set, unsigned or wrongly signed backups fail verify/restore.",
    )
    backup_old_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated retired encryption/signing keys: they still verify and "
        "decrypt older backups, never sign or encrypt new ones (key rotation).",
    )
    backup_keep_daily: int = Field(default=7, ge=0)
    backup_keep_weekly: int = Field(default=4, ge=0)
    backup_keep_monthly: int = Field(default=12, ge=0)

    # --- validators -------------------------------------------------------------------------
    @field_validator(
        "redaction_extra_keys", "redaction_pseudonymize_keys", "alert_email_to", "packs", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("ops_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 32:
            raise ValueError(
                f"must be at least 32 characters (got {len(value.get_secret_value())}): a short token can be "
                "guessed; `glowops config gen-token` prints a good one"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "error_notify_webhook",
        "telemetry_alert_webhook",
        "rate_limit_alert_webhook",
        "embedding_alert_webhook",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "sentry_url",
        "external_url",
        "alertmanager_relay_url",
        "pagerduty_events_url",
        "backup_s3_endpoint_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_url(value, _HTTP)

    @field_validator("backup_database_url", "backup_drill_url", "leader_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("sentry_dsn", "gateway_sentry_dsn", "web_sentry_dsn", "next_public_sentry_dsn")
    @classmethod
    def _dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in _HTTP or not parts.username or not parts.path.strip("/"):
            raise ValueError("must be a Sentry DSN like https://public-key@host/project-id")
        return value

    # --- derived values -----------------------------------------------------------------------
    @property
    def effective_version(self) -> str:
        """The version every signal reports (/health, logs, spans): GLOWOPS_SERVICE_VERSION,
        else SENTRY_RELEASE, else the installed glowops version."""
        from glowops import __version__

        return self.service_version or self.sentry_release or __version__

    @property
    def effective_scrape_job(self) -> str:
        """The scrape job's name: ``GLOWOPS_SCRAPE_JOB``, else the service name."""
        return self.scrape_job or self.service_name

    @property
    def effective_backup_dir(self) -> Path:
        return self.backup_dir or self.state_dir / "backups"

    @property
    def backups_configured(self) -> bool:
        """True when there is a database to back up: then the schedule runs and the rules apply."""
        return bool(self.backup_database_url)

    @property
    def effective_sentry_dsn(self) -> str | None:
        """The service-specific DSN (``GATEWAY_SENTRY_DSN`` for the gateway) before ``SENTRY_DSN``."""
        specific = {"gateway": self.gateway_sentry_dsn, "web": self.web_sentry_dsn}.get(self.service_name)
        chosen = specific or self.sentry_dsn
        return chosen.get_secret_value() if chosen else None

    @property
    def effective_otlp_traces_endpoint(self) -> str | None:
        """Where spans are posted: the traces endpoint as given, else ``<base>/v1/traces``."""
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None


def check_database_url(value: str) -> str:
    """Validate a ``postgresql://`` or ``sqlite:///`` URL (empty stays empty)."""
    if not value:
        return value
    scheme = urlsplit(value).scheme
    if not (scheme.startswith("postgres") or scheme.startswith("sqlite")):
        raise ValueError("must be a postgresql:// or sqlite:/// URL")
    if scheme.startswith("postgres") and not urlsplit(value).netloc and "host=" not in value:
        raise ValueError("must be a URL with a host")
    return value


def to_async_url(url: str) -> str:
    """Map a plain database URL to the async driver SQLAlchemy should use."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def to_plain_url(url: str) -> str:
    """The libpq / sqlite form of a SQLAlchemy URL (what pg_dump and psql accept)."""
    for driver, plain in (
        ("postgresql+asyncpg://", "postgresql://"),
        ("postgresql+psycopg://", "postgresql://"),
        ("sqlite+aiosqlite:///", "sqlite:///"),
    ):
        if url.startswith(driver):
            return plain + url[len(driver) :]
    return url


def _field_for(settings_cls: type[BaseSettings], loc: str) -> str | None:
    """The field a validation error location refers to (a field name or any of its env aliases)."""
    wanted = loc.lower()
    prefix = str(settings_cls.model_config.get("env_prefix", "")).lower()
    for name, info in settings_cls.model_fields.items():
        names = {name.lower(), f"{prefix}{name}".lower()}
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice).lower() for choice in info.validation_alias.choices)
        if wanted in names:
            return name
    return None


def _env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a user sets for ``field`` (the spec's name when it has one)."""
    info = settings_cls.model_fields[field]
    if isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"{settings_cls.model_config.get('env_prefix', '')}{field}".upper()


def describe_validation_error(err: ValidationError, settings_cls: type[BaseSettings] | None = None) -> str:
    """One clause per problem: ``NAME: what is wrong (got 'value')``; secrets are never echoed."""
    cls = settings_cls or Settings
    clauses = []
    for problem in err.errors():
        loc = str(problem["loc"][0]) if problem["loc"] else "?"
        field = _field_for(cls, loc)
        name = _env_name(cls, field) if field else loc.upper()
        message = str(problem["msg"]).removeprefix("Value error, ")
        annotation = str(cls.model_fields[field].annotation) if field else ""
        secret = field is None or "SecretStr" in annotation
        shown = "" if secret or "input" not in problem else f" (got {str(problem['input'])[:60]!r})"
        clauses.append(f"{name}: {message}{shown}")
    return "; ".join(clauses)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings_as(settings_cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read the environment into ``settings_cls`` (a Settings subclass of a service) or raise a
    one-line :class:`ConfigError` naming the variable."""
    try:
        return settings_cls(**overrides)
    except ValidationError as err:
        raise ConfigError("invalid configuration: " + describe_validation_error(err, settings_cls)) from None
    except SettingsError as err:
        raise ConfigError(f"invalid configuration: {err}") from None


def load_settings(**overrides: Any) -> Settings:
    """Read the environment into :class:`Settings` or raise a one-line :class:`ConfigError`."""
    return load_settings_as(Settings, **overrides)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a child process (sentry-cli...): this process's, plus ``extra``."""
    return {**os.environ, **extra}


def environ_flag(name: str) -> bool:
    """True when an environment flag such as ``CI`` is set to a true value (for test tooling)."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
