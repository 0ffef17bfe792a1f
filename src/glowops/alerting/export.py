"""Export the catalog for the scale-out deployment: Prometheus and Alertmanager files.

``write_bundle`` writes into one directory::

    prometheus.yml          scrape config for the gateway, rule files, the Alertmanager target
    recording_rules.yml     the SLO error ratios over each window
    alerting_rules.yml      every alert of the catalog, one group per family
    rule_tests_<eval>.yml   promtool unit tests for every alert (unscaled export only), one
                            file per evaluation interval
    alertmanager.yml        routing from Settings (0600: it holds routing keys and webhook URLs)
    ops_token               the bearer token Prometheus sends to /metrics (0600, when set)

``only="alertmanager"`` writes alertmanager.yml alone (the compose bundle renders it at start-up
from the environment into a volume), ``only="prometheus"`` everything else.

All of it passes ``promtool check rules|config``, ``promtool test rules`` and
``amtool check-config``. A ``time_scale`` above 1 writes the drill variant: windows, ``for``,
intervals and group timings divided by the factor (intervals no shorter than one second).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from glowops.alerting.alertmanager_config import build_alertmanager_config
from glowops.alerting.rule_tests import rule_test_documents
from glowops.alerting.rules import (
    RECORDING_GROUP,
    Catalog,
    Objectives,
    Thresholds,
    alert_group,
    build_catalog,
)
from glowops.promql import format_duration
from glowops.settings import Settings

RECORDING_FILE = "recording_rules.yml"
ALERTING_FILE = "alerting_rules.yml"
PROMETHEUS_FILE = "prometheus.yml"
ALERTMANAGER_FILE = "alertmanager.yml"
TOKEN_FILE = "ops_token"
MIN_INTERVAL_SECONDS = 1.0

ExportPart = Literal["prometheus", "alertmanager"]
EXPORT_PARTS: tuple[ExportPart, ...] = ("prometheus", "alertmanager")


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (notification templates) as literal ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """YAML as people write it: keys in order, long PromQL on one line."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, width=100_000, allow_unicode=True, default_flow_style=False
    )


def catalog_from_settings(
    settings: Settings,
    *,
    time_scale: float = 1.0,
    objectives: Objectives | None = None,
    thresholds: Thresholds | None = None,
    backups: bool | None = None,
) -> Catalog:
    """The catalog with the links, service, thresholds and packs this deployment uses.

    The packs are those of ``GLOWOPS_PACKS`` and every pack registered in the process
    (:func:`glowops.packs.active_packs`). Backup rules are in when backups are configured
    (``backups`` None), or as ``backups`` says (the generated docs show them all).
    """
    from glowops.packs import active_packs

    fail = settings.disk_fail_percent / 100
    warn = settings.disk_warn_percent / 100
    base = thresholds or Thresholds()
    if thresholds is None:
        base = Thresholds(disk_used_critical=fail, disk_used_warning=warn)
    return build_catalog(
        objectives,
        base,
        runbook_base=settings.alert_runbook_base_url,
        dashboard_base=settings.alert_dashboard_base_url,
        service=settings.service_name,
        job=settings.effective_scrape_job,
        time_scale=time_scale,
        packs=active_packs(settings),
        backups=settings.backups_configured if backups is None else backups,
    )


def recording_rules(catalog: Catalog) -> dict[str, Any]:
    """The recording rules file as a dict."""
    return {
        "groups": [
            {
                "name": RECORDING_GROUP,
                "rules": [{"record": r.record, "expr": r.expr} for r in catalog.recording],
            }
        ]
    }


def alerting_rules(catalog: Catalog) -> dict[str, Any]:
    """The alerting rules file as a dict: one group per family."""
    groups = []
    for family in catalog.families:
        rules = []
        for rule in (r for r in catalog.alerts if r.family == family):
            entry: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
            if rule.for_seconds:
                entry["for"] = rule.for_
            if rule.keep_firing_for_seconds:
                entry["keep_firing_for"] = rule.keep_firing_for
            entry["labels"] = rule.labels
            entry["annotations"] = rule.annotations
            rules.append(entry)
        groups.append({"name": alert_group(family), "rules": rules})
    return {"groups": groups}


def default_target(settings: Settings) -> str:
    """Where /metrics is served: the ops port when set, else the gateway's own port."""
    return f"{settings.host}:{settings.ops_port or settings.port}"


def _interval(seconds: float, time_scale: float) -> str:
    return format_duration(max(MIN_INTERVAL_SECONDS, seconds / time_scale))


def prometheus_config(
    settings: Settings,
    *,
    target: str,
    alertmanager: str,
    time_scale: float = 1.0,
    token_file: str | None = None,
    job: str | None = None,
) -> dict[str, Any]:
    """``prometheus.yml``: scrape the service (job: ``settings.effective_scrape_job`` unless
    given), load both rule files, send alerts to Alertmanager."""
    scrape = _interval(settings.scrape_interval_seconds, time_scale)
    scrape_config: dict[str, Any] = {
        "job_name": job or settings.effective_scrape_job,
        "metrics_path": "/metrics",
        "scheme": "http",
        "scrape_interval": scrape,
        # A scrape may not outlast its interval; 10 s is Prometheus' default.
        "scrape_timeout": format_duration(
            min(10.0, max(MIN_INTERVAL_SECONDS, settings.scrape_interval_seconds / time_scale))
        ),
        "static_configs": [{"targets": [target], "labels": {"service": settings.service_name}}],
    }
    if token_file is not None:
        scrape_config["authorization"] = {"type": "Bearer", "credentials_file": token_file}
    return {
        "global": {
            "scrape_interval": scrape,
            "evaluation_interval": _interval(settings.evaluation_interval_seconds, time_scale),
            "external_labels": {"environment": settings.environment},
        },
        "rule_files": [RECORDING_FILE, ALERTING_FILE],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [scrape_config],
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (0600), also when the file already existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


@dataclass
class Bundle:
    """What :func:`write_bundle` wrote, and the warnings about channels left out."""

    directory: Path
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def write_bundle(
    out: Path,
    settings: Settings,
    *,
    time_scale: float = 1.0,
    target: str | None = None,
    alertmanager: str = "127.0.0.1:9093",
    catalog: Catalog | None = None,
    only: ExportPart | None = None,
) -> Bundle:
    """Write the Prometheus and Alertmanager files for ``settings`` into ``out``.

    ``only`` limits the export to one part: ``"alertmanager"`` (alertmanager.yml, 0600) or
    ``"prometheus"`` (rules, rule tests, prometheus.yml, ops_token); None writes both.
    """
    if time_scale <= 0:
        raise ValueError(f"time scale must be positive, got {time_scale}")
    if only is not None and only not in EXPORT_PARTS:
        raise ValueError(f"unknown export part {only!r}: expected one of {', '.join(EXPORT_PARTS)}")
    out.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(directory=out)
    texts: dict[str, str] = {}
    secret_texts: dict[str, str] = {}
    if only in (None, "prometheus"):
        catalog = catalog or catalog_from_settings(settings, time_scale=time_scale)
        texts[RECORDING_FILE] = dump_yaml(recording_rules(catalog))
        texts[ALERTING_FILE] = dump_yaml(alerting_rules(catalog))
        if catalog.time_scale == 1:
            for name, document in rule_test_documents(catalog, (RECORDING_FILE, ALERTING_FILE)).items():
                texts[name] = dump_yaml(document)
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        texts[PROMETHEUS_FILE] = dump_yaml(
            prometheus_config(
                settings,
                target=target or default_target(settings),
                alertmanager=alertmanager,
                time_scale=time_scale,
                token_file=TOKEN_FILE if token else None,
            )
        )
        if token:
            secret_texts[TOKEN_FILE] = token
    if only in (None, "alertmanager"):
        am = build_alertmanager_config(settings, time_scale=time_scale)
        bundle.warnings.extend(am.warnings)
        secret_texts[ALERTMANAGER_FILE] = dump_yaml(am.config)
    for name, text in texts.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        bundle.files[name] = path
    for name, text in secret_texts.items():
        path = out / name
        write_private(path, text)
        bundle.files[name] = path
    return bundle
