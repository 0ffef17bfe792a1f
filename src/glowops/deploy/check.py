"""``glowops deploy check``: the bundle agrees with a fresh render and with the service itself.

Each check returns problems as one-line strings (empty: all good). Besides the drift check, the
cross-checks read the files as an operator would and compare them with what the service (named
by the bundle's ``service.yaml``) really serves: its routes (the app is built and its routes
listed), its settings (every variable the compose file or the manifests set is one its settings
class reads, or glowops' for the containers that run ``glowops``), its command and glowops' (every
command a container or CronJob runs answers ``--help``).
"""

from __future__ import annotations

import functools
import re
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, SecretStr

from glowops.alerting.channels import CHANNEL_EXAMPLES
from glowops.deploy import render as r
from glowops.deploy.spec import ServiceSpec, load_spec
from glowops.settings import Settings

_INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)(?:(:?)([-?])([^}]*))?\}")

# Non-secret example values for every variable the alertmanager-config one-shot reads from .env:
# the checks render Alertmanager's configuration with all of them, as the one-shot would.
EXAMPLE_ENV: dict[str, str] = {
    "GLOWOPS_OPS_TOKEN": "example-ops-token-0123456789abcdef012345",
    **CHANNEL_EXAMPLES,
    "GLOWOPS_HEARTBEAT_URL": "https://hc-ping.example.com/0f5f8f5e",
}
_SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|DSN|WEBHOOK|(API|ROUTING|ENCRYPTION|ANON|HMAC)_KEY$")


def read_bundle(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (relative path -> text)."""
    return {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def check_drift(files: Mapping[str, str], rendered: Mapping[str, str]) -> list[str]:
    """Files that differ from (or are missing in) a fresh render, or that it no longer writes."""
    problems = []
    for name in r.OBSOLETE_FILES:
        if name in files and r.is_generated(files[name]):
            problems.append(f"{name}: no longer part of the bundle, delete it ({r.OBSOLETE_FILES[name]})")
    for name, text in rendered.items():
        if name not in files:
            problems.append(f"{name}: missing (run `glowops deploy render --out deploy/`)")
        elif files[name] != text:
            problems.append(
                f"{name}: differs from a fresh render (run `glowops deploy render --out deploy/`)"
            )
    return problems


def settings_env_names(settings_cls: type[Settings] = Settings) -> set[str]:
    """Every environment variable Settings reads (its aliases, else ``GLOWOPS_<FIELD>``)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, info in settings_cls.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in info.validation_alias.choices)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


# Database URLs hold a password: only an interpolated one may stand in a file.
_DATABASE_URL_NAMES = frozenset(
    {
        "GLOWOPS_BACKUP_DATABASE_URL",
        "GLOWOPS_BACKUP_DRILL_URL",
        "GLOWOPS_LEADER_DATABASE_URL",
        "GLOWOPS_MIGRATION_DATABASE_URL",
    }
)


def database_url_names(spec: ServiceSpec) -> set[str]:
    """The variables holding a database URL (with its password) in the bundle."""
    return {spec.database_env, *_DATABASE_URL_NAMES}


def secret_env_names(settings_cls: type[Settings] = Settings) -> set[str]:
    """The variables of SecretStr settings (their values never belong in a file)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set(_DATABASE_URL_NAMES)
    for name, info in settings_cls.model_fields.items():
        if "SecretStr" not in str(info.annotation) and info.annotation is not SecretStr:
            continue
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in info.validation_alias.choices)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def app_routes(spec: ServiceSpec, settings: Settings | None = None) -> set[str]:
    """The paths the service serves with the bundle's settings (the app is built, not started)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with tempfile.TemporaryDirectory(prefix="glowops-routes-") as tmp:
        base = settings or r.bundle_settings(spec)
        target = spec.app_factory()
        # A factory is built with the bundle's settings (what decides which routes are mounted).
        app = (
            target
            if isinstance(target, Starlette)
            else target(base.model_copy(update={"state_dir": Path(tmp), "backup_database_url": ""}))
        )
        paths: set[str] = set()

        def walk(routes: Iterable[Any], prefix: str = "") -> None:
            for route in routes:
                if isinstance(route, Mount):
                    walk(route.routes, prefix + route.path)
                elif hasattr(route, "path"):
                    paths.add(prefix + route.path)

        walk(app.routes)
    return paths


def service_command_problems(spec: ServiceSpec, args: list[str]) -> str | None:
    """None when ``COMMAND ARGS --help`` succeeds for the service's own command (run as the image
    would: the console script installed beside this Python, else on PATH)."""
    return _command_problems(spec.command, tuple(args))


@functools.lru_cache(maxsize=256)
def _command_problems(command: str, args: tuple[str, ...]) -> str | None:
    # Cached: one `--help` per distinct command line and process (each starts an interpreter).
    import shutil
    import subprocess
    import sys

    script = Path(sys.executable).parent / command
    executable = str(script) if script.is_file() else shutil.which(command)
    if executable is None:
        return f"`{command}` is not installed here: cannot check `{' '.join([command, *args])}`"
    result = subprocess.run(
        [executable, *args, "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-200:]
        return f"`{' '.join([command, *args])}` is not a valid command: {output}"
    return None


def command_problems(args: list[str]) -> str | None:
    """None when ``glowops ARGS --help`` succeeds (the command and its options exist)."""
    from click.testing import CliRunner

    from glowops.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    if result.exit_code != 0:
        return f"`glowops {' '.join(args)}` is not a valid command: {result.output.strip()[-200:]}"
    return None


def script_commands(script: str) -> list[list[str]]:
    """The glowops invocations of a shell script (one per line), without the ``glowops`` word."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "glowops":
            commands.append(words[1:])
    return commands


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url if "//" in url else f"//{url}")
    return parts.hostname or "", parts.port


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``value`` with compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` resolved.

    ``:-``/``:?`` treat an empty variable as unset, ``-``/``?`` only an unset one, as compose
    does. A required variable that is missing raises ValueError with compose's message.
    """

    def resolve(match: re.Match[str]) -> str:
        name, colon, kind, word = match.groups()
        current = env.get(name)
        missing = current is None or (colon == ":" and current == "")
        if kind == "-" and missing:
            return str(word)
        if kind == "?" and missing:
            raise ValueError(f"{name}: {word or 'required variable is missing'}")
        return current or ""

    return _REFERENCE.sub(resolve, value)


def referenced_variables(value: str) -> set[str]:
    """The variables a compose value interpolates."""
    return {match.group(1) for match in _REFERENCE.finditer(value)}


def settings_from_env(env: Mapping[str, str], settings_cls: type[Settings] = Settings) -> Settings:
    """``settings_cls`` from an environment mapping (compose's, resolved), never the caller's
    environment."""
    from glowops.settings import _field_for

    values: dict[str, Any] = {}
    for name, value in env.items():
        field_name = _field_for(settings_cls, name)
        if field_name is None:
            raise ValueError(f"{name} is not a setting glowops reads")
        values[field_name] = value
    return r.given_values_only(settings_cls)(**values)


def example_alertmanager_config(
    compose: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """What the alertmanager-config one-shot renders with ``env`` as ``.env`` (default: every
    channel set to an example value): the configuration and the export's warnings."""
    import logging

    from glowops.alerting.alertmanager_config import build_alertmanager_config

    service = compose["services"][r.ALERTMANAGER_CONFIG]
    dotenv = EXAMPLE_ENV if env is None else env
    resolved = {name: interpolate(str(value), dotenv) for name, value in service["environment"].items()}
    settings = settings_from_env(resolved, Settings)
    # The warnings are returned; the export's log lines would only repeat them (or the relay note).
    logger = logging.getLogger("glowops.alerting.alertmanager_config")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        export = build_alertmanager_config(settings)
    finally:
        logger.setLevel(level)
    return export.config, export.warnings


def _is_secret_free(name: str, value: str, secrets: set[str], databases: set[str]) -> bool:
    if name in databases:
        password = urlsplit(value).password
        return password is None or _INTERPOLATION.match(password) is not None
    if name in secrets or _SECRET_NAME.search(name):
        return value == "" or _INTERPOLATION.match(value) is not None or value.startswith("/run/secrets/")
    return True


def check_compose(
    files: Mapping[str, str], spec: ServiceSpec, settings: Settings, routes: set[str]
) -> list[str]:
    """Cross-check docker-compose.yml with the service's settings, routes and command, and the
    other configs."""
    from glowops.telemetry.exposition import METRICS_PATH

    problems: list[str] = []
    compose = r.parse(files, "docker-compose.yml")
    services: dict[str, Any] = compose["services"]
    # The service and its migrate one-shot read the service's settings; backup and
    # alertmanager-config run glowops' own command, which reads glowops' settings.
    service_known = settings_env_names(type(settings))
    glowops_known = settings_env_names()
    secrets = secret_env_names(type(settings))
    databases = database_url_names(spec)
    declared_volumes = set(compose.get("volumes") or {})
    declared_secrets = set(compose.get("secrets") or {})
    env_example = files.get(".env.example", "")

    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service and (":" not in image or image.endswith(":latest")):
            problems.append(f"compose {name}: image {image!r} is not pinned to a tag")
        for dep, condition in (service.get("depends_on") or {}).items():
            if dep not in services:
                problems.append(f"compose {name}: depends on unknown service {dep!r}")
                continue
            if _one_shot(services[dep]):
                wanted = "service_completed_successfully"
            elif "healthcheck" in services[dep]:
                wanted = "service_healthy"
            else:
                wanted = "service_started"
            if condition.get("condition") != wanted:
                problems.append(f"compose {name}: depends_on {dep} should use condition {wanted}")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                if not any(f == source[2:] or f.startswith(source[2:].rstrip("/") + "/") for f in files):
                    problems.append(f"compose {name}: bind source {source} is not in the bundle")
            elif source not in declared_volumes:
                problems.append(f"compose {name}: volume {source!r} is not declared")
        for secret in service.get("secrets", []):
            if secret not in declared_secrets:
                problems.append(f"compose {name}: secret {secret!r} is not declared")
        for var, value in (service.get("environment") or {}).items():
            if not _is_secret_free(var, str(value), secrets, databases):
                problems.append(f"compose {name}: {var} holds a secret value inline")
        exempt = name in (spec.name, r.BACKUP, r.COLLECTOR) or _one_shot(service)
        if not exempt and "healthcheck" not in service:
            problems.append(f"compose {name}: no healthcheck")
        for value in (service.get("environment") or {}).values():
            for variable in sorted(referenced_variables(str(value))):
                if f"\n{variable}=" not in env_example:
                    problems.append(f"compose {name}: {variable} is not listed in .env.example")
    for secret, declared in (compose.get("secrets") or {}).items():
        variable = declared.get("environment")
        if variable and f"\n{variable}=" not in env_example:
            problems.append(f"compose secret {secret}: {variable} is not listed in .env.example")
    for name, known, reader in (
        (spec.name, service_known, spec.command),
        (r.MIGRATE, service_known, spec.command),
        (r.BACKUP, glowops_known, r.GLOWOPS_COMMAND),
        (r.ALERTMANAGER_CONFIG, glowops_known, r.GLOWOPS_COMMAND),
    ):
        for var in services.get(name, {}).get("environment") or {}:
            if var.upper() not in known:
                problems.append(f"compose {name}: {var} is not a setting {reader} reads")
    for name, args in ((spec.name, spec.serve), (r.MIGRATE, spec.migrate), (r.DB_ROLES_SERVICE, spec.roles)):
        if name not in services:
            if args:
                problems.append(f"compose: no service {name!r}")
            continue
        command = [str(word) for word in services[name].get("command") or []]
        problem = service_command_problems(spec, command)
        if problem:
            problems.append(f"compose {name}: {problem}")
        elif services[name].get("entrypoint") not in (None, [spec.command]):
            problems.append(f"compose {name}: the entrypoint is not {spec.command}")
    for name in (r.BACKUP, r.ALERTMANAGER_CONFIG):
        if name in services and services[name].get("entrypoint") != [r.GLOWOPS_COMMAND]:
            problems.append(f"compose {name}: runs a glowops command, its entrypoint must be glowops")

    gateway = services.get(spec.name, {})
    env = gateway.get("environment") or {}
    port = int(env.get("GLOWOPS_PORT", settings.port))
    if port != settings.port:
        problems.append(f"compose {spec.name}: GLOWOPS_PORT {port} != the bundle port {settings.port}")
    if not any(str(p).endswith(f":{port}") for p in gateway.get("ports", [])):
        problems.append(f"compose {spec.name}: port {port} is not published")
    probe = " ".join(gateway.get("healthcheck", {}).get("test", []))
    match = re.search(r"http://[^'\" ]+", probe)
    if match is None:
        problems.append(f"compose {spec.name}: the healthcheck probes no URL")
    else:
        url = urlsplit(match.group(0))
        if url.port != port or url.path not in routes:
            problems.append(
                f"compose {spec.name}: healthcheck {match.group(0)} is not a route on port {port}"
            )

    # Prometheus: the scrape target is the gateway service, the path its metrics route.
    prom = r.parse(files, "prometheus/prometheus.yml")
    for job in prom["scrape_configs"]:
        if job.get("metrics_path") != METRICS_PATH or METRICS_PATH not in routes:
            problems.append(
                f"prometheus job {job['job_name']}: metrics_path is not the service's {METRICS_PATH}"
            )
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, tport = _host_port(target)
                if host not in services or (host == spec.name and tport != port):
                    problems.append(f"prometheus target {target} is not a compose service:port")
        cred = job.get("authorization", {}).get("credentials_file")
        if cred and Path(cred).name not in services[r.PROMETHEUS].get("secrets", []):
            problems.append(f"prometheus: {cred} is not a secret mounted in the prometheus service")
    for rule_file in prom.get("rule_files", []):
        if f"prometheus/{rule_file}" not in files:
            problems.append(f"prometheus: rule file {rule_file} is not in deploy/prometheus")
    for am in prom["alerting"]["alertmanagers"]:
        for static in am["static_configs"]:
            for target in static["targets"]:
                host, _ = _host_port(target)
                if host not in services:
                    problems.append(f"prometheus: alertmanager target {target} is not a compose service")

    problems += _check_alertmanager(compose, spec, routes)
    problems += _check_grafana(files, services)
    problems += _check_collector(files, services, env)
    return problems


def _receivers_used(route: Mapping[str, Any]) -> set[str]:
    used = {route["receiver"]} if "receiver" in route else set()
    for child in route.get("routes", []):
        used |= _receivers_used(child)
    return used


def _one_shot(service: Mapping[str, Any]) -> bool:
    """A service that runs to completion (``restart: "no"``), such as alertmanager-config."""
    return str(service.get("restart", "no")) == "no"


def _named_mounts(service: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """container path -> (named volume, read-only) of a service's named-volume mounts."""
    result = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if not source.startswith((".", "/")):
            result[target] = (source, "ro" in mode)
    return result


def _check_alertmanager(compose: Mapping[str, Any], spec: ServiceSpec, routes: set[str]) -> list[str]:
    """The one-shot renders alertmanager.yml where Alertmanager reads it, with every channel."""
    from glowops.alerting.alertmanager_config import parse_version
    from glowops.alerting.channels import TEAMS_RELAY_PATH
    from glowops.alerting.export import ALERTMANAGER_FILE

    services: Mapping[str, Any] = compose["services"]
    renderer = services.get(r.ALERTMANAGER_CONFIG)
    alertmanager = services.get(r.ALERTMANAGER)
    if renderer is None or alertmanager is None:
        return [f"compose: the {r.ALERTMANAGER_CONFIG} and {r.ALERTMANAGER} services must both exist"]
    problems: list[str] = []
    where = f"compose {r.ALERTMANAGER_CONFIG}"
    command = [str(word) for word in renderer.get("command", [])]
    if command[:2] != ["alerts", "export"] or "--only" not in command or "--out" not in command:
        return [f"{where}: does not run `glowops alerts export --only alertmanager --out DIR`"]
    only = command[command.index("--only") + 1] if command.index("--only") + 1 < len(command) else ""
    out = command[command.index("--out") + 1] if command.index("--out") + 1 < len(command) else ""
    if only != "alertmanager":
        problems.append(f"{where}: exports --only {only!r}, not alertmanager")
    problem = command_problems(command)
    if problem:
        problems.append(f"{where}: {problem}")
    if renderer.get("image") != services.get(spec.name, {}).get("image"):
        problems.append(f"{where}: does not run the {spec.name} image (the same code as the service)")
    written = _named_mounts(renderer).get(out)
    if written is None or written[1]:
        problems.append(f"{where}: --out {out} is not a writable named volume")
    config_file = next(
        (a.split("=", 1)[1] for a in alertmanager.get("command", []) if a.startswith("--config.file=")), ""
    )
    directory, _, file_name = config_file.rpartition("/")
    read = _named_mounts(alertmanager).get(directory)
    if written is not None and (read is None or read[0] != written[0] or file_name != ALERTMANAGER_FILE):
        problems.append(
            f"alertmanager: --config.file={config_file} is not the {ALERTMANAGER_FILE} that "
            f"{r.ALERTMANAGER_CONFIG} writes into the volume {written[0]}"
        )
    elif read is not None and not read[1]:
        problems.append(f"alertmanager: the volume {read[0]} is not mounted read-only")
    condition = (alertmanager.get("depends_on") or {}).get(r.ALERTMANAGER_CONFIG, {}).get("condition")
    if condition != "service_completed_successfully":
        problems.append(
            f"alertmanager: must depend on {r.ALERTMANAGER_CONFIG} "
            "with condition service_completed_successfully"
        )
    if not _one_shot(renderer):
        problems.append(f'{where}: is not a one-shot (restart: "no")')
    if renderer.get("user") is None or renderer.get("user") != alertmanager.get("user"):
        problems.append(f"{where}: runs as another user than alertmanager, which cannot read the 0600 file")
    env = renderer.get("environment") or {}
    image_version = str(alertmanager.get("image", "")).rpartition(":")[2]
    try:
        same = parse_version(str(env.get("GLOWOPS_ALERTMANAGER_VERSION", ""))) == parse_version(image_version)
    except ValueError:
        same = False
    if not same:
        problems.append(
            f"{where}: GLOWOPS_ALERTMANAGER_VERSION {env.get('GLOWOPS_ALERTMANAGER_VERSION')!r} "
            f"is not the version of {alertmanager.get('image')}"
        )

    # Render as the one-shot would with every channel set in .env: nothing may be left out.
    try:
        config, warnings = example_alertmanager_config(compose)
    except ValueError as err:
        return [*problems, f"{where}: cannot render with the example .env: {err}"]
    problems += [f"{where}: with every channel set in .env, {warning}" for warning in warnings]
    defined = {receiver["name"] for receiver in config["receivers"]}
    for missing in sorted(_receivers_used(config["route"]) - defined):
        problems.append(f"alertmanager: route refers to unknown receiver {missing!r}")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            host, hport = _host_port(hook["url"])
            if urlsplit(hook["url"]).path == TEAMS_RELAY_PATH and host != spec.name:
                problems.append(f"alertmanager: the Teams relay {hook['url']} is not the {spec.name} service")
            elif host == spec.name and (hport != r.SERVICE_PORT or urlsplit(hook["url"]).path not in routes):
                problems.append(f"alertmanager: webhook {hook['url']} is not a route of {spec.name}")
    return problems


def _mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """container path -> source of a service's volumes."""
    result = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        result[target] = source
    return result


def _check_grafana(files: Mapping[str, str], services: Mapping[str, Any]) -> list[str]:
    problems = []
    mounts = _mounts(services.get(r.GRAFANA, {}))
    if mounts.get(r.GRAFANA_PROVISIONING_DIR) != "./grafana/provisioning":
        problems.append(f"grafana: ./grafana/provisioning is not mounted at {r.GRAFANA_PROVISIONING_DIR}")
    provider_files = [f for f in files if f.startswith("grafana/provisioning/dashboards/")]
    for name in provider_files:
        for provider in r.parse(files, name).get("providers", []):
            path = provider["options"]["path"]
            source = mounts.get(path, "")
            dashboards = [f for f in files if f.startswith(source[2:] + "/") and f.endswith(".json")]
            if not source.startswith("./") or not dashboards:
                problems.append(f"grafana: provider path {path} is not a mount of the bundle's dashboards")
    for name in (f for f in files if f.startswith("grafana/provisioning/datasources/")):
        for source in r.parse(files, name)["datasources"]:
            host, _ = _host_port(source["url"])
            if host not in services:
                problems.append(f"grafana: data source {source['name']} points at unknown host {host}")
    return problems


def check_collector_config(config: Mapping[str, Any]) -> list[str]:
    """Structure of an OpenTelemetry Collector config: what pipelines use is defined, and used."""
    problems = []
    service = config.get("service", {})
    for ext in service.get("extensions", []):
        if ext not in (config.get("extensions") or {}):
            problems.append(f"collector: extension {ext} is not defined")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("collector: no pipeline")
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in pipelines.items():
        if name.split("/")[0] not in ("traces", "metrics", "logs"):
            problems.append(f"collector: pipeline {name} has an unknown signal type")
        for kind in ("receivers", "exporters"):
            if not pipeline.get(kind):
                problems.append(f"collector: pipeline {name} has no {kind}")
        for kind in used:
            for component in pipeline.get(kind, []):
                used[kind].add(component)
                if component not in (config.get(kind) or {}):
                    problems.append(f"collector: pipeline {name} uses undefined {kind[:-1]} {component}")
    for kind, names in used.items():
        for component in config.get(kind) or {}:
            if component not in names:
                problems.append(f"collector: {kind[:-1]} {component} is defined but in no pipeline")
    return problems


def _check_collector(
    files: Mapping[str, str], services: Mapping[str, Any], env: Mapping[str, Any]
) -> list[str]:
    config = r.parse(files, "otel-collector/config.yaml")
    problems = check_collector_config(config)
    collector = services.get(r.COLLECTOR, {})
    config_arg = next(
        (a.split("=", 1)[1] for a in collector.get("command", []) if a.startswith("--config=")), ""
    )
    if _mounts(collector).get(config_arg) != "./otel-collector/config.yaml":
        problems.append(f"collector: --config={config_arg} is not the mounted bundle config")
    host, port = _host_port(str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")))
    http = config["receivers"].get("otlp", {}).get("protocols", {}).get("http", {})
    _, listen = _host_port(http.get("endpoint", ""))
    if host != r.COLLECTOR or port != listen:
        problems.append(
            f"collector: the gateway sends OTLP to {host}:{port}, the collector listens on HTTP port {listen}"
        )
    for name, exporter in config["exporters"].items():
        ehost, eport = _host_port(exporter.get("endpoint", ""))
        if ehost not in services:
            problems.append(f"collector: exporter {name} points at unknown service {ehost}")
        elif ehost == r.JAEGER:
            jaeger_env = services[r.JAEGER].get("environment", {})
            if str(jaeger_env.get("COLLECTOR_OTLP_ENABLED")).lower() != "true" or eport != r.OTLP_GRPC_PORT:
                problems.append("collector: Jaeger does not accept OTLP gRPC where the exporter sends it")
    return problems


def _k8s_docs(files: Mapping[str, str]) -> dict[str, Any]:
    return {name[4:]: r.parse(files, name) for name in files if name.startswith("k8s/")}


def check_k8s(files: Mapping[str, str], spec: ServiceSpec, settings: Settings, routes: set[str]) -> list[str]:
    """Cross-check the manifests with the service's settings, routes and command, and glowops' CLI."""
    from glowops.telemetry.exposition import METRICS_PATH

    problems: list[str] = []
    docs = _k8s_docs(files)
    service_known = settings_env_names(type(settings))
    glowops_known = settings_env_names()
    secrets = secret_env_names(type(settings))
    databases = database_url_names(spec)
    kustomization = docs.get("kustomization.yaml", {})
    for resource in kustomization.get("resources", []):
        if resource not in docs:
            problems.append(f"k8s kustomization: resource {resource} is missing")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs.values():
        by_kind.setdefault(doc.get("kind", ""), []).append(doc)

    for cm in by_kind.get("ConfigMap", []):
        for var, value in cm.get("data", {}).items():
            if var.upper() not in service_known:
                problems.append(f"k8s ConfigMap: {var} is not a setting {spec.command} reads")
            if not _is_secret_free(var, str(value), secrets, databases) or var in secrets | databases:
                problems.append(f"k8s ConfigMap: {var} is a secret and belongs in a Secret")

    def containers(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [*pod.get("initContainers", []), *pod.get("containers", [])]

    # (name, pod, runs the service's command): Deployments run the service, CronJobs glowops.
    pods: list[tuple[str, dict[str, Any], bool]] = []
    for dep in by_kind.get("Deployment", []):
        pods.append((dep["metadata"]["name"], dep["spec"]["template"]["spec"], True))
    for cron in by_kind.get("CronJob", []):
        pods.append(
            (cron["metadata"]["name"], cron["spec"]["jobTemplate"]["spec"]["template"]["spec"], False)
        )
    for name, pod, runs_service in pods:
        known, reader = (service_known, spec.command) if runs_service else (glowops_known, r.GLOWOPS_COMMAND)
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"k8s {name}: pod does not set runAsNonRoot")
        for container in containers(pod):
            where = f"k8s {name}/{container['name']}"
            if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
                problems.append(f"{where}: root filesystem is not read-only")
            if "resources" not in container:
                problems.append(f"{where}: no resources")
            for item in container.get("env", []):
                if item["name"].upper() not in known:
                    problems.append(f"{where}: {item['name']} is not a setting {reader} reads")
                if "value" in item and not _is_secret_free(
                    item["name"], str(item["value"]), secrets, databases
                ):
                    problems.append(f"{where}: {item['name']} holds a secret value inline")
                if item["name"].upper() in secrets | databases and "secretKeyRef" not in item.get(
                    "valueFrom", {}
                ):
                    problems.append(f"{where}: {item['name']} must come from a Secret")
            command = container.get("command") or []
            if command[:1] == ["/bin/sh"]:
                script_words = script_commands(command[-1])
                if not script_words:
                    problems.append(f"{where}: the script runs no glowops command")
                for words in script_words:
                    problem = command_problems(words)
                    if problem:
                        problems.append(f"{where}: {problem}")
            elif container.get("args"):
                args = [str(word) for word in container["args"]]
                problem = service_command_problems(spec, args) if runs_service else command_problems(args)
                if problem:
                    problems.append(f"{where}: {problem}")

    for dep in by_kind.get("Deployment", []):
        dep_spec = dep["spec"]
        if dep_spec.get("replicas", 1) < 2:
            problems.append("k8s Deployment: fewer than 2 replicas")
        template = dep_spec["template"]
        gateway = template["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in gateway.get("ports", [])}
        if ports.get("http") != settings.port:
            problems.append(f"k8s Deployment: containerPort http is not {settings.port}")
        for kind, wanted in (
            ("livenessProbe", "/health/live"),
            ("readinessProbe", "/health/ready"),
            ("startupProbe", None),
        ):
            probe = gateway.get(kind)
            if probe is None:
                problems.append(f"k8s Deployment: no {kind}")
                continue
            path = probe["httpGet"]["path"]
            if path not in routes or (wanted and path != wanted):
                problems.append(
                    f"k8s Deployment: {kind} path {path} is not the gateway's {wanted or 'route'}"
                )
            if probe["httpGet"]["port"] not in (*ports, *ports.values()):
                problems.append(f"k8s Deployment: {kind} port is not a container port")
        notes = template["metadata"].get("annotations", {})
        if notes.get("prometheus.io/path") != METRICS_PATH or notes.get("prometheus.io/port") != str(
            settings.port
        ):
            problems.append("k8s Deployment: prometheus.io annotations disagree with the metrics route")
        labels = template["metadata"]["labels"]
        for kind in ("Service", "PodDisruptionBudget"):
            for doc in by_kind.get(kind, []):
                selector = doc["spec"]["selector"]
                selector = selector.get("matchLabels", selector)
                if any(labels.get(k) != v for k, v in selector.items()):
                    problems.append(f"k8s {kind}: selector does not match the gateway pods")
    for svc in by_kind.get("Service", []):
        for port in svc["spec"]["ports"]:
            if port.get("targetPort") != "http" or port.get("port") != settings.port:
                problems.append(f"k8s Service: port {port} does not reach the gateway's http port")
    crons = {c["metadata"]["name"]: c for c in by_kind.get("CronJob", [])}
    if "glowops-backup" not in crons or "glowops-backup-drill" not in crons:
        problems.append("k8s: the backup and the drill CronJobs must both exist")
    if not by_kind.get("PodDisruptionBudget"):
        problems.append("k8s: no PodDisruptionBudget")
    return problems


def check_bundle(directory: Path, spec: ServiceSpec | None = None, *, drift: bool = True) -> list[str]:
    """Every problem of the bundle in ``directory`` (empty list: it is fine). ``spec``: the
    service it runs (default: the bundle's ``service.yaml``)."""
    files = read_bundle(directory)
    spec = spec or load_spec(directory)
    settings = r.bundle_settings(spec)
    rendered = r.render(spec, settings)
    problems = check_drift(files, rendered.files) if drift else []
    missing = [
        name
        for name in (
            "docker-compose.yml",
            "prometheus/prometheus.yml",
            "otel-collector/config.yaml",
        )
        if name not in files
    ]
    if missing:
        return [*problems, *(f"{name}: missing" for name in missing)]
    routes = app_routes(spec, settings)
    problems += check_compose(files, spec, settings, routes)
    problems += check_k8s(files, spec, settings, routes)
    return problems
