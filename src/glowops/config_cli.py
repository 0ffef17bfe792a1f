"""``glowops config show``, ``glowops doctor`` and ``glowops serve``."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import SecretStr

from glowops.clikit import Group, print_table
from glowops.settings import Settings, load_settings

app = Group(help="Inspect the effective configuration.", no_args_is_help=True)
top = Group()

MASK = "***REDACTED***"


def masked_config(settings: Settings) -> dict[str, Any]:
    """Every setting with its effective value; secrets (and credentials inside URLs) masked."""
    from glowops.redaction import default_policy

    policy = default_policy(settings)
    out: dict[str, Any] = {}
    for name in sorted(Settings.model_fields):
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = MASK if value.get_secret_value() else None
        elif value is not None and not isinstance(value, (bool, int, float)):
            value = policy.redact_text(str(value)) if isinstance(value, str) else value
        out[name] = value if isinstance(value, (str, int, float, bool, type(None), list)) else str(value)
    return out


@app.command("gen-token")
def gen_token() -> None:
    """Print a new ops token (43 URL-safe characters, 256 random bits) for GLOWOPS_OPS_TOKEN.

    Tokens shorter than 32 characters are refused at start-up. Example:

        echo "GLOWOPS_OPS_TOKEN=$(glowops config gen-token)" >> .env
    """
    import secrets

    click.echo(secrets.token_urlsafe(32))


@app.command("show")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON instead of a table.")
def show(
    as_json: bool,
) -> None:
    """Print the effective configuration with every secret masked."""
    config = masked_config(load_settings())
    if as_json:
        click.echo(json.dumps(config, indent=2, default=str))
        return
    rows = [(key, "" if value is None else str(value)) for key, value in config.items()]
    print_table("glowops effective configuration", ("setting", "value"), rows)
