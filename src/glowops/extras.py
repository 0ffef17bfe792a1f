"""The optional parts of glowops and the extra that installs each.

The core installs small; what talks to a particular peer comes with an extra
(``pip install 'glowops[tracing,sentry,postgres]'``). Asking for a part whose extra is missing is
a configuration error that names the extra, never a silent fallback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from glowops.settings import ConfigError

EXTRAS: dict[str, tuple[str, ...]] = {
    # extra: the top-level modules it brings
    "tracing": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
    "sentry": ("sentry_sdk",),
    "release": ("sentry_cli",),
    "http": ("httpx",),
    "email": ("aiosmtplib",),
    "console": ("jinja2",),
    "postgres": ("sqlalchemy", "asyncpg"),
    "sqlite": ("sqlalchemy", "aiosqlite"),
    "redis": ("redis",),
    "s3": ("boto3",),
    "crypto": ("cryptography",),
    "grafana": ("grafana_foundation_sdk",),
    "rich": ("rich",),
    "server": ("uvicorn",),
}


def installed(extra: str) -> bool:
    """True when every module of ``extra`` can be imported."""
    return all(_findable(module) for module in EXTRAS[extra])


def require(extra: str, what: str) -> None:
    """Raise :class:`ConfigError` naming the extra when ``what`` needs a part that is missing."""
    missing = [module for module in EXTRAS[extra] if not _findable(module)]
    if missing:
        raise ConfigError(
            f"{what} needs the optional dependencies of glowops[{extra}] ({', '.join(missing)} missing): "
            f"pip install 'glowops[{extra}]'"
        )


def load(extra: str, module: str, what: str) -> ModuleType:
    """Import ``module`` of glowops once the extra it depends on is known to be installed."""
    require(extra, what)
    return importlib.import_module(module)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing
        return False
