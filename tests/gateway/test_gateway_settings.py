"""The gateway's own settings: its spec variables, and what its embedded default configures."""

from __future__ import annotations

from pathlib import Path

import pytest

from glowops.settings import ConfigError, Settings
from prisma_glow_gateway.settings import GatewaySettings, as_gateway_settings, load_settings

GATEWAY_VARIABLES = {
    "DATABASE_URL": ("database_url", "postgresql://app:pw@db.example.com:5432/glow"),
    "REDIS_URL": ("redis_url", "redis://127.0.0.1:6379/0"),
    "SUPABASE_URL": ("supabase_url", "https://abc.supabase.co"),
    "OPENAI_API_KEY": ("openai_api_key", "sk-test-1234567890abcdef"),
}


@pytest.mark.parametrize("env_name", sorted(GATEWAY_VARIABLES))
def test_gateway_variables_are_read_under_the_spec_names(
    monkeypatch: pytest.MonkeyPatch, env_name: str
) -> None:
    field, value = GATEWAY_VARIABLES[env_name]
    monkeypatch.setenv(env_name, value)
    got = getattr(load_settings(), field)
    got = got.get_secret_value() if hasattr(got, "get_secret_value") else got
    assert got == value


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("REDIS_URL", "http://cache:6379", "REDIS_URL: must be a URL starting with redis://"),
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: must be a postgresql:// or sqlite:/// URL"),
        ("GLOWOPS_UPLOAD_MAX_BYTES", "0", "GLOWOPS_UPLOAD_MAX_BYTES: Input should be greater than 0"),
        ("GLOWOPS_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local", "'proxy.local' is not an IP address"),
    ],
)
def test_a_bad_gateway_value_is_one_line(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_gateway_fields_are_not_glowops_settings() -> None:
    for field in (
        "database_url",
        "redis_url",
        "supabase_url",
        "openai_api_key",
        "mfa_amount_threshold",
        "approval_sla_hours",
        "upload_max_bytes",
        "secret_key",
        "rate_limit_per_minute",
        "demo",
    ):
        assert field not in Settings.model_fields
        assert field in GatewaySettings.model_fields


def test_the_embedded_default_backs_up_its_sqlite_database(tmp_path: Path) -> None:
    settings = GatewaySettings(state_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/glowops.db"
    assert settings.backup_database_url == f"sqlite:///{tmp_path}/glowops.db"
    assert settings.backups_configured
    assert settings.leader_database_url == ""  # one host: a file lock elects the engine
    assert not settings.uses_postgres


def test_on_postgresql_the_replicas_elect_on_the_gateway_database() -> None:
    pg = GatewaySettings(database_url="postgresql://u@h:5432/d")
    assert pg.effective_database_url == "postgresql+asyncpg://u@h:5432/d"
    assert pg.uses_postgres
    assert pg.backup_database_url == pg.leader_database_url == "postgresql://u@h:5432/d"
    explicit = GatewaySettings(
        database_url="postgresql://u@h:5432/d", backup_database_url="postgresql://b@h/d"
    )
    assert explicit.backup_database_url == "postgresql://b@h/d"


def test_demo_samples_often_unless_told() -> None:
    assert GatewaySettings(demo=True).scrape_interval_seconds == 5.0
    assert GatewaySettings(demo=True, scrape_interval_seconds=15.0).scrape_interval_seconds == 15.0
    assert GatewaySettings().scrape_interval_seconds == 15.0


def test_glowops_settings_become_the_gateway_s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GLOWOPS_MFA_AMOUNT_THRESHOLD", "250")
    converted = as_gateway_settings(Settings(state_dir=tmp_path, log_level="DEBUG"))
    assert isinstance(converted, GatewaySettings)
    assert converted.state_dir == tmp_path and converted.log_level == "DEBUG"
    assert converted.mfa_amount_threshold == 250
