"""Settings: the spec's variable names, clear one-line errors, masked `config show`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glowops.settings import ConfigError, Settings, load_settings, to_async_url, to_plain_url

SPEC_VARIABLES = {
    "SENTRY_DSN": ("sentry_dsn", "https://pub@sentry.example.com/1"),
    "GATEWAY_SENTRY_DSN": ("gateway_sentry_dsn", "https://gw@sentry.example.com/2"),
    "WEB_SENTRY_DSN": ("web_sentry_dsn", "https://web@sentry.example.com/3"),
    "NEXT_PUBLIC_SENTRY_DSN": ("next_public_sentry_dsn", "https://next@sentry.example.com/4"),
    "SENTRY_ENVIRONMENT": ("environment", "production"),
    "SENTRY_RELEASE": ("sentry_release", "v1.2.3"),
    "OTEL_SERVICE_NAME": ("service_name", "gateway"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otel_exporter_otlp_endpoint", "https://otel-collector.example.com"),
    "ERROR_NOTIFY_WEBHOOK": ("error_notify_webhook", "https://hooks.example.com/error"),
    "TELEMETRY_ALERT_WEBHOOK": ("telemetry_alert_webhook", "https://hooks.example.com/telemetry"),
    "RATE_LIMIT_ALERT_WEBHOOK": ("rate_limit_alert_webhook", "https://hooks.example.com/rate-limit"),
    "EMBEDDING_ALERT_WEBHOOK": ("embedding_alert_webhook", "https://hooks.example.com/embedding"),
}
# DATABASE_URL, REDIS_URL, SUPABASE_URL and OPENAI_API_KEY are the gateway's own settings
# (tests/gateway/test_gateway_settings.py): glowops reads nothing it does not use.


@pytest.mark.parametrize("env_name", sorted(SPEC_VARIABLES))
def test_every_spec_variable_is_read_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch, env_name: str
) -> None:
    field, value = SPEC_VARIABLES[env_name]
    monkeypatch.setenv(env_name, value)
    got = getattr(load_settings(), field)
    got = got.get_secret_value() if hasattr(got, "get_secret_value") else got
    assert got == value


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("GLOWOPS_LOG_LEVEL", "LOUD", "GLOWOPS_LOG_LEVEL: Input should be"),
        ("ERROR_NOTIFY_WEBHOOK", "not a url", "ERROR_NOTIFY_WEBHOOK: must be a URL"),
        (
            "GLOWOPS_HEALTH_CHECK_TIMEOUT_SECONDS",
            "-1",
            "GLOWOPS_HEALTH_CHECK_TIMEOUT_SECONDS: Input should be greater than 0",
        ),
        (
            "GLOWOPS_BACKUP_DATABASE_URL",
            "mysql://db/x",
            "GLOWOPS_BACKUP_DATABASE_URL: must be a postgresql:// or sqlite:/// URL",
        ),
        ("GLOWOPS_PORT", "eighty", "GLOWOPS_PORT: Input should be a valid integer"),
    ],
)
def test_malformed_value_gives_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_bad_secret_is_named_but_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "hunter2-not-a-dsn")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SENTRY_DSN" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOWOPS_ALERT_EMAIL_TO", "oncall@example.com, lead@example.com")
    assert load_settings().alert_email_to == ["oncall@example.com", "lead@example.com"]


def test_service_specific_dsn_wins_over_global() -> None:
    both = Settings(
        service_name="gateway",
        sentry_dsn="https://a@s.example.com/1",
        gateway_sentry_dsn="https://b@s.example.com/2",
    )
    assert both.effective_sentry_dsn == "https://b@s.example.com/2"
    assert (
        Settings(sentry_dsn="https://a@s.example.com/1").effective_sentry_dsn == "https://a@s.example.com/1"
    )
    assert Settings().effective_sentry_dsn is None


def test_glowops_keeps_no_database_of_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No database is guessed: backups and leader election use only what is configured."""
    settings = Settings(state_dir=tmp_path)
    assert settings.backup_database_url == "" and not settings.backups_configured
    assert settings.leader_database_url == ""
    assert settings.effective_backup_dir == tmp_path / "backups"
    assert Settings(backup_database_url="postgresql://u@h:5432/d").backups_configured


def test_state_dir_is_read_from_either_name(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "state"))
    assert load_settings().state_dir == tmp_path / "state"
    monkeypatch.delenv("GLOWOPS_STATE_DIR")
    monkeypatch.setenv("GLOWOPS_DATA_DIR", str(tmp_path / "data"))
    assert load_settings().state_dir == tmp_path / "data"


def test_url_forms_round_trip() -> None:
    for url in ("postgresql://u:p@h:5432/d", "sqlite:///var/x.db"):
        assert to_plain_url(to_async_url(url)) == url


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glowops.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_config_show_masks_every_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GLOWOPS_BACKUP_DATABASE_URL": "postgresql://app:s3cr3t-db-pass@db.example.com:5432/glow",
        "OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwx",
        "SENTRY_DSN": "https://0123456789abcdef@o1.ingest.sentry.io/42",
        "GLOWOPS_OPS_TOKEN": "ops-token-value-xyz-0123456789abcdef0123456789",
        "GLOWOPS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        "GLOWOPS_SMTP_PASSWORD": "smtp-pass-777",
    }
    done = _cli("config", "show", "--json", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    for secret in (
        "s3cr3t-db-pass",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "0123456789abcdef",
        "ops-token-value-xyz-0123456789abcdef0123456789",
        "XXXXSECRET",
        "smtp-pass-777",
    ):
        assert secret not in done.stdout
    assert shown["ops_token"] == "***REDACTED***"
    assert "db.example.com" in shown["backup_database_url"]  # the host stays: only the credential is masked


def test_cli_config_error_is_one_line_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = _cli(
        "config", "show", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GLOWOPS_LOG_LEVEL": "LOUD"}
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "GLOWOPS_LOG_LEVEL" in done.stderr
