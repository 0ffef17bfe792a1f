"""The service a deploy bundle runs, as the service itself describes it (``service.yaml``).

glowops renders the same bundle (compose, Kubernetes, Prometheus, Alertmanager, Grafana, the
collector) for any service; what differs from one service to the next is named here, in a small
YAML file the service keeps beside its code, never in glowops::

    name: gateway                                     # compose service, k8s names, service.name
    package: prisma-glow-gateway                      # the distribution installed in the image
    app: prisma_glow_gateway.app:create_app           # its app (a factory is called with settings)
    settings: prisma_glow_gateway.settings:GatewaySettings
    command: prisma-glow-gateway                      # the console script the image runs
    serve: [serve, --no-migrate]                      # arguments of the long-running process
    migrate: [db, upgrade]                            # one-shot before it starts (optional)
    environment: {REDIS_URL: "redis://redis:6379/0"}  # non-secret extras
    secrets: {GLOWOPS_SECRET_KEY: required}           # read from deploy/.env / the k8s Secret
    packs: [prismaglow]

``glowops deploy render --spec services/gateway/service.yaml --out deploy/`` copies the spec
into the bundle (``deploy/service.yaml``), so ``glowops deploy check deploy/`` knows what the
bundle is meant to run without being told again.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from glowops.settings import ConfigError, Settings

SPEC_FILE = "service.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")  # a DNS label: compose and k8s accept it
_IMPORT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ARG = re.compile(r"^[A-Za-z0-9][\w.=:/-]*$|^--?[a-z][\w-]*(=[\w.:/-]+)?$")


class ServiceSpec(BaseModel):
    """What the bundle runs. Every value is checked: the file is input like any other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Compose service name, Kubernetes names, OTEL_SERVICE_NAME.")
    package: str = Field(description="The distribution `uv sync --package` installs in the image.")
    app: str = Field(description="module:attribute of the app, or of a factory taking settings.")
    settings: str = Field(description="module:Class, a glowops Settings subclass the service reads.")
    command: str = Field(description="The console script of the service in the image.")
    serve: list[str] = Field(min_length=1, description="Arguments of the long-running process.")
    migrate: list[str] | None = Field(default=None, description="One-shot run before serving.")
    roles: list[str] | None = Field(
        default=None,
        description="One-shot a superuser runs before migrating (its arguments get --apply <the "
        "superuser's URL>): creates the least-privilege login roles. With it, the service connects "
        "as glowops_gateway, migrates as glowops_owner, backs up as glowops_backup and drills as "
        "glowops_drill; without it, all of them use one role.",
    )
    image: str = Field(default="", description="Image tag (default: prisma-glow/<name>:<version>).")
    version: str = "0.1.0"
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, Literal["required", "optional"]] = Field(default_factory=dict)
    database_env: str = Field(
        default="DATABASE_URL", description="The variable the service reads its database URL from."
    )
    packs: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a lower-case DNS label (a-z, 0-9, '-'), 2 to 42 characters")
        return value

    @field_validator("app", "settings")
    @classmethod
    def _import_string(cls, value: str) -> str:
        if not _IMPORT.match(value):
            raise ValueError("must be an import string module:attribute")
        return value

    @field_validator("package", "command")
    @classmethod
    def _word(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value):
            raise ValueError("must be a distribution or script name")
        return value

    @field_validator("serve", "migrate", "roles")
    @classmethod
    def _args(cls, value: list[str] | None) -> list[str] | None:
        for arg in value or []:
            if not _ARG.match(arg):
                raise ValueError(f"{arg!r} is not a plain command-line argument")
        return value

    @field_validator("environment", "secrets")
    @classmethod
    def _env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _ENV.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @field_validator("database_env")
    @classmethod
    def _database_env(cls, value: str) -> str:
        if not _ENV.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @property
    def image_ref(self) -> str:
        return self.image or f"prisma-glow/{self.name}:{self.version}"

    def settings_class(self) -> type[Settings]:
        """The service's settings class (a :class:`~glowops.settings.Settings` subclass)."""
        cls = _resolve(self.settings, "settings")
        if not (isinstance(cls, type) and issubclass(cls, Settings)):
            raise ConfigError(f"service spec: settings {self.settings} is not a glowops Settings subclass")
        return cls

    def app_factory(self) -> Any:
        return _resolve(self.app, "app")


def _resolve(target: str, what: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"service spec: {what} {target}: cannot import {module_name} ({err})") from err
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"service spec: {what} {target}: {module_name} has no {attribute}") from None


def parse_spec(text: str, source: str = SPEC_FILE) -> ServiceSpec:
    """A spec from YAML text, or a one-line :class:`ConfigError` naming the field."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of the service's fields")
    try:
        return ServiceSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {where}: {message}") from None


def load_spec(path: Path) -> ServiceSpec:
    """The spec in ``path`` (a file, or a bundle directory holding ``service.yaml``)."""
    if path.is_dir():
        path = path / SPEC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the service spec ({err.strerror})") from None
    return parse_spec(text, str(path))
