"""The generated unit tests of every alert pass `promtool test rules`, and would catch a broken rule."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from glowops.alerting.export import ALERTING_FILE, RECORDING_FILE, alerting_rules, dump_yaml, recording_rules
from glowops.alerting.rule_tests import rule_test_documents
from glowops.alerting.rules import Catalog, Thresholds, build_catalog
from glowops_prismaglow import PrismaGlowThresholds, make_pack
from glowops_prismaglow import pack as prismaglow_pack
from peers import require_binary

pytestmark = pytest.mark.prometheus


def write(directory: Path, rules_catalog: Catalog, tests_catalog: Catalog) -> list[str]:
    (directory / RECORDING_FILE).write_text(dump_yaml(recording_rules(rules_catalog)))
    (directory / ALERTING_FILE).write_text(dump_yaml(alerting_rules(rules_catalog)))
    names = []
    for name, document in rule_test_documents(tests_catalog, (RECORDING_FILE, ALERTING_FILE)).items():
        (directory / name).write_text(dump_yaml(document))
        names.append(name)
    return names


def promtool_test(directory: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    return subprocess.run(
        [promtool, "test", "rules", *files],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_rule_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    catalog = build_catalog(packs=[prismaglow_pack])
    files = write(tmp_path, catalog, catalog)
    result = promtool_test(tmp_path, files)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.count("SUCCESS") == len(files)


def test_custom_thresholds_keep_their_tests_green(tmp_path: Path) -> None:
    catalog = build_catalog(
        thresholds=Thresholds(error_ratio_critical=0.1, backup_max_age="50h", disk_used_critical=0.95),
        packs=[make_pack(PrismaGlowThresholds(queue_depth_warning=200))],
    )
    files = write(tmp_path, catalog, catalog)
    result = promtool_test(tmp_path, files)
    assert result.returncode == 0, result.stdout[-4000:]


def test_a_wrong_rule_fails_its_unit_tests(tmp_path: Path) -> None:
    """The cases test the rule, not themselves: raise one threshold in the rules only and they fail."""
    good = build_catalog()
    broken_alerts = tuple(
        dataclasses.replace(rule, expr=rule.expr.replace("> 0.05", "> 0.5"))
        if rule.name == "HighErrorRate"
        else rule
        for rule in good.alerts
    )
    broken = dataclasses.replace(good, alerts=broken_alerts)
    files = write(tmp_path, broken, good)
    result = promtool_test(tmp_path, files)
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "alertname: HighErrorRate" in report
    assert "alertname: ElevatedErrorRate" not in report
